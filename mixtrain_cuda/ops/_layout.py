"""The memory layout of a box's outputs (interval_conv2d, interval_relu,
interval_relu_backward), for the fake kernels: on the CPU the center's, by
torch's own rule (c10's suggest_memory_format, which F.conv2d and elementwise
ops follow), so a channels-last box stays channels-last; contiguous on CUDA.
Outputs get the standard strides of that layout. csrc/checks.h
(cpu_box_format, empty_in_format) is the kernels' side of this rule."""
import torch

try:  # symbolic sizes under torch.compile: decide without a data-dependent guard, as torch does
    from torch.fx.experimental.symbolic_shapes import guard_or_true
except ImportError:  # older torch
    guard_or_true = bool


def _strides_like_channels_last(sizes, strides):
    """c10::is_channels_last_strides_2d_s4 (c10/core/MemoryFormat.h), which the
    kernels' suggest_memory_format asks. Written out rather than imported from
    torch._prims_common, whose copy differed from C++ in older releases on
    size-1 dimensions ([B, 1, H, 1] with strides (H, 1, 1, 1))."""
    if guard_or_true(strides[1] == 0):
        return False
    low = 0
    for d in (1, 3, 2, 0):
        if guard_or_true(sizes[d] == 0) or guard_or_true(strides[d] < low):
            return False
        if d == 0 and low == strides[1]:  # N111 and sliced N11W: NCHW, as c10 decides
            return False
        low = strides[d] * sizes[d]  # sizes[d] >= 1 here; c10 skips the product for size 1, the same value
    return True


def box_format(center):
    if center.device.type == "cpu" and center.dim() == 4 and center.layout == torch.strided \
            and _strides_like_channels_last(center.shape, center.stride()):
        return torch.channels_last
    return torch.contiguous_format


def empty_box_output(center, shape):
    """An empty output of `shape` in the layout the kernels give it."""
    return torch.empty(shape, dtype=center.dtype, device=center.device, memory_format=box_format(center))
