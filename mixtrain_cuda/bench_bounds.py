"""Bound-pass throughput: points per second of each method on the MixTrain
networks and CNN7, forward and forward+backward, fused ops against the
pure-PyTorch engine path (`BoundedModule(reference=True)`) in the same run;
peak memory (CUDA's peak allocation, or the CPU process's peak resident size
on Linux) of one pass above what was in use before it. Shared by `mixtrain bench --bounds` and benchmarks/."""

import torch

from .bench import median_seconds, peak_bytes
from .bounds import BoundedModule, margin_spec
from .models import INPUT_SHAPES, NUM_CLASSES, get_model

# (network, method, batch): batches as the methods are used -- IBP and
# CROWN-IBP on training batches, symbolic on MixTrain's k = 10 sampled points
# (one point on the CIFAR nets, where a point has thousands of generator rows),
# CROWN for certification of the small nets.
CASES = [
    ("mnist_small", "ibp", 64), ("mnist_small", "crown-ibp", 64), ("mnist_small", "symbolic", 10),
    ("mnist_small", "crown", 8),
    ("mnist_large", "ibp", 64), ("mnist_large", "crown-ibp", 64), ("mnist_large", "symbolic", 10),
    ("cifar_small", "ibp", 64), ("cifar_small", "crown-ibp", 64), ("cifar_small", "symbolic", 2),
    ("cifar_large", "ibp", 64), ("cifar_large", "crown-ibp", 32), ("cifar_large", "symbolic", 1),
    ("cifar_resnet", "ibp", 64), ("cifar_resnet", "crown-ibp", 32), ("cifar_resnet", "symbolic", 1),
    ("imagenet200_resnet", "ibp", 32), ("imagenet200_resnet", "crown-ibp", 8),
    ("cnn7", "ibp", 64), ("cnn7", "crown-ibp", 16),
]
# Too slow for a 2-core CPU (each call takes minutes: CNN7's and ImageNet-200's
# symbolic pass is teraflops per point, CROWN on MNIST-large about 13 s a
# point): run where a GPU is.
CUDA_CASES = [
    ("mnist_large", "crown", 4), ("cnn7", "symbolic", 1), ("imagenet200_resnet", "symbolic", 1),
]
QUICK = [("mnist_small", "ibp", 64), ("mnist_small", "crown-ibp", 64), ("mnist_small", "symbolic", 10)]


def _pass(bm, x, y, eps, method, backward):
    C = margin_spec(y, bm.model(x[:1]).shape[1]).to(x.dtype)

    def run():
        if backward:
            # The training pass: the robust loss reads the margins' lower bound only (train/objective.py).
            # Since session 12; before, this pass also computed the upper bound.
            lb, _ = bm.compute_bounds(x, eps, method, C=C, bound_upper=False)
            lb.sum().backward()
        else:
            with torch.no_grad():
                bm.compute_bounds(x, eps, method, C=C)
    return run


def run(device="cpu", quick=False, only=None, progress=None, reference=True, budget=2.0, on_row=None, repeats=None):
    """Times every case (those matching `only`); on_row(result so far) is
    called after each case, so a run cut short still leaves its numbers.
    reference=False skips the pure-PyTorch engine; repeats fixes the number of
    timed calls (default: as many as fit `budget`, at least 3), for passes that
    take many seconds each."""
    rows = []
    cases = QUICK if quick else CASES + (CUDA_CASES if torch.device(device).type == "cuda" else [])
    # only: comma-separated substrings of "network method"; a case runs if any matches.
    cases = [c for c in cases if only is None or any(o.strip() in "%s %s" % c[:2] for o in only.split(","))]
    for i, (net, method, batch) in enumerate(cases):
        if progress:
            progress(i, len(cases), "%s %s B=%d" % (net, method, batch))
        torch.manual_seed(0)
        model = get_model(net).to(device).eval()
        x = torch.rand(batch, *INPUT_SHAPES[net], device=device)
        y = torch.randint(0, NUM_CLASSES[net], (batch,), device=device)
        eps = 2.0 / 255 if net not in ("mnist_small", "mnist_large") else 0.1
        row = dict(net=net, method=method, batch=batch, eps=eps, repeats=repeats)
        for engine in (("fused", "reference") if reference else ("fused",)):
            bm = BoundedModule(model, reference=engine == "reference")
            for backward in (False, True):
                key = "%s_%s" % (engine, "fwd_bwd" if backward else "fwd")
                fn = _pass(bm, x, y, eps, method, backward)
                row[key + "_s"] = median_seconds(fn, device, repeats=repeats, budget=budget)
                row[key + "_points_per_s"] = batch / row[key + "_s"]
                row[key + "_peak_bytes"] = peak_bytes(fn, device)  # after the timing: allocator and caches warm
                model.zero_grad(set_to_none=True)
                if on_row:  # a pass of many seconds: its row so far, before the next figure
                    on_row(dict(rows=rows + [dict(row, partial=True)], complete=False))
        rows.append(row)
        if on_row:
            on_row(dict(rows=rows, complete=len(rows) == len(cases)))
    return dict(rows=rows, complete=True)


def format_table(result):
    head = ["network", "method", "B", "fwd pts/s", "ref fwd pts/s", "speedup", "fwd+bwd pts/s", "ref fwd+bwd pts/s",
            "speedup"]
    lines = []
    for r in result["rows"]:
        line = [r["net"], r["method"], str(r["batch"]), "%.1f" % r["fused_fwd_points_per_s"]]
        if "reference_fwd_s" in r:
            line += ["%.1f" % r["reference_fwd_points_per_s"], "%.2fx" % (r["reference_fwd_s"] / r["fused_fwd_s"])]
        else:
            line += ["-", "-"]
        line.append("%.1f" % r["fused_fwd_bwd_points_per_s"])
        if "reference_fwd_bwd_s" in r:
            line += ["%.1f" % r["reference_fwd_bwd_points_per_s"],
                     "%.2fx" % (r["reference_fwd_bwd_s"] / r["fused_fwd_bwd_s"])]
        else:
            line += ["-", "-"]
        if r.get("fused_fwd_bwd_peak_bytes") is not None:
            line.append("%.0f MiB" % (r["fused_fwd_bwd_peak_bytes"] / 2 ** 20))
            ref = r.get("reference_fwd_bwd_peak_bytes")
            line.append("%.0f MiB" % (ref / 2 ** 20) if ref is not None else "-")
        lines.append(line)
    if any(r.get("fused_fwd_bwd_peak_bytes") is not None for r in result["rows"]):
        head += ["peak fwd+bwd", "ref peak"]
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    out += ["  ".join(c.ljust(w) for c, w in zip(l, widths)) for l in lines]
    return "\n".join(out)


__all__ = ["CASES", "CUDA_CASES", "QUICK", "run", "format_table"]
