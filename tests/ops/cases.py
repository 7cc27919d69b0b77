"""Sample inputs for every op, shared by the parity, gradcheck, opcheck and
compile tests. Shapes are odd on purpose (not multiples of any SIMD width)."""
import math

import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import reference

OPS = ["interval_linear", "interval_conv2d", "symbolic_linear", "symbolic_conv2d", "interval_relu",
       "interval_relu_backward", "symbolic_relu", "crown_relu_backward", "crown_relu_backward_grad",
       "crown_conv2d_backward", "crown_relu_conv2d_backward"]


def _t(*shape, dtype, device, positive=False, requires_grad=False):
    x = torch.rand(*shape, dtype=dtype, device=device) if positive else torch.randn(*shape, dtype=dtype, device=device)
    return x.requires_grad_(requires_grad)


def cases(op, dtype=torch.float64, device="cpu", grad=False):
    """List of (args, kwargs) for `op` (as passed to the public wrapper)."""
    t = lambda *s, **k: _t(*s, dtype=dtype, device=device, requires_grad=grad, **k)  # noqa: E731

    def crown_case(B, S, *N, upper_bound):
        lower = torch.randn(B, *N, dtype=dtype, device=device)
        upper = lower + torch.rand(B, *N, dtype=dtype, device=device) + 0.2
        lower = torch.where(lower.abs() < 0.1, lower - 0.2, lower)
        upper = torch.where(upper.abs() < 0.1, upper + 0.2, upper)
        A = torch.randn(B, S, *N, dtype=dtype, device=device)
        return (A.requires_grad_(grad), lower.requires_grad_(grad), upper.requires_grad_(grad)), dict(
            upper_bound=upper_bound)

    if op == "interval_linear":
        return [
            ((t(3, 37), t(3, 37, positive=True), t(29, 37), t(29)), {}),
            ((t(2, 2, 17), t(2, 2, 17), t(5, 17), None), {}),        # leading dims, negative radius
            ((t(1, 64), t(1, 64, positive=True), t(33, 64), t(33)), {}),
            ((t(30, 9), t(30, 9, positive=True), t(7, 9), None), {}),  # more rows than the fused path takes
        ]
    if op == "interval_conv2d":
        return [
            ((t(2, 3, 9, 8), t(2, 3, 9, 8, positive=True), t(5, 3, 3, 3), t(5)), dict(stride=2, padding=1)),
            ((t(1, 4, 7, 7), t(1, 4, 7, 7), t(6, 2, 3, 2), None), dict(dilation=(2, 1), groups=2, padding=(1, 0))),
            ((t(3, 1, 6, 6), t(3, 1, 6, 6, positive=True), t(4, 1, 4, 4), t(4)), dict(stride=2, padding=1)),
        ]
    if op == "symbolic_linear":
        return [
            ((t(2, 11), t(2, 5, 11), t(7, 11), t(7)), dict(input_rows=3, input_norm=math.inf)),
            ((t(3, 9), t(3, 4, 9), t(5, 9), None), dict(input_rows=2, input_norm=2.0)),
            ((t(1, 6), t(1, 3, 6), t(4, 6), t(4)), dict(input_rows=3)),
        ]
    if op == "symbolic_conv2d":
        return [
            ((t(2, 2, 6, 5), t(2, 3, 2, 6, 5), t(3, 2, 3, 3), t(3)), dict(padding=1, input_rows=2)),
            ((t(1, 2, 7, 7), t(1, 4, 2, 7, 7), t(4, 1, 3, 3), None),
             dict(stride=2, groups=2, input_rows=3, input_norm=2.0)),
        ]
    if op == "interval_relu":
        return [((t(4, 13), t(4, 13, positive=True)), {}), ((t(2, 3, 5, 5), t(2, 3, 5, 5, positive=True)), {})]
    if op == "interval_relu_backward":
        # (grad_center, grad_radius, center, radius), with c - r and c + r away
        # from 0, where the masks switch (gradcheck would straddle the kink).
        def backward_case(*shape):
            c = torch.randn(*shape, dtype=dtype, device=device)
            r = torch.randn(*shape, dtype=dtype, device=device)  # any sign: the op takes what interval_relu takes
            c = torch.where((c - r).abs() < 0.1, c + 0.3, c)
            c = torch.where((c + r).abs() < 0.1, c - 0.3, c)
            gc, gr = torch.randn(*shape, dtype=dtype, device=device), torch.randn(*shape, dtype=dtype, device=device)
            return tuple(x.requires_grad_(grad) for x in (gc, gr, c, r))
        return [(backward_case(4, 13), {}), (backward_case(2, 3, 5, 5), {})]
    if op == "symbolic_relu":
        # Keep every neuron away from l = 0 and u = 0, where the relaxation has kinks.
        def relu_case(*shape, rows):
            c = torch.randn(*shape, dtype=dtype, device=device)
            r = torch.rand(*shape, dtype=dtype, device=device) + 0.2
            c = torch.where((c - r).abs() < 0.1, c + 0.3, c)
            c = torch.where((c + r).abs() < 0.1, c - 0.3, c)
            g = torch.randn(shape[0], rows, *shape[1:], dtype=dtype, device=device)
            return tuple(x.requires_grad_(grad) for x in (c, g, r))
        return [(relu_case(3, 10, rows=4), {}), (relu_case(2, 2, 3, 3, rows=2), {})]
    if op == "crown_relu_backward":
        return [crown_case(2, 3, 11, upper_bound=True), crown_case(3, 2, 2, 3, 3, upper_bound=False)]
    if op == "crown_relu_backward_grad":
        def grad_case(B, S, *N, upper_bound):
            (A, lower, upper), kw = crown_case(B, S, *N, upper_bound=upper_bound)
            A = A.detach()
            A = torch.where(A.abs() < 0.1, A + 0.3 * torch.sign(A), A)  # away from the sign switch
            g_A = torch.randn_like(A)
            g_bias = torch.randn(B, S, dtype=dtype, device=device)
            return tuple(x.detach().requires_grad_(grad) for x in (g_A, g_bias, A, lower, upper)), kw
        return [grad_case(2, 3, 11, upper_bound=True), grad_case(3, 2, 2, 3, 3, upper_bound=False)]
    if op == "crown_conv2d_backward":
        # (A [N, O, OH, OW], weight, bias) with the conv arguments and the layer's input size; odd
        # channel counts (SIMD tails), strided layers whose input has rows a convolution never
        # reads, 1..4 input channels (the kernel groups them by 3), and 16 / 48 input channels
        # (the kernel's wide form, channels-last output; 48 leaves a one-vector chunk on AVX-512).
        def conv_case(N, O, C, kh, kw, input_size, bias=True, **conv):
            from mixtrain_cuda.ops._conv_args import conv_out_hw, pair
            weight = t(O, C, kh, kw)
            oh, ow = conv_out_hw(*input_size, weight, *(pair(conv.get(k, d), k) for k, d in
                                                        (("stride", 1), ("padding", 0), ("dilation", 1))))
            return (t(N, O, oh, ow), weight, t(O) if bias else None), dict(conv, input_size=input_size)
        return [conv_case(3, 5, 1, 4, 4, (9, 8), stride=2, padding=1),
                conv_case(2, 11, 3, 3, 2, (7, 9), bias=False, stride=(1, 2), padding=(1, 0), dilation=(2, 1)),
                conv_case(4, 9, 4, 3, 3, (6, 5)),
                conv_case(2, 7, 16, 4, 4, (9, 10), stride=2, padding=1),
                conv_case(3, 5, 48, 3, 2, (7, 6), bias=False, stride=(2, 1), padding=(1, 0), dilation=(1, 2))]
    if op == "crown_relu_conv2d_backward":
        # (A [B, S, O, OH, OW], lower, upper [B, O, OH, OW], weight, bias): the kernel's narrow form
        # (few input channels, O not a multiple of the SIMD width: its channel padding) and its wide form
        # (16 / 32 input channels, channels-last output), strided or not, both bound directions.
        def relu_conv_case(B, S, O, C, k, input_size, bias=True, upper_bound=True, **conv):
            from mixtrain_cuda.ops._conv_args import conv_out_hw, pair
            weight = t(O, C, k, k)
            oh, ow = conv_out_hw(*input_size, weight, *(pair(conv.get(n, d), n) for n, d in
                                                       (("stride", 1), ("padding", 0), ("dilation", 1))))
            (A, lower, upper), _ = crown_case(B, S, O, oh, ow, upper_bound=upper_bound)
            return (A, lower, upper, weight, t(O) if bias else None), dict(conv, input_size=input_size,
                                                                            upper_bound=upper_bound)
        return [relu_conv_case(2, 3, 7, 1, 3, (7, 6), padding=1),
                relu_conv_case(3, 2, 5, 3, 4, (9, 8), bias=False, upper_bound=False, stride=2, padding=1),
                relu_conv_case(2, 2, 6, 16, 4, (8, 9), stride=2, padding=1),
                relu_conv_case(1, 3, 5, 32, 3, (5, 6), upper_bound=False, padding=(1, 0), dilation=(1, 2))]
    raise KeyError(op)


