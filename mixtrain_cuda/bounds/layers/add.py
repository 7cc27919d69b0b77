"""a + b of two layer outputs (residual connections)."""
from .base import Box, Layer, Symbolic


class Add(Layer):
    def forward(self, a, b):
        return a + b

    def ibp(self, ops, a, b):
        return Box(a.center + b.center, a.radius + b.radius)

    def symbolic(self, sp, a, b):
        # Both branches share the symbols made before they split; pad each to
        # every symbol made so far, so row i means the same symbol in both.
        rows = sp.total_rows
        return Symbolic(a.center + b.center, sp.pad_rows(a.gens, rows) + sp.pad_rows(b.gens, rows))

    def backward(self, ops, A, upper):
        return [A, A], None
