"""The fused kernels against the pure-PyTorch reference."""
import itertools

import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import reference

from .cases import OPS, cases, fused, ref_call


def _outputs(result):
    return [x for x in result]


def assert_close_to_oracle(out, ref32, oracle, factor=4.0, floor=1e-6):
    """flash-attention's rule: the kernel's float32 error against the float64
    oracle is within a small multiple of the reference's own float32 error."""
    if out.dtype in (torch.int64,):
        assert torch.equal(out, ref32)
        return
    err = (out.double() - oracle).abs().max().item() if out.numel() else 0.0
    ref_err = (ref32.double() - oracle).abs().max().item() if out.numel() else 0.0
    scale = oracle.abs().max().item() if out.numel() else 1.0
    assert err <= factor * ref_err + floor * max(scale, 1.0), (err, ref_err)


@pytest.mark.parametrize("op", OPS)
def test_float64_equals_reference(op):
    for args, kwargs in cases(op, torch.float64):
        got = _outputs(fused(op)(*args, **kwargs))
        want = _outputs(ref_call(op, args, kwargs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("op", OPS)
def test_float32_error_within_reference_error(op):
    for args64, kwargs in cases(op, torch.float64):
        args32 = [a.float() if isinstance(a, torch.Tensor) else a for a in args64]
        got = _outputs(fused(op)(*args32, **kwargs))
        ref32 = _outputs(ref_call(op, args32, kwargs))
        oracle = _outputs(ref_call(op, args64, kwargs))
        for g, r, o in zip(got, ref32, oracle):
            assert g.dtype == r.dtype
            assert_close_to_oracle(g, r, o if o.dtype == torch.int64 else o.double())


@pytest.mark.parametrize("op", OPS)
def test_non_contiguous_inputs(op):
    for args, kwargs in cases(op, torch.float64):
        # Same values, laid out transposed in memory.
        nc = [a.transpose(0, -1).contiguous().transpose(0, -1) if isinstance(a, torch.Tensor) and a.dim() > 1 else a
              for a in args]
        assert any(isinstance(a, torch.Tensor) and not a.is_contiguous() for a in nc)
        for g, w in zip(fused(op)(*nc, **kwargs), fused(op)(*args, **kwargs)):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 2048, 2048), (5, 300, 129), (16, 512, 512), (24, 33, 65), (30, 64, 31), (50, 64, 31)])
def test_interval_linear_sizes(shape, dtype):
    """Both sides of the fused/BLAS crossover, SIMD tails, one row."""
    M, K, N = shape
    c, r = torch.randn(M, K, dtype=dtype), torch.rand(M, K, dtype=dtype)
    w, b = torch.randn(N, K, dtype=dtype), torch.randn(N, dtype=dtype)
    got = mc.interval_linear(c, r, w, b)
    oracle = reference.interval_linear(c.double(), r.double(), w.double(), b.double())
    ref32 = reference.interval_linear(c, r, w, b)
    for g, r32, o in zip(got, ref32, oracle):
        assert_close_to_oracle(g, r32, o)


@pytest.fixture
def linear_kernel(request):
    """Forces one of interval_linear's three CPU kernels for a test."""
    from mixtrain_cuda import _C
    _C._set_kernel_choice("interval_linear", request.param)
    yield request.param
    _C._set_kernel_choice("interval_linear", "auto")


@pytest.mark.parametrize("linear_kernel", ["own", "packed", "library"], indirect=True)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 5, 3), (6, 256, 8), (7, 257, 9), (13, 300, 17), (50, 513, 65),
                                   (12, 8, 16), (2, 3, 40, 130), (40, 100, 5), (25, 512, 20)])
def test_interval_linear_every_cpu_kernel(shape, dtype, linear_kernel):
    """Each CPU kernel, whatever the size rule picks: the packed one's tails
    (rows past a 6- or 12-row block, channels past a panel, k past a 256
    block), rows split between threads (one panel: N = 5), skewed rows (K =
    512), negative radii, leading dims, a transposed input."""
    *lead, K, N = shape
    g = torch.Generator().manual_seed(7)
    c = torch.randn(*lead, K, dtype=dtype, generator=g)
    r = torch.randn(*lead, K, dtype=dtype, generator=g)  # signed: the linear-bound use
    w, b = torch.randn(N, K, dtype=dtype, generator=g), torch.randn(N, dtype=dtype, generator=g)
    oracle = reference.interval_linear(c.double(), r.double(), w.double(), b.double())
    ref = reference.interval_linear(c, r, w, b)
    got = mc.interval_linear(c, r, w, b)
    for gt, r_, o in zip(got, ref, oracle):
        assert gt.shape == o.shape
        if dtype == torch.float64:
            torch.testing.assert_close(gt, o, rtol=1e-10, atol=1e-10)
        else:
            assert_close_to_oracle(gt, r_, o)
    # No bias, and the input laid out transposed in memory: the same values.
    ct = c.transpose(0, -1).contiguous().transpose(0, -1)
    got_nb = mc.interval_linear(ct, r, w, None)
    torch.testing.assert_close(got_nb[0], got[0] - b, rtol=1e-5 if dtype == torch.float32 else 1e-10,
                               atol=1e-4 if dtype == torch.float32 else 1e-10)
    torch.testing.assert_close(got_nb[1], got[1], rtol=0, atol=0)


