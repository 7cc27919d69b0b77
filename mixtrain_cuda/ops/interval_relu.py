"""interval_relu: a box (center, radius) through a ReLU."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel


def interval_relu(center, radius):
    """IBP through a ReLU in center/radius form: the box [c - r, c + r] maps to
    [relu(c - r), relu(c + r)], returned again as (center, radius)."""
    if use_kernel("interval_relu", center):
        return call_kernel("interval_relu", center, radius)
    return reference.interval_relu(center, radius)


if LOADED:

    @torch.library.register_fake("mixtrain::interval_relu")
    def _fake(center, radius):
        torch._check(center.shape == radius.shape, lambda: "radius must have the shape of center")
        return torch.empty_like(center), torch.empty_like(center)

    def _setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def _backward(ctx, grad_center, grad_radius):
        center, radius = ctx.saved_tensors
        # c' = (relu(u) + relu(l)) / 2, r' = (relu(u) - relu(l)) / 2 with u = c + r, l = c - r.
        g_upper = (grad_center + grad_radius) / 2 * (center + radius > 0)
        g_lower = (grad_center - grad_radius) / 2 * (center - radius > 0)
        need = ctx.needs_input_grad
        return (g_upper + g_lower if need[0] else None), (g_upper - g_lower if need[1] else None)

    torch.library.register_autograd("mixtrain::interval_relu", _backward, setup_context=_setup)
