"""interval_linear: a box (center, radius) through x -> x W^T + b."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel


def interval_linear(center, radius, weight, bias=None):
    """IBP through a linear layer: returns ``(center @ W.T + bias, radius @ |W|.T)``.

    ``center`` and ``radius`` have the same shape ``[..., in_features]``; ``weight``
    is ``[out_features, in_features]``. The radius may be negative (the op also
    serves linear-bound matrices). ``|W|`` is never materialized on the fused path.
    """
    if use_kernel("interval_linear", center):
        return call_kernel("interval_linear", center, radius, weight, bias)
    return reference.interval_linear(center, radius, weight, bias)


if LOADED:

    @torch.library.register_fake("mixtrain::interval_linear")
    def _fake(center, radius, weight, bias):
        torch._check(center.shape == radius.shape, lambda: "radius must have the shape of center")
        torch._check(weight.dim() == 2 and center.shape[-1] == weight.shape[1],
                     lambda: "center's last dimension must equal weight's in_features")
        shape = (*center.shape[:-1], weight.shape[0])
        return center.new_empty(shape), center.new_empty(shape)

    def _setup(ctx, inputs, output):
        center, radius, weight, bias = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(center, radius, weight)

    def _backward(ctx, grad_center, grad_radius):
        center, radius, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        N, K = weight.shape
        gc = grad_center.reshape(-1, N)
        gr = grad_radius.reshape(-1, N)
        d_center = (gc @ weight).reshape(center.shape) if need[0] else None
        d_radius = (gr @ weight.abs()).reshape(radius.shape) if need[1] else None
        d_weight = None
        if need[2]:
            # d(r |W|^T)/dW = sign(W) * (g_r^T r): the subgradient 0 at W = 0.
            d_weight = gc.t() @ center.reshape(-1, K) + weight.sign() * (gr.t() @ radius.reshape(-1, K))
        d_bias = gc.sum(0) if ctx.has_bias and need[3] else None
        return d_center, d_radius, d_weight, d_bias

    torch.library.register_autograd("mixtrain::interval_linear", _backward, setup_context=_setup)
