"""CUDA kernels against the reference, on a GPU (skipped cleanly without one)."""
import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import reference

from .cases import OPS, cases, fused, ref_call
from .test_parity import assert_close_to_oracle

pytestmark = pytest.mark.cuda


def _cuda(args):
    return [a.cuda() if isinstance(a, torch.Tensor) else a for a in args]


@pytest.mark.parametrize("op", OPS)
def test_cuda_matches_cpu_oracle(op):
    for args64, kwargs in cases(op, torch.float64):
        for dtype in (torch.float32, torch.float64):
            args = _cuda([a.to(dtype) if isinstance(a, torch.Tensor) else a for a in args64])
            got = fused(op)(*args, **kwargs)
            ref = ref_call(op, args, kwargs)
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


@pytest.mark.parametrize("shape", [(1, 2048, 2048), (7, 1001, 333), (31, 512, 512), (64, 512, 512), (3, 6, 5)])
def test_cuda_interval_linear_sizes(shape):
    M, K, N = shape
    c, r = torch.randn(M, K), torch.rand(M, K)
    w, b = torch.randn(N, K), torch.randn(N)
    got = mc.interval_linear(c.cuda(), r.cuda(), w.cuda(), b.cuda())
    oracle = reference.interval_linear(c.double(), r.double(), w.double(), b.double())
    for g, r32, o in zip(got, reference.interval_linear(c, r, w, b), oracle):
        assert_close_to_oracle(g.cpu(), r32, o, factor=8.0)


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
