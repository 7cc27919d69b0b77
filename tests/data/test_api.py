"""get_dataset, the name/shape tables, synthetic data, train_val_split, ImageDataset."""
import pytest
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

from mixtrain_cuda import models
from mixtrain_cuda.data import (
    DATASETS,
    EVAL_SPLIT,
    INPUT_SHAPES,
    NUM_CLASSES,
    ImageDataset,
    canonical_name,
    get_dataset,
    synthetic,
    train_val_split,
)

# Which dataset each model of the zoo is trained on.
MODEL_DATASET = {
    "mnist_small": "mnist",
    "mnist_large": "mnist",
    "cifar_small": "cifar10",
    "cifar_large": "cifar10",
    "cifar_resnet": "cifar10",
    "cnn7": "cifar10",
    "basicblock_net": "cifar10",
    "imagenet200_resnet": "imagenet200",
}


def test_every_model_has_a_matching_dataset():
    assert set(MODEL_DATASET) == set(models.MODELS)
    for model, dataset in MODEL_DATASET.items():
        assert INPUT_SHAPES[dataset] == models.INPUT_SHAPES[model], model
        assert NUM_CLASSES[dataset] == models.NUM_CLASSES[model], model


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_synthetic_data_feeds_its_model(name):
    paired = "mnist" if name == "fashion_mnist" else name  # same shape, same nets
    model = next(m for m, d in MODEL_DATASET.items() if canonical_name(d) == paired)
    ds = get_dataset(f"synthetic_{name}", n=4)
    x, y = next(iter(DataLoader(ds, batch_size=4)))
    assert x.shape == (4, *INPUT_SHAPES[name]) and y.dtype == torch.int64
    with torch.no_grad():
        out = models.get_model(model).eval()(x)
    assert out.shape == (4, NUM_CLASSES[name])


def test_names_and_aliases():
    assert canonical_name("imagenet200") == "tiny_imagenet"
    assert canonical_name("Fashion-MNIST") == "fashion_mnist"
    assert canonical_name("CIFAR-10") == "cifar10"
    assert canonical_name("synthetic_imagenet200") == "synthetic_tiny_imagenet"
    assert EVAL_SPLIT == {"mnist": "test", "fashion_mnist": "test", "cifar10": "test",
                          "tiny_imagenet": "val"}
    for name in [*DATASETS, "imagenet200", "synthetic_cifar10", "synthetic_imagenet200"]:
        assert name in INPUT_SHAPES and name in NUM_CLASSES


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        get_dataset("svhn")
    for name in ["mnist", "fashion_mnist", "cifar10", "tiny_imagenet", "imagenet200", "synthetic_"]:
        assert name in str(info.value)


@pytest.mark.parametrize("name, split", [("mnist", "val"), ("cifar10", "valid"),
                                         ("fashion_mnist", "training"), ("synthetic_mnist", "dev")])
def test_unknown_split(name, split):
    with pytest.raises(ValueError, match="valid splits"):
        get_dataset(name, split)


@pytest.mark.parametrize("name, shape, classes", [
    ("mnist", (1, 28, 28), 10), ("cifar10", (3, 32, 32), 10), ("tiny_imagenet", (3, 64, 64), 200),
])
def test_synthetic_shapes_and_determinism(name, shape, classes):
    a = get_dataset(f"synthetic_{name}", "train", n=400, seed=3)
    b = synthetic(shape, classes, 400, seed=3, split="train")
    assert a.shape == shape and a.num_classes == classes and len(a) == 400
    assert torch.equal(a.images_uint8, b.images_uint8) and torch.equal(a.labels, b.labels)
    c = synthetic(shape, classes, 400, seed=4)
    assert not torch.equal(a.images_uint8, c.images_uint8)
    test = synthetic(shape, classes, 400, seed=3, split="test")
    assert not torch.equal(a.images_uint8, test.images_uint8)
    counts = a.labels.bincount(minlength=classes)
    assert counts.max() - counts.min() <= 1  # balanced
    assert a.images.min() >= 0 and a.images.max() <= 1


def test_synthetic_is_learnable_across_splits():
    # Nearest class mean of "train" classifies "test": the splits share prototypes.
    train = synthetic((1, 28, 28), 10, 500, seed=0, split="train")
    test = synthetic((1, 28, 28), 10, 200, seed=0, split="test")
    means = torch.stack([train.images[train.labels == c].mean(0) for c in range(10)]).flatten(1)
    predicted = torch.cdist(test.images.flatten(1), means).argmin(1)
    assert (predicted == test.labels).float().mean() > 0.95


def test_synthetic_default_sizes():
    assert len(get_dataset("synthetic_mnist")) == 10000
    assert len(get_dataset("synthetic_mnist", "test")) == 2000


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError):
        synthetic((28, 28), 10, 5)
    with pytest.raises(ValueError):
        synthetic((1, 28, 28), 0, 5)


def _small():
    return synthetic((1, 4, 4), 3, 50, seed=1)


@pytest.mark.parametrize("val_size, n_val", [(10, 10), (0.2, 10), (0, 0), (50, 50)])
def test_train_val_split(val_size, n_val):
    ds = _small()
    train, val = train_val_split(ds, val_size, seed=7)
    assert isinstance(train, ImageDataset) and isinstance(val, ImageDataset)
    assert len(val) == n_val and len(train) == 50 - n_val
    again_train, again_val = train_val_split(ds, val_size, seed=7)
    assert torch.equal(val.images_uint8, again_val.images_uint8)
    assert torch.equal(train.labels, again_train.labels)
    # Disjoint and complete: every image lands in exactly one part.
    rows = lambda d: {tuple(r.tolist()) for r in d.images_uint8.flatten(1)}  # noqa: E731
    assert rows(train).isdisjoint(rows(val))
    assert rows(train) | rows(val) == rows(ds)
    assert train.classes == ds.classes


def test_train_val_split_seed_matters_and_subset_for_other_datasets():
    ds = TensorDataset(torch.arange(100).float(), torch.arange(100))
    train, val = train_val_split(ds, 30, seed=0)
    assert isinstance(train, Subset) and isinstance(val, Subset)
    assert set(train.indices).isdisjoint(val.indices)
    assert sorted(train.indices + val.indices) == list(range(100))
    assert val.indices == sorted(val.indices)
    assert train_val_split(ds, 30, seed=0)[1].indices == val.indices
    assert train_val_split(ds, 30, seed=1)[1].indices != val.indices


@pytest.mark.parametrize("val_size", [-1, 51, 1.5, 0.0, "10", True])
def test_train_val_split_rejects_bad_sizes(val_size):
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(_small(), val_size)


def test_image_dataset_indexing_matches_tensor_dataset():
    ds = _small()
    reference = TensorDataset(ds.images_uint8.float() / 255, ds.labels)
    for index in (0, -1, slice(3, 9), torch.tensor([4, 1, 4]), [2, 0]):
        x, y = ds[index]
        rx, ry = reference[index]
        assert x.dtype == torch.float32 and torch.equal(x, rx) and torch.equal(y, ry)
    images, labels = ds.tensors
    assert images is ds.images  # materialized once
    assert torch.equal(ds[5][0], images[5])
    x, y = next(iter(DataLoader(ds, batch_size=8, shuffle=False)))
    assert x.shape == (8, 1, 4, 4) and torch.equal(y, ds.labels[:8])


def test_image_dataset_validates():
    with pytest.raises(ValueError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), torch.zeros(2))
    with pytest.raises(ValueError, match="labels"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3))