def test_packed_choice_is_interval_linear_only():
    from mixtrain_cuda import _C
    with pytest.raises(RuntimeError, match="or packed, for interval_linear"):
        _C._set_kernel_choice("interval_conv2d", "packed")


@pytest.mark.parametrize("geometry", [
    dict(B=1, C=1, H=28, O=16, k=4, stride=2, padding=1),      # MNIST small, conv 1
    dict(B=8, C=16, H=14, O=32, k=4, stride=2, padding=1),     # MNIST small, conv 2
    dict(B=4, C=32, H=15, O=64, k=3, stride=1, padding=0),     # MNIST large, conv 3
    dict(B=2, C=3, H=64, O=8, k=7, stride=2, padding=3),       # ImageNet-200 stem (fewer channels)
    # Winograd F(4x4, 3x3) on AVX2 (winograd_tile, NCHW from 32 tiles): its transforms' coefficients (up to
    # 8) round up to ~6x the two-convolution reference's float32 error here (5.6e-4 against 9.3e-5 on
    # outputs of ~140: 4e-6 of the scale), so its allowance is 8x, not 4x
    dict(B=2, C=64, H=16, O=64, k=3, stride=1, padding=1, factor=8.0),
])
def test_interval_conv2d_layer_shapes(geometry):
    """The default CPU path at MixTrain layer shapes, within a small multiple
    of the reference's own float32 error (assert_close_to_oracle)."""
    g = geometry
    c = torch.randn(g["B"], g["C"], g["H"], g["H"])
    r = torch.rand_like(c)
    w, b = torch.randn(g["O"], g["C"], g["k"], g["k"]), torch.randn(g["O"])
    got = mc.interval_conv2d(c, r, w, b, stride=g["stride"], padding=g["padding"])
    args = ((g["stride"],) * 2, (g["padding"],) * 2, (1, 1), 1)
    oracle = reference.interval_conv2d(c.double(), r.double(), w.double(), b.double(), *args)
    for out, r32, o in zip(got, reference.interval_conv2d(c, r, w, b, *args), oracle):
        assert_close_to_oracle(out, r32, o, factor=g.get("factor", 4.0))


@pytest.mark.parametrize("op", ["interval_linear", "interval_conv2d", "interval_relu", "interval_relu_backward",
                                "symbolic_linear",
                                "symbolic_conv2d", "symbolic_relu", "crown_relu_backward",
                                "crown_relu_backward_grad", "crown_conv2d_backward",
                                "crown_relu_conv2d_backward"])
def test_empty_batch(op):
    args, kwargs = cases(op, torch.float64)[0]
    empty = [a[:0] if isinstance(a, torch.Tensor) and a.dim() > 1 and not (op.endswith("linear") and a is args[2])
             else a for a in args]
    if op in ("interval_conv2d", "symbolic_conv2d"):
        empty[2] = args[2]  # the weight keeps its shape
    if op == "crown_conv2d_backward":
        empty[1] = args[1]
    if op == "crown_relu_conv2d_backward":
        empty[3] = args[3]
    got = fused(op)(*empty, **kwargs)
    want = ref_call(op, empty, kwargs)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.numel() == 0


def test_symbolic_relu_compacts_new_rows_per_sample():
    center = torch.tensor([[1.0, -0.2, 0.1, -3.0], [0.0, 0.5, -0.5, 2.0]], dtype=torch.float64)
    radius = torch.tensor([[0.5, 0.5, 0.5, 0.5], [1.0, 1.0, 1.0, 0.1]], dtype=torch.float64)
    gens = torch.randn(2, 3, 4, dtype=torch.float64)
    c, g, idx = mc.symbolic_relu(center, gens, radius)
    # sample 0: neurons 1, 2 unstable; sample 1: neurons 0, 1, 2 unstable -> U = 3
    assert g.shape == (2, 6, 4)
    assert idx.tolist() == [[-1, 3, 4, -1], [3, 4, 5, -1]]
    assert torch.all(g[0, 5] == 0)  # padding row of the sample with fewer unstable neurons
    lam = (center + radius) / (2 * radius)
    mu = (radius ** 2 - center ** 2) / (4 * radius)
    assert g[1, 4, 1] == pytest.approx(mu[1, 1].item())
    assert c[0, 0] == center[0, 0] and c[0, 3] == 0
    assert c[1, 2] == pytest.approx((lam[1, 2] * center[1, 2] + mu[1, 2]).item())


