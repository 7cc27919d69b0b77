import pytest

from mixtrain_cuda.data import synthetic


@pytest.fixture(scope="session")
def tiny_mnist():
    """(train X, Y, val X, Y, test X, Y): a small synthetic MNIST-shaped task
    that mnist_small learns in a couple of epochs."""
    tr = synthetic((1, 28, 28), 10, 320, seed=0, split="train")
    va = synthetic((1, 28, 28), 10, 64, seed=0, split="val")
    te = synthetic((1, 28, 28), 10, 64, seed=0, split="test")
    return tr.tensors + va.tensors + te.tensors


def tiny_config(tmp_path, **kw):
    from mixtrain_cuda.train import TrainConfig
    base = dict(epochs=2, batch_size=32, k=8, warmup_epochs=0.5, ramp_epochs=1.0, eps=0.01, val_eval_size=64,
                pgd_eval_size=16, pgd_eval_steps=5, progress=False, out_dir=str(tmp_path / "run"), lr=3e-3)
    base.update(kw)
    return TrainConfig(**base)
