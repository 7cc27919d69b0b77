"""`mixtrain train`, `mixtrain certify CHECKPOINT`, `mixtrain attack CHECKPOINT`."""
import csv
import dataclasses
import math
import os
import sys
import time

import torch

from .train.config import BOUND_METHODS, TRAINERS, TrainConfig
from .train.mixing import MIXING_RULES
from .train.schedules import EPS_SCHEDULES, LR_SCHEDULES

_DEFAULTS = TrainConfig()


def _norm(v):
    if str(v).lower() in ("inf", "linf", "l-inf"):
        return math.inf
    if str(v) in ("2", "2.0", "l2", "L2"):
        return 2.0
    raise ValueError("norm must be inf or 2, got %r" % v)


def add_train_parser(sub):
    p = sub.add_parser("train", help="train a verifiably robust model (MixTrain; full-batch IBP/CROWN-IBP and PGD "
                                     "baselines)",
                       description="With no arguments: MixTrain on MNIST small at eps 0.1 on the CPU (a few minutes "
                                   "on 2 cores), then clean and verified robust accuracy on the full test set.")
    d = _DEFAULTS
    g = p.add_argument_group("what")
    g.add_argument("--dataset", default=d.dataset, help="mnist, fashion_mnist, cifar10, tiny_imagenet, or "
                                                        "synthetic_<one of them> (default: %(default)s)")
    g.add_argument("--data-root", default=None, help="folder with the dataset files (see mixtrain_cuda.data)")
    g.add_argument("--model", default=d.model, help="a name in mixtrain_cuda.models.MODELS (default: %(default)s)")
    g.add_argument("--trainer", default=d.trainer, choices=TRAINERS,
                   help="mixtrain (k points per batch in the bound pass), verified (every point: full-batch IBP / "
                        "CROWN-IBP training), pgd (Madry), clean (default: %(default)s)")
    g = p.add_argument_group("threat model and bound pass")
    g.add_argument("--eps", type=float, default=d.eps, help="target eps in [0,1] pixel space (default: %(default)s)")
    g.add_argument("--eps-train", type=float, default=None, help="eps the training ramps up to (default: 1.5 x eps)")
    g.add_argument("--norm", type=_norm, default=d.norm, help="inf or 2 (default: inf)")
    g.add_argument("--k", type=int, default=d.k, help="points per batch in the bound pass (default: %(default)s)")
    g.add_argument("--replacement", action="store_true", help="sample the k points with replacement")
    g.add_argument("--bound", default=d.bound_method, choices=BOUND_METHODS,
                   help="bound method of the robust loss (default: %(default)s; the paper: symbolic)")
    g.add_argument("--mixing", default=d.mixing, choices=MIXING_RULES,
                   help="dynamic (ours, re-set each epoch), fixed alpha, or hydra (HYDRA's MixTrain trainer) "
                        "(default: %(default)s)")
    g.add_argument("--alpha", type=float, default=d.alpha, help="initial / fixed clean share (default: %(default)s)")
    g = p.add_argument_group("schedule and optimizer")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help="clean epochs before the eps ramp")
    g.add_argument("--ramp-epochs", type=float, default=d.ramp_epochs, help="epochs of the eps ramp")
    g.add_argument("--eps-schedule", default=d.eps_schedule, choices=EPS_SCHEDULES)
    g.add_argument("--optimizer", default=d.optimizer, choices=("adam", "sgd"))
    g.add_argument("--lr", type=float, default=d.lr)
    g.add_argument("--lr-schedule", default=d.lr_schedule, choices=LR_SCHEDULES)
    g.add_argument("--lr-milestones", type=lambda s: tuple(float(v) for v in s.split(",") if v), default=(),
                   help="epochs where a step schedule multiplies the lr by --lr-gamma, e.g. 10,15")
    g.add_argument("--lr-gamma", type=float, default=d.lr_gamma)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--grad-clip", type=float, default=d.grad_clip, help="max gradient norm (0: off)")
    g.add_argument("--dual-bn", default=d.dual_bn, choices=("none", "stats", "affine"),
                   help="dual BatchNorm (Xie & Yuille): separate running statistics (stats), and weights too "
                        "(affine), for the bound pass (default: %(default)s)")
    g.add_argument("--eval-branch", default=d.eval_branch, choices=("clean", "robust"),
                   help="with dual BN: the branch that predicts and is certified (default: %(default)s)")
    g.add_argument("--pgd-steps", type=int, default=d.pgd_steps, help="PGD steps per batch for --trainer pgd")
    g = p.add_argument_group("evaluation")
    g.add_argument("--certify-method", default=d.certify_method,
                   help="certifier(s), comma-separated, cheapest first; a point counts when any verifies it: "
                        "ibp, symbolic, crown-ibp, crown, bab (branch and bound on the points left open; bab:N "
                        "for N domains per point) (default: %(default)s)")
    g.add_argument("--val-certify-method", default=d.val_certify_method,
                   help="certifier(s) of the per-epoch validation (default: %(default)s)")
    g.add_argument("--val-size", type=int, default=d.val_size, help="training points held out for validation")
    g.add_argument("--val-eval-size", type=int, default=d.val_eval_size, help="validation points certified per epoch")
    g.add_argument("--pgd-eval-size", type=int, default=d.pgd_eval_size, help="points attacked with PGD per eval")
    g.add_argument("--test-size", type=int, default=None, help="test points certified at the end (default: all)")
    g.add_argument("--train-size", type=int, default=None, help="first N training points only (quick runs)")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", default=d.device, help="cpu or cuda")
    g.add_argument("--out", default=None, help="output folder: checkpoint, metrics, plot (default: "
                                               "runs/DATASET-MODEL-TRAINER-epsEPS-TIMESTAMP)")
    g.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (exactly)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    g.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)


