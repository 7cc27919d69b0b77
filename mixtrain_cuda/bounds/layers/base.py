"""What every bound layer implements, and the two forward bound forms.

A layer sees per-sample shapes (`in_shapes`, `out_shape`, set by the walker
from a clean forward before each pass) and implements:

- `forward(*x)`: the clean computation (BatchNorm records batch statistics here);
- `ibp(ops, *boxes)`: interval bounds, `Box(center, radius)`;
- `symbolic(sp, *states)`: MixTrain's symbolic interval, `Symbolic(center, gens)`;
- `backward(ops, A, upper)`: one step of a backward (CROWN) pass. `A` is
  `[B, S, *out_shape]`, the coefficients of a linear bound `A y + bias` on the
  layer's output `y`; returns the coefficients on each input and the bias this
  layer adds (`[B, S]` or None). `upper` says whether the bound is an upper one
  (ReLU relaxations pick sides by it);
- optionally `backward_one_hot(neurons)`: `backward` of one-hot rows (CROWN's
  intermediate bounds start so), without the product (see Layer)."""
import dataclasses
import functools
import math

import torch

from ...ops.reference import safe_sqrt


@dataclasses.dataclass
class Box:
    """center/radius; lower and upper are made once, on first use (boxes are never mutated)."""
    center: torch.Tensor
    radius: torch.Tensor

    @functools.cached_property
    def lower(self):
        return self.center - self.radius

    @functools.cached_property
    def upper(self):
        return self.center + self.radius


@dataclasses.dataclass
class Symbolic:
    """center [B, *S] and gens [B, R, *S]: value = center + sum_i gens[:, i] t_i.
    `radius` ([B, *S]) is the concrete half-width when a fused op has already
    computed it (None: compute when needed)."""
    center: torch.Tensor
    gens: torch.Tensor
    radius: torch.Tensor = None


class DiagonalSymbolic:
    """The input symbols before the first layer that mixes coordinates: one
    generator row per input coordinate, row i nonzero only at coordinate i, so
    gens = diag(widths). Kept as widths ([B, *S], the center's shape, signed)
    instead of the dense [B, D, *S] rows: elementwise affine layers scale it and
    reshapes reshape it, and the first Conv2d or Linear makes its dense output
    rows in closed form (`through`), as widths times the layer's
    response to each coordinate, with no product of the layer against the
    D one-hot rows of every sample (on a trained MNIST-small net at eps 0.3 the
    first convolution of those rows was a fifth of a certification pass).
    Any other layer reads `gens`, which materializes the rows: the same
    generators as before, only slower."""

    def __init__(self, center, widths):
        self.center, self.widths = center, widths

    @property
    def radius(self):
        # One nonzero per row and per coordinate: sum |g| and sqrt(sum g^2) are both |width|.
        return self.widths.abs()

    @functools.cached_property
    def gens(self):
        B, D = self.widths.shape[0], self.widths[0].numel()
        return torch.diag_embed(self.widths.reshape(B, D)).reshape(B, D, *self.widths.shape[1:])

    def through(self, linear_map, weight, bias, norm):
        """The dense Symbolic after the layer y = linear_map(x, weight, bias)
        (a convolution or a linear layer): row i of the generators is
        widths_i times the layer's response to coordinate i, the same for every
        sample, so it is computed once (one pass of the D one-hot inputs, not B),
        and the radius, sum_i |widths_i| |response_i| (L-inf) or
        sqrt(sum_i widths_i^2 response_i^2) (L2; every row is an input
        symbol), is the map of |widths| through |W| (or of widths^2 through
        W^2), exactly the quantities the symbolic ops sum over the rows."""
        w = self.widths
        B, D = w.shape[0], w[0].numel()
        eye = torch.eye(D, dtype=w.dtype, device=w.device).reshape(D, *w.shape[1:])
        response = linear_map(eye, weight, None)  # [D, *out shape]
        del eye
        scale = w.reshape(B, D, *[1] * (response.dim() - 1))
        if B == 1 and not (torch.is_grad_enabled() and (w.requires_grad or weight.requires_grad)):
            gens = response.mul_(scale[0]).unsqueeze(0)  # one sample: scale in place, no second copy
        else:
            gens = scale * response.unsqueeze(0)
        # The layer adds its own bias: a Linear's is along the last dimension, a convolution's along channels.
        center = linear_map(self.center, weight, bias)
        if math.isinf(norm):
            radius = linear_map(w.abs(), weight.abs(), None)
        else:
            radius = safe_sqrt(linear_map(w * w, weight * weight, None))
        return Symbolic(center, gens, radius)


class SymbolicPass:
    """Per-pass facts the symbolic layers share: the op set, how many leading
    generator rows are input symbols and their norm, and how many symbols exist
    so far (ReLUs on different residual branches must not reuse row numbers).
    `windowed`: convolutions and ReLUs keep rows as windows where that pays
    (layers/windowed.py)."""

    def __init__(self, ops, input_rows, norm, windowed=False):
        self.ops = ops
        self.input_rows = input_rows
        self.norm = norm
        self.total_rows = input_rows
        self.windowed = windowed

    def radius(self, state):
        if state.radius is None:
            state.radius = self.ops.generator_radius(state.gens, self.input_rows, self.norm)
        return state.radius

    def pad_rows(self, gens, rows):
        """gens with zero rows appended up to `rows` (a symbol this branch never saw)."""
        missing = rows - gens.shape[1]
        if missing == 0:
            return gens
        return torch.cat([gens, gens.new_zeros(gens.shape[0], missing, *gens.shape[2:])], 1)


class Layer:
    name = None

    def __init__(self, name, module):
        self.name = name
        self.module = module
        self.in_shapes = None
        self.out_shape = None

    def describe(self):
        return "%s (%s)" % (self.name, type(self).__name__)

    def backward_one_hot(self, neurons):
        """`backward` of A = one-hot rows: row s of sample b selects output
        neuron neurons[b, s] (an index into the flattened out_shape), the start
        of a backward pass for a layer's own bounds. Layers whose step is a
        matrix return its selected rows directly, (list of A on the inputs,
        bias [B, S] or None), with no product against the identity; None means
        no shortcut (the caller builds the dense one-hot A)."""
        return None
