"""Building blocks for the model zoo.

Everything here is plain ``torch.nn`` and fx-traceable: the bound engine traces
models with ``torch.fx``, so ``forward`` methods use only module calls and ``+``
(no data-dependent Python control flow, no in-place ops, ReLU as modules).
"""
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "TINY_IMAGENET_MEAN",
    "TINY_IMAGENET_STD",
    "Normalize",
    "ResidualBlock",
    "BasicBlock",
]

# Per-channel dataset statistics (inputs are assumed to be in [0, 1]).
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
TINY_IMAGENET_MEAN = (0.4802, 0.4481, 0.3975)
TINY_IMAGENET_STD = (0.2302, 0.2265, 0.2262)


def _as_vector(values, name: str) -> torch.Tensor:
    t = torch.as_tensor(values, dtype=torch.float32).detach().clone().reshape(-1)
    if t.numel() == 0:
        raise ValueError(f"Normalize: {name} must have at least one channel")
    if not torch.isfinite(t).all():
        raise ValueError(f"Normalize: {name} must be finite, got {t.tolist()}")
    return t


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std``, kept inside the model.

    Keeping normalization as the first layer means perturbation radii (eps) are
    expressed in the un-normalized [0, 1] input space, and the bound engine can
    recognise this module (by its ``mean``/``std`` buffers) and fold it into the
    input box exactly.

    ``ndim`` is the rank of the input: 4 for images ``[B, C, H, W]`` (buffers
    shaped ``[1, C, 1, 1]``) or 2 for features ``[B, C]`` (buffers ``[1, C]``).
    It is fixed at construction instead of inspected in ``forward`` because a
    branch on ``x.dim()`` would not survive fx tracing.
    """

    def __init__(self, mean, std, ndim: int = 4):
        super().__init__()
        if ndim < 2:
            raise ValueError(f"Normalize: ndim must be >= 2 (batch and channel dims), got {ndim}")
        mean_v = _as_vector(mean, "mean")
        std_v = _as_vector(std, "std")
        if mean_v.numel() != std_v.numel():
            raise ValueError(
                f"Normalize: mean has {mean_v.numel()} channels but std has {std_v.numel()}"
            )
        if (std_v <= 0).any():
            raise ValueError(f"Normalize: std must be > 0 in every channel, got {std_v.tolist()}")
        shape = (1, mean_v.numel()) + (1,) * (ndim - 2)
        self.ndim = ndim
        self.register_buffer("mean", mean_v.reshape(shape))
        self.register_buffer("std", std_v.reshape(shape))

    def forward(self, x):
        # The isinstance guard is plain Python on the argument's type, so fx
        # tracing (x is a Proxy) skips it; eager calls get a clear error instead
        # of a silent wrong broadcast.
        if isinstance(x, torch.Tensor) and x.dim() != self.ndim:
            raise ValueError(
                f"Normalize built for {self.ndim}-D input got a {x.dim()}-D tensor {tuple(x.shape)}"
            )
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        mean = tuple(round(v, 4) for v in self.mean.reshape(-1).tolist())
        std = tuple(round(v, 4) for v in self.std.reshape(-1).tolist())
        return f"mean={mean}, std={std}, ndim={self.ndim}"


def _shortcut(in_ch: int, out_ch: int, stride: int, batch_norm: bool) -> nn.Module:
    """Identity when shapes match, else a 1x1 (strided) projection conv."""
    if stride == 1 and in_ch == out_ch:
        return nn.Identity()
    layers = [nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """Wong et al. (2018) / MixTrain-style block: ``relu(branch(x) + shortcut(x))``.

    ``branch`` is conv3x3(stride) -> [BN] -> ReLU -> conv3x3 -> [BN], built as an
    ``nn.Sequential`` so fx inlines it into a flat chain of leaf modules (no
    Identity placeholders when BatchNorm is off).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, batch_norm: bool = False):
        super().__init__()
        bias = not batch_norm  # a conv bias right before BN is redundant
        layers = [nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=bias)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_ch))
        layers += [nn.ReLU(), nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=bias)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_ch))
        self.branch = nn.Sequential(*layers)
        self.shortcut = _shortcut(in_ch, out_ch, stride, batch_norm)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))


class BasicBlock(nn.Module):
    """torchvision-style ResNet BasicBlock.

    conv3x3(stride)-BN-ReLU-conv3x3-BN, plus a shortcut (Identity, or 1x1
    conv + BN when the shape changes), ReLU after the add. Attribute names follow
    torchvision (conv1/bn1/conv2/bn2) with ``shortcut`` in place of ``downsample``
    and separate ReLU modules so each fx node maps to its own module.
    """

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(in_planes, planes, stride, batch_norm=True)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))
