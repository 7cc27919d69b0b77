"""Pieces every loader shares: the dataset type, the errors, where to look."""
import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

# The ignored `/data/` folder of a checkout is the conventional place for
# files a user supplies (CIFAR-10, Tiny-ImageNet); MIXTRAIN_DATA overrides it
# without every command needing a --data-root.
DATA_ROOT_ENV = "MIXTRAIN_DATA"


class DatasetNotFoundError(FileNotFoundError):
    """The files are not on this machine; the message lists every path tried and
    how to install them. Nothing here ever downloads."""


class CorruptDatasetError(ValueError):
    """A dataset file exists but cannot be what it claims to be (bad magic,
    truncated, wrong count); the message names the file."""


def default_roots(root=None):
    """Folders to search for user-supplied data, most specific first."""
    if root is not None:
        return [Path(root).expanduser()]
    roots = []
    if os.environ.get(DATA_ROOT_ENV):
        roots.append(Path(os.environ[DATA_ROOT_ENV]).expanduser())
    roots.append(Path.cwd() / "data")
    return roots


def not_found(what, searched, how):
    searched = "\n".join(f"  - {p}" for p in searched)
    return DatasetNotFoundError(
        f"{what} not found (nothing is downloaded). Searched:\n{searched}\n{how}"
    )


def check_split(split, valid, dataset):
    if split not in valid:
        raise ValueError(
            f"unknown split {split!r} for {dataset}; valid splits: {', '.join(valid)}"
        )


def file_key(path):
    """Cache key for a file: a changed or replaced file must not be served stale
    from the in-memory cache."""
    st = os.stat(path)
    return (str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


class ImageDataset(Dataset):
    """Images in [0, 1] (float32, [N, C, H, W]) and int64 labels.

    Behaves like ``TensorDataset(images, labels)``: indexing with an int, slice,
    list or index tensor returns ``(images, labels)``. Pixels are stored as
    uint8 and converted per access, because float32 Tiny-ImageNet is 4.9 GB
    where uint8 is 1.2 GB. ``images`` / ``tensors`` materialize the full float
    tensor once, for code that wants it whole (e.g. to move it to a GPU).
    Not normalized: the models normalize internally, so eps stays in pixel units.

    ``images_uint8`` may be shared with the loaders' in-memory cache; treat it
    as read-only.
    """

    def __init__(self, images_uint8, labels, classes=None, name=""):
        if images_uint8.dtype != torch.uint8 or images_uint8.dim() != 4:
            raise ValueError(
                f"images_uint8 must be uint8 [N, C, H, W], got {images_uint8.dtype} "
                f"{tuple(images_uint8.shape)}"
            )
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (images_uint8.shape[0],):
            raise ValueError(
                f"labels must have shape ({images_uint8.shape[0]},), got {tuple(labels.shape)}"
            )
        self.images_uint8 = images_uint8
        self.labels = labels
        self.classes = list(classes) if classes is not None else None
        self.name = name
        self._images = None

    def __len__(self):
        return self.images_uint8.shape[0]

    def __getitem__(self, index):
        if self._images is not None:
            return self._images[index], self.labels[index]
        return _to_float(self.images_uint8[index]), self.labels[index]

    @property
    def images(self):
        if self._images is None:
            self._images = _to_float(self.images_uint8)
        return self._images

    @property
    def tensors(self):
        return self.images, self.labels

    @property
    def shape(self):
        """Per-image shape (C, H, W)."""
        return tuple(self.images_uint8.shape[1:])

    @property
    def num_classes(self):
        if self.classes is not None:
            return len(self.classes)
        return int(self.labels.max()) + 1 if len(self) else 0

    def subset(self, indices, name=None):
        """A new ImageDataset of the given rows (copied, so it owns its memory)."""
        indices = torch.as_tensor(indices, dtype=torch.int64)
        return ImageDataset(
            self.images_uint8[indices], self.labels[indices], self.classes,
            self.name if name is None else name,
        )

    def __repr__(self):
        return (
            f"ImageDataset(name={self.name!r}, n={len(self)}, shape={self.shape}, "
            f"num_classes={self.num_classes})"
        )


def _to_float(images_uint8):
    # k / 255 exactly, as torchvision's ToTensor gives.
    return images_uint8.to(torch.float32).div_(255.0)
