"""Bounds are claims about every point of a set: random points never leave them."""
import math

import pytest
import torch
import torch.nn.functional as F

import mixtrain_cuda as mc

TOL = 1e-9  # float64 rounding


def _box_points(center, radius, n):
    u = torch.rand(n, *center.shape, dtype=center.dtype) * 2 - 1
    u[: n // 4] = u[: n // 4].sign()  # corners reach the extremes
    return center + u * radius


def _inside(y, center, radius):
    return bool(torch.all(y >= center - radius - TOL) and torch.all(y <= center + radius + TOL))


@pytest.mark.parametrize("seed", range(5))
def test_interval_linear_contains_images_of_box_points(seed):
    torch.manual_seed(seed)
    c, r = torch.randn(4, 23, dtype=torch.float64), torch.rand(4, 23, dtype=torch.float64)
    w, b = torch.randn(11, 23, dtype=torch.float64), torch.randn(11, dtype=torch.float64)
    oc, orad = mc.interval_linear(c, r, w, b)
    for x in _box_points(c, r, 400):
        assert _inside(F.linear(x, w, b), oc, orad)


@pytest.mark.parametrize("seed", range(3))
def test_interval_conv2d_contains_images_of_box_points(seed):
    torch.manual_seed(seed)
    c, r = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8, dtype=torch.float64)
    w, b = torch.randn(5, 3, 3, 3, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    oc, orad = mc.interval_conv2d(c, r, w, b, stride=2, padding=1)
    for x in _box_points(c, r, 200):
        assert _inside(F.conv2d(x, w, b, 2, 1), oc, orad)


@pytest.mark.parametrize("kernel_stride_tile", [(3, 1, "2"), (3, 1, "4"), (4, 2, "2")])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_interval_conv2d_winograd_contains_images_of_box_points(dtype, kernel_stride_tile, monkeypatch):
    """The CPU's Winograd path (3x3 stride 1 by F(2x2, 3x3) or F(4x4, 3x3),
    4x4 stride 2) computes the radius from a transformed radius patch with
    both signs, so its rounding is not the direct sum's: the box must still
    hold every image, in float32 at float32's rounding (relative to the
    output's scale; F(4x4, 3x3)'s coefficients up to 8 round about 10x more
    than F(2x2, 3x3)'s, still well inside it)."""
    k, s, tile = kernel_stride_tile
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "winograd")
    monkeypatch.setenv("MIXTRAIN_CPU_WINOGRAD_TILE", tile)
    torch.manual_seed(7)
    c, r = torch.randn(2, 33, 9, 10, dtype=dtype), torch.rand(2, 33, 9, 10, dtype=dtype)
    w, b = torch.randn(20, 33, k, k, dtype=dtype), torch.randn(20, dtype=dtype)
    c, r = c.contiguous(memory_format=torch.channels_last), r.contiguous(memory_format=torch.channels_last)
    oc, orad = mc.interval_conv2d(c, r, w, b, stride=s, padding=1)
    tol = TOL if dtype == torch.float64 else 1e-5 * float(orad.abs().max() + oc.abs().max())
    for x in _box_points(c, r, 100):
        y = F.conv2d(x.double(), w.double(), b.double(), s, 1)
        assert torch.all(y >= oc.double() - orad.double() - tol)
        assert torch.all(y <= oc.double() + orad.double() + tol)


@pytest.mark.parametrize("kernel_stride_tile", [(3, 1, "2"), (3, 1, "4"), (4, 2, "2")])
def test_interval_conv2d_winograd_radius_never_negative(kernel_stride_tile, monkeypatch):
    """A box whose radii are mostly exact zeros beside large ones (what a ReLU
    leaves): outputs whose window holds only zeros have true radius 0, but
    the Winograd path's transforms mix the whole tile's patch, and without a
    clamp such outputs rounded to -2e-4. A non-negative input radius must give
    a non-negative output radius, as the direct sums of |W| terms always do."""
    k, s, tile = kernel_stride_tile
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "winograd")
    monkeypatch.setenv("MIXTRAIN_CPU_WINOGRAD_TILE", tile)
    torch.manual_seed(9)
    for _ in range(10):
        r = torch.zeros(2, 32, 12, 12)
        mask = torch.rand_like(r) < 0.05
        r[mask] = torch.rand(int(mask.sum())) * 1e3
        c = torch.randn_like(r)
        w = torch.randn(16, 32, k, k)
        w[torch.rand_like(w) < 0.3] = 0
        cl = torch.channels_last
        oc, orad = mc.interval_conv2d(c.contiguous(memory_format=cl), r.contiguous(memory_format=cl), w, None,
                                      stride=s, padding=1)
        assert bool((orad >= 0).all())
        # and still the reference's values (float32 rounding of the 1e3 radii; F(4x4, 3x3)'s up to
        # 3e-6 of the outputs' scale, 14x F(2x2, 3x3)'s: its transforms' coefficients reach 8)
        want = F.conv2d(r.double(), w.double().abs(), None, s, 1)
        atol = 1e-5 * float(want.max()) if tile == "4" else 1e-3
        torch.testing.assert_close(orad.double(), want, rtol=1e-5, atol=atol)


