"""symbolic_linear: MixTrain's symbolic interval (center + generators) through a
linear layer, with the concrete bounds of the result."""
import math

import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel
from ._generators import radius_grad_on_gens


def symbolic_linear(center, gens, weight, bias=None, input_rows=None, input_norm=math.inf):
    """Returns ``(W c + b, G W^T, radius)`` for center ``[B, K]`` and generators ``[B, R, K]``.

    Row ``i`` of ``gens`` is the coefficient vector of noise symbol ``t_i``. The
    first ``input_rows`` rows are the input ball's symbols (``||t||_inf <= 1`` for
    ``input_norm=inf``, ``||t||_2 <= 1`` for ``input_norm=2``), the others ReLU
    symbols in [-1, 1]. ``radius`` ``[B, N]`` bounds ``|sum_i G'[i] t_i|``, so the
    output lies in ``[center - radius, center + radius]``. Default ``input_rows``:
    all rows.
    """
    input_rows = gens.shape[1] if input_rows is None else int(input_rows)
    input_norm = float(input_norm)
    if use_kernel("symbolic_linear", center):
        return call_kernel("symbolic_linear", center, gens, weight, bias, input_rows, input_norm)
    return reference.symbolic_linear(center, gens, weight, bias, input_rows, input_norm)


if LOADED:

    @torch.library.register_fake("mixtrain::symbolic_linear")
    def _fake(center, gens, weight, bias, input_rows, input_norm):
        torch._check(center.dim() == 2 and gens.dim() == 3, lambda: "center must be 2-D and gens 3-D")
        B, R, _ = gens.shape
        N = weight.shape[0]
        return center.new_empty(B, N), gens.new_empty(B, R, N), center.new_empty(B, N)

    def _setup(ctx, inputs, output):
        center, gens, weight, bias, input_rows, input_norm = inputs
        ctx.has_bias = bias is not None
        ctx.norm = (input_rows, input_norm)
        ctx.save_for_backward(center, gens, weight, output[1])

    def _backward(ctx, grad_center, grad_gens, grad_radius):
        center, gens, weight, new_gens = ctx.saved_tensors
        need = ctx.needs_input_grad
        N, K = weight.shape
        g_gens = grad_gens + radius_grad_on_gens(new_gens, grad_radius, *ctx.norm)
        d_center = grad_center @ weight if need[0] else None
        d_gens = g_gens @ weight if need[1] else None
        d_weight = None
        if need[2]:
            d_weight = grad_center.t() @ center + g_gens.reshape(-1, N).t() @ gens.reshape(-1, K)
        d_bias = grad_center.sum(0) if ctx.has_bias and need[3] else None
        return d_center, d_gens, d_weight, d_bias, None, None

    torch.library.register_autograd("mixtrain::symbolic_linear", _backward, setup_context=_setup)
