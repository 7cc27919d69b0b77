"""Times both implementations of the ops that have two on CUDA -- our own
kernel and the cuBLAS/cuDNN path (csrc/kernel_choice.h) -- and the pure-PyTorch
reference, over the sizes where the size rules beside each op switch. The
rules (kBlasRows, kDirectMacs, kSmallProduct) are set from these numbers.

    python3 benchmarks/gpu_kernel_choices.py [--json PATH] [--only interval_conv2d]

Times are bench.median_seconds on CUDA: GPU time per call of back-to-back
calls (CUDA events), median over batches.
"""
import argparse
import datetime
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mixtrain_cuda import _C, bench, ops  # noqa: E402
from mixtrain_cuda.ops import reference  # noqa: E402

DEVICE = "cuda"


def _linear_cases():
    for n in (512, 2048, 4096):
        for rows in (1, 2, 4, 8, 16, 24, 32, 48, 64):
            c = torch.randn(rows, n, device=DEVICE)
            r = torch.rand(rows, n, device=DEVICE)
            weights = bench.rotating(lambda: (torch.randn(n, n, device=DEVICE), torch.randn(n, device=DEVICE)),
                                     4 * (n * n + n), DEVICE)

            def run(f, c=c, r=r, weights=weights):
                w, b = weights()
                return f(c, r, w, b)
            yield ("interval_linear", "rows=%d K=N=%d" % (rows, n), dict(rows=rows, k=n, n=n),
                   lambda run=run: run(ops.interval_linear), lambda run=run: run(reference.interval_linear))


CONVS = bench.conv_picks() + [  # and CNN7's widest
    (64, 32, 128, 3, 2, 1, "cnn7.conv3"),
    (128, 16, 128, 3, 1, 1, "cnn7.conv4"),
]


def _conv_cases():
    for batch in (1, 8, 32, 128):
        for cin, hw, cout, k, s, p, label in CONVS:
            c = torch.randn(batch, cin, hw, hw, device=DEVICE)
            r = torch.rand_like(c)
            w = torch.randn(cout, cin, k, k, device=DEVICE)
            b = torch.randn(cout, device=DEVICE)
            out = (hw + 2 * p - k) // s + 1
            macs = 2 * batch * cout * out * out * cin * k * k
            yield ("interval_conv2d", "%s B=%d" % (label, batch), dict(batch=batch, macs=macs),
                   lambda c=c, r=r, w=w, b=b, s=s, p=p: ops.interval_conv2d(c, r, w, b, s, p),
                   lambda c=c, r=r, w=w, b=b, s=s, p=p: reference.interval_conv2d(c, r, w, b, (s, s), (p, p)))


def _symbolic_cases():
    for B, R, K, N, label in [(1, 60, 64, 32, "tiny"), (2, 300, 256, 128, "small"), (4, 800, 512, 100, "medium"),
                              (10, 2000, 1568, 100, "mnist_small.fc1"), (10, 2000, 512, 512, "mnist_large.fc2"),
                              (1, 3000, 4096, 512, "cifar.fc1")]:
        c = torch.randn(B, K, device=DEVICE)
        g = torch.randn(B, R, K, device=DEVICE)
        w = torch.randn(N, K, device=DEVICE)
        yield ("symbolic_linear", "%s B=%d R=%d K=%d N=%d" % (label, B, R, K, N), dict(macs=B * R * K * N),
               lambda c=c, g=g, w=w, R=R: ops.symbolic_linear(c, g, w, None, input_rows=R),
               lambda c=c, g=g, w=w, R=R: reference.symbolic_linear(c, g, w, None, R))


def _time(op, choice, fn):
    _C._set_kernel_choice(op, choice)
    try:
        return bench.median_seconds(fn, DEVICE, budget=0.3)
    finally:
        _C._set_kernel_choice(op, "auto")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--only", default=None, help="interval_linear, interval_conv2d or symbolic_linear")
    args = ap.parse_args()
    torch.backends.cudnn.allow_tf32 = False  # the reference in IEEE float32, as the ops (cuda_utils.cuh)
    torch.manual_seed(0)
    bandwidth, _ = bench.machine_peaks(DEVICE)
    print("copy bandwidth %.0f GB/s (read + write)" % (bandwidth / 1e9))
    rows = []
    groups = [_linear_cases, _conv_cases, _symbolic_cases]
    print("%-16s %-32s %10s %10s %10s %10s %8s" % ("op", "case", "own us", "library us", "auto us", "ref us",
                                                 "ref/auto"))
    for group in groups:
        for op, name, info, fused, ref in group():
            if args.only and args.only != op:
                continue
            row = dict(op=op, case=name, **info)
            row["own_s"] = _time(op, "own", fused)
            row["library_s"] = _time(op, "library", fused)
            row["auto_s"] = _time(op, "auto", fused)
            row["reference_s"] = bench.median_seconds(ref, DEVICE, budget=0.3)
            if op == "interval_linear" and info["rows"] <= 16:
                # The W-read floor: the op must read W (and b) once.
                row["w_floor_s"] = 4 * (info["k"] * info["n"] + info["n"]) / bandwidth
                _C._set_kernel_choice(op, "own")
                row["own_graph_s"] = bench.cuda_graph_seconds(fused)
                _C._set_kernel_choice(op, "auto")
                row["reference_graph_s"] = bench.cuda_graph_seconds(ref)
                # Every split of K between warps (csrc/cuda/interval_linear_cuda.cu).
                _C._set_kernel_choice(op, "own")
                for split in (1, 2, 4, 8):
                    _C._set_interval_linear_split(split)
                    row["own_graph_split%d_s" % split] = bench.cuda_graph_seconds(fused)
                _C._set_interval_linear_split(0)
                _C._set_kernel_choice(op, "auto")
                print("    graph-replayed by warps per feature: " + ", ".join(
                    "%d: %.1f us" % (s, row["own_graph_split%d_s" % s] * 1e6) for s in (1, 2, 4, 8)))
                print("    graph-replayed: own %.1f us, reference %.1f us, W-read floor %.1f us: %.2fx the floor, "
                      "%.2fx faster than the reference" % (
                          row["own_graph_s"] * 1e6, row["reference_graph_s"] * 1e6, row["w_floor_s"] * 1e6,
                          row["own_graph_s"] / row["w_floor_s"], row["reference_graph_s"] / row["own_graph_s"]))
            rows.append(row)
            print("%-16s %-32s %10.1f %10.1f %10.1f %10.1f %7.2fx" % (
                op, name, row["own_s"] * 1e6, row["library_s"] * 1e6, row["auto_s"] * 1e6,
                row["reference_s"] * 1e6, row["reference_s"] / row["auto_s"]), flush=True)
            if args.json:  # rewritten after each row: a run cut short still leaves its numbers
                _write(args.json, bandwidth, rows)


def _write(path, bandwidth, rows):
    from mixtrain_cuda.cli import git_commit
    commit = git_commit()
    with open(path, "w") as f:
        json.dump(dict(device=torch.cuda.get_device_name(), torch=torch.__version__,
                       date=datetime.date.today().isoformat(), commit=commit, bandwidth_bytes_per_s=bandwidth,
                       timing="CUDA events over back-to-back calls, median of batches; *_graph_s: replayed "
                              "from a CUDA graph of 64 calls", rows=rows), f, indent=1)

if __name__ == "__main__":
    main()
