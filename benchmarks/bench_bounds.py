"""Whole bound passes: each method on the MixTrain networks and CNN7
(mixtrain_cuda/bench_bounds.py's cases), fused ops against the pure-PyTorch
engine path, forward and forward+backward, on CPU and CUDA when present
(CUDA_CASES, too slow for a small CPU, only on CUDA).

    .venv/bin/python -m pytest benchmarks/bench_bounds.py [-k "mnist_small and symbolic"]

Each group is one (network, method, batch, pass); compare its two rows.
extra_info has the batch, so points/s = batch / median.
"""
import pytest
import torch

from mixtrain_cuda import bench
from mixtrain_cuda.bench_bounds import CASES, CUDA_CASES, _pass
from mixtrain_cuda.bounds import BoundedModule
from mixtrain_cuda.models import INPUT_SHAPES, NUM_CLASSES, get_model

from .conftest import DEVICES

ALL = [(device, case) for device in DEVICES for case in CASES + (CUDA_CASES if device == "cuda" else [])]
IDS = ["%s_%s_%s_B%d" % (device, *case) for device, case in ALL]


@pytest.mark.parametrize("engine", ["fused", "reference"])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "fwd_bwd"])
@pytest.mark.parametrize("device,case", ALL, ids=IDS)
def bench_bound_pass(benchmark, device, case, backward, engine):
    net, method, batch = case
    torch.manual_seed(0)
    model = get_model(net).to(device).eval()
    x = torch.rand(batch, *INPUT_SHAPES[net], device=device)
    y = torch.randint(0, NUM_CLASSES[net], (batch,), device=device)
    eps = 0.1 if net.startswith("mnist") else 2.0 / 255
    fn = _pass(BoundedModule(model, reference=engine == "reference"), x, y, eps, method, backward)

    def run():
        fn()
        bench.sync(device)
    benchmark.group = "%s %s %s B=%d %s" % (device, net, method, batch, "fwd+bwd" if backward else "fwd")
    benchmark.extra_info.update(batch=batch, eps=eps)
    benchmark.pedantic(run, rounds=5, warmup_rounds=1, iterations=1)


# CROWN's step through the large nets' first Linear (512 outputs; 3136 and 4096 inputs) at the rows of
# CROWN-IBP with 9 margins stacked lower/upper: k = 1, 4, 16 points (18, 72, 288 rows).
LINEAR_ROWS = [18, 72, 288]
LINEAR_INPUTS = [3136, 4096]


@pytest.mark.parametrize("form", ["matmul", "engine"])
@pytest.mark.parametrize("rows", LINEAR_ROWS)
@pytest.mark.parametrize("inputs", LINEAR_INPUTS)
def bench_crown_linear_product(benchmark, rows, inputs, form):
    """A @ W as torch.matmul against the engine's layers/linear.py _times_weight (on the CPU up to
    FEW_ROWS rows: (W^T A^T)^T). CPU only: elsewhere the two are the same call. Compare each group's
    two rows."""
    from mixtrain_cuda.bounds.layers.linear import _times_weight
    torch.manual_seed(0)
    A = torch.randn(rows // 18, 18, 512)
    W = torch.randn(512, inputs)
    fn = (lambda: torch.matmul(A, W)) if form == "matmul" else (lambda: _times_weight(A, W))
    benchmark.group = "cpu crown linear backward %d rows x 512 -> %d" % (rows, inputs)
    benchmark.pedantic(fn, rounds=30, warmup_rounds=3, iterations=1)
