"""Tiny-ImageNet (ImageNet-200) from its standard folder ``tiny-imagenet-200/``.

Layout: ``wnids.txt`` (one WordNet id per class), ``train/<wnid>/images/*.JPEG``,
``val/images/*.JPEG`` labelled by ``val/val_annotations.txt`` (filename, wnid,
box, tab-separated). Labels index the *sorted* wnids, as torchvision's
ImageFolder over ``train/`` numbers them, so checkpoints trained by either agree.
The ``test/`` split ships without labels.

Decoding 110k JPEGs takes a while, so decoded uint8 arrays are cached on disk
(``.npz``, named by a fingerprint of the file list and labels so a changed
tree is never served stale) and in memory.
"""
import collections
import hashlib
import os
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from ._common import (
    CorruptDatasetError,
    DatasetNotFoundError,
    ImageDataset,
    check_split,
    default_roots,
    not_found,
)

SPLITS = ("train", "val")
FOLDER = "tiny-imagenet-200"
SIZE = 64
_EXTENSIONS = (".jpeg", ".jpg", ".png")  # PNG: lossless copies, used by the tests

HOW = (
    f"Unpack tiny-imagenet-200.zip (cs231n.stanford.edu) so that {FOLDER}/wnids.txt "
    f"exists under ROOT, and pass root=ROOT (or set MIXTRAIN_DATA=ROOT)."
)

_memory = collections.OrderedDict()  # (folder, split, fingerprint) -> uint8 images
_MEMORY_ENTRIES = 2  # train + val; the train split alone is 1.2 GB


def load_tiny_imagenet(split="train", root=None, cache=True, cache_dir=None,
                       num_workers=None, progress=True):
    """Tiny-ImageNet images of shape [3, 64, 64], 200 classes.

    ``root``: the ``tiny-imagenet-200`` folder or its parent. ``cache``: read
    and write the decoded ``.npz`` in ``cache_dir`` (default: the data folder;
    a read-only folder gives a warning, not an error). ``num_workers``: decoding
    threads (PIL releases the GIL while decoding).
    """
    if split == "test":
        raise ValueError(
            "Tiny-ImageNet's test split has no labels; evaluate on split='val'"
        )
    check_split(split, SPLITS, "tiny_imagenet")
    folder = _locate(root)
    wnids = read_wnids(folder)
    files, labels = (_train_files if split == "train" else _val_files)(folder, wnids)
    fingerprint = _fingerprint(folder, files, labels)
    key = (str(folder.resolve()), split, fingerprint)
    if key in _memory:
        _memory.move_to_end(key)
        images = _memory[key]
    else:
        directory = folder if cache_dir is None else os.path.expanduser(cache_dir)
        cache_path = os.path.join(directory, f"mixtrain_{split}_{fingerprint[:16]}.npz")
        images = _read_cache(cache_path, len(files)) if cache else None
        if images is None:
            images = _decode_all(files, split, num_workers, progress)
            if cache:
                _write_cache(cache_path, images)
        _memory[key] = images
        while len(_memory) > _MEMORY_ENTRIES:
            _memory.popitem(last=False)
    return ImageDataset(
        images, torch.tensor(labels, dtype=torch.int64), wnids, name=f"tiny_imagenet/{split}"
    )


def read_wnids(folder):
    """The class ids in label order (sorted)."""
    path = folder / "wnids.txt"
    wnids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not wnids or len(set(wnids)) != len(wnids):
        raise CorruptDatasetError(f"{path}: expected distinct class ids, one per line")
    return sorted(wnids)


def _locate(root):
    searched = []
    for base in default_roots(root):
        for folder in (base, base / FOLDER):
            searched.append(folder / "wnids.txt")
            if (folder / "wnids.txt").is_file():
                return folder
    raise not_found("tiny_imagenet (wnids.txt)", searched, HOW)


