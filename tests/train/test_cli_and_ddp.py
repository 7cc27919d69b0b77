"""The command line end to end (train, certify, attack) and torchrun with 2 CPU
processes (gloo), on small synthetic MNIST-shaped data."""
import csv
import json
import os
import subprocess
import sys

import pytest

QUICK = ["--dataset", "synthetic_mnist", "--train-size", "256", "--val-eval-size", "64", "--pgd-eval-size", "16",
         "--test-size", "64", "--epochs", "2", "--batch-size", "32", "--k", "8", "--eps", "0.05", "--warmup-epochs",
         "0", "--ramp-epochs", "1", "--no-progress", "--lr", "0.003"]


def _run(args, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, **kw)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_cli_train_certify_attack(tmp_path):
    out = str(tmp_path / "run")
    log = _run([sys.executable, "-m", "mixtrain_cuda", "train", "--out", out] + QUICK)
    assert "verified robust accuracy" in log and "certified by ibp,crown-ibp" in log
    summary = json.load(open(os.path.join(out, "summary.json")))
    ckpt = os.path.join(out, "checkpoint.pt")
    log = _run([sys.executable, "-m", "mixtrain_cuda", "certify", ckpt, "-n", "64", "--out", str(tmp_path / "c.csv")])
    rows = list(csv.DictReader(open(tmp_path / "c.csv")))
    assert len(rows) == 64
    verified = sum(int(r["verified"]) for r in rows) / 64
    assert verified == pytest.approx(summary["test_verified_acc"])  # same checkpoint, same points, same answer
    log = _run([sys.executable, "-m", "mixtrain_cuda", "attack", ckpt, "-n", "64", "--steps", "10",
                "--out", str(tmp_path / "a.csv")])
    arows = list(csv.DictReader(open(tmp_path / "a.csv")))
    for c, a in zip(rows, arows):  # a certified point is never broken
        assert not (int(c["verified"]) and not int(a["robust"]))
        assert float(a["distance"]) <= 0.05 + 1e-6
    # A second run into the same folder refuses instead of overwriting; --resume of a finished run is a no-op.
    r = subprocess.run([sys.executable, "-m", "mixtrain_cuda", "train", "--out", out] + QUICK, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "--resume" in r.stderr
    _run([sys.executable, "-m", "mixtrain_cuda", "train", "--out", out, "--resume", "--no-progress"])


def test_cli_bad_input():
    r = subprocess.run([sys.executable, "-m", "mixtrain_cuda", "train", "--k", "0", "--out", "/tmp/never"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "k must be >= 1" in r.stderr
    r = subprocess.run([sys.executable, "-m", "mixtrain_cuda", "certify", "/nonexistent/checkpoint.pt"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no checkpoint at /nonexistent/checkpoint.pt" in r.stderr


def test_torchrun_two_cpu_processes(tmp_path):
    out = str(tmp_path / "ddp")
    log = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                "mixtrain_cuda", "train", "--out", out] + QUICK)
    assert "2 ranks" in log
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["test_n"] == 64
    import torch
    ckpt = torch.load(os.path.join(out, "checkpoint.pt"), weights_only=False)
    assert ckpt["world_size"] == 2


def test_torchrun_dual_bn_with_warmup(tmp_path):
    """Warmup batches leave the robust branch's weights unused: DDP must cope."""
    out = str(tmp_path / "ddp-bn")
    args = [a for a in QUICK]
    args[args.index("synthetic_mnist")] = "synthetic_cifar10"
    args[args.index("--warmup-epochs") + 1] = "0.5"
    args[args.index("--epochs") + 1] = "1"
    args[args.index("--train-size") + 1] = "128"
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
          "mixtrain_cuda", "train", "--out", out, "--model", "basicblock_net", "--dual-bn", "affine", "--bound", "ibp"]
         + args)
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["branch"] == "robust"
