"""CUDA kernels against the reference, on a GPU (skipped cleanly without one)."""
import math

import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import reference

from .cases import OPS, cases, fused, ref_call
from .test_parity import assert_close_to_oracle

pytestmark = pytest.mark.cuda

# Ops with two CUDA implementations (csrc/kernel_choice.h): every test that
# takes the kernel_choice fixture runs on each of them, whatever the size rule
# would pick for its shapes.
CHOICE_OPS = ("interval_linear", "interval_conv2d", "symbolic_linear")


def _cuda(args):
    return [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]


def _cpu(args):
    return [a.cpu() if isinstance(a, torch.Tensor) else a for a in args]


@pytest.fixture(params=["auto", "own", "library"])
def kernel_choice(request):
    from mixtrain_cuda import _C
    for op in CHOICE_OPS:
        _C._set_kernel_choice(op, request.param)
    yield request.param
    for op in CHOICE_OPS:
        _C._set_kernel_choice(op, "auto")


@pytest.fixture(params=["legacy", "fp32_precision"])
def tf32_allowed(request):
    """The settings of a training script that asked for speed: TF32 in cuBLAS
    and cuDNN, through torch's legacy API or its fp32_precision one (torch >=
    2.9; with it alone torch's legacy getter raises, see test_tf32_guard.py)."""
    matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    new = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if request.param == "fp32_precision" and new is None:
        pytest.skip("this torch has no fp32_precision API")
    torch.backends.cudnn.allow_tf32 = True
    if request.param == "legacy":
        torch.set_float32_matmul_precision("high")
    else:
        torch.backends.cuda.matmul.fp32_precision = "tf32"
    yield request.param
    torch.set_float32_matmul_precision(matmul)
    if new is not None:
        torch.backends.cuda.matmul.fp32_precision = new
    torch.backends.cudnn.allow_tf32 = cudnn


@pytest.mark.parametrize("op", OPS)
def test_cuda_matches_cpu_oracle(op, kernel_choice):
    for args64, kwargs in cases(op, torch.float64):
        for dtype in (torch.float32, torch.float64):
            args = _cuda([a.to(dtype) if isinstance(a, torch.Tensor) else a for a in args64])
            got = fused(op)(*args, **kwargs)
            # The float32 reference runs on the CPU: on CUDA it could take TF32
            # (cuDNN's default) and so excuse a kernel that takes it too.
            ref = ref_call(op, _cpu(args), kwargs)
            oracle = ref_call(op, args64, kwargs)
            for g, r, o in zip(got, ref, oracle):
                assert g.device.type == "cuda" and g.dtype == r.dtype and g.shape == r.shape
                if dtype == torch.float64:
                    torch.testing.assert_close(g.cpu(), r.cpu(), rtol=1e-9, atol=1e-9)
                else:
                    assert_close_to_oracle(g.cpu(), r.cpu(), o if o.dtype == torch.int64 else o.double())


