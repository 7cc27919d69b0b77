"""Times the CPU paths of interval_conv2d on every MixTrain conv layer -- the
direct kernel and oneDNN's pair of convolutions (csrc/cpu/interval_conv2d_cpu.cpp,
`fused_conv_pays`), and on 3x3 stride-1 and 4x4 stride-2 layers Winograd's F(2x2, 3x3) or
F(2x2, 2x2) over the stride phases (`winograd_pays`; winograd_s is null elsewhere) -- forced through MIXTRAIN_CPU_CONV, against the size rule's
choice ("auto") and the two-convolution reference, alternating in one process,
so that the rule beside the code can be checked against numbers that anyone
can reproduce (earlier A/B runs were throwaway scripts).

    .venv/bin/python benchmarks/cpu_conv_paths.py [--batches 1,8] [--only TEXT] [--pad-chunk-ab] [--tile-ab]
        [--channels-last] [--json PATH]

--pad-chunk-ab also times the direct and Winograd paths with their input
copied in one piece (MIXTRAIN_CPU_PAD_CHUNK_KB=0, as before session 21)
beside the default chunks of samples (`pad_chunk_samples`), in the same
rounds: the layer-level numbers behind that function's comment. --tile-ab
also times the Winograd path on 3x3 stride-1 layers with each tile size
forced (MIXTRAIN_CPU_WINOGRAD_TILE=2: F(2x2, 3x3), =4: F(4x4, 3x3);
winograd_f23_s, winograd_f43_s): the numbers behind `winograd_tile`.

Each figure is bench.median_seconds (median of as many calls as fit the budget).
Rounds alternate the paths, and the median of the round medians is reported.
"""
import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mixtrain_cuda import bench, ops  # noqa: E402
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator  # noqa: E402
from mixtrain_cuda.ops import reference  # noqa: E402

PATHS = ("direct", "onednn", "winograd", "auto")


CHUNK_KNOB = "MIXTRAIN_CPU_PAD_CHUNK_KB"
TILE_KNOB = "MIXTRAIN_CPU_WINOGRAD_TILE"


def _with_path(path, fn, whole_copies=False, tile=None):
    """fn timed with the CPU conv path forced (read by the kernel on every
    call); whole_copies: the input copied in one piece, not by chunks; tile:
    the Winograd tile size forced (2 or 4)."""
    def run():
        if path == "auto":
            os.environ.pop("MIXTRAIN_CPU_CONV", None)
        else:
            os.environ["MIXTRAIN_CPU_CONV"] = path
        if whole_copies:
            os.environ[CHUNK_KNOB] = "0"
        if tile:
            os.environ[TILE_KNOB] = str(tile)
        try:
            return bench.median_seconds(fn, "cpu", budget=0.2)
        finally:
            os.environ.pop("MIXTRAIN_CPU_CONV", None)
            os.environ.pop(CHUNK_KNOB, None)
            os.environ.pop(TILE_KNOB, None)
    return run


