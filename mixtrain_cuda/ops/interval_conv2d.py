"""interval_conv2d: a box (center, radius) through a 2-D convolution."""
import torch

from . import reference
from ._conv_args import conv_backward, conv_out_hw, pair
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

    def _setup(ctx, inputs, output):
        center, radius, weight, bias, stride, padding, dilation, groups = inputs
        ctx.conv = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        ctx.save_for_backward(center, radius, weight)

    def _backward(ctx, grad_center, grad_radius):
        center, radius, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        d_c, d_wc, d_b = conv_backward(grad_center, center, weight, *ctx.conv,
                                       [need[0], need[2], ctx.has_bias and need[3]], with_bias=ctx.has_bias)
        d_r, d_wr, _ = conv_backward(grad_radius, radius, weight.abs(), *ctx.conv, [need[1], need[2], False])
        d_weight = d_wc + weight.sign() * d_wr if need[2] else None
        return d_c, d_r, d_weight, d_b, None, None, None, None

    torch.library.register_autograd("mixtrain::interval_conv2d", _backward, setup_context=_setup)
