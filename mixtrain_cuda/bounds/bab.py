"""Branch and bound on ReLU splits: certification of the points that the
one-pass methods leave open.

A margin z_y - z_j that CROWN cannot prove positive over the whole ball is
proved on pieces of it instead. A piece (a *domain*) is the ball with some
unstable ReLUs fixed: active (pre-activation >= 0) or inactive (<= 0). The
two children of a domain cover it, so a margin that is positive on every leaf
(or whose leaf is empty: some neuron's bounds cross) is positive on the ball.

Each domain's bound, as in alpha-beta-CROWN (Wang et al. 2021, "Beta-CROWN"):
- intermediate bounds: the root's from CROWN; a child's from an IBP pass
  intersected with its parent's bounds and its splits (BoundedModule._clips):
  the parent's bounds hold on the child, a subset;
- the margin's backward pass with optimized relaxations: each unstable ReLU's
  lower slope alpha in [0, 1] (any such slope is sound), and for each split a
  Lagrange multiplier beta >= 0 of its constraint (on x_j >= 0, f >= f - beta
  x_j; on x_j <= 0, f >= f + beta x_j). Adam raises the bound for a few steps,
  starting from the parent's alpha and beta; every step's bound is sound, and
  the best is kept, with the parent's own bound as a floor.
Many domains of a point go through the network as one batch; the lowest
bounds are split first. The neuron to split is the one whose triangle
relaxation costs the margin the most: |A_j| (-l u) / (u - l), A_j the
margin's CROWN coefficient on that ReLU's output (BaBSR's intercept score,
Bunel et al. 2020).

This is complete only up to its budget (domains per point): a point it does
not prove is reported unverified, never verified. A point stops early when it
cannot finish within the budget, or when a domain's worst vertex (the input
that minimizes its linear bound) or PGD misclassifies it: a real
counterexample inside the ball, so no proof exists.
"""
import heapq
import math

import torch

from .backward import backward_to_input
from .certify import margin_spec
from .inputs import InputSet, parse_norm
from .layers import BatchNorm, ReLU
from .module import CLIP_TOL
from .precision import ieee_float32

DEFAULT_MAX_DOMAINS = 400  # domains per point (each one CROWN pass)
DEFAULT_BATCH = 64  # domains per pass
DEFAULT_ITERS = 20  # optimization steps of the slopes and multipliers per pass
ROOT_ITERS_FACTOR = 5  # the root (all margins, one pass) gets this many times more


def budget_of(method):
    """The domains per point of a method name "bab" (the default budget) or
    "bab:N"; ValueError for anything else."""
    name, _, budget = method.partition(":")
    if name != "bab" or (budget and not (budget.isdigit() and int(budget) > 0)):
        raise ValueError("not a branch and bound method: %r (bab, or bab:N with N > 0 domains per point)" % method)
    return int(budget) if budget else DEFAULT_MAX_DOMAINS


class _Domains:
    """The ReLU-input nodes of the network and their sizes, and the dense
    bounds (lower, upper) of a batch of domains on each."""

    def __init__(self, bm):
        self.bm = bm
        self.relu_of = {}  # ReLU-input node index -> the ReLU node index
        for idx, node in enumerate(bm.nodes[1:], start=1):
            if isinstance(node.layer, ReLU):
                self.relu_of[node.inputs[0]] = idx
        self.nodes = sorted(self.relu_of)

    def shape(self, idx):
        return self.bm.nodes[idx].layer.out_shape


