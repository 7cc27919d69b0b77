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

    # Autograd: csrc/autograd/interval_linear_autograd.cpp (C++, for the host cost).
