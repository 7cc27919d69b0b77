"""Small random networks covering every supported layer kind, for the bound
engine's tests (seeded; weights scaled so that many ReLUs are unstable)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from mixtrain_cuda.models import Normalize


class Residual(nn.Module):
    """relu(conv(relu(conv(x))) + shortcut(x)), written as a custom forward."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out, 3, stride, 1)
        self.b = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.short = nn.Identity() if stride == 1 and c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride)

    def forward(self, x):
        return F.relu(self.b(torch.relu(self.a(x))) + self.short(x))


class ViewHead(nn.Module):
    """A custom module using x.view(x.size(0), -1) and a nested Sequential."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(n_in, 12), nn.ReLU(), nn.Linear(12, n_out))

    def forward(self, x):
        return self.fc(x.view(x.size(0), -1))


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 20), nn.ReLU(), nn.Linear(20, 15), nn.ReLU(), nn.Linear(15, 5))


def conv_net():
    return nn.Sequential(Normalize([0.5], [0.3]), nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, 1, 1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(6 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 5))


def residual_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(), Residual(4, 4, 1), Residual(4, 6, 2),
                         nn.AvgPool2d(2), ViewHead(6 * 2 * 2, 5))


def bn_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Identity(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 12), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 5))


def strided_net():
    """16-channel strided convolutions (4x4 s2, and 3x3 s2 in a residual block),
    whose CROWN step runs crown_conv2d_backward's wide form on the CPU."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 16, 4, 2, 1), nn.ReLU(),
                         Residual(16, 32, 2), nn.Flatten(), nn.Linear(32 * 2 * 2, 5))


NETS = {"mlp": mlp, "conv": conv_net, "residual": residual_net, "batchnorm": bn_net, "strided": strided_net}
INPUT_SHAPE = {"mlp": (1, 4, 4), "conv": (1, 8, 8), "residual": (1, 8, 8), "batchnorm": (1, 8, 8),
               "strided": (1, 8, 8)}


def make(name, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    net = NETS[name]().to(dtype)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d) or isinstance(m, nn.BatchNorm2d):
            # non-trivial running statistics and affine parameters
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def inputs(name, batch, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.rand(batch, *INPUT_SHAPE[name], generator=g, dtype=dtype)
