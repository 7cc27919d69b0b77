import os

import pytest
import torch

from mixtrain_cuda.train import load_checkpoint, save_atomic


def test_save_atomic_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "ck.pt"
    save_atomic({"model": {"w": torch.ones(2)}, "config": {}}, str(p))
    save_atomic({"model": {"w": torch.zeros(2)}, "config": {}}, str(p))
    assert torch.equal(load_checkpoint(str(p))["model"]["w"], torch.zeros(2))
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_failed_save_keeps_the_previous_checkpoint(tmp_path):
    p = tmp_path / "ck.pt"
    save_atomic({"model": {"w": torch.ones(2)}, "config": {}}, str(p))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_atomic({"model": {"w": Unpicklable()}, "config": {}}, str(p))
    assert torch.equal(load_checkpoint(str(p))["model"]["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(str(tmp_path / "missing.pt"))
    bad = tmp_path / "torn.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read"):
        load_checkpoint(str(bad))
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, str(other))
    with pytest.raises(ValueError, match="not a mixtrain checkpoint"):
        load_checkpoint(str(other))
    nan = tmp_path / "nan.pt"
    torch.save({"model": {"fc.weight": torch.tensor([1.0, float("nan")])}, "config": {}}, str(nan))
    with pytest.raises(ValueError, match="fc.weight has NaN"):
        load_checkpoint(str(nan))
