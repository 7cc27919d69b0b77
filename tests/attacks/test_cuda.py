"""The attacks on the GPU: the interval gradient flows through the CUDA
kernels' backward, and the results keep every CPU promise."""
import math

import pytest
import torch

from mixtrain_cuda.attacks import interval_attack, interval_gradient, pgd
from mixtrain_cuda.bounds import BoundedModule, certify

from . import nets
from .test_pgd import inside

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("norm,eps", [(math.inf, 0.12), (2.0, 0.3)])
def test_attacks_on_cuda_sound_and_feasible(norm, eps):
    net = nets.trained_mlp().cuda()
    x, y = nets.blobs(96, seed=7)
    x, y = x.cuda(), y.cuda()
    certified = certify(net, x, y, eps, method="symbolic", norm=norm)
    for attack in (pgd, interval_attack):
        x_adv = attack(net, x, y, eps, norm=norm)
        assert x_adv.device == x.device
        assert inside(x, x_adv, torch.full((96,), eps, device="cuda"), norm).all()
        with torch.no_grad():
            broken = net(x_adv).argmax(1) != y
        assert not (certified & broken).any()
    assert all(p.grad is None for p in net.parameters())


def test_interval_gradient_matches_cpu():
    net = nets.trained_mlp(torch.float64)
    x, y = nets.blobs(4, seed=2)
    x = x.double()
    radius = torch.tensor([0.0, 0.02, 0.05, 0.1], dtype=torch.float64)
    lb_cpu, g_cpu = interval_gradient(BoundedModule(net, reference=True), x, y, radius)
    net = net.cuda()
    lb, g = interval_gradient(BoundedModule(net), x.cuda(), y.cuda(), radius.cuda())
    torch.testing.assert_close(lb.cpu(), lb_cpu)
    torch.testing.assert_close(g.cpu(), g_cpu)
