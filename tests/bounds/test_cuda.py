"""The bound engine on a GPU: the bounds of the CPU, sound at sampled and
PGD-found points, and untouched by TF32 settings (skipped cleanly without one)."""
import copy
import math

import pytest
import torch

from mixtrain_cuda.bounds import BoundedModule, margin_spec
from mixtrain_cuda.models import get_model

from . import nets
from .test_soundness import METHODS, pgd_extremes, sample_ball

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("norm", [math.inf, 2.0], ids=["linf", "l2"])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(nets.NETS))
def test_cuda_bounds_equal_cpu_and_are_sound(name, method, norm):
    model = nets.make(name, dtype=torch.float32)
    x = nets.inputs(name, 3, dtype=torch.float32)
    eps = 0.1 if math.isinf(norm) else 0.5
    lb_cpu, ub_cpu = BoundedModule(model).compute_bounds(x, eps, method, norm=norm)
    lb, ub = BoundedModule(copy.deepcopy(model).cuda()).compute_bounds(x.cuda(), eps, method, norm=norm)
    scale = max(1.0, ub_cpu.abs().max().item())
    torch.testing.assert_close(lb.cpu(), lb_cpu, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(ub.cpu(), ub_cpu, rtol=1e-4, atol=1e-5 * scale)
    # Soundness of the GPU's float32 bounds, against the float64 network.
    model64 = model.double()
    points = sample_ball(x.double(), eps, norm, 64)
    out = model64(points.flatten(0, 1)).view(64, x.shape[0], -1)
    for z in pgd_extremes(model64, x.double(), eps, norm, 0, steps=20):
        out = torch.cat([out, model64(z).unsqueeze(0)])
    slack = 1e-5 * scale
    assert (out >= lb.cpu().double() - slack).all() and (out <= ub.cpu().double() + slack).all()


@pytest.mark.parametrize("method", METHODS[:3])
def test_cuda_bounds_ignore_tf32_settings(method):
    """A training script may allow TF32 for speed; bounds must not take it.
    MNIST small (784 inputs, 16 and 32 channel convolutions) is large enough
    that cuBLAS and cuDNN use their TF32 kernels when allowed."""
    torch.manual_seed(0)
    model = get_model("mnist_small").eval()
    x = torch.rand(4, 1, 28, 28)
    y = torch.randint(0, 10, (4,))
    C = margin_spec(y, 10)
    lb_cpu, _ = BoundedModule(model).compute_bounds(x, 0.1, method, C=C)
    bm = BoundedModule(copy.deepcopy(model).cuda())
    saved = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    saved_new = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    new_api = saved_new is not None
    try:
        torch.set_float32_matmul_precision("highest")
        torch.backends.cudnn.allow_tf32 = False
        lb_ieee, _ = bm.compute_bounds(x.cuda(), 0.1, method, C=C.cuda())
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        lb, _ = bm.compute_bounds(x.cuda(), 0.1, method, C=C.cuda())
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32
        if new_api:  # TF32 through torch's fp32_precision API alone (its legacy getter raises there)
            torch.set_float32_matmul_precision("highest")
            torch.backends.cuda.matmul.fp32_precision = "tf32"
            lb_new, _ = bm.compute_bounds(x.cuda(), 0.1, method, C=C.cuda())
            assert torch.backends.cuda.matmul.fp32_precision == "tf32"
    finally:
        torch.set_float32_matmul_precision(saved[0])
        if new_api:
            torch.backends.cuda.matmul.fp32_precision = saved_new
        torch.backends.cudnn.allow_tf32 = saved[1]
    scale = max(1.0, lb_cpu.abs().max().item())
    # TF32 would move these by about 1e-3 of the terms summed; float32 on
    # another summation order (atomics, CPU vs GPU) by about 1e-6.
    torch.testing.assert_close(lb, lb_ieee, rtol=1e-5, atol=1e-5 * scale)
    if new_api:
        torch.testing.assert_close(lb_new, lb_ieee, rtol=1e-5, atol=1e-5 * scale)
    torch.testing.assert_close(lb.cpu(), lb_cpu, rtol=1e-4, atol=1e-4 * scale)


def test_cuda_checkpointed_symbolic_chunks_recompute_the_same_pass():
    """A memory budget of two samples runs the symbolic pass in checkpointed
    chunks, which the backward recomputes outside compute_bounds (under
    PyTorch's default settings, which allow TF32 in cuDNN): the recomputation
    must take the same ReLU decisions, and the gradients equal the whole
    pass's."""
    torch.manual_seed(0)
    model = get_model("mnist_small").cuda().eval()
    x = torch.rand(6, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (6,), device="cuda")
    C = margin_spec(y, 10)
    grads = []
    for budget in (None, 2 * BoundedModule(model).symbolic_bytes_per_sample(x)):
        model.zero_grad()
        lb, _ = BoundedModule(model, memory_budget=budget).compute_bounds(x, 0.05, "symbolic", C=C)
        lb.sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for whole, chunked in zip(*grads):
        torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-5)
