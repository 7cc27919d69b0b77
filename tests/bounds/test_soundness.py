"""Bounds are claims about every point of the ball: random points and
PGD-found points (pushing each output up and down) never leave them."""
import math

import pytest
import torch
import torch.nn as nn

from mixtrain_cuda.bounds import BoundedModule, margin_spec

from . import nets

METHODS = ["ibp", "symbolic", "crown-ibp", "crown"]


def sample_ball(x, eps, norm, n, x_min=0.0, x_max=1.0, seed=0):
    """n points per sample of the ball (clamped to the range), [n, B, *S]."""
    g = torch.Generator().manual_seed(seed)
    if math.isinf(norm):
        u = torch.rand(n, *x.shape, generator=g, dtype=x.dtype) * 2 - 1
        # a third of the points at the corners, where boxes are tightest
        u[: n // 3] = u[: n // 3].sign()
        pts = x + eps * u
    else:
        d = torch.randn(n, *x.shape, generator=g, dtype=x.dtype)
        d = d / d.flatten(2).norm(dim=2).reshape(n, x.shape[0], *([1] * (x.dim() - 1)))
        r = torch.rand(n, x.shape[0], *([1] * (x.dim() - 1)), generator=g, dtype=x.dtype) ** (1 / x[0].numel())
        pts = x + eps * r * d
    return pts.clamp(x_min, x_max)


def project(x0, x, eps, norm):
    if math.isinf(norm):
        x = torch.max(torch.min(x, x0 + eps), x0 - eps)
    else:
        d = x - x0
        n = d.flatten(1).norm(dim=1).clamp(min=1e-12).reshape(-1, *([1] * (x.dim() - 1)))
        x = x0 + d * torch.clamp(eps / n, max=1.0)
    return x.clamp(0.0, 1.0)


def pgd_extremes(model, x, eps, norm, out_index, spec=None, steps=40):
    """Points of the ball that PGD finds for min and max of output `out_index`
    (of spec @ outputs if spec is given)."""
    found = []
    for sign in (1.0, -1.0):
        z = (x + 0.5 * eps * (torch.rand_like(x) * 2 - 1)).clamp(0, 1).detach()
        for _ in range(steps):
            z.requires_grad_(True)
            out = model(z)
            if spec is not None:
                out = torch.einsum("bsn,bn->bs", spec, out)
            (sign * out[:, out_index]).sum().backward()
            step = z.grad if not math.isinf(norm) else z.grad.sign()
            if not math.isinf(norm):
                step = step / step.flatten(1).norm(dim=1).clamp(min=1e-12).reshape(-1, *([1] * (x.dim() - 1)))
            z = project(x, z.detach() + sign * 0.1 * eps * step, eps, norm).detach()
        found.append(z)
    return found


def assert_contains(lb, ub, values, what):
    tol = 1e-9 * (1 + values.abs().max())
    assert (lb <= ub + tol).all(), "%s: lb > ub" % what
    low = (values < lb - tol).nonzero()
    high = (values > ub + tol).nonzero()
    assert low.numel() == 0 and high.numel() == 0, "%s: %d points below lb, %d above ub (max excess %.3g)" % (
        what, low.shape[0], high.shape[0], max((lb - values).max().item(), (values - ub).max().item()))


# CROWN methods also without autograd, where the backward pass runs [-A; A] at
# once (backward.backward_bounds) and a one-channel first layer goes through
# matmul + fold; "-chunked": and the output's backward pass one sample at a time.
CROWN_NO_GRAD = [m + "-nograd" for m in METHODS if m.startswith("crown")] + ["crown-ibp-nograd-chunked"]


@pytest.mark.parametrize("net", list(nets.NETS))
@pytest.mark.parametrize("method", METHODS + ["symbolic-streamed"] + CROWN_NO_GRAD)
@pytest.mark.parametrize("norm", [math.inf, 2.0])
def test_bounds_contain_sampled_and_attacked_points(net, method, norm, monkeypatch):
    model = nets.make(net)
    x = nets.inputs(net, 3)
    eps = 0.08 if math.isinf(norm) else 0.4
    # symbolic-streamed: a memory budget below one sample's generators, so the
    # symbolic pass streams its generator rows a few at a time.
    bm = BoundedModule(model, memory_budget=2000 if method == "symbolic-streamed" else None)
    if method.endswith("-chunked"):
        from mixtrain_cuda.bounds import module as engine
        monkeypatch.setattr(engine, "CPU_BACKWARD_CHUNK_BYTES", 1)
    base = method.replace("-streamed", "").replace("-nograd", "").replace("-chunked", "")
    with torch.set_grad_enabled("-nograd" not in method):
        lb, ub = bm.compute_bounds(x, eps, base, norm)
    with torch.no_grad():
        outs = model(sample_ball(x, eps, norm, 300).flatten(0, 1)).reshape(300, *lb.shape)
    assert_contains(lb, ub, outs, "%s %s sampled" % (net, method))
    for j in range(lb.shape[1]):
        for z in pgd_extremes(model, x, eps, norm, j):
            with torch.no_grad():
                assert_contains(lb, ub, model(z), "%s %s PGD output %d" % (net, method, j))
    # a fair share of ReLUs is unstable at this eps, or the test would prove little
    assert (ub - lb).min() > 0


@pytest.mark.parametrize("method", METHODS + CROWN_NO_GRAD)
def test_margin_bounds_with_spec_are_sound(method, monkeypatch):
    model = nets.make("conv", seed=3)
    x = nets.inputs("conv", 4, seed=3)
    y = torch.tensor([0, 1, 2, 3])
    C = margin_spec(y, 5).to(x.dtype)
    if method.endswith("-chunked"):
        from mixtrain_cuda.bounds import module as engine
        monkeypatch.setattr(engine, "CPU_BACKWARD_CHUNK_BYTES", 1)
    with torch.set_grad_enabled("-nograd" not in method):
        lb, ub = BoundedModule(model).compute_bounds(x, 0.05, method.replace("-nograd", "").replace("-chunked", ""),
                                                     C=C)
    with torch.no_grad():
        outs = model(sample_ball(x, 0.05, math.inf, 200).flatten(0, 1)).reshape(200, 4, 5)
        margins = torch.einsum("bsn,kbn->kbs", C, outs)
    assert_contains(lb, ub, margins, "margins " + method)
    for j in range(C.shape[1]):
        for z in pgd_extremes(model, x, 0.05, math.inf, j, spec=C):
            with torch.no_grad():
                assert_contains(lb, ub, torch.einsum("bsn,bn->bs", C, model(z)), "margin PGD " + method)


@pytest.mark.parametrize("bn_stats", ["clean", "midpoint"])
@pytest.mark.parametrize("method", METHODS)
def test_training_mode_batchnorm_bounds_the_network_with_those_statistics(bn_stats, method):
    """In training mode the bound is about the network whose BatchNorms use the
    chosen batch statistics; check against that network, evaluated by hand."""
    model = nets.make("batchnorm", seed=5).train()
    x = nets.inputs("batchnorm", 4, seed=5)
    clean = nets.inputs("batchnorm", 16, seed=6)
    bm = BoundedModule(model, bn_stats=bn_stats)
    lb, ub = bm.compute_bounds(x, 0.05, method, clean_batch=clean)
    # the statistics the pass used: recompute them the same way
    stats = []
    if bn_stats == "clean":
        h = clean
        for m in model:
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                dims = [0] + list(range(2, h.dim()))
                stats.append((h.mean(dims), h.var(dims, unbiased=False)))
                h = nn.functional.batch_norm(h, None, None, m.weight, m.bias, True, 0.0, m.eps)
            else:
                h = m(h)
    else:
        bm2 = BoundedModule(model, bn_stats="midpoint")
        bm2._prepare(x, None, __import__("mixtrain_cuda.bounds.inputs", fromlist=["InputSet"]).InputSet(
            x, 0.05, math.inf, 0.0, 1.0))
        stats = [n.layer.stats for n in bm2.nodes[1:] if getattr(n.layer, "stats", None) is not None]
    frozen = nets.make("batchnorm", seed=5).eval()
    frozen.load_state_dict(model.state_dict())
    bns = [m for m in frozen if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    for m, (mean, var) in zip(bns, stats):
        m.running_mean.copy_(mean.detach())
        m.running_var.copy_(var.detach())
    with torch.no_grad():
        outs = frozen(sample_ball(x, 0.05, math.inf, 300).flatten(0, 1)).reshape(300, *lb.shape)
    assert_contains(lb, ub, outs, "train-mode BN %s %s" % (bn_stats, method))


def test_float32_bounds_contain_float64_outputs():
    """The fused float32 path: bounds computed in float32 hold the float64 truth
    up to float32 rounding."""
    model = nets.make("residual", seed=2)
    x = nets.inputs("residual", 3, seed=2)
    lb, ub = BoundedModule(model.float()).compute_bounds(x.float(), 0.05, "crown-ibp")
    model = model.double()
    with torch.no_grad():
        outs = model(sample_ball(x, 0.05, math.inf, 300).flatten(0, 1)).reshape(300, *lb.shape)
    tol = 1e-4 * (1 + outs.abs().max())
    assert (outs >= lb.double() - tol).all() and (outs <= ub.double() + tol).all()
