"""Tiny-ImageNet loader on a small generated tiny-imagenet-200/ tree."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from mixtrain_cuda.data import CorruptDatasetError, DatasetNotFoundError, get_dataset
from mixtrain_cuda.data import tiny_imagenet
from mixtrain_cuda.data.tiny_imagenet import load_tiny_imagenet

# Deliberately unsorted: labels follow the sorted order.
WNIDS = ["n03000000", "n01000000", "n02000000"]
SORTED = sorted(WNIDS)
PER_CLASS = 3


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    tiny_imagenet.clear_memory_cache()
    yield
    tiny_imagenet.clear_memory_cache()


def save(path, array, mode="RGB", fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=None if mode == "RGB" else mode).save(path, fmt, quality=95)


def make_tiny(parent):
    """Train images are PNG (lossless, checked exactly) except one JPEG; one
    image is grayscale, as some real Tiny-ImageNet JPEGs are."""
    root = parent / "tiny-imagenet-200"
    root.mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    rng = np.random.default_rng(2)
    train = {}  # path -> (expected CHW uint8, label)
    for wnid in WNIDS:
        for k in range(PER_CLASS):
            path = root / "train" / wnid / "images" / f"{wnid}_{k}.png"
            if wnid == WNIDS[0] and k == 1:
                gray = rng.integers(0, 256, (64, 64), dtype=np.uint8)
                save(path, gray, mode="L")
                rgb = np.repeat(gray[None], 3, axis=0)
            else:
                rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
                save(path, rgb)
                rgb = rgb.transpose(2, 0, 1)
            train[str(path)] = (rgb, SORTED.index(wnid))
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("ignored\n")
    # A smooth image survives JPEG almost unchanged: checked with a tolerance.
    smooth = np.broadcast_to(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (64, 64, 3))
    jpeg = root / "train" / WNIDS[2] / "images" / f"{WNIDS[2]}_9.JPEG"
    save(jpeg, np.ascontiguousarray(smooth), fmt="JPEG")
    train[str(jpeg)] = (smooth.transpose(2, 0, 1), SORTED.index(WNIDS[2]))

    val = []
    lines = []
    for k in range(5):
        wnid = WNIDS[k % 3]
        rgb = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        save(root / "val" / "images" / f"val_{k}.png", rgb)
        lines.append(f"val_{k}.png\t{wnid}\t0\t3\t60\t61")
        val.append((rgb.transpose(2, 0, 1), SORTED.index(wnid)))
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    save(root / "test" / "images" / "test_0.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return root, train, val


def sorted_train(train):
    """Expected order: classes by sorted wnid, files by name within a class."""
    return sorted(train.items(), key=lambda item: (item[1][1], os.path.basename(item[0])))


def test_train_round_trip(tmp_path):
    root, train, _ = make_tiny(tmp_path)
    ds = load_tiny_imagenet("train", root=tmp_path, cache=False, progress=False)
    expect = sorted_train(train)
    assert len(ds) == len(expect) and ds.shape == (3, 64, 64)
    assert ds.classes == SORTED
    assert ds.labels.tolist() == [label for _, (_, label) in expect]
    for got, (path, (image, _)) in zip(ds.images_uint8.numpy().astype(int), expect):
        if path.endswith(".JPEG"):
            assert np.abs(got - image).mean() < 2, path
        else:
            np.testing.assert_array_equal(got, image, err_msg=path)
        if path.endswith(f"{WNIDS[0]}_1.png"):  # the grayscale one: 3 equal channels
            assert (got[0] == got[1]).all() and (got[1] == got[2]).all()
    images = ds.images
    assert images.dtype == torch.float32 and images.min() >= 0 and images.max() <= 1


def test_val_round_trip_follows_annotations(tmp_path):
    root, _, val = make_tiny(tmp_path)
    for where in (tmp_path, root):  # the parent or the folder itself
        ds = get_dataset("imagenet200", "val", root=where, cache=False, progress=False)
        assert ds.labels.tolist() == [label for _, label in val]
        assert torch.equal(ds.images_uint8, torch.from_numpy(np.stack([im for im, _ in val])))


def test_test_split_has_no_labels(tmp_path):
    make_tiny(tmp_path)
    with pytest.raises(ValueError, match="no labels.*val"):
        load_tiny_imagenet("test", root=tmp_path)
    with pytest.raises(ValueError, match="train, val"):
        load_tiny_imagenet("validation", root=tmp_path)


def test_disk_cache_is_used_and_invalidated(tmp_path, monkeypatch):
    root, train, _ = make_tiny(tmp_path / "data")
    cache_dir = tmp_path / "cache"
    first = load_tiny_imagenet("train", root=root, cache_dir=cache_dir, progress=False)
    written = list(cache_dir.glob("mixtrain_train_*.npz"))
    assert len(written) == 1 and not list(cache_dir.glob("*.tmp"))

    tiny_imagenet.clear_memory_cache()

    def no_decoding(path):
        raise AssertionError(f"decoded {path} although the cache is valid")

    monkeypatch.setattr(tiny_imagenet, "_decode_one", no_decoding)
    again = load_tiny_imagenet("train", root=root, cache_dir=cache_dir, progress=False)
    assert torch.equal(again.images_uint8, first.images_uint8)
    assert torch.equal(again.labels, first.labels)

    # A changed tree has another fingerprint: the stale cache is not used.
    monkeypatch.undo()
    save(root / "train" / WNIDS[0] / "images" / "extra.png", np.zeros((64, 64, 3), np.uint8))
    tiny_imagenet.clear_memory_cache()
    grown = load_tiny_imagenet("train", root=root, cache_dir=cache_dir, progress=False)
    assert len(grown) == len(first) + 1
    assert len(list(cache_dir.glob("mixtrain_train_*.npz"))) == 2


def test_cache_next_to_data_and_disabled(tmp_path):
    root, _, _ = make_tiny(tmp_path)
    load_tiny_imagenet("val", root=root, cache=False, progress=False)
    assert not list(root.glob("*.npz"))
    tiny_imagenet.clear_memory_cache()  # a memory hit decodes nothing, so writes nothing
    load_tiny_imagenet("val", root=root, progress=False)
    assert len(list(root.glob("mixtrain_val_*.npz"))) == 1


def test_corrupt_cache_is_ignored(tmp_path):
    root, _, val = make_tiny(tmp_path)
    load_tiny_imagenet("val", root=root, progress=False)
    (cache,) = root.glob("mixtrain_val_*.npz")
    cache.write_bytes(b"not a zip")
    tiny_imagenet.clear_memory_cache()
    with pytest.warns(UserWarning, match="unreadable cache"):
        ds = load_tiny_imagenet("val", root=root, progress=False)
    assert ds.labels.tolist() == [label for _, label in val]


def test_progress_bar(tmp_path, capsys):
    make_tiny(tmp_path)
    load_tiny_imagenet("val", root=tmp_path, cache=False, progress=True)
    assert "decoding tiny_imagenet/val" in capsys.readouterr().err


def test_missing_tree(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_tiny_imagenet("train", root=tmp_path)
    assert str(tmp_path / "tiny-imagenet-200" / "wnids.txt") in str(info.value)
    assert "tiny-imagenet-200.zip" in str(info.value)


def test_missing_class_folder(tmp_path):
    root, _, _ = make_tiny(tmp_path)
    (root / "wnids.txt").write_text("\n".join(WNIDS + ["n09999999"]))
    with pytest.raises(DatasetNotFoundError, match="n09999999"):
        load_tiny_imagenet("train", root=tmp_path, cache=False, progress=False)


def test_bad_annotation_names_file_and_line(tmp_path):
    root, _, _ = make_tiny(tmp_path)
    annotations = root / "val" / "val_annotations.txt"
    lines = annotations.read_text().splitlines()
    lines[2] = "val_2.png\tn77777777\t0\t0\t1\t1"
    annotations.write_text("\n".join(lines))
    with pytest.raises(CorruptDatasetError, match=r"val_annotations.txt:3"):
        load_tiny_imagenet("val", root=tmp_path, cache=False, progress=False)


def test_wrong_image_size_names_the_file(tmp_path):
    root, _, _ = make_tiny(tmp_path)
    bad = root / "val" / "images" / "val_1.png"
    save(bad, np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(CorruptDatasetError, match="64x64") as info:
        load_tiny_imagenet("val", root=tmp_path, cache=False, progress=False)
    assert str(bad) in str(info.value)


def test_undecodable_image_names_the_file(tmp_path):
    root, _, _ = make_tiny(tmp_path)
    bad = root / "val" / "images" / "val_4.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(CorruptDatasetError) as info:
        load_tiny_imagenet("val", root=tmp_path, cache=False, progress=False)
    assert str(bad) in str(info.value)