def _evaluate(bm, dom, x, eps, norm, x_min, x_max, c, clips, intermediate, signs=None, iters=0, init=None):
    """One pass over D domains of one point. x [D, *S] (the point repeated),
    c [D, n_out] (each domain's margin row), clips {node: (lo, hi)} [D, n] or
    None, signs {node: [D, n]} the splits (+1 active, -1 inactive, 0 none).
    Returns lb [D], the bounds {node: (lower, upper)} [D, n] each, a score per
    node [D, n] (0 for stable neurons), the empty domains [D] and the worst
    vertex of each domain's linear bound [D, *S], and the optimized slopes and
    multipliers ({"alpha": ..., "beta": ...}, or None). iters > 0: the lower
    slopes and the splits' multipliers are optimized that many steps from
    `init` (_optimize)."""
    D = x.shape[0]
    inputs = InputSet(x, eps, norm, x_min, x_max)
    bm._prepare(x, None, inputs)
    if clips is not None:
        bm._clips = {idx: (lo.reshape(D, *dom.shape(idx)), hi.reshape(D, *dom.shape(idx)))
                     for idx, (lo, hi) in clips.items()}
    try:
        if intermediate == "crown":
            bm._crown_intermediate(inputs)
        else:
            bm._ibp_pass(inputs)
        target = len(bm.nodes) - 1
        A = c.to(x.dtype).reshape(D, 1, *bm.nodes[target].layer.out_shape)
        coeffs = {}
        relu_nodes = set(dom.relu_of.values())

        def seen(idx, A_node):
            if idx in relu_nodes:
                coeffs[idx] = A_node[:, 0].reshape(D, -1)
        A_in, bias = backward_to_input(bm.nodes, bm.ops, target, A, False, seen)
        lb = inputs.concretize(A_in, bias, upper=False)[:, 0]
        bounds, scores = {}, {}
        empty = torch.zeros(D, dtype=torch.bool, device=x.device)
        for idx in dom.nodes:
            box = bm.nodes[dom.relu_of[idx]].layer.pre_box
            lower, upper = box.lower.reshape(D, -1), box.upper.reshape(D, -1)
            bounds[idx] = (lower, upper)
            # Only a crossing beyond rounding is an empty domain (module.CLIP_TOL; _clip's docstring).
            empty |= (lower - upper > CLIP_TOL * (1 + lower.abs() + upper.abs())).any(1)
            unstable = (lower < 0) & (upper > 0)
            gap = torch.where(unstable, -lower * upper / torch.where(unstable, upper - lower, 1), 0)
            a = coeffs.get(dom.relu_of[idx])
            scores[idx] = gap * a.abs() if a is not None else gap
        vertex = _worst_vertex(inputs, A_in[:, 0], x_min, x_max)
        relax = None
        if iters:
            best = _optimize(bm, dom, inputs, c, signs or {}, iters, x_min, x_max, init)
            better = best["lb"] > lb
            lb = torch.where(better, best["lb"], lb)
            vertex = torch.where(better.reshape(-1, *[1] * (vertex.dim() - 1)), best["vertex"], vertex)
            relax = {"alpha": best["alpha"], "beta": best["beta"]}
    finally:
        bm._clips = None
        for node in bm.nodes[1:]:
            if isinstance(node.layer, ReLU):
                node.layer.pre_box = None
    return lb, bounds, scores, empty, vertex, relax


def _worst_vertex(inputs, a, x_min, x_max):
    """The input of the set that minimizes a . x (a [D, *S]): a point of the
    ball, where the network's true margin can be checked."""
    if math.isinf(inputs.norm):
        return torch.where(a > 0, inputs.lower, inputs.upper)
    flat = a.flatten(1)
    step = flat / flat.norm(dim=1, keepdim=True).clamp_min(1e-30)
    eps = inputs.eps.expand_as(inputs.x).flatten(1)[:, :1]
    # Clamping to the valid range only moves coordinates toward x: still in the ball.
    return (inputs.x.flatten(1) - eps * step).reshape(inputs.x.shape).clamp(x_min, x_max)


