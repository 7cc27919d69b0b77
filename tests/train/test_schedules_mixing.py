import math

import pytest
import torch

from mixtrain_cuda.train import DynamicMixing, FixedMixing, HydraMixing, eps_at, lr_at, make_mixing


@pytest.mark.parametrize("schedule", ["linear", "smooth"])
def test_eps_ramp_endpoints_and_monotone(schedule):
    vals = [eps_at(t / 50, 0.3, schedule, warmup=1.0, ramp=4.0) for t in range(0, 400)]
    assert all(v == 0.0 for v in vals[:50])  # warmup: clean
    assert all(b >= a for a, b in zip(vals, vals[1:]))
    assert vals[-1] == pytest.approx(0.3)
    assert eps_at(5.0, 0.3, schedule, 1.0, 4.0) == pytest.approx(0.3)


def test_smooth_ramp_is_slow_then_meets_linear_with_equal_slope():
    e = lambda f: eps_at(f * 4.0, 0.2, "smooth", 0.0, 4.0)
    assert e(0.1) < 0.1 * 0.2 * 0.5  # slower than the straight line early on
    h = 1e-6
    left = (e(0.25) - e(0.25 - h)) / h
    right = (e(0.25 + h) - e(0.25)) / h
    assert left == pytest.approx(right, rel=1e-3)


def test_eps_constant_and_bad_schedule():
    assert eps_at(0.0, 0.1, "constant") == 0.1
    with pytest.raises(ValueError, match="eps schedule"):
        eps_at(0.0, 0.1, "cubic")


def test_lr_schedules():
    assert lr_at(3.0, 1e-3, "step", milestones=(2, 4), gamma=0.1) == pytest.approx(1e-4)
    assert lr_at(5.0, 1e-3, "step", milestones=(2, 4), gamma=0.1) == pytest.approx(1e-5)
    assert lr_at(0.0, 1.0, "cosine", epochs=10) == pytest.approx(1.0)
    assert lr_at(5.0, 1.0, "cosine", epochs=10) == pytest.approx(0.5)
    assert lr_at(10.0, 1.0, "cosine", epochs=10) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(0.5, 1.0, "constant", warmup=1.0) < 1.0


def _feed(rule, pairs, start_epoch=0):
    for i, (a, v) in enumerate(pairs):
        rule.update(start_epoch + i, {"val_clean_acc": a, "val_verified_acc": v})


def test_dynamic_mixing_moves_only_on_conflict():
    r = DynamicMixing(alpha=0.5, step=0.1, tol=0.0, clean_slack=0.0)
    _feed(r, [(0.9, 0.5), (0.91, 0.55)])  # both improve: no change
    assert r.alpha == pytest.approx(0.5)
    _feed(r, [(0.92, 0.50)], 2)  # robustness dropped while accuracy held: more robust
    assert r.alpha == pytest.approx(0.4)
    _feed(r, [(0.85, 0.52)], 3)  # accuracy dropped while robustness held: more clean
    assert r.alpha == pytest.approx(0.5)
    _feed(r, [(0.80, 0.40)], 4)  # both dropped: not the balance's fault
    assert r.alpha == pytest.approx(0.5)
    assert [h["decision"] for h in r.history] == ["keep", "keep", "more robust", "more clean", "keep"]


def test_dynamic_mixing_clean_slack_frozen_and_clamps():
    r = DynamicMixing(alpha=0.5, step=0.1, tol=0.0, clean_slack=0.05)
    _feed(r, [(0.9, 0.5), (0.88, 0.6)])  # accuracy drop within the slack is paid willingly
    assert r.alpha == pytest.approx(0.5)
    r = DynamicMixing(alpha=0.5, step=0.1, tol=0.0, frozen_until=3)
    _feed(r, [(0.9, 0.5), (0.9, 0.4)])  # epoch 1 < frozen_until - 1: no move yet
    assert r.alpha == pytest.approx(0.5)
    r = DynamicMixing(alpha=0.1, step=0.1, tol=0.0, alpha_min=0.05)
    _feed(r, [(0.9, 0.5), (0.9, 0.4), (0.9, 0.3)])
    assert r.alpha == pytest.approx(0.05)


def test_dynamic_mixing_state_round_trip():
    r = DynamicMixing(alpha=0.5, step=0.1, tol=0.0)
    _feed(r, [(0.9, 0.5), (0.9, 0.4)])
    s = DynamicMixing(step=0.1, tol=0.0)  # hyperparameters come from the config, the state from the checkpoint
    s.load_state_dict(r.state_dict())
    _feed(r, [(0.9, 0.3)], 2)
    _feed(s, [(0.9, 0.3)], 2)
    assert r.alpha == s.alpha and r.history == s.history


def test_hydra_weight_formula_and_probability():
    h = HydraMixing(w0=0.1, p=0.8, ramp_epochs=10)
    assert h.robust_weight(0) == pytest.approx(0.1)
    assert h.robust_weight(14) == pytest.approx(0.1)
    assert h.robust_weight(15) == pytest.approx(0.25)
    assert h.robust_weight(20) == pytest.approx(0.625)
    assert h.robust_weight(200) == 50.0
    g = torch.Generator().manual_seed(0)
    draws = [h.weights(15, g) for _ in range(4000)]
    assert all(c == 1.0 for c, _ in draws)
    frac = sum(w > 0 for _, w in draws) / len(draws)
    assert 0.77 < frac < 0.83


def test_fixed_and_factory():
    assert FixedMixing(0.3).weights(0) == (0.3, pytest.approx(0.7))
    with pytest.raises(ValueError):
        FixedMixing(1.5)
    with pytest.raises(ValueError, match="mixing rule"):
        make_mixing("adaptive")
    assert isinstance(make_mixing("hydra", ramp_epochs=3), HydraMixing)
    assert math.isclose(make_mixing("dynamic", alpha=0.7).alpha, 0.7)
