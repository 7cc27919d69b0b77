"""torch.compile(fullgraph=True) traces through every op (the fake kernels)."""
import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import _extension

from .cases import OPS, cases, fused

pytestmark = pytest.mark.skipif(not _extension.LOADED, reason="compiled extension not loaded")


@pytest.mark.parametrize("op", OPS)
def test_compile_fullgraph(op, monkeypatch):
    # symbolic_relu's output row count depends on the data (older torch needs this switch).
    if hasattr(torch._dynamo.config, "capture_dynamic_output_shape_ops"):
        monkeypatch.setattr(torch._dynamo.config, "capture_dynamic_output_shape_ops", True)
    torch._dynamo.reset()
    args, kwargs = cases(op, torch.float32)[0]
    f = fused(op)
    compiled = torch.compile(lambda *a: f(*a, **kwargs), fullgraph=True, backend="aot_eager")
    for g, w in zip(compiled(*args), f(*args, **kwargs)):
        torch.testing.assert_close(g, w)


def test_compile_inductor_chain():
    """A small IBP chain compiled with the default (inductor) backend."""
    torch._dynamo.reset()
    w1, w2 = torch.randn(16, 8), torch.randn(4, 16)

    def chain(c, r):
        c, r = mc.interval_linear(c, r, w1)
        c, r = mc.interval_relu(c, r)
        return mc.interval_linear(c, r, w2)

    c, r = torch.randn(3, 8), torch.rand(3, 8)
    got = torch.compile(chain, fullgraph=True)(c, r)
    for g, w in zip(got, chain(c, r)):
        torch.testing.assert_close(g, w)
