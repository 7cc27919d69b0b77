"""Datasets, all offline: nothing here ever downloads (see DESIGN.md "Offline data").

``get_dataset(name, split)`` returns an ``ImageDataset``: float32 images in
[0, 1] of shape [N, C, H, W] and int64 labels, *not* normalized, because every
model in ``mixtrain_cuda.models`` normalizes internally (eps is in pixel units).
"""
import torch

from . import tiny_imagenet as _tiny
from ._common import (
    DATA_ROOT_ENV,
    CorruptDatasetError,
    DatasetNotFoundError,
    ImageDataset,
)
from .cifar import _decode as _cifar_decode
from .cifar import load_cifar10
from .idx import read_idx
from .mnist import _decode as _mnist_decode
from .mnist import load_fashion_mnist, load_mnist
from .synthetic import DEFAULT_SIZE, synthetic
from .tiny_imagenet import load_tiny_imagenet

DATASETS = {
    "mnist": load_mnist,
    "fashion_mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "tiny_imagenet": load_tiny_imagenet,
}
ALIASES = {
    "imagenet200": "tiny_imagenet",
    "tiny_imagenet_200": "tiny_imagenet",
    "fashionmnist": "fashion_mnist",
    "cifar_10": "cifar10",
}
SPLITS = {
    "mnist": ("train", "test"),
    "fashion_mnist": ("train", "test"),
    "cifar10": ("train", "test"),
    "tiny_imagenet": ("train", "val"),  # test/ has no labels
}
# The split to report accuracy on: Tiny-ImageNet's labelled held-out split is "val".
EVAL_SPLIT = {name: splits[-1] for name, splits in SPLITS.items()}

_SHAPES = {
    "mnist": ((1, 28, 28), 10),
    "fashion_mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "tiny_imagenet": ((3, 64, 64), 200),
}
_ALL_NAMES = [*DATASETS, *ALIASES]
_ALL_NAMES += [f"synthetic_{n}" for n in _ALL_NAMES]


def _base(name):
    name = name.removeprefix("synthetic_")
    return ALIASES.get(name, name)


# Keyed by every name get_dataset accepts (aliases and synthetic_* included);
# they match mixtrain_cuda.models.INPUT_SHAPES / NUM_CLASSES of the paired models.
INPUT_SHAPES = {n: _SHAPES[_base(n)][0] for n in _ALL_NAMES}
NUM_CLASSES = {n: _SHAPES[_base(n)][1] for n in _ALL_NAMES}


def canonical_name(name):
    """'Fashion-MNIST' -> 'fashion_mnist', 'imagenet200' -> 'tiny_imagenet', ...;
    ValueError listing the valid names for anything unknown."""
    key = str(name).strip().lower().replace("-", "_")
    base = _base(key)
    if base not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, their aliases "
            f"{', '.join(ALIASES)}, and synthetic_<any of these> (e.g. synthetic_cifar10)"
        )
    return ("synthetic_" if key.startswith("synthetic_") else "") + base


def get_dataset(name, split="train", root=None, **kwargs):
    """Load dataset ``name`` ("mnist", "fashion_mnist", "cifar10", "tiny_imagenet"
    alias "imagenet200", or "synthetic_<any of those>") as an ImageDataset.

    ``root`` overrides where to look (default: ``$MIXTRAIN_DATA``, ``./data``,
    then the installed copy for MNIST / Fashion-MNIST). Extra keyword arguments
    go to the loader: Tiny-ImageNet takes ``cache``, ``cache_dir``,
    ``num_workers``, ``progress``; synthetic data takes ``n`` and ``seed``.
    Missing files raise DatasetNotFoundError (a FileNotFoundError) listing
    what was searched; unknown names or splits raise ValueError.
    """
    name = canonical_name(name)
    if name.startswith("synthetic_"):
        base = name.removeprefix("synthetic_")
        shape, num_classes = _SHAPES[base]
        n = kwargs.pop("n", DEFAULT_SIZE.get(split, 0))
        return synthetic(shape, num_classes, n, split=split, name=name, **kwargs)
    return DATASETS[name](split, root=root, **kwargs)


def train_val_split(dataset, val_size, seed=0):
    """Split ``dataset`` into (train, val), deterministic given ``seed``.

    ``val_size``: a count, or a fraction in (0, 1). An ImageDataset splits into
    ImageDatasets (keeping ``images``/``labels``/``classes``); any other
    dataset into ``torch.utils.data.Subset``. Indices stay in their original
    order within each part.
    """
    n = len(dataset)
    if isinstance(val_size, float) and 0 < val_size < 1:
        val_size = round(val_size * n)
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 <= val_size <= n:
        raise ValueError(
            f"val_size must be a count in [0, {n}] or a fraction in (0, 1), got {val_size!r}"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:val_size].sort().values, order[val_size:].sort().values
    if isinstance(dataset, ImageDataset):
        return dataset.subset(train_idx), dataset.subset(val_idx)
    subset = torch.utils.data.Subset
    return subset(dataset, train_idx.tolist()), subset(dataset, val_idx.tolist())


def clear_cache():
    """Drop the decoded datasets held in memory (the disk cache is kept)."""
    _mnist_decode.cache_clear()
    _cifar_decode.cache_clear()
    _tiny.clear_memory_cache()


__all__ = [
    "DATASETS",
    "ALIASES",
    "SPLITS",
    "EVAL_SPLIT",
    "INPUT_SHAPES",
    "NUM_CLASSES",
    "DATA_ROOT_ENV",
    "ImageDataset",
    "DatasetNotFoundError",
    "CorruptDatasetError",
    "canonical_name",
    "get_dataset",
    "train_val_split",
    "clear_cache",
    "synthetic",
    "read_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_tiny_imagenet",
]