@pytest.mark.parametrize("op", OPS)
def test_cuda_gradcheck(op):
    for args, kwargs in cases(op, torch.float64, device="cuda", grad=True):
        tensors = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

        def f(*xs):
            full = list(args)
            for i, x in zip(tensors, xs):
                full[i] = x
            return tuple(o for o in fused(op)(*full, **kwargs) if o.is_floating_point())

        assert torch.autograd.gradcheck(f, [args[i] for i in tensors], eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.fixture(params=[0, 1, 2, 4, 8])
def linear_split(request):
    """Warps per feature of interval_linear's few-row kernel (0: the size rule)."""
    from mixtrain_cuda import _C
    _C._set_interval_linear_split(request.param)
    yield request.param
    _C._set_interval_linear_split(0)


@pytest.mark.parametrize("shape", [(1, 2048, 2048), (2, 4096, 37), (3, 1001, 333), (4, 516, 1030), (7, 1001, 333),
                                   (8, 2048, 520), (13, 1030, 516), (31, 512, 512), (64, 512, 512), (3, 6, 5), (1, 4, 1)])
def test_cuda_interval_linear_sizes(shape, linear_split):
    M, K, N = shape
    c, r = torch.randn(M, K), torch.rand(M, K)
    w, b = torch.randn(N, K), torch.randn(N)
    got = mc.interval_linear(c.cuda(), r.cuda(), w.cuda(), b.cuda())
    oracle = reference.interval_linear(c.double(), r.double(), w.double(), b.double())
    for g, r32, o in zip(got, reference.interval_linear(c, r, w, b), oracle):
        assert_close_to_oracle(g.cpu(), r32, o, factor=8.0)


@pytest.mark.parametrize("shape", [(8, 1030, 516), (16, 2048, 200)])
def test_cuda_interval_linear_float64_tiles(shape, linear_split):
    """The 8- and 16-row tiles' split of K in float64 (their shared-memory
    partial sums are twice as wide as in float32)."""
    M, K, N = shape
    c, r = torch.randn(M, K, dtype=torch.float64), torch.rand(M, K, dtype=torch.float64)
    w, b = torch.randn(N, K, dtype=torch.float64), torch.randn(N, dtype=torch.float64)
    for g, want in zip(mc.interval_linear(c.cuda(), r.cuda(), w.cuda(), b.cuda()), reference.interval_linear(c, r, w, b)):
        torch.testing.assert_close(g.cpu(), want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "view"])
def test_cuda_crown_conv2d_backward_layouts(layout, dtype):
    """The CUDA bias term reads A as one matrix in its own memory order
    (crown_conv2d_backward_cuda.cu: bias_term): NCHW, channels-last and a
    non-dense view of A, one channel, a 1x1 output (where both layouts'
    strides coincide), with and without bias, against the reference."""
    g = torch.Generator().manual_seed(5)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    for N, O, C, k, s, p, size in [(6, 32, 16, 3, 1, 1, (8, 8)), (3, 1, 5, 3, 2, 1, (9, 7)), (4, 24, 3, 4, 1, 0, (4, 4)),
                                   (2, 16, 32, 3, 2, 0, (3, 3))]:
        oh = (size[0] + 2 * p - k) // s + 1
        ow = (size[1] + 2 * p - k) // s + 1
        A = torch.randn(N, O, oh, 2 * ow if layout == "view" else ow, generator=g, dtype=dtype)
        if layout == "view":
            A = A[..., ::2]
        if layout == "channels_last":
            A = A.contiguous(memory_format=torch.channels_last)
        w = torch.randn(O, C, k, k, generator=g, dtype=dtype)
        for bias in (torch.randn(O, generator=g, dtype=dtype), None):
            got = mc.crown_conv2d_backward(A.cuda(), w.cuda(), None if bias is None else bias.cuda(), s, p,
                                           input_size=size)
            want = reference.crown_conv2d_backward(A, w, bias, (s, s), (p, p), (1, 1), size)
            for x, y in zip(got, want):
                assert x.shape == y.shape
                torch.testing.assert_close(x.cpu(), y, **tol)


def test_cuda_symbolic_linear_many_rows():
    B, R, K, N = 3, 300, 200, 130
    c, g, w = torch.randn(B, K), torch.randn(B, R, K), torch.randn(N, K)
    got = mc.symbolic_linear(c.cuda(), g.cuda(), w.cuda(), None, input_rows=100)
    oracle = reference.symbolic_linear(c.double(), g.double(), w.double(), None, 100)
    for out, r32, o in zip(got, reference.symbolic_linear(c, g, w, None, 100), oracle):
        assert_close_to_oracle(out.cpu(), r32, o, factor=8.0)


def test_cuda_non_contiguous_and_empty():
    c = torch.randn(9, 5, device="cuda").t()
    r = torch.rand(9, 5, device="cuda").t()
    w = torch.randn(7, 9, device="cuda")
    for g, want in zip(mc.interval_linear(c, r, w), reference.interval_linear(c, r, w)):
        torch.testing.assert_close(g, want)
    e = torch.empty(0, 9, device="cuda")
    assert mc.interval_linear(e, e, w)[0].shape == (0, 7)