def test_cpu_simd_variants_agree(monkeypatch):
    """Every compiled SIMD variant (AVX-512, AVX2, generic) gives the reference's
    result (interval_linear's dot-product and packed kernels, interval_conv2d's direct kernel and Winograd
    transforms, crown_conv2d_backward): run the other
    variants in a subprocess with the level capped."""
    import subprocess
    import sys
    code = ("import torch, mixtrain_cuda as mc\n"
            "from mixtrain_cuda.ops import reference\n"
            "torch.manual_seed(1)\n"
            "c, r, w, b = torch.randn(5, 77, dtype=torch.float64), torch.rand(5, 77, dtype=torch.float64), "
            "torch.randn(13, 77, dtype=torch.float64), torch.randn(13, dtype=torch.float64)\n"
            "for x, y in zip(mc.interval_linear(c, r, w, b), reference.interval_linear(c, r, w, b)):\n"
            "    torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)\n"
            "for dt, M, N in ((torch.float64, 20, 37), (torch.float32, 20, 37), (torch.float64, 25, 130)):\n"
            # 20-25 rows: the packed kernel, tails in every dim, a second 64-channel block
            "    c, r, w, b = torch.randn(M, 300, dtype=dt), torch.randn(M, 300, dtype=dt), "
            "torch.randn(N, 300, dtype=dt), torch.randn(N, dtype=dt)\n"
            "    for x, y in zip(mc.interval_linear(c, r, w, b), reference.interval_linear(c.double(), r.double(), "
            "w.double(), b.double())):\n"
            "        torch.testing.assert_close(x.double(), y, rtol=1e-4 if dt == torch.float32 else 1e-12, "
            "atol=1e-3 if dt == torch.float32 else 1e-12)\n"
            "c, r, w = torch.randn(2, 3, 11, 13, dtype=torch.float64), torch.rand(2, 3, 11, 13, dtype=torch.float64), "
            "torch.randn(21, 3, 3, 3, dtype=torch.float64)\n"
            "for s in (1, 2, 3):\n"
            "    for x, y in zip(mc.interval_conv2d(c, r, w, None, s, 1), "
            "reference.interval_conv2d(c, r, w, None, (s, s), (1, 1))):\n"
            "        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)\n"
            "A, w, b = torch.randn(3, 11, 5, 6, dtype=torch.float64), torch.randn(11, 3, 3, 3, dtype=torch.float64), "
            "torch.randn(11, dtype=torch.float64)\n"
            "for s in (1, 2):\n"
            "    size = (5 * s, 6 * s)\n"
            "    for x, y in zip(mc.crown_conv2d_backward(A, w, b, s, 1, 1, size), "
            "reference.crown_conv2d_backward(A, w, b, (s, s), (1, 1), (1, 1), size)):\n"
            "        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)\n"
            "import os\n"
            "os.environ['MIXTRAIN_CPU_CONV'] = 'winograd'\n"
            "c, r, w = torch.randn(2, 9, 11, 13, dtype=torch.float64), torch.rand(2, 9, 11, 13, dtype=torch.float64), "
            "torch.randn(21, 9, 3, 3, dtype=torch.float64)\n"
            "for x, y in zip(mc.interval_conv2d(c, r, w, None, 1, 1), "
            "reference.interval_conv2d(c, r, w, None, (1, 1), (1, 1))):\n"
            "    torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)\n"
            "os.environ['MIXTRAIN_CPU_WINOGRAD_TILE'] = '4'\n"  # F(4x4, 3x3)'s transforms
            "for x, y in zip(mc.interval_conv2d(c, r, w, None, 1, 1), "
            "reference.interval_conv2d(c, r, w, None, (1, 1), (1, 1))):\n"
            "    torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)\n"
            "w = torch.randn(21, 9, 4, 4, dtype=torch.float64)\n"
            "for x, y in zip(mc.interval_conv2d(c, r, w, None, 2, 1), "
            "reference.interval_conv2d(c, r, w, None, (2, 2), (1, 1))):\n"
            "    torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)\n"
            "cl = torch.channels_last\n"  # whole-vector stores into channels-last outputs (the unpairing shuffles)
            "c, r = c.float().contiguous(memory_format=cl), r.float().contiguous(memory_format=cl)\n"
            "for k, s, tile in ((3, 1, '2'), (4, 2, '2'), (3, 1, '4')):\n"
            "    os.environ['MIXTRAIN_CPU_WINOGRAD_TILE'] = tile\n"
            "    w = torch.randn(24, 9, k, k)\n"
            "    for x, y in zip(mc.interval_conv2d(c, r, w, None, s, 1), "
            "reference.interval_conv2d(c, r, w, None, (s, s), (1, 1))):\n"
            "        assert x.is_contiguous(memory_format=cl)\n"
            "        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)\n"
            "print(mc.build_info()['cpu_simd'])\n")
    seen = set()
    for level in ("generic", "avx2", "avx512"):
        env = dict(__import__("os").environ, MIXTRAIN_CPU_SIMD=level, MIXTRAIN_CPU_CONV="direct")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        seen.add(out.stdout.strip())
    assert "generic" in seen


