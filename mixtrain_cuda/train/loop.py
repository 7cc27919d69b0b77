"""The MixTrain training loop (and its baselines): `train(config)`.

One epoch: for every batch, clean cross-entropy on the whole batch plus the
robust loss of k randomly sampled points (MixTrain's stochastic robust
approximation), weighted by the mixing rule; then validation (clean, verified,
PGD accuracy), the mixing rule's update (dynamic mixed training), metrics and
an atomic checkpoint. Every random choice of epoch e comes from generators
seeded by (seed, e), so --resume reproduces an uninterrupted run exactly.
"""
import math
import os
import time

import torch

from . import distributed as dist_utils
from .checkpoint import load_checkpoint, save_atomic
from .config import TrainConfig
from .dual_bn import convert_dual_bn, use_branch
from .evaluate import predict, pgd_robust, verify
from .metrics import MetricsLog, format_table, plot_metrics
from .mixing import make_mixing
from .objective import Objective, sample_points
from .progress import MethodBars, progress_bar
from .schedules import eps_at, lr_at

CHECKPOINT = "checkpoint.pt"
POSTFIX_EVERY = 25  # batches between the progress bar's loss/accuracy readings (each waits for the GPU)


def load_data(config):
    """(train X, Y, val X, Y, test X, Y) as CPU tensors; val is held out of train."""
    from ..data import get_dataset, train_val_split
    train = get_dataset(config.dataset, "train", root=config.data_root)
    test = get_dataset(config.dataset, eval_split(config.dataset), root=config.data_root)
    tr, va = train_val_split(train, config.val_size, seed=0)  # the same split for every seed
    Xtr, Ytr = _tensors(tr)
    if config.train_size is not None:
        Xtr, Ytr = Xtr[:config.train_size], Ytr[:config.train_size]
    return (Xtr, Ytr) + _tensors(va) + _tensors(test)


def eval_split(dataset):
    """The labelled held-out split: "test", or "val" for Tiny-ImageNet."""
    from ..data import EVAL_SPLIT, canonical_name
    return EVAL_SPLIT.get(canonical_name(dataset).replace("synthetic_", ""), "test")


def _tensors(ds):
    if hasattr(ds, "tensors"):
        return ds.tensors[0], ds.tensors[1]
    if hasattr(ds, "dataset") and hasattr(ds, "indices"):  # a Subset of a TensorDataset
        X, Y = _tensors(ds.dataset)
        idx = torch.as_tensor(ds.indices, dtype=torch.long)
        return X[idx], Y[idx]
    xs, ys = zip(*[ds[i] for i in range(len(ds))])
    return torch.stack(xs), torch.as_tensor(ys)


def build_model(config):
    from ..models import get_model
    torch.manual_seed(config.seed)
    model = get_model(config.model)
    if config.dual_bn != "none":
        model = convert_dual_bn(model, affine=config.dual_bn == "affine")
    return model


def fused_optimizer_kwargs(params):
    """``fused=True`` where torch has a fused step (one kernel over all the
    parameters) for them: float parameters on the CPU or CUDA. torch's default
    steps parameter by parameter (CPU) or with foreach ops. Adam's step on the
    2-core AMD EPYC (benchmarks/README, session 13), default -> fused: mnist_small
    0.74 -> 0.29 ms, mnist_large 5.6 -> 1.1 ms, cifar_large 5.5 -> 1.2 ms.
    The update is the same; only rounding may differ."""
    ok = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return {"fused": True} if ok else {}


