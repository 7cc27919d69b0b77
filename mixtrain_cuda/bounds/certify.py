"""Certification and the robust loss, on margin specifications."""
import math

import torch
import torch.nn.functional as F

from .module import BoundedModule


def margin_spec(y, num_classes):
    """C [B, n-1, n] with rows e_y - e_j for every j != y: C @ logits are the
    margins z_y - z_j, all positive iff the prediction is y."""
    B = y.shape[0]
    eye = torch.eye(num_classes, device=y.device)
    C = eye[y].unsqueeze(1) - eye.unsqueeze(0)  # [B, n, n]; row y is zero
    keep = torch.ones(B, num_classes, dtype=torch.bool, device=y.device)
    keep[torch.arange(B, device=y.device), y] = False
    return C[keep].reshape(B, num_classes - 1, num_classes)


def worst_case_logits(margin_lower, y):
    """Logits that are worst case under the margin lower bounds: 0 for the true
    class, -lb(z_y - z_j) for the others (what IBP, CROWN-IBP and MixTrain train on)."""
    B, n1 = margin_lower.shape
    logits = margin_lower.new_zeros(B, n1 + 1)
    keep = torch.ones(B, n1 + 1, dtype=torch.bool, device=margin_lower.device)
    keep[torch.arange(B, device=margin_lower.device), y] = False
    return logits.masked_scatter(keep, -margin_lower)


def robust_cross_entropy(margin_lower, y, reduction="mean"):
    """Cross-entropy of the worst-case logits; an upper bound on the cross-entropy
    at every point of the ball."""
    return F.cross_entropy(worst_case_logits(margin_lower, y), y, reduction=reduction)


def _bounded(model, **kwargs):
    return model if isinstance(model, BoundedModule) else BoundedModule(model, **kwargs)


def margin_lower_bounds(model, x, y, eps, method="crown", norm=math.inf, x_min=0.0, x_max=1.0, num_classes=None,
                        **kwargs):
    bm = _bounded(model, **kwargs)
    if num_classes is None:
        with torch.no_grad():
            num_classes = bm.model(x[:1]).shape[1]
    y = torch.as_tensor(y, device=x.device)
    if y.shape != (x.shape[0],):
        raise ValueError("y must be [B] = [%d] class indices, got shape %s" % (x.shape[0], tuple(y.shape)))
    if (y < 0).any() or (y >= num_classes).any():
        raise ValueError("y has class indices outside [0, %d)" % num_classes)
    C = margin_spec(y, num_classes).to(x.dtype)
    lb, _ = bm.compute_bounds(x, eps, method, norm, C, x_min, x_max, bound_upper=False)
    return lb


def certify(model, x, y, eps, method="crown", norm=math.inf, x_min=0.0, x_max=1.0, **kwargs):
    """bool [B]: True where every point within eps of x[i] (clamped to [x_min, x_max])
    is provably classified as y[i] by `method`. model: nn.Module or BoundedModule.
    method "bab" (or "bab:N", N domains per point): branch and bound (bab.py)."""
    if method.split(":")[0] == "bab":
        from .bab import budget_of, certify_bab
        y = torch.as_tensor(y, device=x.device)
        return certify_bab(_bounded(model, **kwargs), x, y, eps, norm, x_min, x_max,
                           max_domains=budget_of(method)).to(x.device)
    with torch.no_grad():
        lb = margin_lower_bounds(model, x, y, eps, method, norm, x_min, x_max, **kwargs)
    return (lb > 0).all(1)


def robust_loss(model, x, y, eps, method="ibp", norm=math.inf, x_min=0.0, x_max=1.0, reduction="mean", **kwargs):
    """The robust cross-entropy of `model` at (x, y) under `method` (differentiable)."""
    lb = margin_lower_bounds(model, x, y, eps, method, norm, x_min, x_max, **kwargs)
    return robust_cross_entropy(lb, y, reduction)
