"""crown_conv2d_backward: one step of CROWN's backward pass through a convolution."""
import torch

from . import reference
from ._conv_args import conv_out_hw, pair
from ._extension import LOADED, call_kernel, use_kernel


def crown_conv2d_backward(A, weight, bias=None, stride=1, padding=0, dilation=1, input_size=None):
    """Moves the linear bound ``A @ conv(x) (+ A @ bias)`` to the convolution's input:
    returns ``(conv_transpose2d(A, weight), sum over o, i, j of A[n, o, i, j] * bias[o])``.

    ``A`` is ``[N, out_channels, OH, OW]`` (N rows of linear bounds: batch x
    specifications), ``weight`` ``[out_channels, in_channels, kh, kw]`` (groups
    1), and ``input_size`` the layer's input ``(height, width)``: a strided
    convolution maps several input sizes onto one output size, so it must be
    given. The conv arguments are those of ``torch.nn.functional.conv2d``.
    Outputs: ``[N, in_channels, height, width]`` (channels-last in memory when
    in_channels is a multiple of 16) and ``[N]`` (zeros without a bias).

    On the CPU the kernel has two forms: one for few input channels (a
    network's first layer, where oneDNN's transposed convolution is slow) and
    one vectorized along the input channels when they are a multiple of 16;
    on CUDA it is cuDNN's transposed convolution in IEEE float32.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    if input_size is None:
        raise ValueError("crown_conv2d_backward needs input_size=(height, width), the layer's input size")
    input_size = pair(input_size, "input_size")
    if use_kernel("crown_conv2d_backward", A):
        return call_kernel("crown_conv2d_backward", A, weight, bias, stride, padding, dilation, input_size)
    return reference.crown_conv2d_backward(A, weight, bias, stride, padding, dilation, input_size)


def _output_format(in_channels):
    """The kernels' output layout (csrc/checks.h: crown_conv_output_format):
    channels-last when in_channels is a multiple of 16, where the CPU kernel
    is vectorized along them, else contiguous."""
    return torch.channels_last if in_channels > 0 and in_channels % 16 == 0 else torch.contiguous_format


if LOADED:

    @torch.library.register_fake("mixtrain::crown_conv2d_backward")
    def _fake(A, weight, bias, stride, padding, dilation, input_size):
        torch._check(A.dim() == 4 and weight.dim() == 4, lambda: "A and weight must be 4-D")
        torch._check(A.shape[1] == weight.shape[0], lambda: "A's channels must be weight's out_channels")
        oh, ow = conv_out_hw(input_size[0], input_size[1], weight, stride, padding, dilation)
        torch._check(oh == A.shape[2] and ow == A.shape[3], lambda: "input_size does not give A's spatial size")
        out = torch.empty(A.shape[0], weight.shape[1], *input_size, dtype=A.dtype, device=A.device,
                          memory_format=_output_format(weight.shape[1]))
        return out, A.new_empty(A.shape[0])

    # Autograd: csrc/autograd/crown_conv2d_backward_autograd.cpp (C++, for the host cost).
