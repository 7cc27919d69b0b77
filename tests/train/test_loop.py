import json
import math
import os

import pytest
import torch

from mixtrain_cuda.bounds import robust_loss
from mixtrain_cuda.models import get_model
from mixtrain_cuda.train import Objective, Trainer, TrainConfig, load_checkpoint, sample_points, train

from .conftest import tiny_config


def _quiet(*a):
    pass


def test_mixtrain_run_writes_everything_and_learns(tmp_path, tiny_mnist):
    cfg = tiny_config(tmp_path, epochs=3)
    summary = train(cfg, data=tiny_mnist, log=_quiet)
    out = cfg.out_dir
    for name in ("checkpoint.pt", "metrics.jsonl", "metrics.csv", "metrics.png", "summary.json"):
        assert os.path.exists(os.path.join(out, name)), name
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert rows[-1]["eps"] == pytest.approx(cfg.eps_train)
    assert all(r["val_verified_acc"] is not None and r["val_pgd_acc"] is not None for r in rows)
    assert summary["test_clean_acc"] > 0.5  # the synthetic classes are easy
    from mixtrain_cuda.cli import git_commit
    assert summary["code_commit"] == git_commit()  # the code that trained (None outside a git checkout)
    # The numbers it reports are the ones a fresh certification gives.
    ckpt = load_checkpoint(os.path.join(out, "checkpoint.pt"))
    model = get_model("mnist_small")
    model.load_state_dict(ckpt["model"])
    from mixtrain_cuda.train import verify
    ok, _ = verify(model.eval(), tiny_mnist[4], tiny_mnist[5], cfg.eps, cfg.certify_method)
    assert summary["test_verified_acc"] == pytest.approx(float(ok.float().mean()))
    assert summary["test_pgd_acc"] >= summary["test_verified_acc"] - 1e-9 or summary["test_pgd_n"] < summary["test_n"]


def test_resume_continues_exactly(tmp_path, tiny_mnist):
    full = tiny_config(tmp_path / "a", epochs=3, mixing="hydra")
    train(full, data=tiny_mnist, log=_quiet)
    part = tiny_config(tmp_path / "b", epochs=3, mixing="hydra")
    Trainer(TrainConfig.from_dict(dict(part.to_dict(), epochs=2)), tiny_mnist, _quiet).run()
    # "killed" after epoch 2: continue with the full config
    train(part, data=tiny_mnist, resume=True, log=_quiet)
    a = load_checkpoint(os.path.join(full.out_dir, "checkpoint.pt"))
    b = load_checkpoint(os.path.join(part.out_dir, "checkpoint.pt"))
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    rows = [json.loads(line) for line in open(os.path.join(part.out_dir, "metrics.jsonl"))]
    assert [r["epoch"] for r in rows] == [0, 1, 2]


@pytest.mark.parametrize("kw", [dict(trainer="verified", bound_method="ibp"), dict(trainer="pgd", pgd_steps=2),
                                dict(trainer="clean"), dict(mixing="fixed", alpha=0.2, sample_replacement=True, k=40),
                                dict(bound_method="symbolic", k=2, epochs=1, certify_method="symbolic"),
                                dict(norm=2.0, eps=0.3, eps_schedule="linear")])
def test_every_trainer_and_option_runs(tmp_path, tiny_mnist, kw):
    cfg = tiny_config(tmp_path, **dict(dict(epochs=1, pgd_eval_size=0, test_size=16), **kw))
    s = train(cfg, data=tiny_mnist, log=_quiet)
    assert s["test_n"] == 16 and 0.0 <= s["test_verified_acc"] <= s["test_clean_acc"] + 1e-9


