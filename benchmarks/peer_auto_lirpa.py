"""Bound passes against the peer: our engine (fused ops, and the same engine on
the pure-PyTorch ops) against auto_LiRPA 0.3 on the same CPU, network, points
and eps, in one process, alternating. Issue 3's goals: IBP at least 3x
auto_LiRPA's points/s at k = 1 and 1.5x at k = 50, CROWN-IBP at least 2x; and
the fused engine at least 1.5x the reference engine for IBP at k = 1..16 on
mnist_large and cifar_large.

    bash scripts/setup_auto_lirpa.sh      # once: auto_LiRPA 0.3 into .auto_lirpa/
    .venv/bin/python benchmarks/peer_auto_lirpa.py [--nets mnist_large,cifar_large] [--ks 1,4,16,50]
        [--methods ibp,crown-ibp] [--json PATH]

A pass bounds the margins of the true class against the other nine (the
specification matrix C, which both engines fold into the last layer), on a
randomly initialized network in evaluation mode, with no gradient (how a
certifier or a benchmark calls it); eps 0.1 on MNIST, 2/255 on CIFAR, the box
clamped to [0, 1]. auto_LiRPA runs with its default options (the module is
built once per network, outside the timing; the BoundedTensor of each call is
inside, as a user pays it). Each figure: bench.median_seconds, engines
alternating, median of the rounds' medians.
"""
import argparse
import os
import statistics
import sys
import warnings

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from mixtrain_cuda import bench  # noqa: E402
from mixtrain_cuda.bounds import BoundedModule, margin_spec  # noqa: E402
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator  # noqa: E402
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model  # noqa: E402

THEIR_METHOD = {"ibp": "IBP", "crown-ibp": "CROWN-IBP"}