@pytest.mark.parametrize("input_norm", [float("inf"), 2.0])
def test_symbolic_chunks_that_split_samples(input_norm):
    """The CPU kernels reduce the radius chunk by chunk over the flattened
    B*R rows (chunks of ~2 MiB); here chunk borders fall inside samples."""
    B, R, K, N = 3, 300, 20, 1000  # 1000 floats a row: 524-row chunks
    c, g, w = (torch.randn(B, K, dtype=torch.float64), torch.randn(B, R, K, dtype=torch.float64),
               torch.randn(N, K, dtype=torch.float64))
    for x, y in zip(mc.symbolic_linear(c, g, w, None, 100, input_norm),
                    reference.symbolic_linear(c, g, w, None, 100, input_norm)):
        torch.testing.assert_close(x, y)
    c, g, w = (torch.randn(2, 2, 16, 16, dtype=torch.float64), torch.randn(2, 200, 2, 16, 16, dtype=torch.float64),
               torch.randn(8, 2, 3, 3, dtype=torch.float64))  # 2048 floats a row: 128-row chunks (float64)
    for x, y in zip(mc.symbolic_conv2d(c, g, w, None, padding=1, input_rows=150, input_norm=input_norm),
                    reference.symbolic_conv2d(c, g, w, None, (1, 1), (1, 1), (1, 1), 1, 150, input_norm)):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("linear_kernel", ["auto", "own", "packed", "library"], indirect=True)
@pytest.mark.parametrize("rows", [3, 13])
def test_interval_linear_zero_in_features(rows, linear_kernel):
    c = torch.randn(2, rows, 0)
    w, b = torch.randn(4, 0), torch.randn(4)
    oc, orad = mc.interval_linear(c, c, w, b)
    assert oc.shape == (2, rows, 4)
    torch.testing.assert_close(oc, b.expand(2, rows, 4))
    assert torch.all(orad == 0)


def test_relu_ops_match_reference_on_degenerate_boxes():
    """Zero-width boxes at 0, negative radii (l > u) and NaN follow the
    reference's case order exactly (unstable iff l < 0 < u, else active iff l >= 0)."""
    nan = float("nan")
    center = torch.tensor([[0.0, -1.0, 1.0, 0.5, nan, 0.0, -0.5]], dtype=torch.float64)
    radius = torch.tensor([[0.0, -2.0, -0.5, 1.0, 1.0, 1.0, 0.5]], dtype=torch.float64)
    for got, want in zip(mc.interval_relu(center, radius), reference.interval_relu(center, radius)):
        torch.testing.assert_close(got, want, equal_nan=True)
    gens = torch.randn(1, 2, 7, dtype=torch.float64)
    for got, want in zip(mc.symbolic_relu(center, gens, radius), reference.symbolic_relu(center, gens, radius)):
        torch.testing.assert_close(got, want, equal_nan=True)
    A = torch.randn(1, 3, 7, dtype=torch.float64)
    for upper_bound in (True, False):
        got = mc.crown_relu_backward(A, center - radius, center + radius, upper_bound)
        want = reference.crown_relu_backward(A, center - radius, center + radius, upper_bound)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, equal_nan=True)


