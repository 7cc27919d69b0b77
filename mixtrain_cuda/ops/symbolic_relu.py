"""symbolic_relu: MixTrain's ReLU relaxation of a symbolic interval."""
import math

import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel


def symbolic_relu(center, gens, radius):
    """Relaxes a ReLU over the symbolic interval ``center + sum_i gens[:, i] t_i``
    whose concrete bounds are ``center -/+ radius`` (center/radius ``[B, *S]``,
    gens ``[B, R, *S]``).

    Unstable neurons (l < 0 < u) get slope ``lam = u/(u-l)`` and shift
    ``mu = -lam*l/2``: ``center <- lam*center + mu``, every generator row is
    scaled by ``lam``, and one new row holding ``mu`` at that neuron is appended
    (compacted per sample, padded to the batch maximum U). Dead neurons get 0,
    active ones pass unchanged.

    Returns ``(center', gens' [B, R+U, *S], row_index)``; ``row_index`` (int64,
    like center) is the new row of each unstable neuron and -1 elsewhere.
    """
    if use_kernel("symbolic_relu", center):
        return call_kernel("symbolic_relu", center, gens, radius)
    return reference.symbolic_relu(center, gens, radius)


if LOADED:

    @torch.library.register_fake("mixtrain::symbolic_relu")
    def _fake(center, gens, radius):
        torch._check(gens.dim() == center.dim() + 1, lambda: "gens must be [batch, rows, *neurons]")
        # The number of rows (old + new) depends on the data: a dynamic size. It
        # must be the output's size itself, not an expression in it, for the
        # tracer to find the symbol.
        rows = torch.library.get_ctx().new_dynamic_size()
        torch._check(rows >= gens.shape[1])
        out_gens = gens.new_empty(gens.shape[0], rows, *gens.shape[2:])
        return center.new_empty(center.shape), out_gens, center.new_empty(center.shape, dtype=torch.long)

    def _setup(ctx, inputs, output):
        center, gens, radius = inputs
        ctx.mark_non_differentiable(output[2])
        ctx.save_for_backward(center, gens, radius, output[2])

    def _backward(ctx, grad_center, grad_gens, _grad_index):
        center, gens, radius, row_index = ctx.saved_tensors
        B, R = gens.shape[:2]
        slope, _, unstable = reference.symbolic_relax(center, radius)
        # For unstable neurons lam = (c + rad) / (2 rad) and mu = (rad^2 - c^2) / (4 rad).
        rad = torch.where(unstable, radius, torch.ones_like(radius))
        c = center
        N = math.prod(center.shape[1:])
        flat_grad = grad_gens.reshape(B, grad_gens.shape[1], N)
        new_row = row_index.reshape(B, 1, N).clamp(min=0)
        g_new = flat_grad.gather(1, new_row).reshape(center.shape) * unstable
        g_lam = (grad_gens[:, :R] * gens).sum(1) + grad_center * c
        g_mu = grad_center + g_new
        d_lam_dc, d_lam_drad = 1 / (2 * rad), -c / (2 * rad * rad)
        d_mu_dc, d_mu_drad = -c / (2 * rad), 0.25 + c * c / (4 * rad * rad)
        d_center = grad_center * slope + unstable * (g_lam * d_lam_dc + g_mu * d_mu_dc)
        d_radius = unstable * (g_lam * d_lam_drad + g_mu * d_mu_drad)
        d_gens = grad_gens[:, :R] * slope.unsqueeze(1)
        need = ctx.needs_input_grad
        return (d_center if need[0] else None), (d_gens if need[1] else None), (d_radius if need[2] else None)

    torch.library.register_autograd("mixtrain::symbolic_relu", _backward, setup_context=_setup)
