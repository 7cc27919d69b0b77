"""crown_relu_backward: one step of CROWN's backward pass through a ReLU."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel
from .crown_relu_backward_grad import crown_relu_backward_grad


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
        return A.new_empty(A.shape), A.new_empty(A.shape[0], A.shape[1])  # contiguous, as the kernels

    def _setup(ctx, inputs, output):
        A, lower, upper, upper_bound = inputs
        ctx.upper_bound = upper_bound
        ctx.save_for_backward(A, lower, upper)

    def _backward(ctx, grad_A, grad_bias):
        A, lower, upper = ctx.saved_tensors
        # One fused pass (ops/crown_relu_backward_grad.py; differentiable itself,
        # for double backward).
        d_A, d_lower, d_upper = crown_relu_backward_grad(grad_A, grad_bias, A, lower, upper, ctx.upper_bound)
        need = ctx.needs_input_grad
        return (d_A if need[0] else None), (d_lower if need[1] else None), (d_upper if need[2] else None), None

    torch.library.register_autograd("mixtrain::crown_relu_backward", _backward, setup_context=_setup)
