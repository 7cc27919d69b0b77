"""The two op sets the engine can run on: the fused kernels (default) and
their pure-PyTorch twins (`BoundedModule(..., reference=True)`), with one
calling convention, so every layer is written once and tests compare the two."""
import math
import types

from .. import ops as _fused
from ..ops import reference as _ref


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


fused = types.SimpleNamespace(
    interval_linear=_fused.interval_linear,
    interval_conv2d=lambda c, r, w, b, stride, padding, dilation, groups: _fused.interval_conv2d(
        c, r, w, b, stride, padding, dilation, groups),
    symbolic_linear=lambda c, g, w, b, rows, norm: _fused.symbolic_linear(c, g, w, b, rows, norm),
    symbolic_conv2d=lambda c, g, w, b, stride, padding, dilation, groups, rows, norm: _fused.symbolic_conv2d(
        c, g, w, b, stride, padding, dilation, groups, input_rows=rows, input_norm=norm),
    interval_relu=_fused.interval_relu,
    symbolic_relu=_fused.symbolic_relu,
    crown_relu_backward=_fused.crown_relu_backward,
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
    generator_radius=_ref.generator_radius,
)

INF = math.inf
