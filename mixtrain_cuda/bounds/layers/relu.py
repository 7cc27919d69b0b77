"""ReLU: interval_relu (IBP), symbolic_relu (MixTrain's relaxation, one new
symbol per unstable neuron), crown_relu_backward (CROWN's relaxation)."""
import torch

from . import windowed
from .base import Box, Layer, Symbolic


class ReLU(Layer):
    _pre_box = None
    _channels_last = None  # the bounds permuted to [B, H, W, C], made from _pre_box on first use

    @property
    def pre_box(self):
        """The input's Box, set by the pass before a backward step (None between passes)."""
        return self._pre_box

    @pre_box.setter
    def pre_box(self, box):
        self._pre_box, self._channels_last = box, None

    @property
    def pre_bounds(self):
        """(lower, upper) of the input. Kept as the box and made on first use:
        a pure IBP pass never needs them, and at MNIST-small batch 64 the two
        tensors cost 0.4 ms of a 6 ms forward+backward."""
        return self.pre_box.lower, self.pre_box.upper

    def forward(self, x):
        return torch.relu(x)

    def ibp(self, ops, box):
        return Box(*ops.interval_relu(box.center, box.radius))

    def symbolic(self, sp, state):
        if isinstance(state, windowed.WindowedSymbolic):
            out = windowed.relu(state, sp.total_rows)
            sp.total_rows = out.vals.shape[1]
            return out
        # New symbols get row numbers after every symbol made so far, on any branch.
        gens = sp.pad_rows(state.gens, sp.total_rows)
        c, g, _ = sp.ops.symbolic_relu(state.center, gens, sp.radius(state))
        sp.total_rows = g.shape[1]
        return Symbolic(c, g)

    def backward(self, ops, A, upper):
        lower_in, upper_in = self.pre_bounds
        if A.dim() == 5 and A.shape[2] > 1 and A.permute(0, 1, 3, 4, 2).is_contiguous():
            # A channels-last, as transposed convolutions leave it on the CPU (layers/conv.py). The op
            # is elementwise over the neurons, so it runs on the [B, S, H, W, C] view with the bounds
            # permuted alike (a copy 1/S the size of A), and A stays channels-last: no reorder.
            lower_in, upper_in = self._bounds_channels_last()
            new_A, bias = ops.crown_relu_backward(A.permute(0, 1, 3, 4, 2), lower_in, upper_in, upper)
            return [new_A.permute(0, 1, 4, 2, 3)], bias
        new_A, bias = ops.crown_relu_backward(A, lower_in, upper_in, upper)
        return [new_A], bias

    def _bounds_channels_last(self):
        # Made once per box, then kept for the other backward passes over it (CROWN's intermediate
        # bounds run several); setting pre_box drops them.
        if self._channels_last is None:
            self._channels_last = tuple(t.permute(0, 2, 3, 1).contiguous() for t in self.pre_bounds)
        return self._channels_last
