"""`_C.direct`, the typed entry that call_kernel takes when no gradient is
needed (csrc/direct_calls.cpp), runs the same kernels as torch.ops; whatever
must see the op (autograd, __torch_function__ modes) still goes through torch.ops."""
import pytest
import torch
from torch.overrides import TorchFunctionMode

import mixtrain_cuda as mc
from mixtrain_cuda.ops._extension import LOADED

from .cases import OPS, cases, op_args

pytestmark = pytest.mark.skipif(not LOADED, reason="the compiled extension is not built")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_direct_equals_torch_ops(op, dtype):
    from mixtrain_cuda import _C
    for args, kwargs in cases(op, dtype):
        a = op_args(op, args, kwargs)
        want = getattr(torch.ops.mixtrain, op)(*a)
        got = getattr(_C.direct, op)(*a)
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            assert torch.equal(g, w)  # the same kernel: the same bits


def test_direct_call_errors_name_the_argument():
    from mixtrain_cuda import _C
    with pytest.raises(RuntimeError, match="in_features"):
        _C.direct.interval_linear(torch.randn(2, 4), torch.randn(2, 4), torch.randn(3, 5), None)


class _Recorder(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def test_function_modes_and_autograd_still_see_the_op():
    c, r, w = torch.randn(2, 6), torch.rand(2, 6), torch.randn(3, 6)
    with torch.no_grad(), _Recorder() as rec:
        mc.interval_linear(c, r, w)
    assert any("mixtrain.interval_linear" in s for s in rec.seen), rec.seen
    wg = w.clone().requires_grad_()
    lo, hi = mc.interval_linear(c, r, wg)  # needs a gradient: torch.ops, the registered autograd
    assert lo.grad_fn is not None and hi.grad_fn is not None
    with torch.no_grad():
        out = mc.interval_linear(c, r, wg)
    assert out[0].grad_fn is None


def test_direct_call_on_meta_tensors_runs_the_fake_kernel():
    """The entries release the GIL; a Python kernel behind the dispatcher (the
    fake kernel registered in ops/<op>.py) must take it back and run."""
    from mixtrain_cuda import _C
    c = torch.empty(2, 3, 9, 8, device="meta")
    w = torch.empty(5, 3, 3, 3, device="meta")
    oc, orad = _C.direct.interval_conv2d(c, c, w, None, [2, 2], [1, 1], [1, 1], 1)
    assert oc.device.type == "meta" and oc.shape == (2, 5, 5, 4) and orad.shape == oc.shape
