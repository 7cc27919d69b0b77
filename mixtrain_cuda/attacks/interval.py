"""The interval attack (Wang et al., "Enhancing gradient-based attacks with
symbolic intervals", 2019; the symbolic intervals of MixTrain / ReluVal).

A point gradient only sees the network at one point. The interval gradient
sees a region: it is the gradient of the lower bound of the margin
z_y - z_j over a small box around the current point, so it points to where
the *worst case of the whole box* drops, past small local bumps that stall
PGD. The box grows until its margin lower bound can reach zero (the
predicted class may flip somewhere inside it), the point steps along the
interval gradient, and PGD then locates an actual adversarial from there.

How the interval gradient is computed. The lower bound comes from the bound
engine's public `compute_bounds(x_c, r, method="symbolic", C=margin spec)` on
the box of radius r around x_c, and is differentiated with autograd with
respect to x_c. We chose this over reading the final symbolic form's input
generators G_in (whose rows divided by the box widths are the paper's "input
coefficients") because:
- it needs only the engine's public API, so it keeps working (and stays
  chunked to the memory budget) whatever the engine does inside;
- it is the exact derivative of the quantity the attack drives down: the
  certified worst-case margin of the box. Where the ReLU relaxation is fixed
  it equals the input coefficients of the lower symbolic bound plus the
  terms from how the relaxation slopes (which depend on the box) move with
  x_c; as r -> 0 both become the point gradient of the margin, and for an
  affine network they are the same vector;
- the engine's symbolic ops carry registered backward formulas; the tests
  (tests/attacks) check this gradient against finite differences in float64
  and the fused kernels' backward against the pure-PyTorch twins.
"""
import math

import torch

from ..bounds import BoundedModule, margin_spec
from . import _common as C
from .pgd import pgd


def interval_attack(model, x, y, eps, norm=math.inf, steps=20, step_size=None, restarts=1, random_start=True,
                    x_min=0.0, x_max=1.0, loss="ce", interval_steps=10, interval_step_size=None, radius_levels=4,
                    method="symbolic", include_pgd=True):
    """Adversarial examples for `model` at (x, y) inside the `norm` ball of radius
    eps intersected with [x_min, x_max] (untargeted). Returns x_adv.

    1. Plain PGD (`pgd` with steps, step_size, restarts, random_start, loss),
       unless include_pgd=False. It runs first, so with the same seed it is
       the very run a `pgd` call would make, and the result below is never
       weaker than it on any sample.
    2. interval_steps steps from x along the interval gradient: each step
       tries the box radii eps/2^(radius_levels-1), ..., eps/2, eps and takes,
       per sample, the smallest whose margin lower bound (over all classes j)
       is <= 0, else eps; steps of interval_step_size (default
       2.5 * eps / interval_steps) down the gradient of that lower bound, in
       `norm`, projected into the ball. A sample stops once misclassified.
    3. PGD (steps, step_size, loss, one run) from the best point of step 2.

    Per sample the best point of 1 and 3 is returned (a misclassified point
    first, then the higher objective). method: the bound the interval comes
    from ("symbolic", MixTrain's; any of the engine's methods works). model:
    an nn.Module or a BoundedModule (pass one built with memory_budget to
    control the symbolic pass's chunking).
    """
    norm = C.parse_norm(norm)
    eps_b = C.check_inputs(x, y, eps, x_min, x_max)
    C.check_positive_int("steps", steps, 0)
    C.check_positive_int("restarts", restarts, 1)
    C.check_step_size(step_size)
    C.check_positive_int("interval_steps", interval_steps, 0)
    C.check_positive_int("radius_levels", radius_levels, 1)
    C.check_step_size(interval_step_size)
    C.check_loss(loss)
    if x.shape[0] == 0:
        return x.detach().clone()
    y = y.long()
    x0 = x.detach()
    n_classes = _num_classes(model, x0)
    if n_classes < 2:
        raise ValueError("the interval attack needs a model with at least 2 outputs (margins z_y - z_j)")
    if (y < 0).any() or (y >= n_classes).any():
        raise ValueError("y has class indices outside [0, %d)" % n_classes)
    common = dict(norm=norm, steps=steps, step_size=step_size, x_min=x_min, x_max=x_max, targeted=False, loss=loss)
    plain = pgd(model, x0, y, eps_b, restarts=restarts, random_start=random_start, **common) if include_pgd else None
    bm = model if isinstance(model, BoundedModule) else BoundedModule(model)
    with C.eval_mode(bm):
        start = _interval_descent(bm, x0, y, n_classes, eps_b, norm, interval_steps, interval_step_size,
                                  radius_levels, method, x_min, x_max, loss)
    located = pgd(model, x0, y, eps_b, restarts=1, x_init=start, **common)
    if plain is None:
        return located
    with C.eval_mode(model), torch.no_grad():
        best = (plain.clone(), *_score(model, plain, y, loss))
        C.update_best(*best, located, *_score(model, located, y, loss))
    return best[0]


