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
  it;
- cpp-autograd: the C++ autograd kernels of interval_linear, interval_conv2d,
  interval_relu, interval_relu_backward, crown_relu_backward,
  crown_conv2d_backward and crown_relu_conv2d_backward (csrc/autograd/); without, the
  torch.library.register_autograd kernels in Python they replaced
  (`python_autograd` below, the same formulas), registered over them for the
  "without" passes and removed again. Only passes that record a graph see a
  difference: use it with --backward.
- diagonal-inputs: the symbolic pass's input symbols kept diagonal until the
  first convolution or linear layer, which makes its rows in closed form
  (bounds/layers/base.py, DiagonalSymbolic); without, BoundedModule's
  `diagonal_inputs = False`: the dense one-hot rows through that layer's op.
  Use it with --methods symbolic.
- windowed-rows: the symbolic pass's generator rows kept as windows through
  convolutions, ReLUs, BatchNorm and into the linear layer after a flatten
  (bounds/layers/windowed.py); without, BoundedModule's `windowed_rows =
  False`: dense rows after the first convolution, as before. Use it with
  --methods symbolic.

    .venv/bin/python benchmarks/pass_ab.py [--switch winograd] [--nets mnist_large,cifar_large]
        [--methods ibp,crown-ibp] [--ks 8,16,50] [--passes 40] [--backward] [--checkpoint PATH] [--json PATH]

--checkpoint PATH times a trained network (a `mixtrain train` checkpoint) on
the first k points of its test split at the eps it was trained for.

--backward times a training pass instead: bounds with autograd recording,
then the backward of robust_loss (the cross-entropy of the worst-case logits)
to the network's weights.

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
from mixtrain_cuda.bounds import BoundedModule, _ops, margin_spec, robust_cross_entropy  # noqa: E402
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator  # noqa: E402
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model  # noqa: E402

KNOB = "MIXTRAIN_CPU_WINOGRAD"
CHUNK_KNOB = "MIXTRAIN_CPU_PAD_CHUNK_KB"
PANELS_KNOB = "MIXTRAIN_CPU_CONV_PANELS"
TILE_KNOB = "MIXTRAIN_CPU_WINOGRAD_TILE"
SWITCHES = ("winograd", "relu-conv", "pad-chunk", "packed-linear", "conv-panels", "winograd-f43", "cpp-autograd",
            "diagonal-inputs", "windowed-rows")


def python_autograd(lib):
    """Registers into `lib` the Python autograd kernels that the seven ops had
    before csrc/autograd/ (session 27): the same formulas, in Python."""
    from mixtrain_cuda.ops import crown_relu_backward, crown_relu_backward_grad, interval_relu_backward
    from mixtrain_cuda.ops._conv_args import conv_backward, output_padding

    def linear_setup(ctx, inputs, output):
        ctx.has_bias = inputs[3] is not None
        ctx.save_for_backward(*inputs[:3])

    def linear_backward(ctx, grad_center, grad_radius):
        center, radius, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        N, K = weight.shape
        gc, gr = grad_center.reshape(-1, N), grad_radius.reshape(-1, N)
        d_center = (gc @ weight).reshape(center.shape) if need[0] else None
        d_radius = (gr @ weight.abs()).reshape(radius.shape) if need[1] else None
        d_weight = None
        if need[2]:
            d_weight = gc.t() @ center.reshape(-1, K) + weight.sign() * (gr.t() @ radius.reshape(-1, K))
        d_bias = gc.sum(0) if ctx.has_bias and need[3] else None
        return d_center, d_radius, d_weight, d_bias

    def conv_setup(ctx, inputs, output):
        ctx.conv = tuple(inputs[4:])
        ctx.has_bias = inputs[3] is not None
        ctx.save_for_backward(*inputs[:3])

    def conv_backward_(ctx, grad_center, grad_radius):
        center, radius, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_c, d_wc, d_b = conv_backward(grad_center, center, weight, *ctx.conv,
                                       [need[0], need[2], ctx.has_bias and need[3]], with_bias=ctx.has_bias)
        d_r, d_wr, _ = conv_backward(grad_radius, radius, weight.abs(), *ctx.conv, [need[1], need[2], False])
        d_weight = d_wc + weight.sign() * d_wr if need[2] else None
        return d_c, d_r, d_weight, d_b, None, None, None, None

    def relu_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def relu_backward(ctx, grad_center, grad_radius):
        center, radius = ctx.saved_tensors
        d_center, d_radius = interval_relu_backward(grad_center, grad_radius, center, radius)
        need = ctx.needs_input_grad
        return (d_center if need[0] else None), (d_radius if need[1] else None)

    def relu_grad_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs[2:])

    def relu_grad_backward(ctx, grad_d_center, grad_d_radius):
        center, radius = ctx.saved_tensors
        d_gc, d_gr = interval_relu_backward(grad_d_center, grad_d_radius, center, radius)
        need = ctx.needs_input_grad
        return (d_gc if need[0] else None), (d_gr if need[1] else None), None, None

    def crown_relu_setup(ctx, inputs, output):
        ctx.upper_bound = inputs[3]
        ctx.save_for_backward(*inputs[:3])

    def crown_relu_backward_(ctx, grad_A, grad_bias):
        A, lower, upper = ctx.saved_tensors
        d_A, d_lower, d_upper = crown_relu_backward_grad(grad_A, grad_bias, A, lower, upper, ctx.upper_bound)
        need = ctx.needs_input_grad
        return (d_A if need[0] else None), (d_lower if need[1] else None), (d_upper if need[2] else None), None

    def crown_conv_setup(ctx, inputs, output):
        A, weight, bias, stride, padding, dilation, input_size = inputs
        ctx.conv = (stride, padding, dilation, output_padding(A, weight, stride, padding, dilation, input_size))
        ctx.save_for_backward(A, weight, bias)

    def crown_conv_backward(ctx, grad_back, grad_bias_term):
        A, weight, bias = ctx.saved_tensors
        need = ctx.needs_input_grad
        stride, padding, dilation, out_pad = ctx.conv
        d_A, d_weight, _ = torch.ops.aten.convolution_backward(
            grad_back, A, weight, None, stride, padding, dilation, True, out_pad, 1, [need[0], need[1], False])
        d_bias = None
        if bias is not None:
            if need[0]:
                d_A = d_A + grad_bias_term.reshape(-1, 1, 1, 1) * bias.reshape(1, -1, 1, 1)
            if need[2]:
                d_bias = (grad_bias_term.unsqueeze(1) * A.sum((2, 3))).sum(0)
        return d_A, d_weight, d_bias, None, None, None, None

    def crown_relu_conv_setup(ctx, inputs, output):
        A, lower, upper, upper_bound, weight, bias, stride, padding, dilation, input_size = inputs
        ctx.upper_bound = upper_bound
        ctx.conv = (stride, padding, dilation, input_size)
        ctx.save_for_backward(A, lower, upper, weight, bias)

    def crown_relu_conv_backward(ctx, grad_out, grad_bias):
        A, lower, upper, weight, bias = ctx.saved_tensors
        stride, padding, dilation, input_size = ctx.conv
        need = ctx.needs_input_grad
        need_relu = need[0] or need[1] or need[2]
        stepped = crown_relu_backward(A, lower, upper, ctx.upper_bound)[0].flatten(0, 1)
        out_pad = output_padding(stepped, weight, stride, padding, dilation, input_size)
        d_stepped, d_weight, _ = torch.ops.aten.convolution_backward(
            grad_out.flatten(0, 1), stepped, weight, None, stride, padding, dilation, True, out_pad, 1,
            [need_relu, need[4], False])
        g = grad_bias.reshape(-1)
        d_bias = None
        if bias is not None:
            if need_relu:
                d_stepped = d_stepped + g.reshape(-1, 1, 1, 1) * bias.reshape(1, -1, 1, 1)
            if need[5]:
                d_bias = (g.unsqueeze(1) * stepped.sum((2, 3))).sum(0)
        d_A = d_lower = d_upper = None
        if need_relu:
            d_A, d_lower, d_upper = crown_relu_backward_grad(d_stepped.reshape(A.shape), grad_bias, A, lower, upper,
                                                             ctx.upper_bound)
        return ((d_A if need[0] else None), (d_lower if need[1] else None), (d_upper if need[2] else None), None,
                (d_weight if need[4] else None), d_bias, None, None, None, None)

    for op, backward, setup in (("interval_linear", linear_backward, linear_setup),
                                ("interval_conv2d", conv_backward_, conv_setup),
                                ("interval_relu", relu_backward, relu_setup),
                                ("interval_relu_backward", relu_grad_backward, relu_grad_setup),
                                ("crown_relu_backward", crown_relu_backward_, crown_relu_setup),
                                ("crown_conv2d_backward", crown_conv_backward, crown_conv_setup),
                                ("crown_relu_conv2d_backward", crown_relu_conv_backward, crown_relu_conv_setup)):
        torch.library.register_autograd("mixtrain::" + op, backward, setup_context=setup, lib=lib)


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
        elif self.switch == "cpp-autograd":
            # A newer registration for the same key wins; destroying the library removes it again.
            self.lib = torch.library.Library("mixtrain", "FRAGMENT")
            python_autograd(self.lib)
        elif self.switch == "diagonal-inputs":
            self.bm.diagonal_inputs = False
        elif self.switch == "windowed-rows":
            self.bm.windowed_rows = False
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
        self.bm.diagonal_inputs = True
        self.bm.windowed_rows = True
        if getattr(self, "lib", None) is not None:
            self.lib._destroy()
            self.lib = None


def trained_case(checkpoint, k):
    """(network name, model, x, y, eps) of a `mixtrain train` checkpoint: its
    first k test points and the eps it was trained for, loaded as `mixtrain
    certify` loads them (dual BatchNorm: the evaluated branch)."""
    from mixtrain_cuda.cli_train import _eval_data, _load_model
    model, config = _load_model(checkpoint, "cpu")
    x, y, _ = _eval_data(config, None, k, None)
    return config.model, model, x, y, config.eps


def time_case(switch, net, method, k, passes, backward=False, checkpoint=None):
    torch.manual_seed(0)
    if checkpoint:
        net, model, x, y, eps = trained_case(checkpoint, k)
    else:
        model = get_model(net).eval()
        x = torch.rand(k, *INPUT_SHAPES[net])
        y = torch.randint(0, NUM_CLASSES[net], (k,))
        eps = 0.1 if net.startswith("mnist") else 2.0 / 255
    bm = BoundedModule(model)
    C = margin_spec(y, NUM_CLASSES[net])
    times = {"with": [], "without": []}
    bounds = {}
    for _ in range(passes + 2):
        for side in times:
            with Without(switch, bm, k) if side == "without" else contextlib.nullcontext():
                start = time.perf_counter()
                if backward:
                    lb, ub = bm.compute_bounds(x, eps, method, C=C)
                    robust_cross_entropy(lb, y).backward()
                    bounds[side] = (lb.detach(), ub.detach()) + tuple(p.grad for p in model.parameters())
                    model.zero_grad(set_to_none=True)
                else:
                    with torch.no_grad():
                        bounds[side] = bm.compute_bounds(x, eps, method, C=C)
                times[side].append(time.perf_counter() - start)
    diff = max(float((a - b).abs().max()) for a, b in zip(bounds["with"], bounds["without"]))
    scale = max(float(b.abs().max()) for b in bounds["without"])
    return dict(switch=switch, net=net, checkpoint=checkpoint, eps=eps, method=method, k=k, passes=passes,
                backward=backward,
                max_bound_difference=diff,
                bound_scale=scale, **{side + "_s": statistics.median(v[2:]) for side, v in times.items()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--switch", choices=SWITCHES, default="winograd", help="the path to time with and without")
    ap.add_argument("--nets", default="mnist_large,cifar_large")
    ap.add_argument("--methods", default="ibp,crown-ibp")
    ap.add_argument("--ks", default="8,16,50", help="points per pass (default: 8,16,50)")
    ap.add_argument("--passes", type=int, default=40, help="timed passes per side and case (default: 40)")
    ap.add_argument("--backward", action="store_true",
                    help="time training passes: bounds with autograd, then robust_loss's backward to the weights")
    ap.add_argument("--checkpoint", help="a `mixtrain train` checkpoint: its network and trained weights, the first "
                    "k points of its test split, the eps it was trained for (--nets is then ignored)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.checkpoint:
        a.nets = "trained"
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
                row = time_case(a.switch, net, method, k, a.passes, a.backward, a.checkpoint)
                rows.append(row)
                print("%-12s %-9s k=%-3d with %s %8.2f ms  without %8.2f ms  %.2fx  max |bound diff| %.1e of %.1e" % (
                    row["net"], method, k, a.switch, row["with_s"] * 1e3, row["without_s"] * 1e3,
                    row["without_s"] / row["with_s"], row["max_bound_difference"], row["bound_scale"]), flush=True)
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/pass_ab.py", argv if argv is not None else sys.argv[1:],
                               "passes call by call in turn, medians", rows)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
