"""torch.library.opcheck: schema, fake (meta) kernel, autograd registration and
AOT dispatch agree with the real kernels."""
import pytest
import torch

from .cases import OPS, cases, op_args

from mixtrain_cuda.ops import _extension

pytestmark = pytest.mark.skipif(not _extension.LOADED, reason="compiled extension not loaded")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("grad", [False, True])
def test_opcheck(op, grad):
    for args, kwargs in cases(op, torch.float64, grad=grad):
        torch.library.opcheck(getattr(torch.ops.mixtrain, op).default, op_args(op, args, kwargs))


@pytest.mark.cuda
@pytest.mark.parametrize("op", OPS)
def test_opcheck_cuda(op):
    for args, kwargs in cases(op, torch.float32, device="cuda", grad=True):
        torch.library.opcheck(getattr(torch.ops.mixtrain, op).default, op_args(op, args, kwargs))
