"""What every attack shares: argument checks, the perturbation set (ball
intersected with the valid input range), the attacker's objective, and the
model-mode guard."""
import contextlib
import math

import torch
import torch.nn.functional as F

from ..bounds.inputs import parse_norm

LOSSES = ("ce", "margin")


def check_inputs(x, y, eps, x_min, x_max):
    """Validates the attack's inputs; returns eps as a [B] tensor of x's dtype.

    x must already lie in [x_min, x_max]: otherwise the ball intersected with
    the range may be empty and the attack could not promise a valid point."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor, got %s" % (x.dtype if torch.is_tensor(x) else type(x)))
    if x.dim() < 2:
        raise ValueError("x must have a batch dimension: [B, *input shape], got shape %s" % (tuple(x.shape),))
    B = x.shape[0]
    if not torch.is_tensor(y) or y.dtype in (torch.bool,) or y.is_floating_point() or y.is_complex():
        raise TypeError("y must be an integer tensor of class indices")
    if y.shape != (B,):
        raise ValueError("y must be [B] = [%d] class indices, got shape %s" % (B, tuple(y.shape)))
    if y.device != x.device:
        raise ValueError("y is on %s but x is on %s" % (y.device, x.device))
    if math.isnan(x_min) or math.isnan(x_max) or not x_min <= x_max:
        raise ValueError("x_min (%s) must be <= x_max (%s)" % (x_min, x_max))
    if torch.isnan(x).any():
        raise ValueError("x contains NaN")
    if B and ((x < x_min).any() or (x > x_max).any()):
        raise ValueError("x has entries outside [x_min, x_max] = [%s, %s]" % (x_min, x_max))
    return per_sample_eps(eps, x)


def per_sample_eps(eps, x):
    """eps (float, 0-d tensor, [B] or [B, 1, ..., 1]) as a [B] tensor: one radius
    per sample, the only kind an L2 ball (and a per-sample projection) has."""
    B = x.shape[0]
    if torch.is_tensor(eps):
        e = eps.detach().to(device=x.device, dtype=x.dtype)
        if e.dim() == 0:
            e = e.expand(B)
        elif e.shape[0] == B and all(s == 1 for s in e.shape[1:]) and e.dim() <= x.dim():
            e = e.reshape(B)
        else:
            raise ValueError("eps must be a float, a 0-d tensor, [B] or [B, 1, ..., 1] with B = %d; got shape %s"
                             % (B, tuple(eps.shape)))
    else:
        try:
            e = torch.full((B,), float(eps), dtype=x.dtype, device=x.device)
        except (TypeError, ValueError):
            raise TypeError("eps must be a float or a tensor, got %s" % type(eps).__name__) from None
        if math.isnan(float(eps)) or float(eps) < 0 or math.isinf(float(eps)):
            raise ValueError("eps must be finite and >= 0, got %r" % (eps,))
    if torch.isnan(e).any() or (e < 0).any() or torch.isinf(e).any():
        raise ValueError("eps must be finite and >= 0; the tensor has negative, NaN or infinite entries")
    return e


def check_positive_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, minimum, value))


def check_step_size(step_size):
    """None, a float > 0, or a [B] tensor of them."""
    if step_size is None:
        return
    s = step_size if torch.is_tensor(step_size) else torch.tensor(float(step_size))
    if torch.isnan(s).any() or (s <= 0).any() or torch.isinf(s).any():
        raise ValueError("step_size must be finite and > 0, got %r" % (step_size,))


def check_loss(loss):
    if loss not in LOSSES:
        raise ValueError("loss must be one of %s, got %r" % (LOSSES, loss))


def as_batch(v, x):
    """[B] -> [B, 1, ..., 1], to broadcast against x."""
    return v.reshape(-1, *([1] * (x.dim() - 1)))


def flat_norm(d):
    return d.flatten(1).norm(dim=1)


def project(x0, x, eps, norm, x_min, x_max):
    """A point of the ball around x0 (radius eps [B], in `norm`) inside [x_min, x_max].

    L-inf: clamp to the box, then to the range: the exact projection onto
    their intersection. L2: scale onto the ball, then clamp to the range;
    clamping only moves coordinates toward x0 (which lies in the range), so
    the point stays in the ball."""
    e = as_batch(eps, x0)
    if math.isinf(norm):
        x = torch.max(torch.min(x, x0 + e), x0 - e)
    else:
        d = x - x0
        n = as_batch(flat_norm(d), x0)
        # eps/n can round above 1 by an ulp: the min keeps points already inside unchanged.
        d = d * torch.clamp(e / n.clamp(min=torch.finfo(x.dtype).tiny), max=1.0)
        x = x0 + d
    return x.clamp(x_min, x_max)


def random_start(x0, eps, norm, x_min, x_max):
    """A uniform point of the ball (then clamped to the range)."""
    e = as_batch(eps, x0)
    if math.isinf(norm):
        x = x0 + e * (torch.rand_like(x0) * 2 - 1)
    else:
        d = torch.randn_like(x0)
        d = d / as_batch(flat_norm(d).clamp(min=torch.finfo(x0.dtype).tiny), x0)
        # radius u^(1/D) makes the point uniform in the D-dimensional ball
        r = torch.rand(x0.shape[0], dtype=x0.dtype, device=x0.device) ** (1.0 / max(1, x0[0].numel()))
        x = x0 + e * as_batch(r, x0) * d
    return project(x0, x, eps, norm, x_min, x_max)


def steepest_step(grad, norm):
    """The unit step (in `norm`) that increases a linear function most:
    sign(g) for L-inf, g/||g||_2 for L2 (zero where g is zero)."""
    if math.isinf(norm):
        return grad.sign()
    n = as_batch(flat_norm(grad), grad)
    return grad / n.clamp(min=torch.finfo(grad.dtype).tiny)


def margins(logits, labels):
    """z_label - max_{j != label} z_j: > 0 iff the label alone has the top logit."""
    true = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return true - others.max(1).values


def objective(logits, labels, loss, targeted):
    """Per-sample value the attacker maximizes. Untargeted: the cross-entropy of
    the true label, or the best other logit minus the true one. Targeted
    (labels are targets): their negatives toward the target."""
    if loss == "ce":
        value = F.cross_entropy(logits, labels, reduction="none")
    else:
        value = -margins(logits, labels)
    return -value if targeted else value


def succeeded(logits, labels, targeted):
    """Untargeted: misclassified. Targeted: classified as the target."""
    pred = logits.argmax(1)
    return pred == labels if targeted else pred != labels


def update_best(best_x, best_ok, best_val, x, ok, val):
    """Per sample keeps the better point: a success beats a failure, and
    between equals the higher objective wins. Updates in place."""
    better = (ok & ~best_ok) | ((ok == best_ok) & (val > best_val))
    best_x[better] = x[better]
    best_ok |= ok
    best_val[better] = val[better]
    return better


@contextlib.contextmanager
def eval_mode(model):
    """Attacks run the model in eval mode (BatchNorm with running statistics,
    no dropout), so the attacked function is the deployed one and the batch
    does not leak between samples; every submodule's own flag is restored."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def input_gradient(value, x):
    """d value.sum() / dx only: torch.autograd.grad leaves the parameters'
    .grad untouched (an attack inside a training step must not add to them)."""
    (g,) = torch.autograd.grad(value.sum(), x)
    return g


__all__ = ["parse_norm"]  # re-exported: the attacks parse norms exactly as the engine does
