"""nn.AvgPool2d: a linear map with non-negative weights, so a box maps to the
pooled box and generators are pooled like images."""
import torch
import torch.nn.functional as F

from .base import Box, Layer, Symbolic


class AvgPool2d(Layer):
    def __init__(self, name, module):
        super().__init__(name, module)
        if module.ceil_mode:
            raise TypeError("layer %r: AvgPool2d with ceil_mode=True has no bound here" % name)
        m = module
        self.args = (m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override)

    def forward(self, x):
        return self.module(x)

    def _pool(self, t, lead):
        flat = t.reshape(-1, *t.shape[lead:])
        out = F.avg_pool2d(flat, *self.args)
        return out.reshape(*t.shape[:lead], *out.shape[1:])

    def ibp(self, ops, box):
        return Box(self._pool(box.center, 1), self._pool(box.radius, 1))

    def symbolic(self, sp, state):
        return Symbolic(self._pool(state.center, 1), self._pool(state.gens, 2))

    def backward(self, ops, A, upper):
        B, S = A.shape[:2]
        flat = A.reshape(B * S, *A.shape[2:])
        shape_in = (B * S, *self.in_shapes[0])
        # The adjoint of average pooling is its input gradient.
        k, s, p, ceil, incl, div = self.args
        k, s, p = (_pair(v) for v in (k, s if s else k, p))
        back = torch.ops.aten.avg_pool2d_backward(flat, flat.new_zeros(()).expand(shape_in), k, s, p, ceil, incl, div)
        return [back.reshape(B, S, *self.in_shapes[0])], None


def _pair(v):
    return [v, v] if isinstance(v, int) else list(v)
