"""The memory layout of a box's outputs (interval_conv2d, interval_relu), for
the fake kernels: on the CPU the center's, by torch's own rule
(suggest_memory_format, as F.conv2d and elementwise ops follow it), so a
channels-last box stays channels-last; contiguous on CUDA.
csrc/checks.h (cpu_box_format) is the kernels' side of this rule."""
import torch
from torch._prims_common import suggest_memory_format


def box_format(center):
    if center.device.type == "cpu" and center.dim() == 4:
        return suggest_memory_format(center)
    return torch.contiguous_format


def empty_box_output(center, shape):
    """An empty output of `shape` in the layout the kernels give it."""
    return torch.empty(shape, dtype=center.dtype, device=center.device, memory_format=box_format(center))
