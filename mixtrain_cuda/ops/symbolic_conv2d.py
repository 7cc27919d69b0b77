"""symbolic_conv2d: MixTrain's symbolic interval through a 2-D convolution."""
import math

import torch

from . import reference
from ._conv_args import conv_backward, conv_out_hw, pair
from ._extension import LOADED, call_kernel, use_kernel
from ._generators import radius_grad_on_gens


def symbolic_conv2d(center, gens, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, input_rows=None,
                    input_norm=math.inf):
    """Returns ``(conv(c) + b, conv(G), radius)`` for center ``[B, C, H, W]`` and
    generators ``[B, R, C, H, W]`` (each generator row convolved without bias).
    ``input_rows``/``input_norm`` as in :func:`symbolic_linear`."""
    stride, padding, dilation = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    input_rows = gens.shape[1] if input_rows is None else int(input_rows)
    input_norm = float(input_norm)
    if use_kernel("symbolic_conv2d", center):
        return call_kernel("symbolic_conv2d", center, gens, weight, bias, stride, padding, dilation,
                                                        groups, input_rows, input_norm)
    return reference.symbolic_conv2d(center, gens, weight, bias, stride, padding, dilation, groups, input_rows,
                                     input_norm)


if LOADED:

    @torch.library.register_fake("mixtrain::symbolic_conv2d")
    def _fake(center, gens, weight, bias, stride, padding, dilation, groups, input_rows, input_norm):
        torch._check(center.dim() == 4 and gens.dim() == 5, lambda: "center must be 4-D and gens 5-D")
        B, R = gens.shape[:2]
        oh, ow = conv_out_hw(center.shape[2], center.shape[3], weight, stride, padding, dilation)
        O = weight.shape[0]
        return center.new_empty(B, O, oh, ow), gens.new_empty(B, R, O, oh, ow), center.new_empty(B, O, oh, ow)

    def _setup(ctx, inputs, output):
        center, gens, weight, bias, stride, padding, dilation, groups, input_rows, input_norm = inputs
        ctx.conv = (stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        ctx.norm = (input_rows, input_norm)
        ctx.save_for_backward(center, gens, weight, output[1])

    def _backward(ctx, grad_center, grad_gens, grad_radius):
        center, gens, weight, new_gens = ctx.saved_tensors
        need = ctx.needs_input_grad
        B, R = gens.shape[:2]
        g_gens = grad_gens + radius_grad_on_gens(new_gens, grad_radius, *ctx.norm)
        d_c, d_wc, d_b = conv_backward(grad_center, center, weight, *ctx.conv,
                                       [need[0], need[2], ctx.has_bias and need[3]], with_bias=ctx.has_bias)
        d_g, d_wg, _ = conv_backward(g_gens.reshape(B * R, *g_gens.shape[2:]), gens.reshape(B * R, *gens.shape[2:]),
                                     weight, *ctx.conv, [need[1], need[2], False])
        d_gens = d_g.reshape(gens.shape) if need[1] else None
        d_weight = d_wc + d_wg if need[2] else None
        return d_c, d_gens, d_weight, d_b, None, None, None, None, None, None

    torch.library.register_autograd("mixtrain::symbolic_conv2d", _backward, setup_context=_setup)