def bab_point(bm, x, y, eps, norm=math.inf, x_min=0.0, x_max=1.0, specs=None, max_domains=DEFAULT_MAX_DOMAINS,
              batch=DEFAULT_BATCH, intermediate="ibp", iters=DEFAULT_ITERS):
    """Branch and bound for one point x [*S] with label y: True when every
    margin z_y - z_j (j in `specs`, default all j != y) is proved positive on
    the whole ball within `max_domains` domain evaluations, False when a
    counterexample is found or the budget runs out (unknown, reported as not
    verified). The root gets CROWN intermediate bounds; `intermediate` is how
    the other domains' ReLU bounds are computed, each within its parent's
    ("ibp": one forward pass; "crown": backward passes, tighter, slower).
    iters: optimization steps of the lower slopes and split multipliers per pass."""
    norm = parse_norm(norm)
    dom = _Domains(bm)
    model = bm.model
    with torch.no_grad():
        logits = model(x[None])
    n_out = logits.shape[1]
    C = margin_spec(torch.tensor([int(y)], device=x.device), n_out)[0].to(x.dtype)  # [n_out - 1, n_out]
    if specs is not None:
        C = C[specs]
    if len(C) == 0:
        return True
    lb, bounds, scores, empty, vertex, relax = _evaluate(bm, dom, x.expand(len(C), *x.shape), eps, norm, x_min,
                                                         x_max, C, None, "crown", None, ROOT_ITERS_FACTOR * iters)
    used = len(C)
    heap, tick = [], 0  # (lb, tick, margin row, bounds, scores, splits, alpha/beta): the lowest bound first
    no_splits = {idx: torch.zeros(b[0].shape[1], dtype=x.dtype, device=x.device) for idx, b in bounds.items()}
    for i in range(len(C)):
        if bool(empty[i]) or float(lb[i]) > 0:
            continue
        if _violates(model, vertex[i:i + 1], C[i:i + 1]):
            return False
        heap.append((float(lb[i]), tick, C[i], _row(bounds, i), _row(scores, i), no_splits, _relax_row(relax, i)))
        tick += 1
    heapq.heapify(heap)
    while heap:
        if used + 2 * len(heap) > max_domains:
            return False  # each open domain needs two more evaluations (its children) at least: out of budget
        parents = [heapq.heappop(heap) for _ in range(min(len(heap), max(1, batch // 2)))]
        c_rows, parent_lb, children, inits = [], [], [], []
        for p_lb, _, c, b, s, signs, r in parents:
            node, j = _pick(dom, s)
            if node is None:
                return False  # nothing unstable left and the margin still unproved: beyond this method
            for sign in (1.0, -1.0):  # active (x_j >= 0), inactive (x_j <= 0)
                lo, hi, sg = dict((k, v[0]) for k, v in b.items()), dict((k, v[1]) for k, v in b.items()), dict(signs)
                if sign > 0:
                    lo[node] = lo[node].clone()
                    lo[node][j] = 0.0
                else:
                    hi[node] = hi[node].clone()
                    hi[node][j] = 0.0
                sg[node] = sg[node].clone()
                sg[node][j] = sign
                c_rows.append(c)
                parent_lb.append(p_lb)
                children.append((lo, hi, sg))
                inits.append(r)
        c_rows = torch.stack(c_rows)
        clips = {idx: (torch.stack([ch[0][idx] for ch in children]), torch.stack([ch[1][idx] for ch in children]))
                 for idx in dom.nodes}
        signs_b = {idx: torch.stack([ch[2][idx] for ch in children]) for idx in dom.nodes}
        D = len(c_rows)
        lb, bounds, scores, empty, vertex, relax = _evaluate(bm, dom, x.expand(D, *x.shape), eps, norm, x_min, x_max,
                                                             c_rows, clips, intermediate, signs_b, iters,
                                                             _stack_relax(inits, dom.nodes))
        # The parent's bound holds on its children too (a child is a subset).
        lb = torch.maximum(lb, torch.tensor(parent_lb, dtype=lb.dtype, device=lb.device))
        used += D
        open_ = (~empty & (lb <= 0)).nonzero().flatten().tolist()
        if open_ and _violates(model, vertex[open_], c_rows[open_]):
            return False
        for i in open_:
            heapq.heappush(heap, (float(lb[i]), tick, c_rows[i], _row(bounds, i), _row(scores, i),
                                  {k: v[i] for k, v in signs_b.items()}, _relax_row(relax, i)))
            tick += 1
    return True


def _relax_row(relax, i):
    if relax is None:
        return None
    return {"alpha": {k: v[i] for k, v in relax["alpha"].items()}, "beta": {k: v[i] for k, v in relax["beta"].items()}}


def _stack_relax(rows, nodes):
    """The children's starting slopes and multipliers: their parents'; a
    parent without multipliers (the root) gives its children zeros."""
    if any(r is None for r in rows):
        return None
    alpha = {k: torch.stack([r["alpha"][k] for r in rows]) for k in nodes}
    beta = {k: torch.stack([r["beta"][k] if k in r["beta"] else torch.zeros_like(r["alpha"][k]) for r in rows])
            for k in nodes}
    return {"alpha": alpha, "beta": beta}


def _row(per_node, i):
    return {idx: (v[0][i], v[1][i]) if isinstance(v, tuple) else v[i] for idx, v in per_node.items()}


def _pick(dom, scores):
    """(node, neuron) of the largest score, or (None, None) if nothing is unstable."""
    best, where = 0.0, (None, None)
    for idx in dom.nodes:
        s = scores[idx]
        j = int(s.argmax())
        if float(s[j]) > best:
            best, where = float(s[j]), (idx, j)
    return where


def _violates(model, xs, c_rows):
    """Does the model's margin go negative at any of the points xs (one margin row each)?"""
    with torch.no_grad():
        margins = (model(xs) * c_rows.to(xs.dtype)).sum(1)
    return bool((margins < 0).any())


def certify_bab(bm, X, Y, eps, norm=math.inf, x_min=0.0, x_max=1.0, max_domains=DEFAULT_MAX_DOMAINS,
                batch=DEFAULT_BATCH, intermediate="ibp", iters=DEFAULT_ITERS, pgd_steps=20, progress=None):
    """bool [N]: branch and bound on each point (see bab_point). Points that
    the model misclassifies, or that PGD (pgd_steps, 0 to skip) attacks, are
    not verified and cost no branching. progress(points done) after each point."""
    from ..attacks import pgd_accuracy
    norm = parse_norm(norm)
    live = [n.layer.name for n in bm.nodes[1:] if isinstance(n.layer, BatchNorm) and n.layer.uses_batch_stats()]
    if live:
        # Each point's domains go through the network as one batch of copies of
        # it: batch statistics of those would be a different network.
        raise ValueError("branch and bound needs BatchNorm layers with running statistics (call model.eval()); "
                         "in training mode: %s" % ", ".join(live))
    out = torch.zeros(len(X), dtype=torch.bool)
    with ieee_float32(X.device):
        for i in range(len(X)):
            x, y = X[i], int(Y[i])
            with torch.no_grad():
                if int(bm.model(x[None]).argmax(1)) != y:
                    _tick(progress)
                    continue
            if pgd_steps and not bool(pgd_accuracy(bm.model, x[None], torch.tensor([y], device=x.device), eps,
                                                   norm=norm, steps=pgd_steps, x_min=x_min, x_max=x_max)[0]):
                _tick(progress)
                continue
            with torch.no_grad():
                out[i] = bab_point(bm, x, y, eps, norm, x_min, x_max, max_domains=max_domains, batch=batch,
                                   intermediate=intermediate, iters=iters)
            _tick(progress)
    return out


def _tick(progress):
    if progress is not None:
        progress(1)


def _padded_index(mask):
    """(idx [D, m], valid [D, m]) of each row's True entries, padded to the most."""
    count = mask.sum(1)
    m = int(count.max()) if mask.shape[0] else 0
    idx = torch.sort(mask.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :m]
    return idx, torch.arange(m, device=mask.device) < count[:, None]


class _Relaxation:
    """What stays fixed while alpha and beta are optimized, per ReLU-input node:
    the chord (upper slope and intercept), the slope of stable neurons, where
    the unstable neurons and the splits are (padded index lists: the
    optimized variables are only those, a few hundred of tens of thousands)."""

    def __init__(self, bm, dom, D, signs):
        self.relu_of = dom.relu_of  # ReLU-input node -> ReLU node
        self.nodes = {}
        for pre, r in dom.relu_of.items():
            lower, upper = bm.nodes[r].layer.pre_bounds
            l, u = lower.reshape(D, -1), upper.reshape(D, -1)
            unstable = (l < 0) & (u > 0)
            width = torch.where(unstable, u - l, torch.ones_like(u))
            up_slope = torch.where(unstable, u / width, (l >= 0).to(u.dtype))
            up_icpt = torch.where(unstable, -u * l / width, torch.zeros_like(u))
            base_lo = torch.where(unstable, torch.zeros_like(u), (l >= 0).to(u.dtype))
            idx, valid = _padded_index(unstable)
            split = signs.get(pre)
            s_idx, s_valid = _padded_index(split != 0) if split is not None else (None, None)
            s_sign = split.gather(1, s_idx) * s_valid if split is not None else None
            self.nodes[pre] = dict(l=l, u=u, up_slope=up_slope, up_icpt=up_icpt, base_lo=base_lo, idx=idx,
                                   valid=valid, s_idx=s_idx, s_sign=s_sign, s_valid=s_valid)

    def initial(self, init):
        """alpha [D, m] per node (the parent's, dense in init, or CROWN's
        choice: 1 where u >= -l) and beta [D, s] (the parent's or 0)."""
        alpha, beta = {}, {}
        for pre, n in self.nodes.items():
            if init is not None:
                alpha[pre] = init["alpha"][pre].gather(1, n["idx"])
            else:
                alpha[pre] = (n["u"] >= -n["l"]).to(n["l"].dtype).gather(1, n["idx"])
            if n["s_idx"] is not None:
                if init is not None and pre in init["beta"]:
                    beta[pre] = init["beta"][pre].gather(1, n["s_idx"])
                else:
                    beta[pre] = torch.zeros_like(n["s_sign"])
        return alpha, beta

    def dense(self, alpha, beta):
        """alpha and beta as [D, n] per node, for the children to start from."""
        out = {"alpha": {}, "beta": {}}
        for pre, n in self.nodes.items():
            base = (n["u"] >= -n["l"]).to(n["l"].dtype)
            out["alpha"][pre] = base.scatter(1, n["idx"], torch.where(n["valid"], alpha[pre], base.gather(1, n["idx"])))
            if pre in beta:
                out["beta"][pre] = torch.zeros_like(base).scatter_add(1, n["s_idx"], beta[pre] * n["s_valid"])
        return out


def _relaxed_lower(bm, rel, inputs, c, alpha, beta):
    """The lower bound of c . output over the input set, with the pre-ReLU
    bounds of the last pass (in rel), each unstable ReLU's lower slope alpha
    (in [0, 1], alpha-CROWN) and each split neuron's Lagrange multiplier beta
    >= 0 (beta-CROWN): on a domain where x_j >= 0, f >= f - beta_j x_j; where
    x_j <= 0, f >= f + beta_j x_j. Any alpha in [0, 1] and beta >= 0 give a
    sound bound; they are optimized for a tight one."""
    D = inputs.x.shape[0]
    target = len(bm.nodes) - 1
    pending = {target: c.to(inputs.x.dtype).reshape(D, 1, *bm.nodes[target].layer.out_shape)}
    bias = torch.zeros(D, 1, dtype=inputs.x.dtype, device=inputs.x.device)
    pre_of = {r: pre for pre, r in rel.relu_of.items()}
    for idx in range(target, 0, -1):
        A = pending.pop(idx, None)
        if A is None:
            continue
        node = bm.nodes[idx]
        if idx in pre_of:
            pre = pre_of[idx]
            n = rel.nodes[pre]
            a = A.reshape(D, -1)
            neg = a < 0
            new_a = a * torch.where(neg, n["up_slope"], n["base_lo"])
            bias = bias + (a.clamp(max=0) * n["up_icpt"]).sum(1, keepdim=True)
            # Unstable neurons with a positive coefficient take the lower slope alpha.
            a_u = a.gather(1, n["idx"])
            new_a = new_a.scatter_add(1, n["idx"], a_u.clamp(min=0) * alpha[pre] * n["valid"])
            if pre in beta:
                new_a = new_a.scatter_add(1, n["s_idx"], -n["s_sign"] * beta[pre])
            A_inputs, b = [new_a.reshape(A.shape)], None
        else:
            A_inputs, b = node.layer.backward(bm.ops, A, False)
        if b is not None:
            bias = bias + b
        for i, A_i in zip(node.inputs, A_inputs):
            pending[i] = pending[i] + A_i if i in pending else A_i
    A_in = pending.pop(0)
    return inputs.concretize(A_in, bias, upper=False)[:, 0], A_in[:, 0]


def _optimize(bm, dom, inputs, c, signs, iters, x_min, x_max, init=None, lr_alpha=0.1, lr_beta=0.05):
    """Best lower bound found by `iters` Adam steps on alpha (and beta where
    there are splits), starting from `init` ({"alpha": {node: [D, n]}, "beta":
    ...}: the parent's, so a child starts where its parent ended) or CROWN's
    slopes. Every iterate is a sound bound, so the best one is kept per domain,
    with its worst vertex and its alpha and beta (dense, for the children)."""
    D = inputs.x.shape[0]
    rel = _Relaxation(bm, dom, D, signs)
    alpha, beta = rel.initial(init)
    for t in list(alpha.values()) + list(beta.values()):
        t.requires_grad_()
    params = [{"params": list(alpha.values()), "lr": lr_alpha}]
    if beta:
        params.append({"params": list(beta.values()), "lr": lr_beta})
    opt = torch.optim.Adam(params)
    best = None
    for step in range(iters + 1):
        with torch.enable_grad():
            lb, a_in = _relaxed_lower(bm, rel, inputs, c, alpha, beta)
            loss = -lb.sum()
        now = {"lb": lb.detach(), "vertex": _worst_vertex(inputs, a_in.detach(), x_min, x_max),
               "alpha": {k: v.detach().clone() for k, v in alpha.items()},
               "beta": {k: v.detach().clone() for k, v in beta.items()}}
        best = now if best is None else _keep_better(best, now)
        if step == iters or bool((best["lb"] > 0).all()):
            break
        opt.zero_grad()
        loss.backward(inputs=list(alpha.values()) + list(beta.values()))
        opt.step()
        with torch.no_grad():
            for t in alpha.values():
                t.clamp_(0, 1)
            for t in beta.values():
                t.clamp_(min=0)
    best.update(rel.dense(best["alpha"], best["beta"]))
    return best


def _keep_better(best, now):
    """Per domain, the iterate with the higher lower bound."""
    better = now["lb"] > best["lb"]

    def pick(a, b):
        return torch.where(better.reshape(-1, *[1] * (a.dim() - 1)), a, b)
    return {"lb": torch.maximum(now["lb"], best["lb"]), "vertex": pick(now["vertex"], best["vertex"]),
            "alpha": {k: pick(v, best["alpha"][k]) for k, v in now["alpha"].items()},
            "beta": {k: pick(v, best["beta"][k]) for k, v in now["beta"].items()}}
