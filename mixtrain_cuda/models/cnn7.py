"""CNN7, the standard certified-training benchmark net (Shi et al. 2021, "Fast
certified robust training"; also used by IBP / CROWN-IBP / SABR)."""
from torch import nn

from .layers import CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD, Normalize

__all__ = ["cnn7"]


def cnn7(
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int = 32,
    width: int = 64,
    linear_size: int = 512,
    mean=None,
    std=None,
) -> nn.Sequential:
    """CNN7: 5 conv (+BN+ReLU) and 2 linear layers. Input ``[B, in_channels, input_size, input_size]``.

    Channels are width, width, 2*width (stride 2), 2*width, 2*width; the single
    stride-2 conv halves the side, so the flatten size is
    ``2*width * (input_size/2)**2`` (32768 for CIFAR-10 with width 64).

    ``mean``/``std`` default to MNIST stats for 1 channel and CIFAR-10 stats for
    3 channels; other channel counts must pass them explicitly.
    """
    if input_size % 2:
        raise ValueError(f"cnn7: input_size must be even (one stride-2 conv), got {input_size}")
    if mean is None and std is None:
        defaults = {1: (MNIST_MEAN, MNIST_STD), 3: (CIFAR10_MEAN, CIFAR10_STD)}
        if in_channels not in defaults:
            raise ValueError(f"cnn7: pass mean and std for in_channels={in_channels}")
        mean, std = defaults[in_channels]
    elif mean is None or std is None:
        raise ValueError("cnn7: pass both mean and std, or neither")
    w, w2 = width, 2 * width
    side = input_size // 2

    def conv_bn_relu(cin, cout, stride):
        # Bias kept on convs as in the reference implementation (auto_LiRPA cnn_7layer_bn).
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        Normalize(mean, std),
        *conv_bn_relu(in_channels, w, 1),
        *conv_bn_relu(w, w, 1),
        *conv_bn_relu(w, w2, 2),
        *conv_bn_relu(w2, w2, 1),
        *conv_bn_relu(w2, w2, 1),
        nn.Flatten(),
        nn.Linear(w2 * side * side, linear_size),
        nn.BatchNorm1d(linear_size),
        nn.ReLU(),
        nn.Linear(linear_size, num_classes),
    )