def import_auto_lirpa(path):
    if os.path.isdir(path) and path not in sys.path:
        sys.path.append(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import auto_LiRPA
            from auto_LiRPA.perturbations import PerturbationLpNorm
    except ImportError as exc:
        raise SystemExit("auto_LiRPA is not importable (%s): run `bash scripts/setup_auto_lirpa.sh` first, or pass "
                         "--auto-lirpa DIR" % exc)
    return auto_LiRPA, PerturbationLpNorm


def peer_pass(auto_LiRPA, PerturbationLpNorm, model, x, eps, method, C, lower_only=False):
    """auto_LiRPA's bound pass, as its examples call it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lirpa = auto_LiRPA.BoundedModule(model, torch.empty_like(x[:1]), device="cpu", verbose=False)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ptb = PerturbationLpNorm(norm=float("inf"), eps=eps, x_L=(x - eps).clamp(0, 1),
                                     x_U=(x + eps).clamp(0, 1))
            with torch.no_grad():
                return lirpa.compute_bounds(x=(auto_LiRPA.BoundedTensor(x, ptb),), method=THEIR_METHOD[method], C=C,
                                            bound_upper=not lower_only)
    return run


def our_pass(model, x, eps, method, C, reference, lower_only=False):
    bm = BoundedModule(model, reference=reference)

    def run():
        with torch.no_grad():
            return bm.compute_bounds(x, eps, method, C=C, bound_upper=not lower_only)
    return run


def time_case(auto_LiRPA, ptb_cls, net, method, k, rounds, budget, lower_only=False):
    torch.manual_seed(0)
    model = get_model(net).eval()
    x = torch.rand(k, *INPUT_SHAPES[net])
    y = torch.randint(0, NUM_CLASSES[net], (k,))
    C = margin_spec(y, NUM_CLASSES[net])
    eps = 0.1 if net.startswith("mnist") else 2.0 / 255
    runs = {"fused": our_pass(model, x, eps, method, C, False, lower_only),
            "reference": our_pass(model, x, eps, method, C, True, lower_only),
            "auto_lirpa": peer_pass(auto_LiRPA, ptb_cls, model, x, eps, method, C, lower_only)}
    # The same bounds, or the comparison means nothing: fused against auto_LiRPA.
    ours, theirs = runs["fused"](), runs["auto_lirpa"]()
    if lower_only:  # their upper bound is not computed (theirs[1] is a placeholder)
        ours, theirs = ours[:1], theirs[:1]
        width = float(theirs[0].abs().max()) + 1.0
    else:
        width = float((theirs[1] - theirs[0]).abs().max()) + 1.0
    diff = max(float((a - b).abs().max()) for a, b in zip(ours, theirs))
    samples = {name: [] for name in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            samples[name].append(bench.median_seconds(fn, "cpu", budget=budget))
    row = dict(net=net, method=method, k=k, eps=eps, lower_only=lower_only, max_bound_difference=diff,
               bound_scale=width)
    for name, v in samples.items():
        row[name + "_s"] = statistics.median(v)
        row[name + "_points_per_s"] = k / row[name + "_s"]
    # The ratios round by round (each round's engines ran back to back, so a phase of the shared machine
    # moves both sides of a round's ratio alike): their range says how far the medians above can be trusted.
    for other in ("reference", "auto_lirpa"):
        ratios = sorted(o / f for o, f in zip(samples[other], samples["fused"]))
        row["fused_vs_%s_round_ratios" % other] = ratios
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="mnist_small,mnist_large,cifar_small,cifar_large")
    ap.add_argument("--ks", default="1,4,16,50", help="points per call (default: 1,4,16,50)")
    ap.add_argument("--methods", default="ibp,crown-ibp")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per case (default: 3)")
    ap.add_argument("--budget", type=float, default=0.5, help="seconds of calls per engine and round (default 0.5)")
    ap.add_argument("--auto-lirpa", default=os.path.join(ROOT, ".auto_lirpa"), help="where auto_LiRPA is installed")
    ap.add_argument("--lower-only", action="store_true",
                    help="both engines bound the margins from below only (bound_upper=False), as certification "
                         "and training need")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    tune_cpu_allocator()  # as the mixtrain command does (mixtrain_cuda/cpu_allocator.py)
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    nets = [n.strip() for n in a.nets.split(",") if n.strip()]
    unknown = [n for n in nets if n not in INPUT_SHAPES]
    if unknown:
        ap.error("unknown network(s) %s; choose from %s" % (", ".join(unknown), ", ".join(sorted(INPUT_SHAPES))))
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    if any(m not in THEIR_METHOD for m in methods):
        ap.error("--methods: choose from %s" % ", ".join(THEIR_METHOD))
    ks = [int(k) for k in a.ks.split(",") if k.strip()]
    auto_LiRPA, ptb_cls = import_auto_lirpa(a.auto_lirpa)
    rows = []
    print("%-12s %-9s %3s %12s %12s %12s  %s" % ("network", "method", "k", "fused pts/s", "ref pts/s",
                                                 "lirpa pts/s", "fused/ref fused/lirpa  max |bound diff|  fused/lirpa per round"))
    for net in nets:
        for method in methods:
            for k in ks:
                row = time_case(auto_LiRPA, ptb_cls, net, method, k, a.rounds, a.budget, a.lower_only)
                rows.append(row)
                spread = row["fused_vs_auto_lirpa_round_ratios"]
                print("%-12s %-9s %3d %12.1f %12.1f %12.1f  %8.2fx %9.2fx  %.1e   %.2f-%.2fx" % (
                    net, method, k, row["fused_points_per_s"], row["reference_points_per_s"],
                    row["auto_lirpa_points_per_s"], row["reference_s"] / row["fused_s"],
                    row["auto_lirpa_s"] / row["fused_s"], row["max_bound_difference"], spread[0], spread[-1]),
                      flush=True)
    if a.json:
        bench.write_cpu_record(a.json, "benchmarks/peer_auto_lirpa.py", argv if argv is not None else sys.argv[1:],
                               "bench.median_seconds per engine, engines alternating, median of %d rounds" % a.rounds,
                               rows, auto_lirpa=getattr(auto_LiRPA, "__version__", "?"))
        print("wrote", a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
