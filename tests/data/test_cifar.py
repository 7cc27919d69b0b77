"""CIFAR-10 loader on small generated cifar-10-batches-py/ trees."""
import os
import pickle

import numpy as np
import pytest
import torch

from mixtrain_cuda.data import CorruptDatasetError, DatasetNotFoundError, get_dataset, load_cifar10
from mixtrain_cuda.data.cifar import CIFAR10_CLASSES

ROWS = {"data_batch_1": 4, "data_batch_2": 3, "data_batch_3": 2, "data_batch_4": 1,
        "data_batch_5": 5, "test_batch": 6}


def make_cifar(parent, names=None):
    """Batches shaped like the release: a dict with b"data" uint8 [N, 3072] and
    b"labels" a list. data_batch_2 uses str keys and the newest protocol, as a
    re-saved copy would; the rest are protocol 2 with byte keys, as the originals."""
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    written = {}
    for i, (name, n) in enumerate(ROWS.items()):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        if name == "data_batch_2":
            batch, protocol = {"data": data, "labels": np.array(labels)}, pickle.HIGHEST_PROTOCOL
        else:
            batch, protocol = {b"data": data, b"labels": labels, b"batch_label": name.encode()}, 2
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        written[name] = (data, labels)
    meta = {b"label_names": [c.encode() for c in names or CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder, written


def expected(written, split):
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return (np.concatenate([written[n][0] for n in names]),
            sum((written[n][1] for n in names), []))


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_round_trip(tmp_path, split):
    folder, written = make_cifar(tmp_path)
    data, labels = expected(written, split)
    for root in (tmp_path, folder):  # the parent or the folder itself
        ds = load_cifar10(split, root=root)
        assert len(ds) == len(labels) and ds.shape == (3, 32, 32)
        assert ds.labels.tolist() == labels and ds.labels.dtype == torch.int64
        # Row layout: 1024 red, then green, then blue, each row-major 32x32.
        assert torch.equal(ds.images_uint8, torch.from_numpy(data).view(-1, 3, 32, 32))
        assert ds.images_uint8[0, 1, 2, 3] == data[0, 1024 + 2 * 32 + 3]
        images = ds.images
        assert images.dtype == torch.float32
        assert torch.equal(images, torch.from_numpy(data).float().view(-1, 3, 32, 32) / 255)
    assert ds.classes == CIFAR10_CLASSES


def test_cifar10_class_names_come_from_meta(tmp_path):
    names = [f"class{i}" for i in range(10)]
    make_cifar(tmp_path, names)
    assert load_cifar10("test", root=tmp_path).classes == names


def test_cifar10_via_env_and_get_dataset(tmp_path, monkeypatch):
    make_cifar(tmp_path)
    monkeypatch.setenv("MIXTRAIN_DATA", str(tmp_path))
    assert len(get_dataset("CIFAR-10", "test")) == ROWS["test_batch"]


def test_cifar10_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10("train", root=tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and str(tmp_path / "cifar-10-batches-py") in message
    assert "cifar-10-batches-py" in message and "ROOT" in message


def test_cifar10_incomplete_folder_names_the_missing_batch(tmp_path):
    folder, _ = make_cifar(tmp_path)
    os.remove(folder / "data_batch_3")
    with pytest.raises(DatasetNotFoundError, match="data_batch_3"):
        load_cifar10("train", root=tmp_path)
    assert len(load_cifar10("test", root=tmp_path)) == ROWS["test_batch"]


def test_cifar10_truncated_batch(tmp_path):
    folder, _ = make_cifar(tmp_path)
    raw = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptDatasetError) as info:
        load_cifar10("test", root=tmp_path)
    assert str(folder / "test_batch") in str(info.value)


def test_cifar10_refuses_code_in_pickles(tmp_path):
    folder, _ = make_cifar(tmp_path)
    # A pickle that would call os.getcwd on load: data files never need code.
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": os.getcwd}, protocol=2))
    with pytest.raises(CorruptDatasetError, match="refusing to load"):
        load_cifar10("test", root=tmp_path)


def test_cifar10_wrong_row_size(tmp_path):
    folder, _ = make_cifar(tmp_path)
    batch = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(CorruptDatasetError, match="3072"):
        load_cifar10("test", root=tmp_path)


def test_cifar10_bad_split(tmp_path):
    make_cifar(tmp_path)
    with pytest.raises(ValueError, match="train, test"):
        load_cifar10("val", root=tmp_path)