def _large_cases():
    """Shapes big enough that cuBLAS and cuDNN use their tensor-core (TF32)
    kernels when allowed, so a product that slipped into TF32 shows."""
    g = torch.Generator().manual_seed(0)
    t = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    u = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    return [
        ("interval_linear", (t(64, 512), u(64, 512), t(256, 512), t(256)), {}),
        ("interval_linear", (t(4, 512), u(4, 512), t(256, 512), t(256)), {}),
        ("interval_conv2d", (t(8, 16, 16, 16), u(8, 16, 16, 16), t(32, 16, 3, 3), t(32)), dict(padding=1)),
        ("symbolic_linear", (t(2, 256), t(2, 300, 256), t(128, 256), t(128)), dict(input_rows=256)),
        ("symbolic_conv2d", (t(2, 8, 12, 12), t(2, 40, 8, 12, 12), t(16, 8, 3, 3), t(16)),
         dict(padding=1, input_rows=40)),
    ]


def test_cuda_ops_stay_ieee_float32_when_tf32_is_allowed(tf32_allowed, kernel_choice):
    """TF32 (about 1e-3 relative) would make the bounds unsound: every library
    product in the kernels runs in IEEE float32 whatever the global settings,
    and the settings are left as they were."""
    for op, args64, kwargs in _large_cases():
        args = [a.float() if isinstance(a, torch.Tensor) else a for a in args64]
        got = fused(op)(*_cuda(args), **kwargs)
        ref = ref_call(op, args, kwargs)  # float32 on the CPU: no TF32 there
        oracle = ref_call(op, args64, kwargs)
        for g, r, o in zip(got, ref, oracle):
            assert_close_to_oracle(g.cpu(), r, o, factor=8.0)
    if tf32_allowed == "legacy":
        assert torch.get_float32_matmul_precision() == "high"
    else:
        assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    assert torch.backends.cudnn.allow_tf32


def test_kernel_choice_covers_large_generator_rows(kernel_choice):
    """The radius kernel splits generator rows into chunks that meet in
    atomics; many rows and few columns exercise every chunk boundary."""
    B, R, K, N = 2, 3001, 37, 5
    c, g, w = torch.randn(B, K), torch.randn(B, R, K), torch.randn(N, K)
    for norm in (math.inf, 2.0):
        got = mc.symbolic_linear(c.cuda(), g.cuda(), w.cuda(), None, input_rows=1000, input_norm=norm)
        ref = reference.symbolic_linear(c, g, w, None, 1000, norm)
        oracle = reference.symbolic_linear(c.double(), g.double(), w.double(), None, 1000, norm)
        for out, r32, o in zip(got, ref, oracle):
            assert_close_to_oracle(out.cpu(), r32, o, factor=8.0)


def test_cuda_radius_is_the_same_bits_on_every_call(kernel_choice):
    """No atomics in the radius: the ReLU after it decides from it which
    neurons are unstable, and a checkpointed chunk recomputed in the backward
    must decide the same (else autograd refuses the recomputed tensors)."""
    B, R, K, N = 2, 3001, 64, 7
    c, g, w = torch.randn(B, K).cuda(), torch.randn(B, R, K).cuda(), torch.randn(N, K).cuda()
    cc, gc, wc = torch.randn(B, 4, 9, 9).cuda(), torch.randn(B, 500, 4, 9, 9).cuda(), torch.randn(3, 4, 3, 3).cuda()
    calls = [lambda: mc.symbolic_linear(c, g, w, None, input_rows=1000, input_norm=2.0),
             lambda: mc.symbolic_conv2d(cc, gc, wc, None, input_rows=200)]
    for call in calls:
        first = call()
        for _ in range(5):
            for a, b in zip(first, call()):
                assert torch.equal(a, b)
