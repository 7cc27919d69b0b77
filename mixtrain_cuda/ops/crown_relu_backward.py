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
        return A.new_empty(A.shape), A.new_empty(A.shape[0], A.shape[1])  # contiguous, as the kernels

    # Autograd: csrc/autograd/crown_relu_backward_autograd.cpp (C++, for the host cost).
