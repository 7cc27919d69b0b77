"""Clean, verified and PGD accuracy of a model on tensors, in batches."""
import math

import torch

from ..bounds import BoundedModule
from ..bounds.certify import margin_lower_bounds


def _batches(n, batch_size):
    for i in range(0, n, batch_size):
        yield slice(i, min(i + batch_size, n))


def predict(model, X, batch_size=1000, device="cpu"):
    out = []
    with torch.no_grad():
        for s in _batches(len(X), batch_size):
            out.append(model(X[s].to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def parse_methods(methods):
    """"crown-ibp" or "ibp,crown-ibp" or a list: a point is verified when any of
    them verifies it (each is sound, so their union is sound). Besides the
    engine's methods: "bab" (branch and bound, bounds/bab.py), or "bab:N" with
    a budget of N domains per point."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(methods)
    from ..bounds.bab import budget_of
    from ..bounds.module import METHODS
    for m in methods:
        if m in METHODS:
            continue
        try:
            budget_of(m)
        except ValueError:
            raise ValueError("unknown certification method %r: use %s, bab or bab:N (N domains per point)"
                             % (m, ", ".join(METHODS))) from None
    return methods


def verify(model, X, Y, eps, methods="crown-ibp", norm=math.inf, batch_size=256, device="cpu", x_min=0.0,
           x_max=1.0, progress=None, pred=None):
    """bool [N]: verified by any of `methods`, tried in the order given on the
    points still unverified (list the cheap ones first). Points the model
    misclassifies are never verified (their margin bound is negative); `pred`,
    the model's predictions on X if the caller has them, spares computing them.
    progress(method, points done, points for this method) is called per batch.
    Returns (verified, per-method counts of points each method verified first)."""
    methods = parse_methods(methods)
    bm = model if isinstance(model, BoundedModule) else BoundedModule(model)
    verified = torch.zeros(len(X), dtype=torch.bool)
    first = {}
    with torch.no_grad():
        if pred is None:
            pred = predict(bm.model, X, batch_size=max(batch_size, 256), device=device)
        todo = (pred == Y).nonzero().flatten()
        for method in methods:
            hits = 0
            if method.split(":")[0] == "bab":
                # Branch and bound, one point at a time (bounds/bab.py); "bab:N": N domains per point.
                from ..bounds.bab import budget_of, certify_bab
                budget = budget_of(method)
                tick = (lambda k, m=method, t=len(todo): progress(m, k, t)) if progress is not None else None
                ok = certify_bab(bm, X[todo].to(device), Y[todo].to(device), eps, norm, x_min, x_max,
                                 max_domains=budget, progress=tick)
                verified[todo[ok]] = True
                first[method] = int(ok.sum())
                todo = todo[~verified[todo]]
                continue
            for s in _batches(len(todo), batch_size):
                idx = todo[s]
                lb = margin_lower_bounds(bm, X[idx].to(device), Y[idx].to(device), eps, method, norm, x_min, x_max)
                ok = (lb > 0).all(1).cpu()
                verified[idx[ok]] = True
                hits += int(ok.sum())
                if progress is not None:
                    progress(method, len(idx), len(todo))
            first[method] = hits
            todo = todo[~verified[todo]]
    return verified, first


def pgd_robust(model, X, Y, eps, norm=math.inf, steps=20, restarts=1, batch_size=500, device="cpu", seed=0):
    """bool [N]: True where PGD found no adversarial example."""
    from ..attacks import pgd_accuracy
    out = []
    g = torch.Generator().manual_seed(seed)
    for s in _batches(len(X), batch_size):
        torch.manual_seed(int(torch.randint(0, 2 ** 31 - 1, (), generator=g)))  # PGD's random starts
        out.append(pgd_accuracy(model, X[s].to(device), Y[s].to(device), eps, norm=norm, steps=steps,
                                restarts=restarts).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)
