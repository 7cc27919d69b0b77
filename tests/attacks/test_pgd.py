"""PGD: feasibility (ball and range), exactness on a linear model, soundness
against certification, restarts, modes, gradients and bad input."""
import math

import pytest
import torch

from mixtrain_cuda.attacks import interval_attack, pgd, pgd_accuracy
from mixtrain_cuda.bounds import certify

from . import nets

NORMS = [math.inf, 2.0]
ATTACKS = {"pgd": pgd, "interval": lambda *a, **k: interval_attack(*a, interval_steps=3, **k)}


def inside(x, x_adv, eps, norm, x_min=0.0, x_max=1.0):
    """bool [B]: x_adv within eps [B] of x in `norm` (up to rounding) and in the range."""
    d = (x_adv - x).flatten(1)
    dist = d.abs().amax(1) if math.isinf(norm) else d.norm(dim=1)
    tol = 1e-6 * (1 + eps)
    in_range = ((x_adv >= x_min) & (x_adv <= x_max)).flatten(1).all(1)
    return (dist <= eps + tol) & in_range


def linear_case(norm, n=64, seed=0):
    """Binary linear model, points in [0.3, 0.7]^16 and per-sample eps that are
    0.9x or 1.1x the exact distance to the boundary (<= 0.3, so the ball never
    leaves [0, 1]): an adversarial exists exactly where eps is 1.1x."""
    net = nets.linear(seed)
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(n, *nets.SHAPE, generator=g, dtype=torch.float64)
    w = net[1].weight[0] - net[1].weight[1]
    b = net[1].bias[0] - net[1].bias[1]
    with torch.no_grad():
        score = x.flatten(1) @ w + b
    y = (score < 0).long()
    dual = w.abs().sum() if math.isinf(norm) else w.norm()
    distance = score.abs() / dual
    breakable = torch.arange(n) % 2 == 0
    eps = torch.where(breakable, 1.1 * distance, 0.9 * distance)
    keep = eps <= 0.3
    assert keep.sum() >= n // 2
    return net, x[keep], y[keep], eps[keep].detach(), breakable[keep]


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("norm", NORMS)
def test_stays_in_ball_and_range(name, norm):
    net = nets.trained_mlp()
    x, y = nets.blobs(24, seed=3)
    x[:4] = 0.0  # on the range's edges, where the ball sticks out of it
    x[4:8] = 1.0
    eps = torch.linspace(0, 0.6 if math.isinf(norm) else 2.0, 24)  # per sample, 0 and past the range included
    x_adv = ATTACKS[name](net, x, y, eps, norm=norm)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert inside(x, x_adv, eps, norm).all()
    assert torch.equal(x_adv[eps == 0], x[eps == 0])


@pytest.mark.parametrize("name", list(ATTACKS))
def test_eps_shapes_agree(name):
    """A float, a [B] tensor and a [B, 1, 1, 1] tensor are the same radius."""
    net = nets.trained_mlp()
    x, y = nets.blobs(8, seed=4)
    results = []
    for eps in (0.1, torch.full((8,), 0.1), torch.full((8, 1, 1, 1), 0.1), torch.tensor(0.1)):
        torch.manual_seed(0)
        results.append(ATTACKS[name](net, x, y, eps))
    for r in results[1:]:
        assert torch.equal(r, results[0])


@pytest.mark.parametrize("loss", ["ce", "margin"])
@pytest.mark.parametrize("norm", NORMS)
def test_linear_model_exact(norm, loss):
    """Where the exact minimal perturbation is inside the ball PGD finds an
    adversarial; where it is outside, PGD finds none and `certify` proves it."""
    net, x, y, eps, breakable = linear_case(norm)
    x_adv = pgd(net, x, y, eps, norm=norm, loss=loss)
    assert inside(x, x_adv, eps, norm).all()
    with torch.no_grad():
        fooled = net(x_adv).argmax(1) != y
    assert torch.equal(fooled, breakable)
    robust = pgd_accuracy(net, x, y, eps, norm=norm, loss=loss)
    assert torch.equal(robust, ~breakable)
    for method in ("symbolic", "crown"):  # exact on an affine model
        assert torch.equal(certify(net, x, y, eps.reshape(-1, 1, 1, 1), method=method, norm=norm), ~breakable)


@pytest.mark.parametrize("norm,eps", [(math.inf, 0.08), (math.inf, 0.12), (2.0, 0.3)])
def test_sound_against_certification(norm, eps):
    """An attack's success is a real misclassification inside the ball, and no
    certified point is ever broken (a cross-check of both: one of them would
    be wrong). So the attack's robust accuracy bounds the certified one."""
    net = nets.trained_mlp()
    x, y = nets.blobs(96, seed=7)
    certified = {m: certify(net, x, y, eps, method=m, norm=norm) for m in ("ibp", "symbolic", "crown")}
    any_broken = False
    for name, attack in ATTACKS.items():
        x_adv = attack(net, x, y, eps, norm=norm)
        assert inside(x, x_adv, torch.full((96,), eps), norm).all()
        with torch.no_grad():
            broken = net(x_adv).argmax(1) != y
        robust = pgd_accuracy(net, x, y, eps, norm=norm) if name == "pgd" else ~broken
        for method, cert in certified.items():
            assert not (cert & broken).any(), (name, method)
            assert (robust | ~cert).all(), (name, method)  # certified => attack-robust
        any_broken |= bool(broken.any())
    assert any_broken and certified["symbolic"].any()  # the check is not vacuous


def test_restarts_only_add_successes():
    """The first restart is the single run (same seed): more restarts keep it
    and can only add adversarials."""
    net = nets.trained_mlp()
    x, y = nets.blobs(96, seed=7)
    torch.manual_seed(5)
    one = pgd_accuracy(net, x, y, 0.12, steps=5)
    torch.manual_seed(5)
    many = pgd_accuracy(net, x, y, 0.12, steps=5, restarts=4)
    assert (one | ~many).all()  # robust under 4 restarts => robust under 1


def test_targeted():
    net = nets.trained_mlp()
    x, y = nets.blobs(48, seed=8)
    target = (y + 1) % nets.CLASSES
    x_adv = pgd(net, x, target, 0.3, targeted=True, steps=30)
    assert inside(x, x_adv, torch.full((48,), 0.3), math.inf).all()
    with torch.no_grad():
        hit = net(x_adv).argmax(1) == target
    assert hit.float().mean() > 0.5


def test_runs_under_no_grad_and_detaches():
    net = nets.trained_mlp()
    x, y = nets.blobs(16, seed=9)
    torch.manual_seed(0)
    ref = pgd(net, x, y, 0.12)
    with torch.no_grad():
        torch.manual_seed(0)
        under = pgd(net, x.clone().requires_grad_(True), y, 0.12)
    assert torch.equal(ref, under) and not under.requires_grad


def test_empty_batch():
    net = nets.trained_mlp()
    x = torch.zeros(0, *nets.SHAPE)
    y = torch.zeros(0, dtype=torch.long)
    assert pgd(net, x, y, 0.1).shape == x.shape
    assert pgd(net, x, y, torch.zeros(0), norm=2).shape == x.shape
    robust = pgd_accuracy(net, x, y, 0.1)
    assert robust.shape == (0,) and robust.dtype == torch.bool
