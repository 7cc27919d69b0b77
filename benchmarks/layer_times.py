"""Where a bound pass spends its time: each layer's step (its `ibp`,
`symbolic` and CROWN `backward`), timed inside whole passes of the engine.

    .venv/bin/python benchmarks/layer_times.py [--networks mnist_large] [--methods crown-ibp]
                                               [--ks 16] [--repeats 10] [--reference | --compare] [--json PATH]

The torch profiler distorts per-op CPU times on small passes; this wraps each
layer class's step methods in a wall-clock timer instead (a few microseconds
per call), runs `compute_bounds` with the margin specification and no
autograd, and reports per step the median over the passes, beside the median
(and the fastest) pass. What the steps do not cover (the specification,
concretization at the input, the engine's own Python) is the rest. On a shared
2-core VM the median and fastest pass can differ by a third: compare steps
within one run, not across runs; `--compare` runs the fused and the reference
engine in one process, pass by pass in turn, and prints their steps side by
side. On CUDA every step is synchronized, so there the steps cost what they
cost alone, not overlapped.
"""
import argparse
import collections
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mixtrain_cuda import bench  # noqa: E402
from mixtrain_cuda.bounds import BoundedModule  # noqa: E402
from mixtrain_cuda.bounds import layers as layer_classes  # noqa: E402
from mixtrain_cuda.bounds.certify import margin_spec  # noqa: E402
from mixtrain_cuda.bounds.layers.base import Layer  # noqa: E402
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator  # noqa: E402
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model  # noqa: E402

# backward_with: a step fused with the one of the layer after it (Conv2d: the ReLU after it, layers/conv.py).
STEPS = ("ibp", "symbolic", "backward", "backward_with")


class StepTimer:
    """Wraps STEPS of every Layer subclass while active; `times` sums seconds
    per (layer name, class, step) since the last `clear`."""

    def __init__(self, device):
        self.sync = lambda: bench.sync(device)
        self.times = collections.defaultdict(float)
        self.saved = []

    def __enter__(self):
        classes = {c for c in vars(layer_classes).values() if isinstance(c, type) and issubclass(c, Layer)}
        for cls in classes:
            for step in STEPS:
                if step in vars(cls):
                    self.saved.append((cls, step, vars(cls)[step]))
                    setattr(cls, step, self._timed(cls.__name__, step, vars(cls)[step]))
        return self

    def __exit__(self, *exc):
        for cls, step, fn in self.saved:
            setattr(cls, step, fn)
        self.saved = []

    def _timed(self, cls_name, step, fn):
        def timed(layer, *args, **kwargs):
            self.sync()
            t = time.perf_counter()
            out = fn(layer, *args, **kwargs)
            self.sync()
            self.times[(layer.name, cls_name, step)] += time.perf_counter() - t
            return out
        return timed


def describe(bm, name):
    """The wrapped module of layer `name`, as torch prints it."""
    for node in bm.nodes[1:]:
        layer = getattr(node, "layer", None)
        if layer is not None and layer.name == name and isinstance(layer.module, torch.nn.Module):
            return repr(layer.module).split("\n")[0]
    return ""


def time_network(network, method, k, repeats, device, reference):
    return time_engines(network, method, k, repeats, device, ["reference" if reference else "fused"])[0]


def time_engines(network, method, k, repeats, device, engines):
    """One row per engine ("fused", "reference"); with two, their passes
    alternate one by one in this process, so that both see the same machine
    (on the shared 2-core VM, runs minutes apart differed by a third)."""
    torch.manual_seed(0)
    model = get_model(network).eval().to(device)
    bms = {e: BoundedModule(model, reference=e == "reference") for e in engines}
    x = torch.rand(k, *INPUT_SHAPES[network], device=device)
    y = torch.randint(0, NUM_CLASSES[network], (k,), device=device)
    C = margin_spec(y, NUM_CLASSES[network]).to(device)
    passes = {e: [] for e in engines}
    per_step = {e: collections.defaultdict(list) for e in engines}
    with torch.no_grad(), StepTimer(device) as timer:
        for i in range(repeats + 2):  # two warm-up passes
            for e in engines:
                timer.times.clear()
                timer.sync()
                t = time.perf_counter()
                bms[e].compute_bounds(x, 0.1, method, C=C)
                timer.sync()
                if i >= 2:
                    passes[e].append(time.perf_counter() - t)
                    for key, v in timer.times.items():
                        per_step[e][key].append(v)
    rows = []
    for e in engines:
        steps = [dict(layer=key[0], kind=key[1], step=key[2], module=describe(bms[e], key[0]),
                      ms=statistics.median(v) * 1e3) for key, v in per_step[e].items()]
        steps.sort(key=lambda r: -r["ms"])
        rows.append(dict(network=network, method=method, k=k, engine=e, pass_ms=statistics.median(passes[e]) * 1e3,
                         pass_ms_min=min(passes[e]) * 1e3, steps=steps))
    return rows


