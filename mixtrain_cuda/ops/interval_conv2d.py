"""interval_conv2d: a box (center, radius) through a 2-D convolution."""
import torch

from . import reference
from ._conv_args import conv_out_hw, pair
from ._extension import LOADED, call_kernel, use_kernel
from ._layout import empty_box_output


def interval_conv2d(center, radius, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """IBP through a convolution: ``(conv(center, W) + bias, conv(radius, |W|))``.

    ``center``/``radius`` are ``[B, C, H, W]``; the conv arguments are those of
    ``torch.nn.functional.conv2d`` (ints or pairs). On the CPU the outputs keep
    the center's layout (channels-last in, channels-last out, as ``F.conv2d``);
    on CUDA they are contiguous.
    """
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    if use_kernel("interval_conv2d", center):
        return call_kernel("interval_conv2d", center, radius, weight, bias, stride, padding, dilation,
                                                        groups)
    return reference.interval_conv2d(center, radius, weight, bias, stride, padding, dilation, groups)


if LOADED:

    @torch.library.register_fake("mixtrain::interval_conv2d")
    def _fake(center, radius, weight, bias, stride, padding, dilation, groups):
        torch._check(center.dim() == 4 and weight.dim() == 4, lambda: "center and weight must be 4-D")
        torch._check(center.shape == radius.shape, lambda: "radius must have the shape of center")
        oh, ow = conv_out_hw(center.shape[2], center.shape[3], weight, stride, padding, dilation)
        shape = (center.shape[0], weight.shape[0], oh, ow)
        return empty_box_output(center, shape), empty_box_output(center, shape)

    # Autograd: csrc/autograd/interval_conv2d_autograd.cpp (C++, for the host cost).
