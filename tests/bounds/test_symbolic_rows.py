"""The symbolic pass for a sample that alone exceeds the memory budget: its
generator rows stream through the network in chunks (bounds/symbolic_rows.py).
It must give the whole pass's bounds and gradients, with less memory."""
import json
import math
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from mixtrain_cuda.bounds import BoundedModule, margin_spec, symbolic_rows

from . import nets


class TwoBranches(nn.Module):
    """relu(a(x)) and relu(b(x)) side by side, then added: each branch's ReLU
    symbols never reach the other branch's ReLU."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 3, 3, 1, 1), nn.Conv2d(1, 3, 3, 2, 1)
        self.up = nn.Conv2d(3, 3, 1, 2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))

    def forward(self, x):
        return self.head(torch.relu(self.up(torch.relu(self.a(x)))) + torch.relu(self.b(x)))


NETS = list(nets.NETS) + ["branches"]


def _make(net, seed):
    if net != "branches":
        return nets.make(net, seed=seed), nets.inputs(net, 3, seed=seed)
    torch.manual_seed(seed)
    return TwoBranches().double().eval(), nets.inputs("conv", 3, seed=seed)


@pytest.fixture
def pushes(monkeypatch):
    """Counts the chunks the streamed pass pushes (each source x chunk x target)."""
    calls = []
    push = symbolic_rows._Stream.push

    def counted(self, *args):
        calls.append(self.chunk)
        return push(self, *args)
    monkeypatch.setattr(symbolic_rows._Stream, "push", counted)
    return calls


def _streaming_budget(model, x, norm):
    """A budget that makes each sample stream its rows in about 8 chunks (the
    plan depends on whether autograd is on: call it in the same mode)."""
    return BoundedModule(model).symbolic_bytes_per_sample(x, eps=0.05, norm=norm) // 8


def _assert_streamed(pushes, x):
    assert pushes, "the streamed pass did not run"
    assert max(pushes) < x[0].numel(), "the input rows went in one chunk: nothing was streamed"


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("norm", [math.inf, 2.0])
@pytest.mark.parametrize("reference", [False, True])
def test_streamed_rows_give_the_whole_pass_bounds(net, norm, reference, pushes):
    model, x = _make(net, 3)
    C = margin_spec(torch.tensor([0, 2, 4]), 5).to(x.dtype)
    for spec in (None, C):
        with torch.no_grad():
            whole = BoundedModule(model, reference=reference).compute_bounds(x, 0.05, "symbolic", norm, C=spec)
            budget = _streaming_budget(model, x, norm)
            rows = BoundedModule(model, reference=reference, memory_budget=budget).compute_bounds(
                x, 0.05, "symbolic", norm, C=spec)
        for a, b in zip(whole, rows):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    _assert_streamed(pushes, x)


@pytest.mark.parametrize("net", NETS)
@pytest.mark.parametrize("norm", [math.inf, 2.0])
def test_streamed_rows_give_the_whole_pass_gradients(net, norm, pushes):
    """Training (weights) and the interval attack (x) differentiate the bounds;
    the streamed chunks recompute their generators in the backward pass.
    Training mode: BatchNorm uses the batch's statistics, which the pass drops
    before the backward runs."""
    got = []
    for streamed in (False, True):
        model, x = _make(net, 5)
        model.train()
        x.requires_grad_(True)
        C = margin_spec(torch.tensor([0, 2, 4]), 5).to(x.dtype)
        budget = _streaming_budget(model, x, norm) if streamed else None
        lb, ub = BoundedModule(model, memory_budget=budget).compute_bounds(x, 0.05, "symbolic", norm, C=C)
        (ub - 0.5 * lb).sum().backward()
        got.append([lb, ub, x.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*got):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    _assert_streamed(pushes, x)


def test_streamed_rows_are_sound_on_parallel_branches():
    from .test_soundness import assert_contains, sample_ball
    model, x = _make("branches", 7)
    bm = BoundedModule(model, memory_budget=_streaming_budget(model, x, math.inf))
    lb, ub = bm.compute_bounds(x, 0.08, "symbolic")
    with torch.no_grad():
        outs = model(sample_ball(x, 0.08, math.inf, 300).flatten(0, 1)).reshape(300, *lb.shape)
    assert_contains(lb, ub, outs, "two branches, streamed")


def test_l2_gradients_stay_finite_where_a_receptive_field_is_dead():
    """A neuron that no input symbol reaches has radius sqrt(0): its gradient
    must be 0, not NaN, in the whole pass and the streamed one."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Linear(6, 4), nn.ReLU(),
                          nn.Linear(4, 3)).double()
    with torch.no_grad():
        model[1].bias[:3] = -100.0  # three neurons dead for every input
        model[3].weight[0] = 0.0  # the next layer's first neuron reads nothing but its bias
        model[3].weight[1, 3:] = 0.0
        model[3].weight[1, :3] = 1.0  # ... and its second reads only the dead ones
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    for reference in (False, True):
        for budget in (None, 64):
            model.zero_grad()
            bm = BoundedModule(model, reference=reference, memory_budget=budget)
            if budget is None:
                lb, ub = bm.compute_bounds(x, 0.1, "symbolic", norm=2)
            else:
                with pytest.warns(UserWarning, match="one row at a time"):
                    lb, ub = bm.compute_bounds(x, 0.1, "symbolic", norm=2)
            (ub - lb).sum().backward()
            for name, p in model.named_parameters():
                assert torch.isfinite(p.grad).all(), (reference, budget, name)