def test_objective_robust_term_is_the_robust_loss_of_the_sampled_points(tiny_mnist):
    torch.manual_seed(0)
    model = get_model("mnist_small")
    x, y = tiny_mnist[0][:16], tiny_mnist[1][:16]
    obj = Objective(model, "crown-ibp", math.inf, 10)
    idx = sample_points(16, 5, False, torch.Generator().manual_seed(1))
    loss, logits, clean, robust = obj(x, y, idx, 0.05, 0.3, 0.7)
    expect = robust_loss(model, x[idx], y[idx], 0.05, "crown-ibp")
    assert robust.item() == pytest.approx(expect.item(), rel=1e-5)
    assert loss.item() == pytest.approx(0.3 * clean.item() + 0.7 * robust.item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    _, _, _, none = obj(x, y, idx, 0.0, 1.0, 0.0)  # warmup: no bound pass
    assert none is None


def test_sample_points():
    g = torch.Generator().manual_seed(0)
    idx = sample_points(10, 10, False, g)
    assert sorted(idx.tolist()) == list(range(10))
    idx = sample_points(10, 50, True, g)
    assert len(idx) == 50 and idx.max() < 10


def test_config_errors(tmp_path, tiny_mnist):
    with pytest.raises(ValueError, match="trainer"):
        TrainConfig(trainer="fast")
    with pytest.raises(ValueError, match="needs sample_replacement"):
        TrainConfig(k=200, batch_size=100)
    with pytest.raises(ValueError, match="bound_method"):
        TrainConfig(bound_method="crown")
    with pytest.raises(ValueError, match="takes inputs of shape"):
        Trainer(tiny_config(tmp_path, model="cifar_small"), tiny_mnist, _quiet)
    assert TrainConfig(eps=0.1).eps_train == pytest.approx(0.15)
    assert TrainConfig.from_dict(TrainConfig(norm=math.inf).to_dict()).norm == math.inf


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_trainer_steps_with_the_fused_optimizer_and_it_matches_the_plain_one(tmp_path, tiny_mnist, optimizer):
    from mixtrain_cuda.train.loop import fused_optimizer_kwargs
    t = Trainer(tiny_config(tmp_path, optimizer=optimizer, weight_decay=1e-3), tiny_mnist, _quiet)
    assert t.opt.defaults["fused"] is True
    assert fused_optimizer_kwargs([torch.zeros(2, dtype=torch.int64)]) == {}  # no fused step for integer tensors
    # Three steps of the fused optimizer against torch's default one, from the same start and gradients.
    plain = get_model("mnist_small")
    plain.load_state_dict(t.model.state_dict())
    cls = type(t.opt)
    kw = {k: t.opt.defaults[k] for k in ("lr", "weight_decay")}
    if optimizer == "sgd":
        kw["momentum"] = t.opt.defaults["momentum"]
    ref_opt = cls(plain.parameters(), **kw)
    assert ref_opt.defaults["fused"] in (None, False)
    start = [p.detach().clone() for p in plain.parameters()]
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        for p, q in zip(t.model.parameters(), plain.parameters()):
            g = torch.randn(p.shape, generator=gen)
            p.grad, q.grad = g.clone(), g.clone()
        t.opt.step()
        ref_opt.step()
    for p, q, p0 in zip(t.model.parameters(), plain.parameters(), start):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        assert (p - p0).abs().max() > 1e-4  # the steps moved every parameter


def test_nan_in_the_data_is_caught_when_the_trainer_loads_it(tmp_path, tiny_mnist):
    """The trainer checks its datasets once, so the bound pass need not check
    every batch (check_values=False: on a GPU each check waits for the device)."""
    data = list(tiny_mnist)
    data[2] = data[2].clone()
    data[2][3, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="validation data .* NaN"):
        Trainer(tiny_config(tmp_path), tuple(data), _quiet)
    assert Trainer(tiny_config(tmp_path), tiny_mnist, _quiet).objective.data_checked


@pytest.mark.parametrize("bound", ["ibp", "crown-ibp"])
def test_a_training_epoch_reads_no_tensor_value_per_step(tmp_path, tiny_mnist, bound, monkeypatch):
    """Reading a tensor's value on the host (item, bool, int, float) waits for
    a GPU to finish the queued work, so the host cannot queue the next step
    meanwhile. An epoch reads its running sums once, at its end, whatever its
    number of steps (with the progress bar off; it reads them every
    POSTFIX_EVERY steps). Counted on the CPU, where the same calls are made."""
    reads = []
    for name in ("item", "__bool__", "__int__", "__float__", "tolist"):
        original = getattr(torch.Tensor, name)

        def counting(self, *a, _original=original, _name=name, **kw):
            reads.append(_name)
            return _original(self, *a, **kw)
        monkeypatch.setattr(torch.Tensor, name, counting)
    counts = []
    for n in (96, 320):  # 3 and 10 steps
        data = (tiny_mnist[0][:n], tiny_mnist[1][:n]) + tuple(tiny_mnist[2:])
        trainer = Trainer(tiny_config(tmp_path, bound_method=bound, warmup_epochs=0, ramp_epochs=1.0), data, _quiet)
        reads.clear()
        row = trainer.train_epoch(1)  # past the ramp: every step runs the bound pass
        counts.append(len(reads))
        assert row["train_robust_loss"] is not None and math.isfinite(row["train_loss"])
    assert counts[0] == counts[1] <= 4, counts
