"""Images per second of one training step (forward, backward, optimizer step):
MixTrain (bound pass on k points of the batch) against full-batch verifiable
training (every point through the bound pass) and a clean step, for each bound
method, on synthetic data of the network's real input shape. The issue's
"images per second of a MixTrain step on the ImageNet-200 net against
full-batch training". Usage:

    .venv/bin/python scripts/bench_train_step.py [--model imagenet200_resnet] [--device cpu|cuda]
        [--batch 64] [--k 8] [--methods ibp,crown-ibp] [--eps 0.0039] [--steps N] [--json PATH]

Each figure is the median over timed steps after two warm-up steps (CUDA:
synchronized). The step is the trainer's own `Objective` (mixtrain_cuda/train),
with the clean cross-entropy on the whole batch in every variant.
"""
import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from mixtrain_cuda import bench, models  # noqa: E402
from mixtrain_cuda.cli import device_name, git_commit  # noqa: E402
from mixtrain_cuda.train.objective import Objective  # noqa: E402

# (channels, side, classes) of each model's input: the benchmark's MixTrain nets, and CNN7.
INPUTS = {net: (ch, side, 200 if net.startswith("imagenet200") else 10) for net, ch, side in bench.MIXTRAIN_NETS}
INPUTS["cnn7"] = (3, 32, 10)


def time_steps(objective, opt, x, y, idx, eps, steps, device):
    def step():
        opt.zero_grad(set_to_none=True)
        loss, _, _, _ = objective(x, y, idx, eps, 0.5, 0.5 if idx is not None else 0.0)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="imagenet200_resnet", choices=sorted(INPUTS))
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--k", type=int, default=8, help="MixTrain's bound-pass points per batch")
    p.add_argument("--methods", default="ibp,crown-ibp")
    p.add_argument("--eps", type=float, default=1 / 255)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--json")
    a = p.parse_args(argv)
    if not 1 <= a.k <= a.batch:
        p.error("--k must be in [1, --batch]")
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device %s asked for, but no CUDA GPU is visible" % a.device)
    ch, side, classes = INPUTS[a.model]
    torch.manual_seed(0)
    model = getattr(models, a.model)(num_classes=classes).to(device)
    x = torch.rand(a.batch, ch, side, side, device=device)
    y = torch.randint(0, classes, (a.batch,), device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    rows = []
    clean_s = time_steps(Objective(model, "ibp", math.inf, classes), opt, x, y, None, a.eps, a.steps, device)
    rows.append(dict(variant="clean", method=None, bound_points=0, step_s=clean_s, images_per_s=a.batch / clean_s))
    print("%-10s %-10s %4s points  %8.1f images/s" % ("clean", "-", 0, a.batch / clean_s), flush=True)
    for method in [m.strip() for m in a.methods.split(",") if m.strip()]:
        objective = Objective(model, method, math.inf, classes)
        for variant, k in (("mixtrain", a.k), ("full-batch", a.batch)):
            idx = torch.randperm(a.batch, device=device)[:k]
            try:
                s = time_steps(objective, opt, x, y, idx, a.eps, a.steps, device)
            except torch.OutOfMemoryError:
                s = None
            if s is None:
                # Full-batch bound passes are what MixTrain avoids; one that
                # does not fit is a result, recorded as such. (Freed here,
                # outside the except: its traceback holds the step's tensors.)
                opt.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                rows.append(dict(variant=variant, method=method, bound_points=k, step_s=None, images_per_s=None,
                                 error="out of memory"))
                print("%-10s %-10s %4d points  out of memory" % (variant, method, k), flush=True)
                continue
            rows.append(dict(variant=variant, method=method, bound_points=k, step_s=s, images_per_s=a.batch / s))
            print("%-10s %-10s %4d points  %8.1f images/s" % (variant, method, k, a.batch / s), flush=True)
        mix, full = rows[-2]["step_s"], rows[-1]["step_s"]
        if mix and full:
            print("  %s: MixTrain step %.2fx faster than full-batch" % (method, full / mix), flush=True)
    if a.json:
        out = dict(device=device_name(a.device), device_kind=device.type,
                   date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   commit=git_commit(), threads=torch.get_num_threads(),
                   command="scripts/bench_train_step.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   model=a.model, batch=a.batch, k=a.k, eps=a.eps, steps=a.steps, rows=rows)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
