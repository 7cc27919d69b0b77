"""The two op sets the engine can run on: the fused kernels (default) and
their pure-PyTorch twins (`BoundedModule(..., reference=True)`), with one
calling convention, so every layer is written once and tests compare the two."""
import math
import types

import torch

from .. import ops as _fused
from ..ops import reference as _ref


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _crown_conv_kernel_pays(A, conv):
    """Whether a convolution's (an nn.Conv2d, groups 1) CROWN backward step runs
    crown_conv2d_backward's kernel rather than oneDNN's transposed convolution
    (layers/conv.py). Measured on a 2-core AMD EPYC (Zen 3, AVX2), kernel
    against oneDNN on a channels-last A, both with the bias term:

    - Few input channels (the kernel's narrow form). 288 rows (CROWN-IBP at 16
      points on MNIST-large), 32 -> C channels at 28x28: 3x3 s1 C = 1: 3.7
      against 13.7 ms, 2: 6.3 / 14.8, 3: 5.2 / 10.5, 4: 6.1 / 9.7, 6: 7.9 /
      11.7, 8: 10.3 / 10.2, 16: 21 / 15; 4x4 s2 C = 1: 1.5 / 10.8, 4: 2.8 /
      7.8, 8: 7.5 / 7.1. So up to 4 input channels.
    - Input channels a multiple of 16 (the wide form), medians of 11
      alternating calls (session 15): strided convolutions with a kernel
      larger than 1 gain, 4x4 s2 at 288 rows 16->32 from 14x14 1.69x, 32->32
      from 28x28 1.20x, 32->64 from 14x14 1.23x; 3x3 s2 1.07-1.26x at 288 rows
      and 1.11-1.77x at 144 (16..128 channels). Stride 1 is a draw (3x3:
      0.81-1.09x over three runs), and 1x1 stride 2, a copy more than a
      product, 0.87-1.48x. Those stay with oneDNN.

    CUDA: cuDNN either way."""
    if A.device.type != "cpu":
        return False
    return crown_conv_kernel_shape(conv.weight.shape[1], max(conv.kernel_size), max(conv.stride))


def _crown_relu_conv_kernel_pays(A, conv):
    """Whether the steps through a ReLU and the convolution before it (an
    nn.Conv2d, groups 1) run as crown_relu_conv2d_backward's kernel rather than
    as crown_relu_backward and the convolution's own step: on the CPU, wherever
    the kernel has a form for the layer (at most 4 input channels, or a
    multiple of 16). Where oneDNN would have run the convolution (stride 1, see
    _crown_conv_kernel_pays: a draw), the fused kernel still saves the ReLU's
    pass over A. Whole CROWN-IBP passes on the 2-core AMD EPYC (AVX2), three
    engines alternating pass by pass (session 20), against the two steps in
    turn: fusing only where _crown_conv_kernel_pays holds 1.05-1.06x on
    mnist_large and cifar_large at k = 16 and 50; fusing here (also the 3x3
    stride-1 conv3, 32 -> 64) 1.06-1.08x."""
    if A.device.type != "cpu":
        return False
    return crown_relu_conv_kernel_shape(conv.weight.shape[1])


def crown_relu_conv_kernel_shape(in_channels):
    """The shape half of _crown_relu_conv_kernel_pays (also the layers `mixtrain
    bench` times crown_relu_conv2d_backward on): a form of the kernel exists."""
    return in_channels <= 4 or in_channels % 16 == 0


def crown_conv_kernel_shape(in_channels, kernel, stride):
    """The shape half of _crown_conv_kernel_pays (also the layers that
    `mixtrain bench` times crown_conv2d_backward on): at most 4 input channels
    (the narrow form), or a multiple of 16 with stride and kernel above 1 (the
    wide form)."""
    return in_channels <= 4 or (in_channels % 16 == 0 and stride > 1 and kernel > 1)


