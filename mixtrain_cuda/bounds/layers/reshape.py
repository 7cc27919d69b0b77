"""Shape-only layers: Flatten (and flatten / view / reshape that keep the
batch dimension) and Identity. Bounds pass through with the per-sample shape
the clean forward recorded."""
from .base import Box, DiagonalSymbolic, Layer, Symbolic
from .windowed import WindowedSymbolic


class Reshape(Layer):
    """flatten(start_dim..end_dim); view/reshape to (batch, -1) is flatten(1)."""

    def __init__(self, name, module, start_dim=1, end_dim=-1):
        super().__init__(name, module)
        self.dims = (start_dim, end_dim)

    def forward(self, x):
        return x.flatten(*self.dims)

    def _shape(self, t, lead):
        return t.reshape(*t.shape[:lead], *self.out_shape)

    def ibp(self, ops, box):
        return Box(self._shape(box.center, 1), self._shape(box.radius, 1))

    def symbolic(self, sp, state):
        if isinstance(state, DiagonalSymbolic):  # the coordinates keep their order
            return DiagonalSymbolic(self._shape(state.center, 1), self._shape(state.widths, 1))
        if isinstance(state, WindowedSymbolic):  # the rows keep their windows on the map
            return state.reshaped(self._shape(state.center, 1))
        r = None if state.radius is None else self._shape(state.radius, 1)
        return Symbolic(self._shape(state.center, 1), self._shape(state.gens, 2), r)

    def backward(self, ops, A, upper):
        return [A.reshape(*A.shape[:2], *self.in_shapes[0])], None


class Identity(Layer):
    def forward(self, x):
        return x

    def ibp(self, ops, box):
        return box

    def symbolic(self, sp, state):
        return state

    def backward(self, ops, A, upper):
        return [A], None
