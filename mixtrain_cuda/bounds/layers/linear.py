"""nn.Linear: interval_linear (IBP), symbolic_linear (symbolic), A @ W (backward)."""
import torch
import torch.nn.functional as F

from .base import Box, Layer, Symbolic


class Linear(Layer):
    def forward(self, x):
        return F.linear(x, self.module.weight, self.module.bias)

    def ibp(self, ops, box):
        return Box(*ops.interval_linear(box.center, box.radius, self.module.weight, self.module.bias))

    def ibp_spec(self, ops, box, C):
        """IBP of C @ layer(x): C folded into the weight (W' = C W per sample), so
        the margins are as tight as IBP allows rather than |C| times a box."""
        w = torch.matmul(C, self.module.weight)  # [B, S, K]
        # bmm, not einsum: the same product without einsum's parsing (10 us a call).
        center = torch.bmm(w, box.center.unsqueeze(2)).squeeze(2)
        if self.module.bias is not None:
            center = center + torch.matmul(C, self.module.bias)
        return Box(center, torch.bmm(w.abs(), box.radius.unsqueeze(2)).squeeze(2))

    def symbolic(self, sp, state):
        c, g, r = sp.ops.symbolic_linear(state.center, state.gens, self.module.weight, self.module.bias,
                                         sp.input_rows, sp.norm)
        return Symbolic(c, g, r)

    def backward(self, ops, A, upper):
        bias = torch.matmul(A, self.module.bias) if self.module.bias is not None else None
        return [torch.matmul(A, self.module.weight)], bias

    def backward_one_hot(self, neurons):
        m = self.module
        return [m.weight[neurons]], (m.bias[neurons] if m.bias is not None else None)
