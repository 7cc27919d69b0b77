"""Projected gradient descent (Madry et al. 2018) in L-inf and L2, with
restarts, and the robust accuracy it measures.

PGD only finds perturbations: a point it cannot break may still be
breakable. That makes `pgd_accuracy` an upper bound on robust accuracy, the
counterpart of `certify`'s lower bound."""
import math

import torch

from . import _common as C


def pgd(model, x, y, eps, norm=math.inf, steps=20, step_size=None, restarts=1, random_start=True, x_min=0.0,
        x_max=1.0, targeted=False, loss="ce", x_init=None):
    """Adversarial examples for `model` at (x, y) inside the `norm` ball of radius
    eps, intersected with [x_min, x_max]. Returns x_adv (detached, like x).

    eps: float, or a tensor with one radius per sample ([B] or [B, 1, ..., 1]).
    step_size: default 2.5 * eps / steps (Madry et al.: enough to cross the
    ball and come back). L-inf steps are sign(gradient), L2 steps the
    normalized gradient. restarts: independent runs; per sample the best point
    of all of them is kept: one that succeeds (misclassified, or classified as
    the target when targeted=True; y then holds the targets) beats one that does
    not, and among equals the higher attack objective wins (loss "ce":
    cross-entropy; "margin": best other logit minus the true one). Every
    iterate counts, and so does x itself (so a point misclassified already
    stays so). random_start: start each restart at a uniform point of the
    ball, else at x. x_init: where the first restart starts instead (projected
    into the ball); later restarts start as random_start says.

    The model runs in eval mode (its modes are restored after); gradients are
    taken with respect to the input only, never accumulated on parameters.
    """
    norm = C.parse_norm(norm)
    eps_b = C.check_inputs(x, y, eps, x_min, x_max)
    C.check_positive_int("steps", steps, 0)
    C.check_positive_int("restarts", restarts, 1)
    C.check_step_size(step_size)
    C.check_loss(loss)
    if x_init is not None and (not torch.is_tensor(x_init) or x_init.shape != x.shape):
        raise ValueError("x_init must be a tensor of x's shape %s" % (tuple(x.shape),))
    x0 = x.detach()
    if x.shape[0] == 0:
        return x0.clone()
    y = y.long()
    if step_size is None:
        step = 2.5 * eps_b / max(steps, 1)
    else:
        step = C.per_sample_eps(step_size, x0)
    with C.eval_mode(model):
        best_x, best_ok, best_val = _evaluate_clean(model, x0, y, loss, targeted)
        for r in range(restarts):
            if best_ok.all():
                break  # no restart can add a success; more loss does not change a result
            if r == 0 and x_init is not None:
                start = C.project(x0, x_init.detach().to(x0.dtype), eps_b, norm, x_min, x_max)
            elif random_start:
                start = C.random_start(x0, eps_b, norm, x_min, x_max)
            else:
                start = x0.clone()
            _run(model, x0, y, start, eps_b, norm, steps, step, x_min, x_max, targeted, loss,
                 (best_x, best_ok, best_val))
    return best_x


def pgd_accuracy(model, x, y, eps, **pgd_kwargs):
    """bool [B]: True where x[i] is classified as y[i] and PGD (every restart)
    finds no misclassified point in the ball. pgd_kwargs go to `pgd`."""
    if pgd_kwargs.get("targeted"):
        raise ValueError("pgd_accuracy measures untargeted robustness; targeted=True is not allowed")
    x_adv = pgd(model, x, y, eps, **pgd_kwargs)
    return still_correct(model, x, x_adv, y)


def still_correct(model, x, x_adv, y):
    """bool [B]: both x and x_adv classified as y (x is checked too, so that a
    point misclassified already never counts as robust)."""
    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool, device=x.device)
    with C.eval_mode(model), torch.no_grad():
        clean = model(x).argmax(1) == y
        adv = model(x_adv).argmax(1) == y
    return clean & adv


def _evaluate_clean(model, x0, y, loss, targeted):
    with torch.no_grad():
        logits = model(x0)
    if logits.dim() != 2:
        raise ValueError("the model must return logits [B, n_classes], got shape %s" % (tuple(logits.shape),))
    if (y < 0).any() or (y >= logits.shape[1]).any():
        raise ValueError("y has class indices outside [0, %d)" % logits.shape[1])
    return x0.clone(), C.succeeded(logits, y, targeted), C.objective(logits, y, loss, targeted)


def _run(model, x0, y, start, eps_b, norm, steps, step, x_min, x_max, targeted, loss, best):
    """One PGD run from `start`; every iterate is offered to `best` (updated in place)."""
    step = C.as_batch(step, x0)
    xa = start.detach()
    for _ in range(steps):
        xa.requires_grad_(True)
        with torch.enable_grad():  # attacks also run inside torch.no_grad() evaluation loops
            logits = model(xa)
            value = C.objective(logits, y, loss, targeted)
            grad = C.input_gradient(value, xa)
        xa = xa.detach()
        C.update_best(*best, xa, C.succeeded(logits.detach(), y, targeted), value.detach())
        if best[1].all():
            return
        xa = C.project(x0, xa + step * C.steepest_step(grad, norm), eps_b, norm, x_min, x_max)
    with torch.no_grad():
        logits = model(xa)
    C.update_best(*best, xa, C.succeeded(logits, y, targeted), C.objective(logits, y, loss, targeted))
