"""The per-batch training objective of every trainer, as one nn.Module so that
DistributedDataParallel sees the whole loss (clean pass and bound pass) in its
forward and all-reduces every gradient exactly once."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..bounds import BoundedModule
from ..bounds.certify import margin_spec, robust_cross_entropy
from .dual_bn import has_dual_bn, use_branch


def sample_points(batch, k, replacement, generator):
    """MixTrain's stochastic robust approximation: the k indices of the batch
    that go through the bound pass."""
    if replacement:
        return torch.randint(0, batch, (k,), generator=generator)
    return torch.randperm(batch, generator=generator)[:min(k, batch)]


class Objective(nn.Module):
    def __init__(self, model, method="crown-ibp", norm=math.inf, num_classes=10):
        super().__init__()
        self.model = model
        self.dual = has_dual_bn(model)
        # With dual BatchNorm the bound pass runs the robust branch, on the
        # statistics of the interval midpoints, which it also tracks; without,
        # it uses the clean batch's statistics (MixTrain's bound pass sees only
        # k points, whose own statistics would be meaningless).
        bounded = (BoundedModule(model, bn_stats="midpoint", update_running_stats=True) if self.dual
                   else BoundedModule(model, bn_stats="clean"))
        # Not a registered submodule: its parameters are the model's own.
        object.__setattr__(self, "bounded", bounded)
        self.method, self.norm, self.num_classes = method, norm, num_classes
        self.data_checked = False  # set by a caller that checked its inputs for NaN

    def forward(self, x, y, robust_idx, eps, w_clean, w_robust, x_adv=None):
        """Returns (loss, clean logits, clean loss, robust loss or None).

        x_adv (PGD training): the clean term is taken on x_adv instead of x."""
        logits = self.model(x if x_adv is None else x_adv)
        clean = F.cross_entropy(logits, y)
        loss = w_clean * clean
        robust = None
        if robust_idx is not None and eps > 0 and w_robust > 0:
            xr, yr = x[robust_idx], y[robust_idx]
            C = margin_spec(yr, self.num_classes).to(x.dtype)
            with use_branch(self.model, "robust"):
                # Only the margins' lower bound enters the loss: CROWN-IBP skips the upper bound's pass.
                # The trainer checked its data for NaN when it loaded it (loop.py); checking each batch
                # again would make the host wait for the GPU at every step.
                lb, _ = self.bounded.compute_bounds(xr, eps, self.method, self.norm, C, clean_batch=x,
                                                    bound_upper=False, check_values=not self.data_checked)
            robust = robust_cross_entropy(lb, yr)
            loss = loss + w_robust * robust
        return loss, logits, clean, robust
