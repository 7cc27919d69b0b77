"""crown_relu_conv2d_backward: CROWN's backward step through ``relu(conv(x))``
in one op (crown_relu_backward, then crown_conv2d_backward)."""
import torch

from . import reference
from ._conv_args import conv_out_hw, output_padding, pair
from ._extension import LOADED, call_kernel, use_kernel
from .crown_conv2d_backward import _output_format
from .crown_relu_backward import crown_relu_backward
from .crown_relu_backward_grad import crown_relu_backward_grad


def crown_relu_conv2d_backward(A, lower, upper, weight, bias=None, stride=1, padding=0, dilation=1, input_size=None,
                               upper_bound=True):
    """Moves the linear bound ``A @ relu(conv(x))`` to the convolution's input:
    the same as ``crown_relu_backward(A, lower, upper, upper_bound)`` followed by
    ``crown_conv2d_backward`` of its rows, with the two bias terms added.

    ``A`` is ``[B, S, out_channels, OH, OW]`` (S rows of linear bounds per
    sample), ``lower``/``upper`` ``[B, out_channels, OH, OW]`` the ReLU's
    pre-activation bounds, ``weight`` ``[out_channels, in_channels, kh, kw]``
    (groups 1), ``input_size`` the convolution's input ``(height, width)``.
    Returns ``([B, S, in_channels, height, width], bias [B, S])``; the first is
    laid out as crown_conv2d_backward's output (channels-last rows when
    in_channels is a multiple of 16).

    On the CPU the ReLU's step runs inside the convolution kernel's copy of each
    row of A, so A after the ReLU is never stored: one memory-bound pass over
    A fewer. On CUDA the two ops run in turn.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    if input_size is None:
        raise ValueError("crown_relu_conv2d_backward needs input_size=(height, width), the convolution's input size")
    input_size = pair(input_size, "input_size")
    if use_kernel("crown_relu_conv2d_backward", A):
        return call_kernel("crown_relu_conv2d_backward", A, lower, upper, bool(upper_bound), weight, bias, stride,
                           padding, dilation, input_size)
    return reference.crown_relu_conv2d_backward(A, lower, upper, bool(upper_bound), weight, bias, stride, padding,
                                                dilation, input_size)


if LOADED:

    @torch.library.register_fake("mixtrain::crown_relu_conv2d_backward")
    def _fake(A, lower, upper, upper_bound, weight, bias, stride, padding, dilation, input_size):
        torch._check(A.dim() == 5 and lower.dim() == 4, lambda: "A must be 5-D and lower 4-D")
        torch._check(A.shape[2] == weight.shape[0], lambda: "A's channels must be weight's out_channels")
        torch._check(lower.shape == upper.shape and lower.shape[0] == A.shape[0] and lower.shape[1:] == A.shape[2:],
                     lambda: "lower and upper must be [batch, *neurons] matching A")
        oh, ow = conv_out_hw(input_size[0], input_size[1], weight, stride, padding, dilation)
        torch._check(oh == A.shape[3] and ow == A.shape[4], lambda: "input_size does not give A's spatial size")
        B, S = A.shape[0], A.shape[1]
        out = torch.empty(B * S, weight.shape[1], *input_size, dtype=A.dtype, device=A.device,
                          memory_format=_output_format(weight.shape[1]))
        return out.view(B, S, weight.shape[1], *input_size), A.new_empty(B, S)

    def _setup(ctx, inputs, output):
        A, lower, upper, upper_bound, weight, bias, stride, padding, dilation, input_size = inputs
        ctx.upper_bound = upper_bound
        ctx.conv = (stride, padding, dilation, input_size)
        ctx.save_for_backward(A, lower, upper, weight, bias)

    def _backward(ctx, grad_out, grad_bias):
        # The chain rule through the two steps, each with its own op's formula
        # (crown_conv2d_backward.py, crown_relu_backward_grad): A after the ReLU
        # is recomputed here rather than saved, as the forward never stores it.
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

    torch.library.register_autograd("mixtrain::crown_relu_conv2d_backward", _backward, setup_context=_setup)
