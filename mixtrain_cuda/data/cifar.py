"""CIFAR-10 from the python-pickle release (``cifar-10-batches-py/``).

Not installable from any package registry, so the user supplies the folder
(torchvision's ``CIFAR10(root, download=True)`` leaves exactly this layout).
"""
import functools
import importlib
import pickle

import numpy as np
import torch

from ._common import (
    CorruptDatasetError,
    DatasetNotFoundError,
    ImageDataset,
    check_split,
    default_roots,
    file_key,
    not_found,
)

SPLITS = ("train", "test")
FOLDER = "cifar-10-batches-py"
_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]

HOW = (
    f"Put {FOLDER}/ (from cifar-10-python.tar.gz, or what torchvision's CIFAR10 "
    f"downloads) under ROOT and pass root=ROOT (or set MIXTRAIN_DATA=ROOT)."
)


def load_cifar10(split="train", root=None):
    """CIFAR-10 images of shape [3, 32, 32]; ``root`` is the batches folder or its parent."""
    check_split(split, SPLITS, "cifar10")
    searched = []
    for base in default_roots(root):
        for folder in (base, base / FOLDER):
            searched.append(folder)
            if not any((folder / f).is_file() for f in (*_FILES["train"], *_FILES["test"])):
                continue
            missing = [f for f in _FILES[split] if not (folder / f).is_file()]
            if missing:
                # The folder is CIFAR-10 but incomplete: say what is missing
                # rather than silently training on part of it.
                raise DatasetNotFoundError(
                    f"cifar10 {split} split: {folder} lacks {', '.join(missing)}. {HOW}"
                )
            keys = tuple(file_key(folder / f) for f in _FILES[split])
            x, y = _decode(keys)
            return ImageDataset(x, y.clone(), _classes(folder), name=f"cifar10/{split}")
    raise not_found(f"cifar10 {split} split ({', '.join(_FILES[split])})", searched, HOW)


@functools.lru_cache(maxsize=4)
def _decode(keys):
    images, labels = [], []
    for path, _, _ in keys:
        batch = _unpickle(path)
        data, y = _field(batch, "data", path), _field(batch, "labels", path)
        data, y = np.asarray(data), np.asarray(y)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise CorruptDatasetError(
                f"{path}: expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}"
            )
        if y.shape != (data.shape[0],) or (y.size and (y.min() < 0 or y.max() > 9)):
            raise CorruptDatasetError(
                f"{path}: expected {data.shape[0]} labels in 0..9, got shape {y.shape}"
            )
        # Rows are channel-major (1024 red, 1024 green, 1024 blue), i.e. CHW already.
        images.append(torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()))
        labels.append(torch.from_numpy(y.astype(np.int64)))
    return torch.cat(images), torch.cat(labels)


def _classes(folder):
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            names = _field(_unpickle(meta), "label_names", meta)
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
            if len(names) == 10:
                return names
        except CorruptDatasetError:
            pass  # the names are cosmetic; the standard list is the same
    return CIFAR10_CLASSES


def _field(batch, key, path):
    if not isinstance(batch, dict):
        raise CorruptDatasetError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise CorruptDatasetError(f"{path}: no {key!r} entry (keys: {sorted(map(str, batch))})")


# Unpickling runs whatever code the file names; a data file only ever needs
# numpy arrays, so anything else is refused.
_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        # The original files were written by numpy 1 (numpy.core); numpy 2
        # keeps those objects in numpy._core.
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core"):]
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy._core") and not hasattr(np, "_core"):
            module = "numpy.core" + module[len("numpy._core"):]  # numpy 1
        return getattr(importlib.import_module(module), name)


def _unpickle(path):
    try:
        with open(path, "rb") as f:
            # encoding="bytes": the files are Python 2 pickles with byte-string keys.
            return _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise CorruptDatasetError(f"{path}: not a readable CIFAR-10 pickle ({e})") from None
