"""Fused ops against the pure-PyTorch reference and torch.compile(reference),
at MixTrain's shapes (mixtrain_cuda/bench.py), on CPU and on CUDA when present.

    .venv/bin/python -m pytest benchmarks/ [-k "interval_linear and rows=1_"] [--benchmark-json out.json]

Each group is one case; compare the medians of its three rows. extra_info has
the case's physical floor (bytes over measured bandwidth, flops over measured
GEMM peak) so the table can be read against it.
"""
import pytest
import torch

from mixtrain_cuda import bench

from .conftest import get_case, get_peaks

CASE_NAMES = [c.name.replace(" ", "_") for c in bench.cases("cpu", quick=False)]
_compiled = {}


def _timed(fn, device):
    def run():
        out = fn()
        bench.sync(device)
        return out
    return run


@pytest.mark.parametrize("impl", ["fused", "reference", "compiled_reference"])
@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def bench_op(benchmark, device, index, impl):
    case = get_case(device, index)
    if impl == "fused":
        fn = case.fused
    elif impl == "reference":
        fn = case.ref
    else:
        key = (device, index)
        if key not in _compiled:
            _compiled[key] = torch.compile(case.ref)
        fn = _compiled[key]
    benchmark.group = "%s %s" % (device, case.name)
    benchmark.extra_info.update(floor_s=bench.floor_seconds(case, get_peaks(device)), bytes=case.bytes,
                                flops=case.flops)
    benchmark.pedantic(_timed(fn, device), rounds=20, warmup_rounds=2, iterations=1)