def _channels_last(t):
    """t [B, C, H, W] channels-last in memory, with strides that say so (the kernels ask
    suggest_memory_format; this cheaper test, two C++ calls, agrees but where H = W = 1)."""
    if t.stride(1) == 1 and t.is_contiguous(memory_format=torch.channels_last):
        return t
    if t.shape[1] == 1 and t.is_contiguous():
        # One channel: NCHW and NHWC are the same memory, but only these strides say channels-last
        # (.contiguous(memory_format=...) returns such a tensor unchanged).
        B, _, H, W = t.shape
        return t.reshape(B, H, W, 1).permute(0, 3, 1, 2)
    return t.contiguous(memory_format=torch.channels_last)


def _interval_conv2d(c, r, w, b, stride, padding, dilation, groups):
    """The fused op on a channels-last box, on the CPU. interval_conv2d and interval_relu keep a box's
    layout there (csrc/checks.h: cpu_box_format), so the box turns channels-last at the first
    convolution (an input image: one small copy, none for one channel) and stays so until a Flatten.
    oneDNN runs its NHWC kernels without reorders (F.conv2d, B = 16, MNIST/CIFAR-large layers, 2-core
    AMD EPYC, AVX2: NHWC input and weights 0.78-0.86x of the NCHW time), and the direct kernel copies
    whole pixels.
    Passes without autograd only: in a training step (IBP bounds, their loss and its backward, B = 16,
    MNIST/CIFAR-large) channels-last measured 4-7% slower than NCHW (wall and profiler CPU time; the
    convolutions' backward gained nothing), so there the box stays as it comes.
    CUDA: unmeasured, so unchanged (the CUDA kernels take any layout and return contiguous outputs)."""
    graph = torch.is_grad_enabled() and (c.requires_grad or r.requires_grad or w.requires_grad)
    if c.device.type == "cpu" and c.dim() == 4 and not graph:
        c, r = _channels_last(c), _channels_last(r)
    return _fused.interval_conv2d(c, r, w, b, stride, padding, dilation, groups)


fused = types.SimpleNamespace(
    interval_linear=_fused.interval_linear,
    interval_conv2d=_interval_conv2d,
    symbolic_linear=lambda c, g, w, b, rows, norm: _fused.symbolic_linear(c, g, w, b, rows, norm),
    symbolic_conv2d=lambda c, g, w, b, stride, padding, dilation, groups, rows, norm: _fused.symbolic_conv2d(
        c, g, w, b, stride, padding, dilation, groups, input_rows=rows, input_norm=norm),
    interval_relu=_fused.interval_relu,
    symbolic_relu=_fused.symbolic_relu,
    crown_relu_backward=_fused.crown_relu_backward,
    crown_conv2d_backward=_fused.crown_conv2d_backward,
    # A ReLU's step and the convolution's before it in one op (layers/conv.py: Conv2d.backward_with).
    crown_relu_conv2d_backward=_fused.crown_relu_conv2d_backward,
    crown_relu_conv_kernel_pays=_crown_relu_conv_kernel_pays,
    crown_conv_kernel_pays=_crown_conv_kernel_pays,
    generator_radius=_ref.generator_radius,
)

reference = types.SimpleNamespace(
    interval_linear=_ref.interval_linear,
    interval_conv2d=lambda c, r, w, b, stride, padding, dilation, groups: _ref.interval_conv2d(
        c, r, w, b, _pair(stride), _pair(padding), _pair(dilation), groups),
    symbolic_linear=lambda c, g, w, b, rows, norm: _ref.symbolic_linear(c, g, w, b, rows, norm),
    symbolic_conv2d=lambda c, g, w, b, stride, padding, dilation, groups, rows, norm: _ref.symbolic_conv2d(
        c, g, w, b, _pair(stride), _pair(padding), _pair(dilation), groups, rows, norm),
    interval_relu=_ref.interval_relu,
    symbolic_relu=_ref.symbolic_relu,
    crown_relu_backward=_ref.crown_relu_backward,
    # The reference engine keeps the transposed convolution of layers/conv.py (no crown_conv2d_backward)
    # and the ReLU's step apart from it (no crown_relu_conv2d_backward).
    crown_conv_kernel_pays=lambda A, conv: False,
    generator_radius=_ref.generator_radius,
)

INF = math.inf
