"""The perturbation set: an L-inf ball clamped to [x_min, x_max], or an L2
ball, and what each bound form starts from."""
import math

import torch

from .layers import Box, DiagonalSymbolic, Symbolic


def parse_norm(norm):
    if norm in ("inf", "linf", "Linf") or (isinstance(norm, (int, float)) and math.isinf(norm) and norm > 0):
        return math.inf
    if norm in (2, 2.0, "2", "l2", "L2"):
        return 2.0
    raise ValueError("norm must be inf or 2, got %r" % (norm,))


class InputSet:
    """x [B, *S] with radius eps (float or tensor broadcastable to x, e.g. [B, 1, 1, 1])."""

    def __init__(self, x, eps, norm, x_min, x_max):
        self.x, self.norm = x, norm
        self.eps = eps if torch.is_tensor(eps) else torch.as_tensor(eps, dtype=x.dtype, device=x.device)
        self.eps = self.eps.to(x.dtype)
        # The box of the ball, clamped to the valid input range. For L2 the box
        # (and its clamp) is what IBP starts from; the symbolic and backward
        # forms use the ball itself (a superset of ball-and-range: sound).
        self.lower = torch.clamp(x - self.eps, min=x_min, max=x_max)
        self.upper = torch.clamp(x + self.eps, min=x_min, max=x_max)

    def box(self):
        return Box((self.upper + self.lower) / 2, (self.upper - self.lower) / 2)

    def symbolic_widths(self):
        """(center [B, *S], widths [B, D]): the input symbols, one per coordinate,
        each moving its coordinate by up to its width (L-inf: the clamped box's
        half-width; L2: eps, the symbols jointly in the ball)."""
        B, D = self.x.shape[0], self.x[0].numel()
        if math.isinf(self.norm):
            box = self.box()
            return box.center, box.radius.reshape(B, D)
        return self.x, self.eps.expand_as(self.x).reshape(B, D)

    def symbolic(self, diagonal=True):
        """(state, input_rows): one generator row per input coordinate; kept
        diagonal (layers.DiagonalSymbolic) unless diagonal=False, which makes
        the dense rows [B, D, *S] (the tests compare the two)."""
        center, widths = self.symbolic_widths()
        D = widths.shape[1]
        state = DiagonalSymbolic(center, widths.reshape(center.shape))
        if not diagonal:
            state = Symbolic(center, state.gens)
        return state, D

    def concretize(self, A, bias, upper):
        """max (upper) or min of A x + bias over the set; A [B, S, *S_in]."""
        # Per sample a few rows of A against one vector: batched dot products
        # (vecdot), not bmm's matrix-vector products, which took 2-4x as long
        # from 8 samples on (16 x 9 x 3072: 665 against 320 us; 50 samples:
        # 1.9 against 0.44 ms; 2-core AMD EPYC, session 22).
        A = A.flatten(2)
        sign = 1.0 if upper else -1.0
        if math.isinf(self.norm):
            box = self.box()
            c, r = box.center.flatten(1).unsqueeze(1), box.radius.flatten(1).unsqueeze(1)
            value = torch.linalg.vecdot(A, c) + sign * torch.linalg.vecdot(A.abs(), r)
        else:
            x = self.x.flatten(1).unsqueeze(1)
            eps = self.eps.expand_as(self.x).flatten(1)[:, :1]  # [B, 1]: one radius per sample
            value = torch.linalg.vecdot(A, x) + sign * A.norm(dim=2) * eps
        return value + bias
