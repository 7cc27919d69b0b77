"""interval_relu: a box (center, radius) through a ReLU."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel
from ._layout import empty_box_output
from .interval_relu_backward import interval_relu_backward


def interval_relu(center, radius):
    """IBP through a ReLU in center/radius form: the box [c - r, c + r] maps to
    [relu(c - r), relu(c + r)], returned again as (center, radius). On the CPU
    the outputs keep the center's layout (channels-last stays channels-last)."""
    if use_kernel("interval_relu", center):
        return call_kernel("interval_relu", center, radius)
    return reference.interval_relu(center, radius)


if LOADED:

    @torch.library.register_fake("mixtrain::interval_relu")
    def _fake(center, radius):
        torch._check(center.shape == radius.shape, lambda: "radius must have the shape of center")
        # As the kernels: the standard strides of the center's layout (box_format; contiguous on CUDA).
        return empty_box_output(center, center.shape), empty_box_output(center, center.shape)

    def _setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def _backward(ctx, grad_center, grad_radius):
        center, radius = ctx.saved_tensors
        # One fused pass (ops/interval_relu_backward.py); it has its own autograd,
        # so double backward works too.
        d_center, d_radius = interval_relu_backward(grad_center, grad_radius, center, radius)
        need = ctx.needs_input_grad
        return (d_center if need[0] else None), (d_radius if need[1] else None)

    torch.library.register_autograd("mixtrain::interval_relu", _backward, setup_context=_setup)
