"""How the clean and the robust loss are mixed: loss = w_clean * clean + w_robust * robust.

MixTrain's *dynamic mixed training* re-sets the balance every epoch from
validation clean accuracy and verified robust accuracy. The paper does not
publish its exact rule, so `DynamicMixing` is ours (rationale below); `FixedMixing`
and `HydraMixing` (the published realization in HYDRA's MixTrain trainer) are
the two baselines the issue asks to compare it with.

Every rule is a small object with `weights(epoch, rng) -> (w_clean, w_robust)`,
called once per batch, `update(epoch, metrics)` called after each epoch's
evaluation, and `state_dict()` / `load_state_dict()` so that --resume continues
exactly.
"""
import math

import torch

MIXING_RULES = ("dynamic", "fixed", "hydra")


class FixedMixing:
    """alpha * clean + (1 - alpha) * robust, alpha constant."""
    name = "fixed"

    def __init__(self, alpha=0.5):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha must be in [0, 1], got %s" % alpha)
        self.alpha = float(alpha)

    def weights(self, epoch, rng=None):
        return self.alpha, 1.0 - self.alpha

    def update(self, epoch, metrics):
        pass

    def state_dict(self):
        return {"alpha": self.alpha}

    def load_state_dict(self, state):
        self.alpha = state["alpha"]


class DynamicMixing(FixedMixing):
    """Our dynamic mixed training: alpha moves when clean accuracy and verified
    robust accuracy start to conflict.

    After each epoch, with A and V the validation clean and verified accuracy
    at the target eps, and dA, dV their changes since the previous epoch:

    - dV < -tol and dA >= -tol: the clean term is winning at robustness' cost,
      alpha -= step (more weight on the robust loss);
    - dA < -tol and dV >= -tol: the robust term is winning at accuracy's cost,
      alpha += step, but only while A is below the best A seen minus
      `clean_slack`: some clean accuracy is the price of verified robustness and
      is paid willingly, so alpha only rises when the drop exceeds that price;
    - both drop beyond tol (an eps step or a too large learning rate hurt both):
      no change, the loss balance is not what went wrong;
    - both rise or stay: no conflict, no change.

    Why this shape: MixTrain's motivation is that a fixed alpha either leaves
    robustness on the table (too clean) or collapses clean accuracy (too
    robust), and the right balance moves as eps ramps up and the network
    saturates. Reacting to *conflicts* (one metric bought with the other) and not
    to plain progress keeps alpha still while both improve, which makes the rule
    stable on noisy small validation sets. alpha stays in [alpha_min, alpha_max]
    and does not move before epoch `frozen_until` (the trainer passes the end
    of the warmup and eps ramp: until then V at the target eps mostly tracks
    the ramp, not the balance).
    """
    name = "dynamic"

    def __init__(self, alpha=0.5, step=0.05, tol=0.005, clean_slack=0.02, alpha_min=0.05, alpha_max=0.95,
                 frozen_until=0):
        super().__init__(alpha)
        if not 0.0 <= alpha_min <= alpha_max <= 1.0:
            raise ValueError("need 0 <= alpha_min <= alpha_max <= 1, got %s, %s" % (alpha_min, alpha_max))
        self.step, self.tol, self.clean_slack = step, tol, clean_slack
        self.alpha_min, self.alpha_max = alpha_min, alpha_max
        self.frozen_until = frozen_until
        self.prev = None
        self.best_clean = 0.0
        self.history = []

    def update(self, epoch, metrics):
        A, V = metrics.get("val_clean_acc"), metrics.get("val_verified_acc")
        if A is None or V is None:
            return
        self.best_clean = max(self.best_clean, A)
        decision = "keep"
        if self.prev is not None and epoch + 1 >= self.frozen_until:
            dA, dV = A - self.prev[0], V - self.prev[1]
            if dV < -self.tol and dA >= -self.tol:
                self.alpha = max(self.alpha_min, self.alpha - self.step)
                decision = "more robust"
            elif dA < -self.tol and dV >= -self.tol and A < self.best_clean - self.clean_slack:
                self.alpha = min(self.alpha_max, self.alpha + self.step)
                decision = "more clean"
        self.prev = (A, V)
        self.history.append({"epoch": epoch, "alpha": self.alpha, "decision": decision})

    def state_dict(self):
        return {"alpha": self.alpha, "prev": self.prev, "best_clean": self.best_clean, "history": list(self.history)}

    def load_state_dict(self, state):
        self.alpha, self.prev, self.best_clean = state["alpha"], state["prev"], state["best_clean"]
        self.history = list(state["history"])


class HydraMixing:
    """HYDRA's MixTrain trainer (Sehwag et al. 2020, train/mixtrain.py):
    clean + w * robust, the robust term present with probability `p` per batch,
    w = min(w0 * 2.5 ** floor(max(epoch - ramp_epochs, 0) / 5), 50)."""
    name = "hydra"

    def __init__(self, w0=0.1, p=0.8, ramp_epochs=0, growth=2.5, every=5, cap=50.0):
        self.w0, self.p, self.ramp_epochs = w0, p, ramp_epochs
        self.growth, self.every, self.cap = growth, every, cap
        self._epoch = 0  # the next epoch to train, for `alpha`

    def robust_weight(self, epoch):
        return min(self.w0 * self.growth ** math.floor(max(epoch - self.ramp_epochs, 0) / self.every), self.cap)

    def weights(self, epoch, rng=None):
        u = torch.rand((), generator=rng).item()
        return 1.0, (self.robust_weight(epoch) if u <= self.p else 0.0)

    @property
    def alpha(self):  # for the metrics: the clean share of the weights
        return 1.0 / (1.0 + self.p * self.robust_weight(self._epoch))

    def update(self, epoch, metrics):
        self._epoch = epoch + 1

    def state_dict(self):
        return {"epoch": self._epoch}

    def load_state_dict(self, state):
        self._epoch = state["epoch"]


def make_mixing(rule, alpha=0.5, ramp_epochs=0, frozen_until=0, **kwargs):
    if rule == "fixed":
        return FixedMixing(alpha)
    if rule == "dynamic":
        return DynamicMixing(alpha, frozen_until=frozen_until, **kwargs)
    if rule == "hydra":
        return HydraMixing(ramp_epochs=ramp_epochs, **kwargs)
    raise ValueError("mixing rule must be one of %s, got %r" % (MIXING_RULES, rule))