def cmd_train(args):
    from .train import train
    from .train.checkpoint import load_checkpoint
    from .train.loop import CHECKPOINT
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("mixtrain train: --device %s asked for, but no CUDA GPU is visible" % args.device, file=sys.stderr)
        return 2
    if args.out is None:
        if args.resume:
            print("mixtrain train: --resume needs --out (the folder of the run to continue)", file=sys.stderr)
            return 2
        args.out = os.path.join("runs", "%s-%s-%s-eps%g-%s" % (args.dataset, args.model, args.trainer, args.eps,
                                                               time.strftime("%Y%m%d-%H%M%S")))
    ckpt_path = os.path.join(args.out, CHECKPOINT)
    if args.resume and os.path.exists(ckpt_path):
        config = TrainConfig.from_dict(load_checkpoint(ckpt_path)["config"])
        config.progress = not args.no_progress
    else:
        if not args.resume and os.path.exists(ckpt_path):
            print("mixtrain train: %s already holds a checkpoint; pass --resume to continue it or choose another "
                  "--out" % args.out, file=sys.stderr)
            return 2
        try:
            config = TrainConfig(
                dataset=args.dataset, model=args.model, data_root=args.data_root, trainer=args.trainer, eps=args.eps,
                eps_train=args.eps_train, norm=args.norm, k=args.k, sample_replacement=args.replacement,
                bound_method=args.bound, mixing=args.mixing, alpha=args.alpha, epochs=args.epochs,
                warmup_epochs=args.warmup_epochs, ramp_epochs=args.ramp_epochs, eps_schedule=args.eps_schedule,
                batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr, weight_decay=args.weight_decay,
                lr_schedule=args.lr_schedule, lr_milestones=args.lr_milestones, lr_gamma=args.lr_gamma,
                grad_clip=args.grad_clip, pgd_steps=args.pgd_steps, dual_bn=args.dual_bn,
                eval_branch=args.eval_branch, val_size=args.val_size,
                val_eval_size=args.val_eval_size, certify_method=args.certify_method,
                val_certify_method=args.val_certify_method, pgd_eval_size=args.pgd_eval_size,
                test_size=args.test_size, train_size=args.train_size, seed=args.seed, device=args.device,
                out_dir=args.out, threads=args.threads, progress=not args.no_progress)
        except ValueError as e:
            print("mixtrain train: %s" % e, file=sys.stderr)
            return 2
    train(config, resume=args.resume)
    return 0


def _load_model(path, device):
    from .train.checkpoint import load_checkpoint
    from .train.loop import build_model
    ckpt = load_checkpoint(path, map_location=device)
    config = TrainConfig.from_dict(ckpt["config"])
    model = build_model(config).to(device)
    model.load_state_dict(ckpt["model"])
    if config.dual_bn != "none":  # the deployed model is the branch that was evaluated
        from .train.dual_bn import select_branch
        select_branch(model, config.eval_branch)
        print("dual BatchNorm: using the %s branch" % config.eval_branch, file=sys.stderr)
    return model.eval(), config


def _eval_data(config, split, n, root):
    from .data import get_dataset
    from .train.loop import eval_split
    split = split or eval_split(config.dataset)
    X, Y = get_dataset(config.dataset, split, root=root or config.data_root).tensors
    if n is not None:
        X, Y = X[:n], Y[:n]
    return X, Y, split


