"""Synthetic images of the real datasets' shapes, for benchmarks and smoke runs.

Deterministic given the seed (CPU torch.Generator). Each class has a fixed
random prototype and each image is its prototype plus independent noise, so a
network can actually learn the task: a training smoke test then shows a
falling loss, not only throughput. Pixels are quantized to k/255 like real data.
"""
import torch

from ._common import ImageDataset, check_split

SPLITS = ("train", "val", "test")
DEFAULT_SIZE = {"train": 10000, "val": 2000, "test": 2000}


def synthetic(shape, num_classes, n, seed=0, split="train", name="synthetic"):
    """``n`` images of ``shape`` (C, H, W) with balanced labels in [0, num_classes).

    The splits of one seed share the class prototypes and differ in their
    samples, so a model fitted on "train" generalizes to "test".
    """
    check_split(split, SPLITS, name)
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 1 or num_classes < 1 or n < 0:
        raise ValueError(
            f"synthetic needs shape (C, H, W), num_classes >= 1 and n >= 0; got "
            f"{shape}, {num_classes}, {n}"
        )
    # Prototypes depend on the seed only; samples on the seed and the split.
    prototypes = torch.randint(
        0, 128, (num_classes, *shape), dtype=torch.uint8, generator=_generator(seed, 0)
    )
    samples = _generator(seed, 1 + SPLITS.index(split))
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=samples)]
    noise = torch.randint(0, 128, (n, *shape), dtype=torch.uint8, generator=samples)
    images = noise.add_(prototypes[labels])  # at most 127 + 127: no uint8 overflow
    return ImageDataset(images, labels, [str(c) for c in range(num_classes)],
                        name=f"{name}/{split}")


def _generator(seed, stream):
    return torch.Generator().manual_seed((int(seed) * 4 + stream) % (1 << 63))
