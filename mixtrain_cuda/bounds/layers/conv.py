"""nn.Conv2d: interval_conv2d (IBP), symbolic_conv2d (symbolic), the
transposed convolution of A (backward: crown_conv2d_backward where its kernel
pays, else oneDNN/cuDNN)."""
import torch
import torch.nn.functional as F

from . import windowed
from .base import Box, DiagonalSymbolic, Layer, Symbolic
from .relu import ReLU


class Conv2d(Layer):
    def __init__(self, name, module):
        super().__init__(name, module)
        if module.padding_mode != "zeros":
            raise TypeError("layer %r: only zero padding has a bound (padding_mode=%r)" % (name, module.padding_mode))
        if isinstance(module.padding, str):
            raise TypeError("layer %r: give Conv2d an explicit padding, not %r" % (name, module.padding))
        m = module
        self.args = (m.stride, m.padding, m.dilation, m.groups)

    def forward(self, x):
        return self.module(x)

    def ibp(self, ops, box):
        return Box(*ops.interval_conv2d(box.center, box.radius, self.module.weight, self.module.bias, *self.args))

    def symbolic(self, sp, state):
        m = self.module
        out_hw = self.out_shape[1:]
        if sp.windowed and isinstance(state, DiagonalSymbolic) and \
                windowed.conv2d_pays((1, 1), m, out_hw, state.center.device):
            # The input symbols as one-pixel windows (layers/windowed.py).
            state = windowed.WindowedSymbolic.from_diagonal(state, sp.input_rows, sp.norm)
        if isinstance(state, windowed.WindowedSymbolic) and state.center.shape[1:] == state.map and \
                windowed.conv2d_pays(state.window, m, out_hw, state.center.device):
            return windowed.conv2d(state, m.weight, m.bias, m.stride, m.padding, out_hw)
        if isinstance(state, DiagonalSymbolic):
            return state.through(lambda x, w, b: F.conv2d(x, w, b, *self.args), self.module.weight,
                                 self.module.bias, sp.norm)
        c, g, r = sp.ops.symbolic_conv2d(state.center, state.gens, self.module.weight, self.module.bias, *self.args,
                                         sp.input_rows, sp.norm)
        return Symbolic(c, g, r)

    def backward(self, ops, A, upper):
        m = self.module
        B, S = A.shape[:2]
        flat = A.reshape(B * S, *A.shape[2:])
        c, h, w = self.in_shapes[0]
        if m.groups == 1 and ops.crown_conv_kernel_pays(flat, m):
            # The fused op, bias term included, where it beats oneDNN (bounds/_ops.py says when: few input
            # channels, or 16k of them in a strided layer, whose output it leaves channels-last).
            back, bias = ops.crown_conv2d_backward(flat, m.weight, m.bias, m.stride, m.padding, m.dilation, (h, w))
            return [back.reshape(B, S, c, h, w)], (bias.reshape(B, S) if m.bias is not None else None)
        # output_padding recovers the input rows/columns a strided conv never reads.
        out_h = (flat.shape[2] - 1) * m.stride[0] - 2 * m.padding[0] + m.dilation[0] * (m.kernel_size[0] - 1) + 1
        out_w = (flat.shape[3] - 1) * m.stride[1] - 2 * m.padding[1] + m.dilation[1] * (m.kernel_size[1] - 1) + 1
        graph = torch.is_grad_enabled() and (flat.requires_grad or m.weight.requires_grad)
        if c == 1 and m.groups == 1 and not graph:
            back = self._transpose_one_channel(flat, h, w)
        else:
            if flat.device.type == "cpu" and not flat.is_contiguous(memory_format=torch.channels_last):
                # oneDNN's transposed convolution runs channels-last natively; on an NCHW A it reorders both
                # ways. Measured on a 2-core CPU (AMD EPYC, AVX2), 288 rows of A (CROWN-IBP at 16 points on
                # MNIST-large), NCHW against NHWC: 32->32 4x4 s2 to 28x28 52 -> 13 ms, 64->64 4x4 s2 to 14x14
                # 40 -> 14 ms, 32->64 3x3 s1 13.6 -> 10.7 ms. So A turns channels-last at the first
                # convolution it meets (one copy, at the smallest map) and stays so: a transposed convolution
                # of a channels-last A is channels-last, and ReLU.backward keeps the layout.
                # GPU: not measured yet, so unchanged there.
                flat = flat.contiguous(memory_format=torch.channels_last)
            back = F.conv_transpose2d(flat, m.weight, None, m.stride, m.padding, (h - out_h, w - out_w), m.groups,
                                      m.dilation)
        bias = (A.sum((3, 4)) * m.bias).sum(2) if m.bias is not None else None
        return [back.reshape(B, S, c, h, w)], bias

    def backward_with(self, ops, A, after, upper):
        """The backward steps through `after` (the layer reading this one's
        output, and only it) and through this convolution as one op, where
        there is one: a ReLU after the convolution, on ops that fuse the two
        (crown_relu_conv2d_backward: the fused engine's CPU kernel, which steps
        through the ReLU inside its copy of A, so A between the two is never
        stored), where the kernel has a form for this layer
        (ops.crown_relu_conv_kernel_pays, bounds/_ops.py), and outside autograd
        (the fused op's backward recomputes the ReLU's step; training keeps the
        two steps). Else None, and the engine runs the two steps in turn
        (backward.py)."""
        fuse = getattr(ops, "crown_relu_conv2d_backward", None)
        m = self.module
        if fuse is None or not isinstance(after, ReLU) or m.groups != 1 or A.dim() != 5:
            return None
        lower, upper_in = after.pre_bounds
        graph = torch.is_grad_enabled() and any(
            t is not None and t.requires_grad for t in (A, m.weight, m.bias, lower, upper_in))
        if graph or not ops.crown_relu_conv_kernel_pays(A, m):
            return None
        _, h, w = self.in_shapes[0]
        if A.shape[2] > 1:
            # The bounds channels-last, as A (layers/relu.py keeps them so for its own step): no copy in the op.
            lower, upper_in = (t.permute(0, 3, 1, 2) for t in after._bounds_channels_last())
        back, bias = fuse(A, lower, upper_in, m.weight, m.bias, m.stride, m.padding, m.dilation, (h, w), upper)
        return [back], bias

    def backward_one_hot(self, neurons):
        """The transposed convolution of one-hot rows is the selected output
        channel's kernel, placed where that output neuron reads its input (and
        cut at the borders): written straight into zeros, no convolution. On the
        CPU in channels-last, the layout the other steps keep there (backward)."""
        m = self.module
        if m.groups != 1:
            return None
        B, S = neurons.shape
        O, OH, OW = self.out_shape
        C, H, W = self.in_shapes[0]
        kh, kw = m.kernel_size
        dev = neurons.device
        o, i, j = neurons // (OH * OW), neurons // OW % OH, neurons % OW
        y = i[..., None] * m.stride[0] - m.padding[0] + torch.arange(kh, device=dev) * m.dilation[0]  # [B, S, kh]
        x = j[..., None] * m.stride[1] - m.padding[1] + torch.arange(kw, device=dev) * m.dilation[1]  # [B, S, kw]
        inside = ((y >= 0) & (y < H))[..., None] & ((x >= 0) & (x < W))[..., None, :]  # [B, S, kh, kw]
        row = torch.arange(B * S, device=dev).reshape(B, S, 1, 1, 1)
        c = torch.arange(C, device=dev).reshape(1, 1, C, 1, 1)
        y, x = y[:, :, None, :, None], x[:, :, None, None, :]
        channels_last = dev.type == "cpu" and C > 1
        index = ((row * H + y) * W + x) * C + c if channels_last else ((row * C + c) * H + y) * W + x
        size = B * S * C * H * W
        index = torch.where(inside[:, :, None], index, size)  # taps outside the input land on one spare element
        values = m.weight[o]  # [B, S, C, kh, kw]
        flat = values.new_zeros(size + 1)
        if torch.is_grad_enabled() and values.requires_grad:
            flat = flat.scatter(0, index.flatten(), values.flatten())
        else:
            flat.scatter_(0, index.flatten(), values.flatten())
        if channels_last:
            A = flat[:size].reshape(B, S, H, W, C).permute(0, 1, 4, 2, 3)
        else:
            A = flat[:size].reshape(B, S, C, H, W)
        return [A], (m.bias[o] if m.bias is not None else None)

    def _transpose_one_channel(self, flat, h, w):
        """conv_transpose2d onto one channel (the MNIST nets' first layer) as a
        product and a col2im: oneDNN's transposed convolution runs such layers
        at 4-5 G multiply-adds/s on the 2-core CPU. Measured there, 900 rows of A
        (CROWN-IBP at 50 points): 16->1 4x4 s2 to 28x28 9.9 -> 3.9 ms, 32->1
        3x3 s1 49.2 -> 13.9 ms; with 3 channels the two were even, and with 8
        or more the product-and-fold lost 2-5x. Not under autograd, where its
        backward made CROWN-IBP forward+backward 10% slower (mnist_small, batch 64).
        It takes A in whatever layout A arrives: turning an NCHW A channels-last
        first, as for oneDNN, made it slower (AMD EPYC, 288 rows, 32->1 3x3:
        10.4 -> 16.7 ms)."""
        m = self.module
        cols = torch.matmul(m.weight.reshape(m.out_channels, -1).t(), flat.flatten(2))  # [N, k*k, positions]
        return F.fold(cols, (h, w), m.kernel_size, dilation=m.dilation, padding=m.padding, stride=m.stride)
