"""Small models for the attack tests: a trained MLP on separable synthetic
data, a linear classifier whose minimal adversarial perturbation is known in
closed form, and a net whose point gradient is zero where an adversarial is
one region-step away."""
import functools

import torch
import torch.nn as nn

SHAPE = (1, 4, 4)  # D = 16 inputs in [0, 1]
CLASSES = 3


def blobs(n, seed):
    """n points of 3 Gaussian blobs in [0, 1]^16 whose means are 0.35 apart."""
    g = torch.Generator().manual_seed(seed)
    means = torch.rand(CLASSES, *SHAPE, generator=torch.Generator().manual_seed(1234)) * 0.6 + 0.2
    y = torch.randint(0, CLASSES, (n,), generator=g)
    x = means[y] + 0.08 * torch.randn(n, *SHAPE, generator=g)
    return x.clamp(0, 1), y


@functools.lru_cache(maxsize=None)
def _trained_state(dtype):
    torch.manual_seed(0)
    net = mlp().to(dtype)
    x, y = blobs(512, seed=1)
    x = x.to(dtype)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return {k: v.clone() for k, v in net.state_dict().items()}


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, CLASSES))


def trained_mlp(dtype=torch.float32):
    """A fresh copy (tests may change its mode) of the MLP trained for 300 Adam steps."""
    net = mlp().to(dtype)
    net.load_state_dict(_trained_state(dtype))
    return net.eval()


def linear(seed=0, dtype=torch.float64):
    """Two-class linear model: margin z_0 - z_1 = w.x + b, so the distance from x
    to the decision boundary is |w.x + b| / ||w||_1 (L-inf) or / ||w||_2 (L2)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).to(dtype)
    with torch.no_grad():  # the boundary through the range's center, so that it is near every point
        net[1].bias.copy_(-0.5 * net[1].weight.sum(1))
    return net.eval()


def flat_gradient_net(threshold=0.55, gain=10.0, offset=0.1):
    """z_0 = 0, z_1 = gain * relu(x_0 - threshold) - offset. Below the threshold
    the point gradient is exactly zero; within eps = 0.1 of x_0 = 0.5 the class
    flips (at x_0 = 0.6, z_1 = 0.4 > 0)."""
    first = nn.Linear(16, 1)
    head = nn.Linear(1, 2)
    with torch.no_grad():
        first.weight.zero_()
        first.weight[0, 0] = gain
        first.bias.fill_(-gain * threshold)
        head.weight.copy_(torch.tensor([[0.0], [1.0]]))
        head.bias.copy_(torch.tensor([0.0, -offset]))
    return nn.Sequential(nn.Flatten(), first, nn.ReLU(), head).double().eval()


def bn_net():
    """Conv + BatchNorm net (the engine supports both), for mode tests."""
    return nn.Sequential(nn.Conv2d(1, 3, 3, 1, 1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(48, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, CLASSES))