def time_case(cin, hw, cout, k, s, p, batch, rounds, pad_chunk_ab=False, channels_last=False, tile_ab=False):
    torch.manual_seed(0)
    c = torch.randn(batch, cin, hw, hw)
    if channels_last:  # the engine's layout on the CPU; the reference then gets it too
        c = c.contiguous(memory_format=torch.channels_last)
    r = torch.rand_like(c)
    w = torch.randn(cout, cin, k, k)
    b = torch.randn(cout)
    fused = lambda: ops.interval_conv2d(c, r, w, b, s, p)  # noqa: E731
    paths = [x for x in PATHS if x != "winograd" or (k, s) in ((3, 1), (4, 2))]
    timers = {path: _with_path(path, fused) for path in paths}
    if pad_chunk_ab:
        for path in ("direct", "winograd"):
            if path in paths:
                timers[path + "_whole"] = _with_path(path, fused, whole_copies=True)
    if tile_ab and (k, s) == (3, 1):
        timers["winograd_f23"] = _with_path("winograd", fused, tile=2)
        timers["winograd_f43"] = _with_path("winograd", fused, tile=4)
    timers["reference"] = lambda: bench.median_seconds(
        lambda: reference.interval_conv2d(c, r, w, b, (s, s), (p, p)), "cpu", budget=0.2)
    samples = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timer in timers.items():
            samples[name].append(timer())
    out = {name + "_s": statistics.median(v) for name, v in samples.items()}
    out.setdefault("winograd_s", None)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default: 1,8)")
    ap.add_argument("--only", help="only the layers whose label contains TEXT")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per case (default: 3)")
    ap.add_argument("--pad-chunk-ab", action="store_true",
                    help="also time the direct and Winograd paths with whole-batch input copies")
    ap.add_argument("--tile-ab", action="store_true",
                    help="also time the Winograd path with F(2x2, 3x3) and F(4x4, 3x3) forced on 3x3 stride-1 layers")
    ap.add_argument("--channels-last", action="store_true",
                    help="channels-last boxes (what the bound engine passes on the CPU) instead of NCHW")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    tune_cpu_allocator()  # as the mixtrain command does (mixtrain_cuda/cpu_allocator.py)
    if any(knob in os.environ for knob in ("MIXTRAIN_CPU_CONV", CHUNK_KNOB, TILE_KNOB)):
        ap.error("unset MIXTRAIN_CPU_CONV, %s and %s: this script sets them itself" % (CHUNK_KNOB, TILE_KNOB))
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    batches = [int(x) for x in a.batches.split(",") if x.strip()]
    layers = [l for l in bench.conv_layers() if a.only is None or a.only in l[-1]]
    if not layers:
        ap.error("no layer matches --only %r" % a.only)
    rows = []
    print("%-28s %-24s %3s %9s %9s %9s %9s %9s  %s" % ("layer", "shape", "B", "direct", "onednn", "winograd",
                                                        "auto", "ref", "ref/direct ref/onednn ref/wino ref/auto"))
    for cin, hw, cout, k, s, p, label in layers:
        for batch in batches:
            row = dict(layer=label, cin=cin, hw=hw, cout=cout, k=k, stride=s, padding=p, batch=batch,
                       macs=batch * cout * ((hw + 2 * p - k) // s + 1) ** 2 * cin * k * k,
                       layout="channels_last" if a.channels_last else "nchw")
            row.update(time_case(cin, hw, cout, k, s, p, batch, a.rounds, a.pad_chunk_ab, a.channels_last,
                                 a.tile_ab))
            rows.append(row)
            ref = row["reference_s"]
            wino = row["winograd_s"]
            print("%-28s %-24s %3d %7.0fus %7.0fus %9s %7.0fus %7.0fus  %.2fx %.2fx %5s %.2fx" % (
                label, "%d->%d %dx%d s%d on %dx%d" % (cin, cout, k, k, s, hw, hw), batch, row["direct_s"] * 1e6,
                row["onednn_s"] * 1e6, "%7.0fus" % (wino * 1e6) if wino else "-", row["auto_s"] * 1e6, ref * 1e6,
                ref / row["direct_s"], ref / row["onednn_s"], "%.2fx" % (ref / wino) if wino else "-",
                ref / row["auto_s"]), flush=True)
            if a.pad_chunk_ab:
                print("    whole-batch copies -> chunks: " + "  ".join(
                    "%s %.2fx -> %.2fx" % (path, ref / row[path + "_whole_s"], ref / row[path + "_s"])
                    for path in ("direct", "winograd") if row.get(path + "_whole_s")), flush=True)
            if row.get("winograd_f43_s"):
                print("    Winograd F(2x2, 3x3) %.2fx, F(4x4, 3x3) %.2fx (F43 / F23 time %.2f)" % (
                    ref / row["winograd_f23_s"], ref / row["winograd_f43_s"],
                    row["winograd_f43_s"] / row["winograd_f23_s"]), flush=True)
    best = sum(min(t for t in (r["direct_s"], r["onednn_s"], r["winograd_s"]) if t) / r["auto_s"] >= 0.9
               for r in rows)
    print("auto within 10%% of the faster path: %d of %d cases" % (best, len(rows)))
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/cpu_conv_paths.py", argv if argv is not None else sys.argv[1:],
                               "bench.median_seconds per path, paths alternating, median of %d rounds" % a.rounds,
                               rows)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
