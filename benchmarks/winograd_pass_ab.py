"""Whole bound passes of the fused engine with and without interval_conv2d's
CPU Winograd path (csrc/cpu/interval_conv2d_cpu.cpp, `winograd_pays`), call by
call in turn in one process (MIXTRAIN_CPU_WINOGRAD=0 leaves the size rule
alone, as before the path), so that the path's effect on a pass is measured
apart from this machine's slow and fast phases.

    .venv/bin/python benchmarks/winograd_pass_ab.py [--nets mnist_large,cifar_large] [--methods ibp,crown-ibp]
        [--ks 8,16,50] [--passes 40] [--json PATH]

Passes as benchmarks/peer_auto_lirpa.py times them: margins of the true
class, a randomly initialized network in evaluation mode, no gradient, eps 0.1
on MNIST and 2/255 on CIFAR. Each figure: the median of the passes (the first
two of each side dropped).
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mixtrain_cuda import bench  # noqa: E402
from mixtrain_cuda.bounds import BoundedModule, margin_spec  # noqa: E402
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator  # noqa: E402
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model  # noqa: E402

KNOB = "MIXTRAIN_CPU_WINOGRAD"


def time_case(net, method, k, passes):
    torch.manual_seed(0)
    bm = BoundedModule(get_model(net).eval())
    x = torch.rand(k, *INPUT_SHAPES[net])
    C = margin_spec(torch.randint(0, NUM_CLASSES[net], (k,)), NUM_CLASSES[net])
    eps = 0.1 if net.startswith("mnist") else 2.0 / 255
    times = {"winograd": [], "without": []}
    bounds = {}
    for _ in range(passes + 2):
        for side in times:
            if side == "without":
                os.environ[KNOB] = "0"
            try:
                start = time.perf_counter()
                with torch.no_grad():
                    bounds[side] = bm.compute_bounds(x, eps, method, C=C)
                times[side].append(time.perf_counter() - start)
            finally:
                os.environ.pop(KNOB, None)
    diff = max(float((a - b).abs().max()) for a, b in zip(bounds["winograd"], bounds["without"]))
    scale = max(float(b.abs().max()) for b in bounds["without"])
    return dict(net=net, method=method, k=k, passes=passes, max_bound_difference=diff, bound_scale=scale,
                **{side + "_s": statistics.median(v[2:]) for side, v in times.items()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="mnist_large,cifar_large")
    ap.add_argument("--methods", default="ibp,crown-ibp")
    ap.add_argument("--ks", default="8,16,50", help="points per pass (default: 8,16,50)")
    ap.add_argument("--passes", type=int, default=40, help="timed passes per side and case (default: 40)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if KNOB in os.environ or "MIXTRAIN_CPU_CONV" in os.environ:
        ap.error("unset %s and MIXTRAIN_CPU_CONV: this script sets the first itself" % KNOB)
    if a.passes < 1:
        ap.error("--passes must be at least 1")
    tune_cpu_allocator()  # as the mixtrain command does
    rows = []
    for net in a.nets.split(","):
        for method in a.methods.split(","):
            for k in [int(v) for v in a.ks.split(",")]:
                row = time_case(net, method, k, a.passes)
                rows.append(row)
                print("%-12s %-9s k=%-3d winograd %8.2f ms  without %8.2f ms  %.2fx  max |bound diff| %.1e of %.1e" % (
                    net, method, k, row["winograd_s"] * 1e3, row["without_s"] * 1e3,
                    row["without_s"] / row["winograd_s"], row["max_bound_difference"], row["bound_scale"]), flush=True)
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/winograd_pass_ab.py", argv if argv is not None else sys.argv[1:],
                               "passes call by call in turn, medians", rows)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
