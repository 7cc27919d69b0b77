"""The interval attack: its gradient, that it sees past a flat point
gradient, that it is never weaker than PGD on the same seed, and that it is
sound against certification."""
import math

import pytest
import torch

from mixtrain_cuda.attacks import interval_accuracy, interval_attack, interval_gradient, pgd_accuracy
from mixtrain_cuda.bounds import BoundedModule

from . import nets
from .test_pgd import inside


@pytest.mark.parametrize("norm", [math.inf, 2.0])
def test_interval_gradient_is_differentiable(norm):
    """The gradient path through the symbolic pass exists and is the exact
    derivative of the margin lower bound (float64 gradcheck)."""
    net = nets.trained_mlp(torch.float64)
    bm = BoundedModule(net)
    x, y = nets.blobs(3, seed=2)
    x = x.double().clamp(0.2, 0.8)  # keep the box off the range's edges, where the clamp has kinks
    radius = torch.tensor([0.02, 0.05, 0.1], dtype=torch.float64)
    worst, grad = interval_gradient(bm, x, y, radius, norm=norm)
    assert grad.shape == x.shape and grad.abs().sum() > 0
    f = lambda z: interval_gradient(bm, z, y, radius, norm=norm)[0]  # noqa: E731
    h = 1e-6
    direction = torch.randn_like(x)
    numeric = (f(x + h * direction) - f(x - h * direction)) / (2 * h)
    assert torch.allclose(numeric, (grad * direction).flatten(1).sum(1), rtol=1e-4, atol=1e-6)


def test_interval_gradient_of_affine_model_is_its_coefficients():
    """For an affine model the lower bound's input coefficients are w_y - w_j,
    whatever the radius (the paper's interval gradient and ours agree)."""
    net = nets.linear()
    x = 0.3 + 0.4 * torch.rand(4, *nets.SHAPE, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1])
    w = net[1].weight.detach()
    for radius in (0.0, 0.05, 0.2):
        _, grad = interval_gradient(BoundedModule(net), x, y, radius)
        expected = (w[y] - w[1 - y]).reshape(grad.shape)
        assert torch.allclose(grad, expected)


def test_sees_past_a_flat_point_gradient():
    """At x_0 = 0.5 the point gradient is zero, so PGD started at x never
    moves; the interval around x reaches the ReLU's active side and its
    gradient leads to the adversarial at x_0 = 0.6."""
    net = nets.flat_gradient_net()
    x = torch.full((2, *nets.SHAPE), 0.5, dtype=torch.float64)
    y = torch.zeros(2, dtype=torch.long)
    assert pgd_accuracy(net, x, y, 0.1, random_start=False).all()
    x_adv = interval_attack(net, x, y, 0.1, random_start=False)
    assert inside(x, x_adv, torch.full((2,), 0.1), math.inf).all()
    with torch.no_grad():
        assert (net(x_adv).argmax(1) == 1).all()
    assert not interval_accuracy(net, x, y, 0.1, random_start=False).any()


@pytest.mark.parametrize("norm,eps", [(math.inf, 0.12), (2.0, 0.5)])
def test_never_weaker_than_pgd(norm, eps):
    """Same seed, same PGD settings: every point PGD breaks, the interval attack
    breaks too (it runs that very PGD and keeps the better point); on this net
    it also breaks more."""
    net = nets.trained_mlp()
    x, y = nets.blobs(96, seed=7)
    stronger = False
    for seed in (0, 1):
        torch.manual_seed(seed)
        by_pgd = pgd_accuracy(net, x, y, eps, norm=norm, steps=10)
        torch.manual_seed(seed)
        by_interval = interval_accuracy(net, x, y, eps, norm=norm, steps=10, interval_steps=5)
        assert (by_pgd | ~by_interval).all()  # robust to the interval attack => robust to PGD
        stronger |= bool((by_pgd & ~by_interval).any())
    assert stronger


def test_bounded_module_and_other_methods():
    """The model may come wrapped already, and the interval may come from any
    of the engine's bounds; results stay feasible."""
    net = nets.trained_mlp()
    x, y = nets.blobs(8, seed=5)
    for method in ("symbolic", "crown-ibp", "ibp"):
        x_adv = interval_attack(BoundedModule(net), x, y, 0.1, method=method, interval_steps=2, steps=5)
        assert inside(x, x_adv, torch.full((8,), 0.1), math.inf).all()


def test_interval_only():
    net = nets.trained_mlp()
    x, y = nets.blobs(8, seed=6)
    x_adv = interval_attack(net, x, y, 0.3, norm=2.0, include_pgd=False, interval_steps=3, steps=5)
    assert inside(x, x_adv, torch.full((8,), 0.3), 2.0).all()


def test_empty_batch():
    net = nets.trained_mlp()
    x = torch.zeros(0, *nets.SHAPE)
    y = torch.zeros(0, dtype=torch.long)
    assert interval_attack(net, x, y, 0.1).shape == x.shape
    assert interval_accuracy(net, x, y, 0.1).shape == (0,)
    with pytest.raises(ValueError):
        interval_attack(net, x, y, -0.1)


def test_interval_gradient_fused_matches_reference():
    """The fused kernels' backward and their pure-PyTorch twins give one gradient."""
    net = nets.trained_mlp(torch.float64)
    x, y = nets.blobs(4, seed=2)
    x = x.double()
    radius = torch.tensor([0.0, 0.02, 0.05, 0.1], dtype=torch.float64)
    lb_ref, g_ref = interval_gradient(BoundedModule(net, reference=True), x, y, radius)
    lb, g = interval_gradient(BoundedModule(net), x, y, radius)
    torch.testing.assert_close(lb, lb_ref)
    torch.testing.assert_close(g, g_ref)
