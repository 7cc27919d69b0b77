"""The six networks of MixTrain (Wang et al. 2018, "Scalable training of
verifiably robust neural networks"), plus a small BasicBlock net for tests.

All inputs are images in [0, 1]; normalization is the first layer of every
model so that eps is measured in pixel space. Residual nets follow the style of
Wong et al. 2018 ("Scaling provable adversarial defenses"): no BatchNorm, so the
bound engine sees only conv / ReLU / add / linear.
"""
from torch import nn

from .layers import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    MNIST_MEAN,
    MNIST_STD,
    TINY_IMAGENET_MEAN,
    TINY_IMAGENET_STD,
    BasicBlock,
    Normalize,
    ResidualBlock,
)

__all__ = [
    "mnist_small",
    "mnist_large",
    "cifar_small",
    "cifar_large",
    "cifar_resnet",
    "imagenet200_resnet",
    "basicblock_net",
]


def _small(in_ch, side, mean, std, num_classes):
    # Two stride-2 4x4 convs halve the side twice: 28 -> 7, 32 -> 8.
    s = side // 4
    return nn.Sequential(
        Normalize(mean, std),
        nn.Conv2d(in_ch, 16, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * s * s, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )


def _large(in_ch, side, mean, std, num_classes):
    s = side // 4
    return nn.Sequential(
        Normalize(mean, std),
        nn.Conv2d(in_ch, 32, 3, stride=1, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, stride=1, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * s * s, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, num_classes),
    )


def mnist_small(num_classes: int = 10) -> nn.Sequential:
    """MNIST small: 2 conv + 2 linear. Input ``[B, 1, 28, 28]``."""
    return _small(1, 28, MNIST_MEAN, MNIST_STD, num_classes)


def mnist_large(num_classes: int = 10) -> nn.Sequential:
    """MNIST large: 4 conv + 3 linear. Input ``[B, 1, 28, 28]``."""
    return _large(1, 28, MNIST_MEAN, MNIST_STD, num_classes)


def cifar_small(num_classes: int = 10) -> nn.Sequential:
    """CIFAR-10 small: 2 conv + 2 linear. Input ``[B, 3, 32, 32]``."""
    return _small(3, 32, CIFAR10_MEAN, CIFAR10_STD, num_classes)


def cifar_large(num_classes: int = 10) -> nn.Sequential:
    """CIFAR-10 large: 4 conv + 3 linear. Input ``[B, 3, 32, 32]``."""
    return _large(3, 32, CIFAR10_MEAN, CIFAR10_STD, num_classes)


def cifar_resnet(num_classes: int = 10) -> nn.Sequential:
    """Small CIFAR-10 ResNet (no BatchNorm). Input ``[B, 3, 32, 32]``.

    stem conv 3->16 (32x32), blocks 16 (s1, 32x32) -> 32 (s2, 16x16) -> 64
    (s2, 8x8), then Linear(4096, 100) -> ReLU -> Linear(100, num_classes).
    """
    return nn.Sequential(
        Normalize(CIFAR10_MEAN, CIFAR10_STD),
        nn.Conv2d(3, 16, 3, stride=1, padding=1),
        nn.ReLU(),
        ResidualBlock(16, 16, stride=1),
        ResidualBlock(16, 32, stride=2),
        ResidualBlock(32, 64, stride=2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 100),
        nn.ReLU(),
        nn.Linear(100, num_classes),
    )


def imagenet200_resnet(num_classes: int = 200) -> nn.Sequential:
    """Tiny-ImageNet (200 classes) ResNet (no BatchNorm). Input ``[B, 3, 64, 64]``.

    A 7x7 stride-2 stem with only 32 channels brings 64x64 to 32x32 cheaply (the
    bound pass scales with activations, so the widest maps are kept narrow);
    blocks 32 (s1, 32x32) -> 64 (s2, 16x16) -> 128 (s2, 8x8) -> 128 (s2, 4x4),
    then Linear(2048, 512) -> ReLU -> Linear(512, num_classes). ~1.7M params.
    """
    return nn.Sequential(
        Normalize(TINY_IMAGENET_MEAN, TINY_IMAGENET_STD),
        nn.Conv2d(3, 32, 7, stride=2, padding=3),
        nn.ReLU(),
        ResidualBlock(32, 32, stride=1),
        ResidualBlock(32, 64, stride=2),
        ResidualBlock(64, 128, stride=2),
        ResidualBlock(128, 128, stride=2),
        nn.Flatten(),
        nn.Linear(128 * 4 * 4, 512),
        nn.ReLU(),
        nn.Linear(512, num_classes),
    )


def basicblock_net(num_classes: int = 10) -> nn.Sequential:
    """Tiny BatchNorm ResNet built from torchvision-style BasicBlocks, for
    exercising the bound engine on BN + residual + avg-pool. Input ``[B, 3, 32, 32]``.

    conv 3->16 + BN + ReLU (32x32), BasicBlock 16 (s1), BasicBlock 32 (s2,
    16x16), AvgPool2d(2) (8x8), Linear(2048, num_classes).
    """
    return nn.Sequential(
        Normalize(CIFAR10_MEAN, CIFAR10_STD),
        nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        BasicBlock(16, 16, stride=1),
        BasicBlock(16, 32, stride=2),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, num_classes),
    )