def add_eval_parsers(sub):
    for name, helptext in (("certify", "certify a trained checkpoint on a dataset split"),
                           ("attack", "attack a trained checkpoint (PGD or the interval-gradient attack)")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("checkpoint", help="a checkpoint.pt written by mixtrain train")
        p.add_argument("--eps", type=float, default=None, help="default: the eps the model was trained for")
        p.add_argument("--norm", type=_norm, default=None, help="inf or 2 (default: the training norm)")
        p.add_argument("--split", default=None, help="dataset split (default: test, or val for Tiny-ImageNet)")
        p.add_argument("--data-root", default=None)
        p.add_argument("-n", type=int, default=None, help="first N points only (default: all)")
        p.add_argument("--batch-size", type=int, default=256)
        p.add_argument("--device", default="cpu")
        p.add_argument("--out", default=None, help="per-sample results as CSV (default: next to the checkpoint)")
        if name == "certify":
            p.add_argument("--method", default="ibp,crown-ibp",
                           help="ibp, symbolic, crown-ibp, crown, bab (branch and bound; bab:N for N domains "
                                "per point), or a comma-separated list tried cheapest first (default: %(default)s)")
            p.set_defaults(func=cmd_certify)
        else:
            p.add_argument("--method", default="pgd", choices=("pgd", "interval"))
            p.add_argument("--steps", type=int, default=50)
            p.add_argument("--restarts", type=int, default=1)
            p.add_argument("--seed", type=int, default=0)
            p.set_defaults(func=cmd_attack)


def _write_rows(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def cmd_certify(args):
    from .train.evaluate import parse_methods, predict, verify
    from .train.progress import MethodBars
    model, config = _load_model(args.checkpoint, args.device)
    eps = config.eps if args.eps is None else args.eps
    norm = config.norm if args.norm is None else args.norm
    X, Y, split = _eval_data(config, args.split, args.n, args.data_root)
    methods = parse_methods(args.method)
    t0 = time.time()
    pred = predict(model, X, device=args.device)
    bars = MethodBars("certify")
    ok, first = verify(model, X, Y, eps, methods, norm, batch_size=args.batch_size, device=args.device,
                       progress=bars, pred=pred)
    bars.close()
    dt = time.time() - t0
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "certify-%s.csv" % split)
    _write_rows(out, ["index", "label", "prediction", "verified"],
                [(i, int(Y[i]), int(pred[i]), int(ok[i])) for i in range(len(X))])
    print("%s on %s/%s (%d points), eps %g, %s: clean accuracy %.2f%%, verified robust accuracy %.2f%% "
          "(certified by %s, sound; first proofs per method: %s), %.1f s; per-sample results in %s" % (
              config.model, config.dataset, split, len(X), eps, "L-inf" if norm == math.inf else "L2",
              100 * float((pred == Y).float().mean()), 100 * float(ok.float().mean()), ",".join(methods),
              first, dt, out))
    return 0


def cmd_attack(args):
    from .attacks import interval_attack, pgd
    model, config = _load_model(args.checkpoint, args.device)
    eps = config.eps if args.eps is None else args.eps
    norm = config.norm if args.norm is None else args.norm
    X, Y, split = _eval_data(config, args.split, args.n, args.data_root)
    torch.manual_seed(args.seed)
    attack = pgd if args.method == "pgd" else interval_attack
    rows, robust_n, clean_n = [], 0, 0
    from tqdm import tqdm
    t0 = time.time()
    for i in tqdm(range(0, len(X), args.batch_size), desc="attack (%s)" % args.method, file=sys.stderr,
                  leave=False):
        x, y = X[i:i + args.batch_size].to(args.device), Y[i:i + args.batch_size].to(args.device)
        x_adv = attack(model, x, y, eps, norm=norm, steps=args.steps, restarts=args.restarts)
        with torch.no_grad():
            clean = model(x).argmax(1) == y
            adv_pred = model(x_adv).argmax(1)
        robust = clean & (adv_pred == y)
        clean_n += int(clean.sum())
        robust_n += int(robust.sum())
        dist = (x_adv - x).flatten(1).norm(p=norm, dim=1)
        rows += [(i + j, int(y[j]), int(adv_pred[j]), int(robust[j]), float(dist[j])) for j in range(len(y))]
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)),
                                   "attack-%s-%s.csv" % (args.method, split))
    _write_rows(out, ["index", "label", "adversarial_prediction", "robust", "distance"], rows)
    n = max(len(X), 1)
    print("%s on %s/%s (%d points), eps %g, %s, %s attack (%d steps, %d restarts): clean accuracy %.2f%%, "
          "robust accuracy under attack %.2f%% (an upper bound on verified robust accuracy), %.1f s; per-sample "
          "results in %s" % (config.model, config.dataset, split, len(X), eps, "L-inf" if norm == math.inf else "L2",
                             args.method, args.steps, args.restarts, 100 * clean_n / n, 100 * robust_n / n,
                             time.time() - t0, out))
    return 0
