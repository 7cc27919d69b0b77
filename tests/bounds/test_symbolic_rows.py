"""The symbolic pass for a sample that alone exceeds the memory budget: its
generator rows stream through the network in chunks (bounds/symbolic_rows.py).
It must give the whole pass's bounds and gradients, with less memory."""
import json
import math
import subprocess
import sys

import pytest
import torch

from mixtrain_cuda.bounds import BoundedModule, margin_spec

from . import nets



def _budget(model, x, parts=8):
    """A memory budget that streams each sample's rows in about `parts` chunks
    (the estimate depends on whether autograd is on: call it in the same mode)."""
    return BoundedModule(model).symbolic_bytes_per_sample(x) // parts


@pytest.mark.parametrize("net", list(nets.NETS))
@pytest.mark.parametrize("norm", [math.inf, 2.0])
@pytest.mark.parametrize("reference", [False, True])
def test_streamed_rows_give_the_whole_pass_bounds(net, norm, reference):
    model = nets.make(net, seed=3)
    x = nets.inputs(net, 3, seed=3)
    C = margin_spec(torch.tensor([0, 2, 4]), 5).to(x.dtype)
    for spec in (None, C):
        with torch.no_grad():
            whole = BoundedModule(model, reference=reference).compute_bounds(x, 0.05, "symbolic", norm, C=spec)
            rows = BoundedModule(model, reference=reference, memory_budget=_budget(model, x)).compute_bounds(
                x, 0.05, "symbolic", norm, C=spec)
        for a, b in zip(whole, rows):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("net", list(nets.NETS))
@pytest.mark.parametrize("norm", [math.inf, 2.0])
def test_streamed_rows_give_the_whole_pass_gradients(net, norm):
    """Training (weights) and the interval attack (x) differentiate the bounds;
    the streamed chunks recompute their generators in the backward pass.
    Training mode: BatchNorm uses the batch's statistics, which the pass drops
    before the backward runs."""
    got = []
    for streamed in (False, True):
        model = nets.make(net, seed=5).train()
        x = nets.inputs(net, 3, seed=5).requires_grad_(True)
        budget = _budget(model, x) if streamed else None
        C = margin_spec(torch.tensor([0, 2, 4]), 5).to(x.dtype)
        lb, ub = BoundedModule(model, memory_budget=budget).compute_bounds(x, 0.05, "symbolic", norm, C=C)
        (ub - 0.5 * lb).sum().backward()
        got.append([lb, ub, x.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*got):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


_PEAK = r"""
import json, sys, torch
import torch.nn as nn
from mixtrain_cuda.bounds import BoundedModule
def status(field):  # kB
    return int(next(l for l in open("/proc/self/status") if l.startswith(field + ":")).split()[1])
torch.manual_seed(0)
torch.set_num_threads(1)
# Thousands of generator rows of 6272 neurons (tens of MB a layer in float32)
# in the whole pass; an 8 MB budget streams them about 100 rows at a time.
model = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 28 * 28, 10))
x = torch.rand(1, 1, 28, 28)
budget = None if sys.argv[1] == "none" else int(sys.argv[1])
bm = BoundedModule(model, memory_budget=budget)
with torch.no_grad():
    bm.compute_bounds(x, 0.001, "symbolic")  # warm the allocator and the libraries
    # The peak resident size of this process from here on: "5" resets the
    # high-water mark (ru_maxrss would carry the parent's from before exec).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    lb, ub = bm.compute_bounds(x, 0.05, "symbolic")
peak = status("VmHWM") - before
print(json.dumps({"peak_kb": peak, "lb": lb.tolist(), "ub": ub.tolist()}))
"""


def _peak(budget):
    out = subprocess.run([sys.executable, "-c", _PEAK, budget], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak resident size from /proc")
def test_streamed_rows_need_far_less_memory():
    """Peak resident memory of one sample's symbolic pass, each in a fresh
    process: whole against an 8 MB budget."""
    whole, streamed = _peak("none"), _peak(str(8 << 20))
    print("peak growth: whole %d MB, streamed %d MB" % (whole["peak_kb"] >> 10, streamed["peak_kb"] >> 10))
    torch.testing.assert_close(torch.tensor(whole["lb"]), torch.tensor(streamed["lb"]), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(torch.tensor(whole["ub"]), torch.tensor(streamed["ub"]), rtol=1e-4, atol=1e-4)
    assert whole["peak_kb"] > 64 << 10, "the whole pass should need about 100 MB, or this test proves nothing"
    assert streamed["peak_kb"] < whole["peak_kb"] / 3
