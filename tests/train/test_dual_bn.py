import os

import pytest
import torch

from mixtrain_cuda.bounds import BoundedModule
from mixtrain_cuda.data import synthetic
from mixtrain_cuda.models import get_model
from mixtrain_cuda.train import load_checkpoint, train
from mixtrain_cuda.train.dual_bn import convert_dual_bn, has_dual_bn, select_branch, use_branch
from mixtrain_cuda.train.objective import Objective

from .conftest import tiny_config


def _bn(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]


def test_use_branch_swaps_and_restores():
    model = convert_dual_bn(get_model("basicblock_net"), affine=True)
    bn = _bn(model)
    with torch.no_grad():
        bn.robust_running_mean.fill_(3.0)
        bn.robust_weight.fill_(2.0)
    clean_w = bn.weight
    with use_branch(model, "robust"):
        assert torch.all(bn.running_mean == 3.0) and torch.all(bn.weight == 2.0)
    assert bn.weight is clean_w and torch.all(bn.running_mean == 0.0)
    with use_branch(get_model("mnist_small"), "robust"):  # no BatchNorm: a no-op
        pass
    with pytest.raises(ValueError, match="no BatchNorm"):
        convert_dual_bn(get_model("mnist_small"))
    with pytest.raises(ValueError, match="branch"):
        with use_branch(model, "adversarial"):
            pass


def test_bound_pass_trains_only_the_robust_branch():
    torch.manual_seed(0)
    model = convert_dual_bn(get_model("basicblock_net"), affine=True).train()
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    obj = Objective(model, "ibp", num_classes=10)
    bn = _bn(model)
    before_clean = bn.running_mean.clone()
    before_robust = bn.robust_running_mean.clone()
    loss, _, clean, robust = obj(x, y, torch.arange(4), 0.01, 0.0, 1.0)  # robust term only
    loss.backward()
    assert bn.robust_weight.grad is not None and bn.robust_weight.grad.abs().sum() > 0
    assert bn.weight.grad is None or bn.weight.grad.abs().sum() == 0  # clean weight (weight 0 in the loss)
    # The clean forward updated the clean statistics, the bound pass the robust ones, each its own.
    assert not torch.equal(bn.running_mean, before_clean)
    assert not torch.equal(bn.robust_running_mean, before_robust)
    assert not torch.equal(bn.running_mean, bn.robust_running_mean)


def test_dual_bn_bounds_are_sound_for_the_robust_branch():
    torch.manual_seed(1)
    model = convert_dual_bn(get_model("basicblock_net"), affine=True)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "robust_running_mean"):
                m.robust_running_mean.uniform_(-0.5, 0.5)
                m.robust_running_var.uniform_(0.5, 2.0)
                m.robust_weight.uniform_(0.5, 1.5)
    model.eval()
    x = torch.rand(4, 3, 32, 32)
    with use_branch(model, "robust"):
        lb, ub = BoundedModule(model).compute_bounds(x, 0.01, "crown-ibp")
        for _ in range(20):
            out = model((x + (torch.rand_like(x) * 2 - 1) * 0.01).clamp(0, 1))
            assert (out >= lb - 1e-4).all() and (out <= ub + 1e-4).all()
    assert not torch.allclose(model(x), out)  # the clean branch is another function


def test_training_with_dual_bn_and_certifying_the_branch(tmp_path):
    tr = synthetic((3, 32, 32), 10, 128, seed=0, split="train")
    va = synthetic((3, 32, 32), 10, 32, seed=0, split="val")
    data = tr.tensors + va.tensors + va.tensors
    cfg = tiny_config(tmp_path, model="basicblock_net", dataset="synthetic_cifar10", dual_bn="affine", epochs=1,
                      test_size=16, pgd_eval_size=0, bound_method="ibp")
    s = train(cfg, data=data, log=lambda *a: None)
    assert s["branch"] == "robust"
    ckpt = load_checkpoint(os.path.join(cfg.out_dir, "checkpoint.pt"))
    assert any(k.endswith("robust_running_mean") for k in ckpt["model"])
    model = convert_dual_bn(get_model("basicblock_net"), affine=True)
    model.load_state_dict(ckpt["model"])
    assert has_dual_bn(model)
    select_branch(model, "robust")
    assert torch.equal(_bn(model).running_mean, ckpt["model"][[k for k in ckpt["model"]
                                                              if k.endswith("robust_running_mean")][0]])
    # The command line's loader deploys the evaluated branch.
    from mixtrain_cuda.cli_train import _load_model
    loaded, config = _load_model(os.path.join(cfg.out_dir, "checkpoint.pt"), "cpu")
    assert config.dual_bn == "affine"
    assert torch.equal(_bn(loaded).running_mean, _bn(model).running_mean)
