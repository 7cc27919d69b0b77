"""crown_relu_backward_grad: the gradient of crown_relu_backward, in one pass."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel


def crown_relu_backward_grad(grad_A, grad_bias, A, lower, upper, upper_bound=True):
    """Given the gradients of crown_relu_backward's outputs ``(A', bias)``
    (``grad_A`` ``[B, S, *N]``, ``grad_bias`` ``[B, S]``), returns those of its
    inputs ``(A, lower, upper)``. crown_relu_backward's autograd calls it (the
    training pass through CROWN-IBP).
    """
    if use_kernel("crown_relu_backward_grad", A):
        return call_kernel("crown_relu_backward_grad", grad_A, grad_bias, A, lower, upper, bool(upper_bound))
    return reference.crown_relu_backward_grad(grad_A, grad_bias, A, lower, upper, bool(upper_bound))


if LOADED:

    @torch.library.register_fake("mixtrain::crown_relu_backward_grad")
    def _fake(grad_A, grad_bias, A, lower, upper, upper_bound):
        torch._check(A.dim() == lower.dim() + 1, lambda: "A must be [batch, specs, *neurons]")
        torch._check(grad_A.shape == A.shape, lambda: "grad_A must have the shape of A")
        return A.new_empty(A.shape), lower.new_empty(lower.shape), upper.new_empty(upper.shape)  # contiguous

    def _setup(ctx, inputs, output):
        ctx.upper_bound = inputs[5]
        ctx.save_for_backward(*inputs[:5])

    def _backward(ctx, g_dA, g_dlower, g_dupper):
        # Double backward through CROWN-IBP is rare (gradient penalties): the
        # derivative of the differentiable reference, recomputed here, not a kernel.
        need = ctx.needs_input_grad[:5]
        with torch.enable_grad():
            xs = [t.detach().requires_grad_(n) for t, n in zip(ctx.saved_tensors, need)]
            outs = reference.crown_relu_backward_grad(*xs, ctx.upper_bound)
            wanted = [x for x in xs if x.requires_grad]
            grads = iter(torch.autograd.grad(outs, wanted, (g_dA, g_dlower, g_dupper), allow_unused=True)
                         if wanted else ())
        out = [next(grads) if n else None for n in need]
        out = [g if g is not None or not n else torch.zeros_like(x) for g, n, x in zip(out, need, ctx.saved_tensors)]
        return (*out, None)

    torch.library.register_autograd("mixtrain::crown_relu_backward_grad", _backward, setup_context=_setup)