def test_interval_relu_contains_images_and_is_tight():
    c, r = torch.randn(6, 40, dtype=torch.float64), torch.rand(6, 40, dtype=torch.float64)
    oc, orad = mc.interval_relu(c, r)
    for x in _box_points(c, r, 400):
        assert _inside(torch.relu(x), oc, orad)
    # The box endpoints are attained: the bound is exact for a ReLU.
    torch.testing.assert_close(oc - orad, torch.relu(c - r))
    torch.testing.assert_close(oc + orad, torch.relu(c + r))


def _noise(n, rows, input_rows, input_norm, dtype=torch.float64):
    t = torch.rand(n, rows, dtype=dtype) * 2 - 1
    if not math.isinf(input_norm):
        head = torch.randn(n, input_rows, dtype=dtype)
        t[:, :input_rows] = head / head.norm(dim=1, keepdim=True) * torch.rand(n, 1, dtype=dtype)
    return t


@pytest.mark.parametrize("input_norm", [math.inf, 2.0])
def test_symbolic_linear_radius_bounds_every_noise_point(input_norm):
    B, R, K, N, D = 3, 6, 9, 7, 4
    c, g = torch.randn(B, K, dtype=torch.float64), torch.randn(B, R, K, dtype=torch.float64)
    w, b = torch.randn(N, K, dtype=torch.float64), torch.randn(N, dtype=torch.float64)
    oc, og, rad = mc.symbolic_linear(c, g, w, b, input_rows=D, input_norm=input_norm)
    for t in _noise(300, R, D, input_norm):
        x = c + torch.einsum("r,brk->bk", t, g)
        y = F.linear(x, w, b)
        # exact through the affine map ...
        torch.testing.assert_close(y, oc + torch.einsum("r,brn->bn", t, og))
        # ... and inside the concrete bounds
        assert _inside(y, oc, rad)


def test_symbolic_conv2d_radius_bounds_every_noise_point():
    B, R, D = 2, 5, 3
    c, g = torch.randn(B, 2, 6, 6, dtype=torch.float64), torch.randn(B, R, 2, 6, 6, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    oc, og, rad = mc.symbolic_conv2d(c, g, w, None, stride=2, padding=1, input_rows=D)
    for t in _noise(150, R, D, math.inf):
        x = c + torch.einsum("r,brchw->bchw", t, g)
        assert _inside(F.conv2d(x, w, None, 2, 1), oc, rad)


@pytest.mark.parametrize("seed", range(3))
def test_symbolic_relu_represents_relu_exactly_up_to_the_new_symbols(seed):
    """For every noise point t, relu(c + G t) = c' + G'[:R] t + mu * s with one
    s in [-1, 1] per unstable neuron (the new symbol), and exactly c' + G'[:R] t
    for stable neurons."""
    torch.manual_seed(seed)
    B, R, N = 3, 5, 30
    c, g = torch.randn(B, N, dtype=torch.float64), torch.randn(B, R, N, dtype=torch.float64) * 0.3
    rad = g.abs().sum(1)  # concrete radius of the symbolic interval
    oc, og, idx = mc.symbolic_relu(c, g, rad)
    unstable = idx >= 0
    mu = torch.zeros_like(c)
    for bi in range(B):
        for n in range(N):
            if idx[bi, n] >= 0:
                mu[bi, n] = og[bi, idx[bi, n], n]
    assert torch.all(mu[unstable] > 0)
    for t in torch.rand(500, R, dtype=torch.float64) * 2 - 1:
        z = c + torch.einsum("r,brn->bn", t, g)
        base = oc + torch.einsum("r,brn->bn", t, og[:, :R])
        gap = torch.relu(z) - base
        assert torch.all(gap[~unstable].abs() <= TOL)
        s = gap[unstable] / mu[unstable]
        assert torch.all(s.abs() <= 1 + 1e-7)


@pytest.mark.parametrize("upper_bound", [True, False])
def test_crown_relu_backward_bounds_every_point(upper_bound):
    B, S, N = 2, 4, 25
    lower = torch.randn(B, N, dtype=torch.float64)
    upper = lower + torch.rand(B, N, dtype=torch.float64) * 2
    A = torch.randn(B, S, N, dtype=torch.float64)
    new_A, bias = mc.crown_relu_backward(A, lower, upper, upper_bound)
    u = torch.rand(400, B, N, dtype=torch.float64)
    u[:100] = u[:100].round()
    for z in lower + u * (upper - lower):
        exact = torch.einsum("bsn,bn->bs", A, torch.relu(z))
        linear = torch.einsum("bsn,bn->bs", new_A, z) + bias
        if upper_bound:
            assert torch.all(exact <= linear + TOL)
        else:
            assert torch.all(exact >= linear - TOL)


def test_chained_ibp_contains_network_outputs():
    """Two layers and a ReLU: the composed bound holds for points of the input box."""
    torch.manual_seed(3)
    w1, b1 = torch.randn(20, 10, dtype=torch.float64), torch.randn(20, dtype=torch.float64)
    w2, b2 = torch.randn(5, 20, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    x0, eps = torch.rand(3, 10, dtype=torch.float64), 0.05
    c, r = mc.interval_linear(x0, torch.full_like(x0, eps), w1, b1)
    c, r = mc.interval_relu(c, r)
    c, r = mc.interval_linear(c, r, w2, b2)
    for x in _box_points(x0, torch.full_like(x0, eps), 300):
        assert _inside(F.linear(torch.relu(F.linear(x, w1, b1)), w2, b2), c, r)
