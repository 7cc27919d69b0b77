"""eps and learning-rate schedules, as functions of (epoch, fraction of the epoch done).

Both are pure functions of the position in training, so a resumed run gets the
same values as an uninterrupted one without saving any schedule state.
"""
import math

EPS_SCHEDULES = ("linear", "smooth", "constant")
LR_SCHEDULES = ("constant", "step", "cosine")


def eps_at(progress, eps, schedule="linear", warmup=0.0, ramp=0.0, start=0.0):
    """eps after `progress` epochs (a float: epoch + fraction of it).

    warmup: epochs of clean training (eps 0, no robust term) before the ramp.
    ramp: epochs over which eps grows from `start` to `eps`.
    linear: straight line (IBP, Gowal et al.; HYDRA's MixTrain trainer, per epoch).
    smooth: like auto_LiRPA's SmoothedScheduler (Shi et al. 2021): a slow
      polynomial start (t^4) for the first quarter of the ramp, where IBP bounds
      explode most easily, then linear; the two pieces meet with equal slope.
    constant: eps from the first step after warmup.
    """
    if schedule not in EPS_SCHEDULES:
        raise ValueError("eps schedule must be one of %s, got %r" % (EPS_SCHEDULES, schedule))
    if progress < warmup:
        return 0.0
    t = progress - warmup
    if schedule == "constant" or ramp <= 0 or t >= ramp:
        return float(eps)
    f = t / ramp
    if schedule == "linear":
        return start + (eps - start) * f
    mid, power = 0.25, 4.0
    span = eps - start
    # e(f) = e_mid (f/mid)^power below mid, linear above; equal slopes at mid.
    e_mid = span * mid / (power * (1 - mid) + mid)
    if f < mid:
        return start + e_mid * (f / mid) ** power
    return start + e_mid + (span - e_mid) * (f - mid) / (1 - mid)


def lr_at(progress, lr, schedule="constant", epochs=1, milestones=(), gamma=0.1, warmup=0.0):
    """Learning rate after `progress` epochs: constant, step (x gamma at each
    milestone epoch) or cosine (to 0 at `epochs`); an optional linear warmup."""
    if schedule not in LR_SCHEDULES:
        raise ValueError("lr schedule must be one of %s, got %r" % (LR_SCHEDULES, schedule))
    scale = 1.0
    if warmup > 0 and progress < warmup:
        scale = (progress + 1e-3) / warmup
    if schedule == "step":
        scale *= gamma ** sum(progress >= m for m in milestones)
    elif schedule == "cosine":
        scale *= 0.5 * (1 + math.cos(math.pi * min(progress / max(epochs, 1e-9), 1.0)))
    return lr * scale
