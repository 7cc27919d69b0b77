"""Per-channel affine layers: BatchNorm1d/2d and input normalization.

y = x * scale + shift per channel (dimension 1). In evaluation mode BatchNorm
uses its running statistics. In training mode it uses batch statistics that
the walker resolves before the pass (`stats`): from the clean batch (default)
or from the interval midpoint -- MixTrain's bound pass sees only k points,
whose own batch statistics would be meaningless."""
import torch

from .base import Box, DiagonalSymbolic, Layer, Symbolic
from .windowed import WindowedSymbolic


class ChannelAffine(Layer):
    def scale_shift(self):
        raise NotImplementedError

    def _view(self, t, lead, ndim):
        # [C] -> broadcastable against [*lead dims, C, *spatial]
        return t.reshape(*([1] * lead), -1, *([1] * (ndim - lead - 1)))

    def forward(self, x):
        scale, shift = self.scale_shift()
        return x * self._view(scale, 1, x.dim()) + self._view(shift, 1, x.dim())

    def ibp(self, ops, box):
        scale, shift = self.scale_shift()
        n = box.center.dim()
        return Box(box.center * self._view(scale, 1, n) + self._view(shift, 1, n),
                   box.radius * self._view(scale.abs(), 1, n))

    def symbolic(self, sp, state):
        scale, shift = self.scale_shift()
        n = state.center.dim()
        if isinstance(state, DiagonalSymbolic):  # still one coordinate per row: scale the widths
            return DiagonalSymbolic(state.center * self._view(scale, 1, n) + self._view(shift, 1, n),
                                    state.widths * self._view(scale, 1, n))
        if isinstance(state, WindowedSymbolic) and state.center.shape[1:] == state.map:
            # windows keep all channels: scale them
            return WindowedSymbolic(state.center * self._view(scale, 1, n) + self._view(shift, 1, n),
                                    state.vals * self._view(scale, 2, 5), state.ay, state.ax, state.input_rows,
                                    state.norm)
        return Symbolic(state.center * self._view(scale, 1, n) + self._view(shift, 1, n),
                        state.gens * self._view(scale, 2, n + 1))

    def backward(self, ops, A, upper):
        scale, shift = self.scale_shift()
        n = A.dim()
        per_channel = A.flatten(3).sum(3) if n > 3 else A  # [B, S, C]
        return [A * self._view(scale, 2, n)], (per_channel * shift).sum(2)


class Normalize(ChannelAffine):
    """(x - mean) / std, mixtrain_cuda.models.Normalize."""

    def scale_shift(self):
        mean, std = self.module.mean.reshape(-1), self.module.std.reshape(-1)
        return 1.0 / std, -mean / std


class BatchNorm(ChannelAffine):
    stats = None  # (mean, var) of the batch, set by the walker in training mode

    def uses_batch_stats(self):
        m = self.module
        return m.training or m.running_mean is None

    def batch_stats(self, x):
        dims = [0] + list(range(2, x.dim()))
        self.count = x.numel() // x.shape[1]
        return x.mean(dims), x.var(dims, unbiased=False)

    def update_running_stats(self):
        """Folds this pass's batch statistics into the running ones, as
        nn.BatchNorm's own forward does (unbiased variance, the layer's momentum)."""
        m = self.module
        if self.stats is None or not m.training or not m.track_running_stats or m.running_mean is None:
            return
        mean, var = (t.detach() for t in self.stats)
        n = getattr(self, "count", 2)
        with torch.no_grad():
            m.num_batches_tracked += 1
            momentum = m.momentum if m.momentum is not None else 1.0 / float(m.num_batches_tracked)
            m.running_mean.mul_(1 - momentum).add_(momentum * mean)
            m.running_var.mul_(1 - momentum).add_(momentum * var * n / max(n - 1, 1))

    def forward(self, x):
        if self.uses_batch_stats() and self.stats is None:
            self.stats = self.batch_stats(x)
        return super().forward(x)

    def scale_shift(self):
        m = self.module
        if self.uses_batch_stats():
            if self.stats is None:
                raise RuntimeError("BatchNorm %r in training mode has no batch statistics for this pass" % self.name)
            mean, var = self.stats
        else:
            mean, var = m.running_mean, m.running_var
        scale = torch.rsqrt(var + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        shift = -mean * scale
        if m.bias is not None:
            shift = shift + m.bias
        return scale, shift
