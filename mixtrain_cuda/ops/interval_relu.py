"""interval_relu: a box (center, radius) through a ReLU."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel
from ._layout import empty_box_output


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

    # Autograd: csrc/autograd/interval_relu_autograd.cpp (C++, for the host cost).
