"""crown_relu_backward: one step of CROWN's backward pass through a ReLU."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel


def crown_relu_backward(A, lower, upper, upper_bound=True):
    """Moves the linear bound ``A @ relu(z)`` (``A`` ``[B, S, *N]``) to ``A' @ z + bias``
    using the CROWN relaxation over pre-activation bounds ``[lower, upper]``
    (``[B, *N]``): the chord above, slope 1 if ``u >= -l`` else 0 below (unstable
    neurons). For an upper bound (``upper_bound=True``) positive coefficients take
    the upper relaxation and negative ones the lower; for a lower bound the
    reverse. Returns ``(A', bias [B, S])``.
    """
    if use_kernel("crown_relu_backward", A):
        return call_kernel("crown_relu_backward", A, lower, upper, bool(upper_bound))
    return reference.crown_relu_backward(A, lower, upper, bool(upper_bound))


if LOADED:

    @torch.library.register_fake("mixtrain::crown_relu_backward")
    def _fake(A, lower, upper, upper_bound):
        torch._check(A.dim() == lower.dim() + 1, lambda: "A must be [batch, specs, *neurons]")
        return torch.empty_like(A), A.new_empty(A.shape[0], A.shape[1])

    def _setup(ctx, inputs, output):
        A, lower, upper, upper_bound = inputs
        ctx.upper_bound = upper_bound
        ctx.save_for_backward(A, lower, upper)

    def _backward(ctx, grad_A, grad_bias):
        A, lower, upper = ctx.saved_tensors
        up_slope, up_icpt, lo_slope = (t.unsqueeze(1) for t in reference.crown_relax(lower, upper))
        take_upper = A > 0 if ctx.upper_bound else A < 0
        g_bias = grad_bias.reshape(*grad_bias.shape, *([1] * (A.dim() - 2)))
        d_A = grad_A * torch.where(take_upper, up_slope, lo_slope) + g_bias * torch.where(
            take_upper, up_icpt, torch.zeros_like(up_icpt))
        # Only the chord (upper slope, intercept) depends smoothly on l and u.
        unstable = (lower < 0) & (upper > 0)
        l = lower
        u = upper
        width = torch.where(unstable, u - l, torch.ones_like(u))
        chosen = A * take_upper
        g_slope = (grad_A * chosen).sum(1)
        g_icpt = (g_bias * chosen).sum(1)
        w2 = width * width
        d_lower = unstable * (g_slope * u / w2 - g_icpt * u * u / w2)
        d_upper = unstable * (-g_slope * l / w2 + g_icpt * l * l / w2)
        need = ctx.needs_input_grad
        return (d_A if need[0] else None), (d_lower if need[1] else None), (d_upper if need[2] else None), None

    torch.library.register_autograd("mixtrain::crown_relu_backward", _backward, setup_context=_setup)