def print_comparison(fused, ref, top):
    """The two engines' steps side by side (rows of time_engines), largest fused steps first."""
    print("%s %s k=%d, alternating: fused %.2f ms, reference %.2f ms per pass (medians): reference / fused %.2fx" % (
        fused["network"], fused["method"], fused["k"], fused["pass_ms"], ref["pass_ms"],
        ref["pass_ms"] / fused["pass_ms"]), flush=True)
    theirs = {(s["layer"], s["step"]): s["ms"] for s in ref["steps"]}
    for s in fused["steps"][:top]:
        r = theirs.get((s["layer"], s["step"]))
        print("  %-4s %-10s %-9s fused %7.2f ms  reference %s  %s" % (
            s["layer"], s["kind"], s["step"], s["ms"],
            "%7.2f ms %5.2fx" % (r, r / s["ms"]) if r is not None and s["ms"] > 0 else "      -         ",
            s["module"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", default="mnist_small,mnist_large", help="comma-separated (default: %(default)s)")
    ap.add_argument("--methods", default="ibp,crown-ibp", help="comma-separated (default: %(default)s)")
    ap.add_argument("--ks", default="16", help="comma-separated numbers of points (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=10, help="timed passes per case (default: %(default)s)")
    ap.add_argument("--top", type=int, default=8, help="steps printed per case (default: %(default)s)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reference", action="store_true", help="time the pure-PyTorch engine instead")
    ap.add_argument("--compare", action="store_true",
                    help="time the fused and the reference engine, passes alternating in this process, and print "
                         "their steps side by side")
    ap.add_argument("--nchw-boxes", action="store_true",
                    help="the fused engine without its channels-last CPU boxes (bounds/_ops.py), for an A/B")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.repeats < 1:
        ap.error("--repeats must be at least 1")
    if a.compare and a.reference:
        ap.error("--compare times both engines; leave out --reference")
    if a.nchw_boxes:
        if a.reference:
            ap.error("--nchw-boxes is an option of the fused engine, not of --reference")
        from mixtrain_cuda import ops
        from mixtrain_cuda.bounds import _ops
        _ops.fused.interval_conv2d = ops.interval_conv2d  # the op as it comes: the box keeps its layout
    if torch.device(a.device).type == "cpu":
        tune_cpu_allocator()  # as the mixtrain command does (mixtrain_cuda/cpu_allocator.py)
    rows = []
    for network in [n for n in a.networks.split(",") if n]:
        if network not in INPUT_SHAPES:
            ap.error("unknown network %r; known: %s" % (network, ", ".join(sorted(INPUT_SHAPES))))
        for method in [m for m in a.methods.split(",") if m]:
            for k in [int(v) for v in a.ks.split(",") if v]:
                if a.compare:
                    fused, ref = time_engines(network, method, k, a.repeats, a.device, ["fused", "reference"])
                    for row in (fused, ref):
                        row["compared"] = True
                        if a.nchw_boxes and row["engine"] == "fused":
                            row["engine"] += ", NCHW boxes"
                    rows += [fused, ref]
                    print_comparison(fused, ref, a.top)
                    continue
                row = time_network(network, method, k, a.repeats, a.device, a.reference)
                if a.nchw_boxes:
                    row["engine"] += ", NCHW boxes"
                rows.append(row)
                covered = sum(s["ms"] for s in row["steps"])
                print("%s %s k=%d (%s): %.2f ms per pass (fastest %.2f), layer steps %.2f ms" % (
                    network, method, k, row["engine"], row["pass_ms"], row["pass_ms_min"], covered), flush=True)
                for s in row["steps"][:a.top]:
                    print("  %-4s %-10s %-9s %7.2f ms %5.1f%%  %s" % (
                        s["layer"], s["kind"], s["step"], s["ms"], 100 * s["ms"] / row["pass_ms"], s["module"]))
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/layer_times.py", argv if argv is not None else sys.argv[1:],
                               "wall clock around each layer step inside whole passes (no autograd, margin "
                               "spec, eps 0.1); medians over %d passes after 2 warm-up passes" % a.repeats, rows,
                               device=a.device)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
