"""crown_relu_conv2d_backward: CROWN's backward step through ``relu(conv(x))``
in one op (crown_relu_backward, then crown_conv2d_backward)."""
import torch

from . import reference
from ._conv_args import conv_out_hw, pair
from ._extension import LOADED, call_kernel, use_kernel
from .crown_conv2d_backward import _output_format


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

    # Autograd: csrc/autograd/crown_relu_conv2d_backward_autograd.cpp (C++, for the host cost).