_PEAK = r"""
import json, sys, torch
import torch.nn as nn
from mixtrain_cuda.bench import peak_bytes
from mixtrain_cuda.bounds import BoundedModule
torch.manual_seed(0)
torch.set_num_threads(1)
# Thousands of generator rows of 6272 neurons (tens of MB a layer in float32)
# in the whole pass; an 8 MB budget streams them about 100 rows at a time.
model = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(), nn.Flatten(),
                      nn.Linear(8 * 28 * 28, 10))
x = torch.rand(1, 1, 28, 28)
budget = None if sys.argv[1] == "none" else int(sys.argv[1])
bm = BoundedModule(model, memory_budget=budget)
# Dense rows: the streamed path's own form (windowed rows, layers/windowed.py, keep this whole pass near 20 MB).
bm.windowed_rows = False
out = {}
with torch.no_grad():
    bm.compute_bounds(x, 0.001, "symbolic")  # warm the allocator and the libraries
    peak = peak_bytes(lambda: out.update(bounds=bm.compute_bounds(x, 0.05, "symbolic")))
lb, ub = out["bounds"]
print(json.dumps({"peak_kb": peak // 1024, "lb": lb.tolist(), "ub": ub.tolist()}))
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


@pytest.mark.parametrize("net", ["batchnorm", "residual"])
def test_batch_chunks_under_autograd_give_the_whole_pass_gradients(net, monkeypatch):
    """With autograd on, chunks of the batch run under checkpointing (else every
    chunk's generators would stay alive until the backward); the bounds and
    gradients are the whole batch's, training-mode BatchNorm included."""
    ran = []
    chunk = BoundedModule._symbolic_chunk

    def counted(self, *args):
        ran.append(args[2])
        return chunk(self, *args)
    monkeypatch.setattr(BoundedModule, "_symbolic_chunk", counted)
    got = []
    for chunked in (False, True):
        model = nets.make(net, seed=8).train()
        x = nets.inputs(net, 5, seed=8)
        bm = BoundedModule(model)
        budget = 2 * bm.symbolic_bytes_per_sample(x) if chunked else None  # two samples a chunk
        lb, ub = BoundedModule(model, memory_budget=budget).compute_bounds(x, 0.05, "symbolic")
        (ub - 0.5 * lb).sum().backward()
        got.append([lb, ub] + [p.grad for p in model.parameters()])
    for a, b in zip(*got):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)
    # the whole batch once, then three chunks, each run again by the backward
    assert sorted(r.start for r in ran if r.start is not None) == [0, 0, 2, 2, 4, 4], ran


def test_streamed_rows_keep_the_output_shape():
    """A network ending in a convolution: the streamed pass returns bounds of
    the output's shape, as the whole pass does (it returned them flattened;
    found by a review)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, 1, 1), nn.ReLU(), nn.Conv2d(2, 2, 3, 2, 1)).double().eval()
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    whole = BoundedModule(model).compute_bounds(x, 0.1, "symbolic")
    with pytest.warns(UserWarning, match="one row at a time"):
        streamed = BoundedModule(model, memory_budget=1).compute_bounds(x, 0.1, "symbolic")
    for w, s in zip(whole, streamed):
        assert s.shape == w.shape == (2, 2, 3, 3)
        torch.testing.assert_close(s, w, rtol=1e-9, atol=1e-9)