def _images_in(folder):
    return sorted(
        e.path for e in os.scandir(folder)
        if e.is_file() and os.path.splitext(e.name)[1].lower() in _EXTENSIONS
    )


def _train_files(folder, wnids):
    files, labels = [], []
    for label, wnid in enumerate(wnids):
        class_dir = folder / "train" / wnid / "images"
        if not class_dir.is_dir():
            raise DatasetNotFoundError(f"tiny_imagenet train split: {class_dir} is missing. {HOW}")
        found = _images_in(class_dir)
        if not found:
            raise CorruptDatasetError(f"{class_dir}: no images")
        files += found
        labels += [label] * len(found)
    return files, labels


def _val_files(folder, wnids):
    annotations = folder / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise DatasetNotFoundError(f"tiny_imagenet val split: {annotations} is missing. {HOW}")
    index = {wnid: i for i, wnid in enumerate(wnids)}
    files, labels = [], []
    # The file's own order (val_0, val_1, ...) is the canonical one.
    for lineno, line in enumerate(annotations.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1].strip() not in index:
            raise CorruptDatasetError(
                f"{annotations}:{lineno}: expected 'filename<TAB>wnid...' with a wnid from "
                f"wnids.txt, got {line!r}"
            )
        path = folder / "val" / "images" / fields[0].strip()
        if not path.is_file():
            raise DatasetNotFoundError(f"{annotations}:{lineno}: image {path} is missing")
        files.append(str(path))
        labels.append(index[fields[1].strip()])
    if not files:
        raise CorruptDatasetError(f"{annotations}: no entries")
    return files, labels


def _fingerprint(folder, files, labels):
    digest = hashlib.sha1()
    for path, label in zip(files, labels):
        digest.update(f"{os.path.relpath(path, folder)}\t{label}\n".encode())
    return digest.hexdigest()


def _decode_one(path):
    from PIL import Image  # only this loader needs PIL

    try:
        with Image.open(path) as image:
            # Some Tiny-ImageNet JPEGs are grayscale (mode "L"); convert gives 3 channels.
            array = np.asarray(image.convert("RGB"))
    except OSError as e:  # includes PIL.UnidentifiedImageError
        raise CorruptDatasetError(f"{path}: cannot decode image ({e})") from None
    if array.shape != (SIZE, SIZE, 3):
        raise CorruptDatasetError(f"{path}: expected a {SIZE}x{SIZE} image, got {array.shape[1::-1]}")
    return array


def _decode_all(files, split, num_workers, progress):
    from tqdm import tqdm

    # Filled image by image in CHW order, so the 1.2 GB train split is never
    # held twice (as HWC and as its transpose).
    out = np.empty((len(files), 3, SIZE, SIZE), np.uint8)
    workers = num_workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool, tqdm(
        total=len(files), desc=f"decoding tiny_imagenet/{split}", unit="img",
        disable=not progress,
    ) as bar:
        for i, array in enumerate(pool.map(_decode_one, files)):
            out[i] = array.transpose(2, 0, 1)
            bar.update()
    return torch.from_numpy(out)


def _read_cache(path, count):
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = npz["images"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        warnings.warn(f"ignoring unreadable cache {path} ({e}); decoding the images again")
        return None
    if images.dtype != np.uint8 or images.shape != (count, 3, SIZE, SIZE):
        warnings.warn(f"ignoring cache {path}: shape {images.shape} does not match the data")
        return None
    return torch.from_numpy(images)


def _write_cache(path, images):
    # Written to a temporary name and renamed, so an interrupted run never
    # leaves a half-written cache that a later run would trust.
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as f:
            np.savez(f, images=images.numpy())
        os.replace(tmp, path)
    except OSError as e:
        warnings.warn(
            f"could not write the decoded-image cache {path} ({e}); pass cache_dir= a "
            f"writable folder to avoid decoding again next time"
        )
        try:
            os.remove(tmp)
        except OSError:
            pass


def clear_memory_cache():
    _memory.clear()