def test_interval_conv2d_channels_last_input():
    c = torch.randn(2, 3, 9, 9, dtype=torch.float64).to(memory_format=torch.channels_last)
    r = torch.rand(2, 3, 9, 9, dtype=torch.float64).to(memory_format=torch.channels_last)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    for got, want in zip(mc.interval_conv2d(c, r, w, None, padding=1),
                         reference.interval_conv2d(c, r, w, None, (1, 1), (1, 1), (1, 1), 1)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("path", ["direct", "onednn", "winograd"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interval_conv2d_both_cpu_paths(path, dtype, monkeypatch):
    """interval_conv2d's CPU kernel picks a direct convolution or two oneDNN
    ones by layer size (or Winograd's: 3x3 stride-1 and 4x4 stride-2 layers,
    the first, second and seventh geometry; elsewhere "winograd" leaves the
    choice to the size rule); MIXTRAIN_CPU_CONV forces each. 16/48/70 channels
    cover the vector tails, strides 1..3 the position-to-input address
    arithmetic; one input is channels-last, one a strided view. The direct
    kernel's tasks are spans of up to 96 flattened output positions whose
    register blocks cross rows: 40 x 37 at B = 1 (16 spans on 2 threads, the
    last partial) and 13 x 13 in 2 groups (spans of 96 + 73) cover that.
    Every register-block size: the test below."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", path)
    torch.manual_seed(3)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    geometries = [  # (B, C, H, W, O, k, stride, padding, dilation, groups)
        (2, 3, 9, 17, 16, 3, 1, 1, 1, 1), (1, 5, 12, 12, 48, 4, 2, 1, 1, 1), (2, 4, 11, 10, 70, 3, 3, 2, 1, 1),
        (1, 6, 9, 9, 12, 3, 1, 0, 2, 3), (3, 2, 5, 3, 33, 2, 1, 0, 1, 1), (1, 1, 20, 31, 7, 5, 2, 2, 1, 1),
        (1, 3, 40, 37, 20, 3, 1, 1, 1, 1), (5, 4, 15, 15, 32, 3, 1, 0, 1, 2),
    ]
    for i, (B, C, H, W, O, k, s, p, d, g) in enumerate(geometries):
        c = torch.randn(B, C, H, W, dtype=dtype)
        r = torch.rand(B, C, H, W, dtype=dtype)
        if i == 1:
            c = c.contiguous(memory_format=torch.channels_last)
        if i == 2:
            c = torch.randn(B, C, H, 2 * W, dtype=dtype)[..., ::2]
        w = torch.randn(O, C // g, k, k, dtype=dtype)
        b = torch.randn(O, dtype=dtype) if i % 2 == 0 else None
        got = mc.interval_conv2d(c, r, w, b, stride=s, padding=p, dilation=d, groups=g)
        want = reference.interval_conv2d(c, r, w, b, (s, s), (p, p), (d, d), g)
        for x, y in zip(got, want):
            torch.testing.assert_close(x, y, **tol)


@pytest.mark.parametrize("path", ["direct", "onednn", "winograd"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interval_conv2d_keeps_channels_last_on_cpu(path, dtype, monkeypatch):
    """On the CPU a channels-last box gives channels-last outputs on both paths
    (the direct kernel writes whole pixels), with the reference's values; an
    NCHW box gives NCHW. 70 output channels split each direct task's channels
    in two halves, and groups offset each group's channels in a pixel; the
    radius may come in another layout (made like the center's)."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", path)
    torch.manual_seed(5)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    for B, C, H, W, O, k, s, p, g in [(2, 16, 9, 11, 70, 3, 1, 1, 1), (3, 6, 8, 8, 12, 4, 2, 1, 3),
                                      (1, 32, 7, 5, 64, 3, 2, 0, 1), (2, 8, 10, 9, 20, 4, 2, 1, 1)]:
        c = torch.randn(B, C, H, W, dtype=dtype)
        r = torch.rand(B, C, H, W, dtype=dtype)
        w = torch.randn(O, C // g, k, k, dtype=dtype)
        b = torch.randn(O, dtype=dtype)
        want = reference.interval_conv2d(c, r, w, b, (s, s), (p, p), (1, 1), g)
        for cl_c, cl_r in [(True, True), (True, False), (False, False)]:
            cc = c.contiguous(memory_format=torch.channels_last) if cl_c else c
            rr = r.contiguous(memory_format=torch.channels_last) if cl_r else r
            got = mc.interval_conv2d(cc, rr, w, b, stride=s, padding=p, groups=g)
            fmt = torch.channels_last if cl_c else torch.contiguous_format
            for x, y in zip(got, want):
                assert x.is_contiguous(memory_format=fmt)
                torch.testing.assert_close(x, y, **tol)
        relu = mc.interval_relu(*got)
        assert all(t.is_contiguous() for t in relu)
        cl = [t.contiguous(memory_format=torch.channels_last) for t in got]
        for x, y in zip(mc.interval_relu(*cl), relu):
            assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize("tile", ["2", "4"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interval_conv2d_winograd_geometries(dtype, tile, monkeypatch):
    """The Winograd path, F(2x2, 3x3) or F(4x4, 3x3) (MIXTRAIN_CPU_WINOGRAD_TILE)
    for 3x3 stride-1 layers and F(2x2, 2x2) over the four stride phases for
    4x4 stride-2 ones, covers the output with 2 x 2 or 4 x 4 tiles: output
    heights and widths that leave the last tile 1..3 rows or columns short
    (its input zero rows or columns past the padding), padding 0..2, 1x1 to 2x2 outputs, channel
    counts off the SIMD width (5, 33 in; 1, 7, 70 out: the last vector of
    output channels stored by scalars), NCHW, channels-last and strided
    boxes, with and without bias, spans of tiles cut across rows (12 x 29 at
    B = 1) and an empty batch. It is a different computation, not a copy of
    the direct path: float32 results differ from it in the last bits (F(4x4,
    3x3)'s by about 10x F(2x2, 3x3)'s)."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "winograd")
    monkeypatch.setenv("MIXTRAIN_CPU_WINOGRAD_TILE", tile)
    torch.manual_seed(8)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    geometries = [  # (B, C, H, W, O, padding, layout)
        (2, 5, 7, 9, 7, 1, "nchw"), (1, 33, 12, 29, 70, 1, "cl"), (3, 8, 6, 5, 1, 0, "cl"),
        (1, 4, 3, 3, 8, 0, "nchw"), (1, 4, 4, 3, 9, 0, "strided"), (2, 16, 5, 6, 16, 2, "cl"),
        (0, 8, 6, 6, 8, 1, "cl"), (4, 32, 8, 8, 64, 1, "cl"), (2, 9, 13, 10, 24, 1, "nchw"),
    ]
    for (k, s), (i, (B, C, H, W, O, p, layout)) in itertools.product([(3, 1), (4, 2)], enumerate(geometries)):
        if min(H, W) + 2 * p < k:
            continue  # (3 x 3 unpadded: no 4x4 output)
        c, r = torch.randn(B, C, H, W, dtype=dtype), torch.rand(B, C, H, W, dtype=dtype)
        if layout == "cl":
            c, r = c.contiguous(memory_format=torch.channels_last), r.contiguous(memory_format=torch.channels_last)
        if layout == "strided":
            c = torch.randn(B, C, H, 2 * W, dtype=dtype)[..., ::2]
        w = torch.randn(O, C, k, k, dtype=dtype)
        b = torch.randn(O, dtype=dtype) if i % 2 == 0 else None
        got = mc.interval_conv2d(c, r, w, b, stride=s, padding=p)
        want = reference.interval_conv2d(c, r, w, b, (s, s), (p, p), (1, 1), 1)
        for x, y in zip(got, want):
            assert x.shape == y.shape
            if B > 0:  # (an empty box has no layout to keep: opcheck covers its strides)
                assert x.is_contiguous(memory_format=torch.channels_last if layout == "cl" else torch.contiguous_format)
            if tile == "4" and k == 3 and dtype == torch.float32 and y.numel():
                # F(4x4, 3x3) rounds relative to the tile's magnitudes (coefficients up to 8): a few
                # 1e-4 differences on outputs of ~30 with 33 channels; 1e-5 of the output's scale.
                torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5 * float(y.abs().max()))
                continue
            torch.testing.assert_close(x, y, **tol)
    if dtype == torch.float32:
        monkeypatch.setenv("MIXTRAIN_CPU_CONV", "direct")
        direct = mc.interval_conv2d(c, r, w, b, stride=2, padding=1)
        assert not torch.equal(got[0], direct[0]) and not torch.equal(got[1], direct[1])


@pytest.mark.parametrize("k, s, tile", [(3, 1, "2"), (3, 1, "4"), (4, 2, "2")])
def test_interval_conv2d_winograd_signed_radius(k, s, tile, monkeypatch):
    """The op also carries signed "radii" (linear-bound matrices): there the
    Winograd path must not clamp its radius at 0 (it does so only when the
    input radius is >= 0 everywhere) and gives the reference's values."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "winograd")
    monkeypatch.setenv("MIXTRAIN_CPU_WINOGRAD_TILE", tile)
    torch.manual_seed(10)
    c, r = torch.randn(2, 8, 10, 10, dtype=torch.float64), torch.randn(2, 8, 10, 10, dtype=torch.float64)
    w = torch.randn(12, 8, k, k, dtype=torch.float64)
    got = mc.interval_conv2d(c, r, w, None, stride=s, padding=1)
    want = reference.interval_conv2d(c, r, w, None, (s, s), (1, 1))
    assert bool((got[1] < 0).any())
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("path", ["direct", "winograd"])
@pytest.mark.parametrize("layout", ["nchw", "cl", "strided"])
def test_interval_conv2d_chunked_copies(path, layout, monkeypatch):
    """The direct and Winograd paths copy their input in chunks of samples
    (csrc/cpu/interval_conv2d_cpu.cpp: pad_chunk_samples, about 2 MB a copy).
    Chunks of one sample (1 KB), of two or three (100 KB; 7 samples, so the
    last is shorter) and one copy of the whole batch (MIXTRAIN_CPU_PAD_CHUNK_KB
    = 0) give the same centers, bit for bit, and the reference's values; each
    output sample comes from its own input sample (distinct samples: an offset
    error would show). The direct path also with two groups and its channel
    halves (32 output channels per group in float64: two tasks per span)."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", path)
    torch.manual_seed(21)
    B, C, H = 7, 16, 10
    cases = [(3, 1, 1, 12), (4, 2, 1, 12)] + ([(3, 1, 2, 64)] if path == "direct" else [])
    for k, s, groups, O in cases:
        c, r = torch.randn(B, C, H, H, dtype=torch.float64), torch.rand(B, C, H, H, dtype=torch.float64)
        if layout == "cl":
            c, r = c.contiguous(memory_format=torch.channels_last), r.contiguous(memory_format=torch.channels_last)
        if layout == "strided":
            c = torch.cat([c, c], 3)[..., ::2]
        w = torch.randn(O, C // groups, k, k, dtype=torch.float64)
        b = torch.randn(O, dtype=torch.float64)
        results = {}
        for kb in ["0", "1", "100"]:
            monkeypatch.setenv("MIXTRAIN_CPU_PAD_CHUNK_KB", kb)
            results[kb] = mc.interval_conv2d(c, r, w, b, stride=s, padding=1, groups=groups)
        want = reference.interval_conv2d(c, r, w, b, (s, s), (1, 1), (1, 1), groups)
        for got in results.values():
            assert torch.equal(got[0], results["0"][0])
            for x, z in zip(got, want):
                torch.testing.assert_close(x, z)


@pytest.mark.parametrize("tile", ["2", "4"])
def test_interval_conv2d_winograd_clamps_per_copy(tile, monkeypatch):
    """The Winograd path clamps output radii at 0 where its copy's input radii
    are all >= 0 (sparse radii and weights with zeros round some outputs of
    true radius 0 to small negative values, see test_soundness.py). Chunks
    make that decision per copy: with sample 3's radii signed, one copy of the
    whole batch clamps nothing (negative radii left in the other samples: the
    precondition, met in some of the seeded trials), one-sample copies clamp
    every other sample -- exactly the whole-batch values clamped at 0 -- and
    leave sample 3's signed values as they were."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "winograd")
    monkeypatch.setenv("MIXTRAIN_CPU_WINOGRAD_TILE", tile)
    torch.manual_seed(22)
    B, C, H, O = 7, 32, 12, 16
    others = torch.arange(B) != 3
    clamped = 0
    for _ in range(4):
        c = torch.randn(B, C, H, H)
        r = torch.zeros(B, C, H, H)
        mask = torch.rand_like(r) < 0.05
        r[mask] = torch.rand(int(mask.sum())) * 1e3
        r[3] = torch.randn(C, H, H)
        w = torch.randn(O, C, 3, 3)
        w[torch.rand_like(w) < 0.3] = 0
        monkeypatch.setenv("MIXTRAIN_CPU_PAD_CHUNK_KB", "0")
        whole = mc.interval_conv2d(c, r, w, None, stride=1, padding=1)
        monkeypatch.setenv("MIXTRAIN_CPU_PAD_CHUNK_KB", "1")
        chunked = mc.interval_conv2d(c, r, w, None, stride=1, padding=1)
        clamped += int((whole[1][others] < 0).sum())
        assert torch.equal(chunked[1][others], whole[1][others].clamp(min=0))
        assert torch.equal(chunked[1][3], whole[1][3]) and bool((chunked[1][3] < 0).any())
        assert torch.equal(chunked[0], whole[0])
    assert clamped > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interval_conv2d_direct_every_block_size(dtype, monkeypatch):
    """The direct kernel cuts a span of n output positions into register
    blocks of 1..6 positions on AVX2 (1..12 on AVX-512), each over two
    vectors of (center, radius) pairs: 8 channels (16 on AVX-512), so 48
    channels are 6 (3) such blocks. Since blocks run over the flattened
    output, their sizes follow the span, not the row width: a 1 x n output at
    B = 1 is one span of n (fewer than 24 positions), so n = 1..17 makes
    every size."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "direct")
    torch.manual_seed(4)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    w = torch.randn(48, 3, 3, 3, dtype=dtype)
    b = torch.randn(48, dtype=dtype)
    for n in range(1, 18):
        c = torch.randn(1, 3, 3, n + 2, dtype=dtype)
        r = torch.rand_like(c)
        got = mc.interval_conv2d(c, r, w, b)
        want = reference.interval_conv2d(c, r, w, b)
        assert got[0].shape == (1, 48, 1, n)
        for x, y in zip(got, want):
            torch.testing.assert_close(x, y, **tol)


@pytest.mark.parametrize("layout", ["nchw", "cl", "strided", "mixed"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interval_conv2d_1x1_strided_reads_only_its_pixels(layout, dtype, monkeypatch):
    """The direct path copies only every s-th row and column of a 1x1
    stride-s unpadded layer's input (a strided view, then a 1x1 stride-1
    convolution): the reference's values and the input's layout kept, with
    equal and unequal strides (a stride of 1 along the width leaves
    channels-last rows dense), odd sizes whose last row or column is not
    read, a 1x1 input, an empty batch, and a channels-last center beside an
    NCHW radius ("mixed")."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", "direct")
    torch.manual_seed(31)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    for B, C, H, W, O, stride in [(1, 64, 16, 16, 128, (2, 2)), (3, 5, 7, 9, 6, (2, 2)), (2, 16, 9, 8, 8, (3, 2)),
                                  (1, 8, 1, 1, 4, (2, 2)), (0, 4, 4, 4, 4, (2, 2)), (2, 32, 15, 16, 24, (2, 3)),
                                  (2, 16, 9, 7, 8, (2, 1)), (1, 24, 6, 9, 16, (1, 2))]:
        c, r = torch.randn(B, C, H, W, dtype=dtype), torch.rand(B, C, H, W, dtype=dtype)
        if layout in ("cl", "mixed"):
            c = c.contiguous(memory_format=torch.channels_last)
        if layout == "cl":
            r = r.contiguous(memory_format=torch.channels_last)
        if layout == "strided":
            c = torch.randn(B, C, H, 2 * W, dtype=dtype)[..., ::2]
        w, b = torch.randn(O, C, 1, 1, dtype=dtype), torch.randn(O, dtype=dtype)
        got = mc.interval_conv2d(c, r, w, b, stride=stride, padding=0)
        want = reference.interval_conv2d(c, r, w, b, stride, (0, 0), (1, 1), 1)
        for x, y in zip(got, want):
            assert x.shape == y.shape
            if B > 0 and H * W > 1:
                cl = layout in ("cl", "mixed")  # (the center's layout)
                assert x.is_contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
            torch.testing.assert_close(x, y, **tol)


@pytest.mark.parametrize("path", ["direct", "winograd"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interval_conv2d_weight_panels(path, dtype, monkeypatch):
    """The direct micro-kernel (both paths) reads its weights from panels of one
    register block's channels, tap after tap (IntervalDirectConv::wpanel);
    MIXTRAIN_CPU_CONV_PANELS=0 keeps the [taps, channels, 2] rows of before.
    The sums run in the same order, so both give the same bits, and the
    reference's values: channel counts that leave the last panel part empty
    (12, 70), the direct path's channel halves of wide layers (70 channels), two groups, a
    3x3 and a 4x4 stride-2 layer (all three Winograd forms)."""
    monkeypatch.setenv("MIXTRAIN_CPU_CONV", path)
    torch.manual_seed(23)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    cases = [(3, 1, 1, 12), (4, 2, 1, 70), (3, 1, 1, 70)] + ([(3, 1, 2, 12)] if path == "direct" else [])
    for (k, s, groups, O), tile in itertools.product(cases, ["2", "4"] if path == "winograd" else ["2"]):
        monkeypatch.setenv("MIXTRAIN_CPU_WINOGRAD_TILE", tile)
        c = torch.randn(3, 16, 9, 9, dtype=dtype)
        r = torch.rand_like(c)
        w = torch.randn(O, 16 // groups, k, k, dtype=dtype)
        b = torch.randn(O, dtype=dtype)
        got = {}
        for panels in ["0", "1"]:
            monkeypatch.setenv("MIXTRAIN_CPU_CONV_PANELS", panels)
            got[panels] = mc.interval_conv2d(c, r, w, b, stride=s, padding=1, groups=groups)
        assert torch.equal(got["0"][0], got["1"][0]) and torch.equal(got["0"][1], got["1"][1])
        want = reference.interval_conv2d(c, r, w, b, (s, s), (1, 1), (1, 1), groups)
        for x, z in zip(got["1"], want):
            if tile == "4" and k == 3 and dtype == torch.float32:  # F(4x4, 3x3): 1e-5 of the scale (above)
                torch.testing.assert_close(x, z, rtol=1e-4, atol=1e-5 * float(z.abs().max()))
            else:
                torch.testing.assert_close(x, z, **tol)