class Trainer:
    def __init__(self, config, data=None, log=print):
        self.cfg = config
        self.log = log
        self.rank, self.world = dist_utils.init_from_env(config.device)
        self.is_main = self.rank == 0
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = torch.device(config.device if config.device != "cuda" else "cuda:%d" % dist_utils.local_rank())
        (self.Xtr, self.Ytr, self.Xva, self.Yva, self.Xte, self.Yte) = data if data is not None else load_data(config)
        from ..models import INPUT_SHAPES, NUM_CLASSES
        want = INPUT_SHAPES.get(config.model)
        if want is not None and tuple(self.Xtr.shape[1:]) != tuple(want):
            raise ValueError("model %s takes inputs of shape %s, but %s has %s" % (
                config.model, tuple(want), config.dataset, tuple(self.Xtr.shape[1:])))
        self.num_classes = NUM_CLASSES.get(config.model) or int(self.Ytr.max()) + 1
        for name, X in (("training", self.Xtr), ("validation", self.Xva), ("test", self.Xte)):
            if X.is_floating_point() and torch.isnan(X).any():
                raise ValueError("the %s data of %s contains NaN" % (name, config.dataset))
        self.model = build_model(config).to(self.device)
        self.objective = Objective(self.model, config.bound_method, config.norm, self.num_classes)
        self.objective.data_checked = True  # checked above: the bound pass need not wait for the GPU to check
        self.step_fn = dist_utils.wrap(self.objective, self.world, self.device)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if config.optimizer == "adam":
            self.opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay,
                                        **fused_optimizer_kwargs(params))
        else:
            self.opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                       weight_decay=config.weight_decay, **fused_optimizer_kwargs(params))
        frozen = int(math.ceil(config.warmup_epochs + config.ramp_epochs))
        self.mixing = make_mixing(config.mixing, config.alpha, ramp_epochs=frozen, frozen_until=frozen)
        self.start_epoch = 0
        self.elapsed = 0.0
        from ..cli import git_commit
        self.code_commit = git_commit()  # at the start: the tree may change while a long run trains
        os.makedirs(config.out_dir, exist_ok=True)
        self.ckpt_path = os.path.join(config.out_dir, CHECKPOINT)

    # ---- state

    def state(self, epoch):
        return {"config": self.cfg.to_dict(), "epoch": epoch, "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(), "mixing": self.mixing.state_dict(), "elapsed": self.elapsed,
                "world_size": self.world}

    def resume(self):
        if not os.path.exists(self.ckpt_path):
            self.log("no checkpoint in %s: starting from scratch" % self.cfg.out_dir)
            return None
        ckpt = load_checkpoint(self.ckpt_path, map_location=self.device)
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.mixing.load_state_dict(ckpt["mixing"])
        self.start_epoch = ckpt["epoch"] + 1
        self.elapsed = ckpt["elapsed"]
        self.log("resumed from %s after epoch %d" % (self.ckpt_path, ckpt["epoch"] + 1))
        return ckpt["epoch"]

    # ---- one epoch

    def _eps(self, progress):
        c = self.cfg
        return eps_at(progress, c.eps_train, c.eps_schedule, c.warmup_epochs, c.ramp_epochs)

    def train_epoch(self, epoch):
        c = self.cfg
        self.model.train()
        gen = torch.Generator().manual_seed(c.seed * 1_000_003 + epoch)
        torch.manual_seed(c.seed * 1_000_003 + epoch)  # PGD starts and anything else drawing from the global RNG
        n = len(self.Xtr)
        perm = torch.randperm(n, generator=gen)
        per_rank = n // self.world
        perm = perm[self.rank * per_rank:(self.rank + 1) * per_rank]  # each rank its shard
        n_batches = max(1, per_rank // c.batch_size)  # drop the last partial batch: equal steps on every rank
        bar = progress_bar(n_batches, "epoch %d/%d" % (epoch + 1, c.epochs), c.progress and self.is_main)
        # Running sums stay on the device and are read (a wait for the GPU) only when
        # the progress bar shows them and at the end: a read per step would keep
        # the host from queueing the next step while the GPU runs this one.
        zero = torch.zeros((), dtype=torch.float64, device=self.device)  # float64: as the Python floats were
        sums = dict(loss=zero.clone(), clean=zero.clone(), robust=zero.clone(), robust_n=0,
                    correct=torch.zeros((), dtype=torch.long, device=self.device), seen=0)
        for b in range(n_batches):
            progress = epoch + b / n_batches
            for g in self.opt.param_groups:
                g["lr"] = lr_at(progress, c.lr, c.lr_schedule, c.epochs, c.lr_milestones, c.lr_gamma)
            eps = self._eps(progress)
            idx = perm[b * c.batch_size:(b + 1) * c.batch_size]
            x, y = self.Xtr[idx].to(self.device, non_blocking=True), self.Ytr[idx].to(self.device)
            w_clean, w_robust, ridx, x_adv = 1.0, 0.0, None, None
            if c.trainer in ("mixtrain", "verified"):
                w_clean, w_robust = self.mixing.weights(epoch, gen)
                k = len(x) if c.trainer == "verified" else c.k
                ridx = sample_points(len(x), k, c.sample_replacement, gen).to(self.device)
                if eps <= 0:  # warmup: clean only
                    w_clean, w_robust = 1.0, 0.0
            elif c.trainer == "pgd" and eps > 0:
                from ..attacks import pgd
                x_adv = pgd(self.model, x, y, eps, norm=c.norm, steps=c.pgd_steps).detach()
                self.model.train()
            loss, logits, clean, robust = self.step_fn(x, y, ridx, eps, w_clean, w_robust, x_adv)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            self.opt.step()
            sums["loss"] += loss.detach()
            sums["clean"] += clean.detach()
            if robust is not None:
                sums["robust"] += robust.detach()
                sums["robust_n"] += 1
            sums["correct"] += (logits.argmax(1) == y).sum()
            sums["seen"] += len(y)
            if bar is not None:
                bar.update(1)
                if b % POSTFIX_EVERY == 0 or b == n_batches - 1:
                    bar.set_postfix(loss="%.3f" % (float(sums["loss"]) / (b + 1)),
                                    acc="%.3f" % (int(sums["correct"]) / sums["seen"]), eps="%.3f" % eps, refresh=False)
        if bar is not None:
            bar.close()
        loss_sum, clean_sum, robust_sum, correct = (float(sums["loss"]), float(sums["clean"]), float(sums["robust"]),
                                                    int(sums["correct"]))
        return {"train_loss": loss_sum / n_batches, "train_clean_loss": clean_sum / n_batches,
                "train_robust_loss": robust_sum / sums["robust_n"] if sums["robust_n"] else None,
                "train_acc": correct / max(sums["seen"], 1), "eps": self._eps(epoch + 1 - 1e-9),
                "lr": self.opt.param_groups[0]["lr"]}

    def evaluate(self, X, Y, n_verify, n_pgd, desc="val", methods=None):
        """clean, verified (at the target eps, with `methods`) and PGD accuracy."""
        c = self.cfg
        methods = methods or c.val_certify_method
        self.model.eval()
        with use_branch(self.model, c.eval_branch):
            return self._evaluate(X, Y, n_verify, n_pgd, desc, methods)

    def _evaluate(self, X, Y, n_verify, n_pgd, desc, methods):
        c = self.cfg
        out = {}
        pred = predict(self.model, X, device=self.device)
        out["clean_acc"] = float((pred == Y).float().mean()) if len(Y) else None
        n_verify = len(X) if n_verify is None else min(n_verify, len(X))
        if n_verify:
            bars = MethodBars("certify %s" % desc, c.progress and self.is_main)
            ok, first = verify(self.model, X[:n_verify], Y[:n_verify], c.eps, methods, c.norm, device=self.device,
                               progress=bars, pred=pred[:n_verify])
            bars.close()
            out["verified_acc"] = float(ok.float().mean())
            out["verified_by"] = first
            out["verified_n"] = n_verify
        n_pgd = min(n_pgd or 0, len(X))
        if n_pgd:
            out["pgd_acc"] = float(pgd_robust(self.model, X[:n_pgd], Y[:n_pgd], c.eps, c.norm, c.pgd_eval_steps,
                                              device=self.device, seed=c.seed).float().mean())
            out["pgd_n"] = n_pgd
        return out

    # ---- the run

    def run(self, resume=False):
        c = self.cfg
        resumed = self.resume() if resume else None
        metrics = MetricsLog(c.out_dir, resume_epoch=resumed if resumed is not None else -1) if self.is_main else None
        if self.is_main:
            self.log("training %s on %s: trainer=%s, bound=%s, k=%d, mixing=%s, eps=%g (train %g), %d epochs, "
                     "%d ranks, device %s" % (c.model, c.dataset, c.trainer, c.bound_method, c.k, c.mixing, c.eps,
                                              c.eps_train, c.epochs, self.world, self.device))
        for epoch in range(self.start_epoch, c.epochs):
            t0 = time.time()
            row = {"epoch": epoch, "alpha": self.mixing.alpha}
            row.update(self.train_epoch(epoch))
            train_time = time.time() - t0
            if self.is_main:
                v = self.evaluate(self.Xva, self.Yva, c.val_eval_size, c.pgd_eval_size)
                val = {"val_clean_acc": v["clean_acc"], "val_verified_acc": v.get("verified_acc"),
                       "val_pgd_acc": v.get("pgd_acc")}
            else:
                val = None
            val = dist_utils.broadcast_object(val, self.world)
            row.update(val)
            self.mixing.update(epoch, row)
            self.elapsed += time.time() - t0
            row.update(epoch_time_s=round(time.time() - t0, 2), train_time_s=round(train_time, 2),
                       total_time_s=round(self.elapsed, 2), next_alpha=self.mixing.alpha)
            if self.is_main:
                metrics.append(row)
                save_atomic(self.state(epoch), self.ckpt_path)
                self.log("epoch %d/%d  eps %.4f  alpha %.2f  loss %.4f  train acc %.4f | val clean %.4f  verified %s"
                         "  PGD %s  (%.0f s)" % (epoch + 1, c.epochs, row["eps"], row["alpha"], row["train_loss"],
                                                 row["train_acc"], row["val_clean_acc"],
                                                 _pct(row["val_verified_acc"]), _pct(row["val_pgd_acc"]),
                                                 row["epoch_time_s"]))
            dist_utils.barrier(self.world)
        dist_utils.check_in_sync(self.model, self.world)
        summary = self.finish(metrics) if self.is_main else None
        dist_utils.barrier(self.world)
        return summary

    def finish(self, metrics):
        c = self.cfg
        t0 = time.time()
        n_test = len(self.Xte) if c.test_size is None else min(c.test_size, len(self.Xte))
        test = (self.evaluate(self.Xte[:n_test], self.Yte[:n_test], n_test, c.pgd_eval_size, "test", c.certify_method)
                if n_test else {})
        cert_time = time.time() - t0
        summary = {"config": c.to_dict(), "epochs": c.epochs, "train_time_s": round(self.elapsed, 1),
                   "certify_time_s": round(cert_time, 1), "test_n": n_test,
                   "test_clean_acc": test.get("clean_acc"), "test_verified_acc": test.get("verified_acc"),
                   "test_verified_by": test.get("verified_by"), "test_pgd_acc": test.get("pgd_acc"),
                   "test_pgd_n": test.get("pgd_n"), "certifier": c.certify_method, "eps": c.eps,
                   "final_alpha": self.mixing.alpha,
                   "branch": c.eval_branch if c.dual_bn != "none" else None, "code_commit": self.code_commit}
        import json
        with open(os.path.join(c.out_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        plot = plot_metrics(metrics.rows, os.path.join(c.out_dir, "metrics.png"),
                            "%s %s %s eps=%g" % (c.trainer, c.model, c.dataset, c.eps)) if metrics.rows else None
        rows = [(r["epoch"] + 1, r["eps"], r["alpha"], r["train_acc"], r["val_clean_acc"],
                 r["val_verified_acc"] if r["val_verified_acc"] is not None else "-",
                 r["val_pgd_acc"] if r["val_pgd_acc"] is not None else "-", r["epoch_time_s"]) for r in metrics.rows]
        self.log(format_table(rows, ["epoch", "eps", "alpha", "train acc", "val clean", "val verified", "val PGD",
                                     "time s"]))
        self.log("")
        self.log("test (%d points, eps %g, %s norm): clean accuracy %s, verified robust accuracy %s (certified by %s, "
                 "sound), PGD accuracy %s on %s points" % (
                     n_test, c.eps, "L-inf" if c.norm == math.inf else "L2", _pct(summary["test_clean_acc"]),
                     _pct(summary["test_verified_acc"]), c.certify_method, _pct(summary["test_pgd_acc"]),
                     summary["test_pgd_n"]))
        if c.dual_bn != "none":
            self.log("dual BatchNorm (%s): the %s branch predicted and was certified" % (c.dual_bn, c.eval_branch))
        self.log("time: training %.0f s, final certification %.0f s; outputs in %s%s" % (
            self.elapsed, cert_time, c.out_dir, " (metrics.png)" if plot else ""))
        return summary


def _pct(v):
    return "-" if v is None else "%.2f%%" % (100 * v)


def train(config=None, data=None, resume=False, log=print, **overrides):
    """Runs a training job; returns the summary dict (None on ranks > 0)."""
    if config is None:
        config = TrainConfig(**overrides)
    elif overrides:
        d = config.to_dict()
        d.update(overrides)
        config = TrainConfig.from_dict(d)
    return Trainer(config, data, log).run(resume=resume)
