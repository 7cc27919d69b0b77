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

import torch


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


class SymbolicPass:
    """Per-pass facts the symbolic layers share: the op set, how many leading
    generator rows are input symbols and their norm, and how many symbols exist
    so far (ReLUs on different residual branches must not reuse row numbers)."""

    def __init__(self, ops, input_rows, norm):
        self.ops = ops
        self.input_rows = input_rows
        self.norm = norm
        self.total_rows = input_rows

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
