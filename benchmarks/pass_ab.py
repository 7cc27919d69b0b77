"""Whole bound passes of the fused engine with and without one of its CPU
paths, call by call in turn in one process, so that the path's effect on a
pass is measured apart from this machine's slow and fast phases. --switch:

- winograd: interval_conv2d's Winograd path (csrc/cpu/interval_conv2d_cpu.cpp,
  `winograd_pays`; MIXTRAIN_CPU_WINOGRAD=0 leaves the size rule alone, as
  before the path);
- relu-conv: CROWN's steps through a ReLU and the convolution before it as one
  op (crown_relu_conv2d_backward, bounds/layers/conv.py: Conv2d.backward_with);
  without it the two steps run in turn;
- pad-chunk: interval_conv2d's direct and Winograd paths copying their input
  in chunks of samples (csrc/cpu/interval_conv2d_cpu.cpp, `pad_chunk_samples`);
  without, MIXTRAIN_CPU_PAD_CHUNK_KB=0: one copy of the whole batch, and the
  Winograd rule's tile limit for such copies, as before the chunks;
- packed-linear: interval_linear's packed CPU kernel (csrc/cpu/
  interval_linear_cpu.cpp, from 12 rows and 6144 outputs); without, the kernel the rule before
  it took at k rows: the dot-product kernel below 28 rows, two BLAS GEMMs from
  28 (exact for the networks here, whose linear layers hold at most 8 MB of
  W, at k < 28 and k >= 48; the IBP pass gives those layers k rows);
- conv-panels: the direct micro-kernel's weights in panels (interval_conv2d's
  direct and Winograd paths, IntervalDirectConv::wpanel); without,
  MIXTRAIN_CPU_CONV_PANELS=0: the [taps, channels, 2] rows of before (the
  size rules choose the same paths either way);
- winograd-f43: the Winograd path's F(4x4, 3x3) tiles where `winograd_tile`
  takes them (csrc/cpu/interval_conv2d_winograd_cpu.cpp); without,
  MIXTRAIN_CPU_WINOGRAD_TILE=2: F(2x2, 3x3) everywhere and the rules as before
  it.

    .venv/bin/python benchmarks/pass_ab.py [--switch winograd] [--nets mnist_large,cifar_large]
        [--methods ibp,crown-ibp] [--ks 8,16,50] [--passes 40] [--json PATH]

Passes as benchmarks/peer_auto_lirpa.py times them: margins of the true
class, a randomly initialized network in evaluation mode, no gradient, eps 0.1
on MNIST and 2/255 on CIFAR. Each figure: the median of the passes (the first
two of each side dropped).
"""
import argparse
import contextlib
import os
import statistics
import sys
import time
import types

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from mixtrain_cuda import _C, bench  # noqa: E402
from mixtrain_cuda.bounds import BoundedModule, _ops, margin_spec  # noqa: E402
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator  # noqa: E402
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model  # noqa: E402

KNOB = "MIXTRAIN_CPU_WINOGRAD"
CHUNK_KNOB = "MIXTRAIN_CPU_PAD_CHUNK_KB"
PANELS_KNOB = "MIXTRAIN_CPU_CONV_PANELS"
TILE_KNOB = "MIXTRAIN_CPU_WINOGRAD_TILE"
SWITCHES = ("winograd", "relu-conv", "pad-chunk", "packed-linear", "conv-panels", "winograd-f43")


class Without:
    """The side without the path: for `winograd`, `pad-chunk`, `conv-panels` and `winograd-f43` an environment
    knob, for `relu-conv` the engine's ops without crown_relu_conv2d_backward (then
    Conv2d.backward_with declines and the two steps run in turn), for
    `packed-linear` interval_linear's kernel choice forced to the old rule's at k."""

    def __init__(self, switch, bm, k):
        self.switch, self.bm, self.k = switch, bm, k

    def __enter__(self):
        if self.switch == "winograd":
            os.environ[KNOB] = "0"
        elif self.switch == "pad-chunk":
            os.environ[CHUNK_KNOB] = "0"
        elif self.switch == "conv-panels":
            os.environ[PANELS_KNOB] = "0"
        elif self.switch == "winograd-f43":
            os.environ[TILE_KNOB] = "2"
        elif self.switch == "packed-linear":
            _C._set_kernel_choice("interval_linear", "own" if self.k < 28 else "library")
        else:
            self.bm.ops = types.SimpleNamespace(**{k: v for k, v in vars(_ops.fused).items()
                                                   if k != "crown_relu_conv2d_backward"})

    def __exit__(self, *exc):
        os.environ.pop(KNOB, None)
        os.environ.pop(CHUNK_KNOB, None)
        os.environ.pop(PANELS_KNOB, None)
        os.environ.pop(TILE_KNOB, None)
        _C._set_kernel_choice("interval_linear", "auto")
        self.bm.ops = _ops.fused


def time_case(switch, net, method, k, passes):
    torch.manual_seed(0)
    bm = BoundedModule(get_model(net).eval())
    x = torch.rand(k, *INPUT_SHAPES[net])
    C = margin_spec(torch.randint(0, NUM_CLASSES[net], (k,)), NUM_CLASSES[net])
    eps = 0.1 if net.startswith("mnist") else 2.0 / 255
    times = {"with": [], "without": []}
    bounds = {}
    for _ in range(passes + 2):
        for side in times:
            with Without(switch, bm, k) if side == "without" else contextlib.nullcontext():
                start = time.perf_counter()
                with torch.no_grad():
                    bounds[side] = bm.compute_bounds(x, eps, method, C=C)
                times[side].append(time.perf_counter() - start)
    diff = max(float((a - b).abs().max()) for a, b in zip(bounds["with"], bounds["without"]))
    scale = max(float(b.abs().max()) for b in bounds["without"])
    return dict(switch=switch, net=net, method=method, k=k, passes=passes, max_bound_difference=diff,
                bound_scale=scale, **{side + "_s": statistics.median(v[2:]) for side, v in times.items()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--switch", choices=SWITCHES, default="winograd", help="the path to time with and without")
    ap.add_argument("--nets", default="mnist_large,cifar_large")
    ap.add_argument("--methods", default="ibp,crown-ibp")
    ap.add_argument("--ks", default="8,16,50", help="points per pass (default: 8,16,50)")
    ap.add_argument("--passes", type=int, default=40, help="timed passes per side and case (default: 40)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if any(k in os.environ for k in (KNOB, CHUNK_KNOB, PANELS_KNOB, TILE_KNOB, "MIXTRAIN_CPU_CONV")):
        ap.error("unset %s, %s, %s, %s and MIXTRAIN_CPU_CONV: this script sets the first four itself"
                 % (KNOB, CHUNK_KNOB, PANELS_KNOB, TILE_KNOB))
    if a.passes < 1:
        ap.error("--passes must be at least 1")
    tune_cpu_allocator()  # as the mixtrain command does
    rows = []
    for net in a.nets.split(","):
        for method in a.methods.split(","):
            for k in [int(v) for v in a.ks.split(",")]:
                row = time_case(a.switch, net, method, k, a.passes)
                rows.append(row)
                print("%-12s %-9s k=%-3d with %s %8.2f ms  without %8.2f ms  %.2fx  max |bound diff| %.1e of %.1e" % (
                    net, method, k, a.switch, row["with_s"] * 1e3, row["without_s"] * 1e3,
                    row["without_s"] / row["with_s"], row["max_bound_difference"], row["bound_scale"]), flush=True)
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/pass_ab.py", argv if argv is not None else sys.argv[1:],
                               "passes call by call in turn, medians", rows)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