def fused(op):
    return getattr(mc, op)


def ref(op):
    return getattr(reference, op)


def ref_call(op, args, kwargs):
    """Call the reference with the same arguments as the public wrapper."""
    from mixtrain_cuda.ops._conv_args import pair
    kwargs = dict(kwargs)
    for k in ("stride", "padding", "dilation", "input_size"):
        if k in kwargs:
            kwargs[k] = pair(kwargs[k], k)
    if op == "crown_relu_conv2d_backward":  # the reference takes the schema's order
        A, lower, upper, weight, bias = args
        return ref(op)(A, lower, upper, kwargs.get("upper_bound", True), weight, bias,
                       *(kwargs.get(k, d) for k, d in (("stride", [1, 1]), ("padding", [0, 0]),
                                                       ("dilation", [1, 1]), ("input_size", None))))
    if op in ("symbolic_linear", "symbolic_conv2d"):
        kwargs.setdefault("input_rows", args[1].shape[1])
    if op in ("crown_relu_backward", "crown_relu_backward_grad"):
        kwargs.setdefault("upper_bound", True)
    return ref(op)(*args, **kwargs)


def op_args(op, args, kwargs):
    """Positional arguments of torch.ops.mixtrain.<op> for opcheck."""
    from mixtrain_cuda.ops._conv_args import pair
    a = list(args)
    if op in ("interval_linear",) and len(a) == 3:
        a.append(None)
    if op in ("interval_conv2d", "symbolic_conv2d"):
        a += [pair(kwargs.get("stride", 1), "s"), pair(kwargs.get("padding", 0), "p"),
              pair(kwargs.get("dilation", 1), "d"), kwargs.get("groups", 1)]
    if op in ("symbolic_linear", "symbolic_conv2d"):
        a += [kwargs.get("input_rows", args[1].shape[1]), float(kwargs.get("input_norm", math.inf))]
    if op in ("crown_relu_backward", "crown_relu_backward_grad"):
        a.append(kwargs.get("upper_bound", True))
    if op == "crown_conv2d_backward":
        a += [pair(kwargs.get("stride", 1), "s"), pair(kwargs.get("padding", 0), "p"),
              pair(kwargs.get("dilation", 1), "d"), pair(kwargs["input_size"], "input_size")]
    if op == "crown_relu_conv2d_backward":
        a = a[:3] + [kwargs.get("upper_bound", True)] + a[3:] + [
            pair(kwargs.get("stride", 1), "s"), pair(kwargs.get("padding", 0), "p"),
            pair(kwargs.get("dilation", 1), "d"), pair(kwargs["input_size"], "input_size")]
    return a