def interval_gradient(bounded, x, y, radius, norm=math.inf, method="symbolic", x_min=0.0, x_max=1.0, spec=None):
    """(lower bound of min_j (z_y - z_j) over the ball of `radius` (float or [B])
    around x, its gradient with respect to x). The model is used in its current
    mode; `spec` defaults to margin_spec(y, n_classes)."""
    radius = C.per_sample_eps(radius, x)
    spec = margin_spec(y, _num_classes(bounded, x)).to(x.dtype) if spec is None else spec
    xc = x.detach().requires_grad_(True)
    with torch.enable_grad():
        lb, _ = bounded.compute_bounds(xc, C.as_batch(radius, x), method, norm, spec, x_min, x_max, bound_upper=False)
        worst = lb.min(1).values
        grad = C.input_gradient(worst, xc)
    return worst.detach(), grad


def _interval_descent(bm, x0, y, n_classes, eps_b, norm, n_steps, step_size, levels, method, x_min, x_max, loss):
    """Step 2 of interval_attack: the best point (per sample) along the way."""
    spec = margin_spec(y, n_classes).to(x0.dtype)
    step = 2.5 * eps_b / max(n_steps, 1) if step_size is None else C.per_sample_eps(step_size, x0)
    xa = x0.clone()
    best = (xa.clone(), *_score(bm, xa, y, loss))
    for _ in range(n_steps):
        active = ~best[1]  # misclassified samples are done
        if not active.any():
            break
        idx = active.nonzero().squeeze(1)
        xi, yi, ei = xa[idx], y[idx], eps_b[idx]
        radius = _smallest_flipping_radius(bm, xi, ei, norm, levels, method, spec[idx], x_min, x_max)
        _, grad = interval_gradient(bm, xi, yi, radius, norm, method, x_min, x_max, spec[idx])
        # Down the lower bound of the margin: toward where the class can flip.
        moved = xi - C.as_batch(step[idx], xi) * C.steepest_step(grad, norm)
        xa[idx] = C.project(x0[idx], moved, ei, norm, x_min, x_max)
        C.update_best(*best, xa, *_score(bm, xa, y, loss))
    return best[0]


def _smallest_flipping_radius(bm, x, eps, norm, levels, method, spec, x_min, x_max):
    """Per sample the smallest radius of eps/2^(levels-1), ..., eps whose margin
    lower bound is <= 0, else eps. Lower bounds only fall as the box grows, so
    each sample is bounded again only until it is decided."""
    radius = eps.clone()
    undecided = torch.ones_like(eps, dtype=torch.bool)
    with torch.no_grad():
        for level in range(levels - 1, 0, -1):
            idx = undecided.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            r = eps[idx] / 2 ** level
            lb, _ = bm.compute_bounds(x[idx], C.as_batch(r, x[idx]), method, norm, spec[idx], x_min, x_max,
                                      bound_upper=False)
            flips = lb.min(1).values <= 0
            radius[idx[flips]] = r[flips]
            undecided[idx[flips]] = False
    return radius


def _score(model, x, y, loss):
    with torch.no_grad():
        logits = model(x)
    return C.succeeded(logits, y, False), C.objective(logits, y, loss, False)


def _num_classes(model, x):
    # eval mode: a one-sample probe must neither fail on nor update BatchNorm statistics
    with C.eval_mode(model), torch.no_grad():
        return model(x[:1]).shape[1]
