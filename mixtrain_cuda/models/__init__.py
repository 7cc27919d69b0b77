"""Model zoo: the MixTrain paper's networks, CNN7, and a BasicBlock test net.

Every model takes images in [0, 1] and normalizes internally (``Normalize`` is
its first layer). ``INPUT_SHAPES`` / ``NUM_CLASSES`` give the default
``(C, H, W)`` input and output size per registry name.
"""
from .cnn7 import cnn7
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
from .mixtrain_nets import (
    basicblock_net,
    cifar_large,
    cifar_resnet,
    cifar_small,
    imagenet200_resnet,
    mnist_large,
    mnist_small,
)

MODELS = {
    "mnist_small": mnist_small,
    "mnist_large": mnist_large,
    "cifar_small": cifar_small,
    "cifar_large": cifar_large,
    "cifar_resnet": cifar_resnet,
    "imagenet200_resnet": imagenet200_resnet,
    "cnn7": cnn7,
    "basicblock_net": basicblock_net,
}

# Default input shape (C, H, W) of each builder, called with no arguments.
INPUT_SHAPES = {
    "mnist_small": (1, 28, 28),
    "mnist_large": (1, 28, 28),
    "cifar_small": (3, 32, 32),
    "cifar_large": (3, 32, 32),
    "cifar_resnet": (3, 32, 32),
    "imagenet200_resnet": (3, 64, 64),
    "cnn7": (3, 32, 32),
    "basicblock_net": (3, 32, 32),
}

NUM_CLASSES = {name: 200 if name == "imagenet200_resnet" else 10 for name in MODELS}


def get_model(name: str, **kwargs):
    """Build the registered model ``name``; ``kwargs`` go to its builder."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}"
        ) from None
    return builder(**kwargs)


__all__ = [
    "MODELS",
    "INPUT_SHAPES",
    "NUM_CLASSES",
    "get_model",
    "Normalize",
    "ResidualBlock",
    "BasicBlock",
    "MNIST_MEAN",
    "MNIST_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "TINY_IMAGENET_MEAN",
    "TINY_IMAGENET_STD",
    *MODELS,
]
