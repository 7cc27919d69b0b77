"""The symbolic pass's windowed generator rows (layers/windowed.py): after the
first convolution every row is kept as the values in a small window of the
map. Bounds and gradients must be those of the dense rows (the engine's
`windowed_rows = False`) on every convolution geometry, at the borders, through
the layers that keep windows (Conv2d, ReLU, BatchNorm, Flatten, Linear) and
those that make the dense rows (Add, AvgPool, grouped or dilated
convolutions), both norms and both engines."""
import math

import pytest
import torch
import torch.nn as nn

from mixtrain_cuda.bounds import BoundedModule, margin_spec
from mixtrain_cuda.bounds.layers import DiagonalSymbolic, windowed
from mixtrain_cuda.models import Normalize
from mixtrain_cuda.ops import reference

from . import nets


class TwoBranches(nn.Module):
    """relu(conv_a(x)) + relu(conv_b(x)): the second ReLU meets symbols the
    first branch made (its windowed rows are padded with zero rows)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, 1, 1)
        self.b = nn.Conv2d(2, 3, 4, 2, 1)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x):
        return self.pool(torch.relu(self.a(x))) + torch.relu(self.b(x))


def _lin(n):
    return nn.Sequential(nn.Flatten(), nn.Linear(n, 7), nn.ReLU(), nn.Linear(7, 4))


NETS = {
    # name: (network, per-sample input shape)
    "small_strided": (lambda: nn.Sequential(nn.Conv2d(2, 4, 4, 2, 1), nn.ReLU(), nn.Conv2d(4, 5, 4, 2, 1), nn.ReLU(),
                                            _lin(5 * 3 * 2)), (2, 12, 10)),
    "large_mixed": (lambda: nn.Sequential(Normalize([0.5], [0.3]), nn.Conv2d(1, 3, 3, 1, 1), nn.ReLU(),
                                          nn.Conv2d(3, 4, 4, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, 1, 1), nn.ReLU(),
                                          nn.Conv2d(4, 3, 4, 2, 1), nn.ReLU(), _lin(3 * 4 * 4)), (1, 16, 16)),
    "asymmetric": (lambda: nn.Sequential(nn.Conv2d(2, 3, (3, 2), (2, 1), (1, 0)), nn.ReLU(),
                                         nn.Conv2d(3, 3, (2, 3), (1, 2), (0, 2)), nn.ReLU(), _lin(3 * 4 * 6)),
                   (2, 9, 11)),
    "stride_over_kernel": (lambda: nn.Sequential(nn.Conv2d(2, 3, 1, 2), nn.ReLU(), nn.Conv2d(3, 4, 2, 3, 1),
                                                 nn.ReLU(), _lin(4 * 3 * 3)), (2, 11, 12)),
    "kernel_near_map": (lambda: nn.Sequential(nn.Conv2d(1, 3, 5, 1, 2), nn.ReLU(), nn.Conv2d(3, 3, 5, 1, 2),
                                              nn.ReLU(), _lin(3 * 6 * 6)), (1, 6, 6)),
    "no_padding_no_bias": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.ReLU(),
                                                 nn.Conv2d(3, 3, 3, 2, bias=False), nn.ReLU(), _lin(3 * 4 * 4)),
                           (2, 11, 11)),
    "batchnorm_avgpool": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.ReLU(),
                                                nn.Conv2d(4, 4, 4, 2, 1), nn.BatchNorm2d(4), nn.ReLU(),
                                                nn.AvgPool2d(2), _lin(4 * 3 * 3)), (2, 12, 12)),
    "grouped_then_dilated": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, 2, 1), nn.ReLU(),
                                                   nn.Conv2d(4, 4, 3, 1, 1, groups=2), nn.ReLU(),
                                                   nn.Conv2d(4, 3, 3, 1, 2, dilation=2), _lin(3 * 6 * 6)),
                             (2, 12, 12)),
    "flatten_relu": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, 2, 1), nn.Flatten(), nn.ReLU(), nn.Linear(3 * 25, 6),
                                           nn.ReLU(), nn.Linear(6, 4)), (2, 10, 9)),
    "conv_last": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3, 2, 1), nn.ReLU(), nn.Conv2d(3, 4, 3, 2, 1)), (2, 8, 8)),
    "two_branches": (lambda: nn.Sequential(TwoBranches(), _lin(3 * 5 * 5)), (2, 10, 10)),
}


def _make(name, seed):
    torch.manual_seed(seed)
    build, shape = NETS[name]
    net = build().double()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(-1.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    x = torch.rand(3, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return net.eval(), x


def _bounds(model, x, windowed_rows, reference=False, norm=math.inf, C=None, eps=0.1, **kw):
    bm = BoundedModule(model, reference=reference, **kw)
    bm.windowed_rows = windowed_rows
    return bm.compute_bounds(x, eps, "symbolic", norm=norm, C=C)


def _out_classes(model, x):
    return model(x[:1]).shape[1:]


@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("norm", [math.inf, 2])
@pytest.mark.parametrize("reference", [False, True])
def test_windowed_rows_give_the_dense_rows_bounds(name, norm, reference):
    model, x = _make(name, seed=3)
    flat = len(_out_classes(model, x)) == 1
    C = margin_spec(torch.tensor([0, 1, 3]), 4).double() if flat else None
    for spec in (None, C):
        for eps in (0.0, 0.06, 0.4, torch.tensor([0.02, 0.0, 0.1], dtype=torch.float64).reshape(3, 1, 1, 1)):
            got = _bounds(model, x, True, reference, norm, spec, eps)
            want = _bounds(model, x, False, reference, norm, spec, eps)
            for g, w in zip(got, want):
                torch.testing.assert_close(g, w, rtol=1e-11, atol=1e-11)
    with torch.no_grad():  # one sample, and no autograd
        for g, w in zip(_bounds(model, x[1:2], True, reference, norm, None, 0.4),
                        _bounds(model, x[1:2], False, reference, norm, None, 0.4)):
            torch.testing.assert_close(g, w, rtol=1e-11, atol=1e-11)
    lb, ub = _bounds(model, x, True, reference, norm, None, 0.4)
    assert (ub - lb).max() > 1e-3  # the symbols reach the output: the comparison above is not of zeros


@pytest.mark.parametrize("name", ["small_strided", "large_mixed", "asymmetric", "batchnorm_avgpool",
                                  "two_branches", "flatten_relu"])
@pytest.mark.parametrize("norm", [math.inf, 2])
def test_windowed_rows_give_the_dense_rows_gradients(name, norm):
    """Training differentiates the bounds: same gradients to every weight and
    to the input (the interval attack steps along the input's)."""
    model, x = _make(name, seed=5)
    grads = []
    for rows in (True, False):
        model.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        lb, ub = _bounds(model, xi, rows, norm=norm, eps=0.08)
        (ub - 0.3 * lb).sum().backward()
        grads.append([xi.grad] + [p.grad for p in model.parameters()])
    for g, w in zip(*grads):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


def test_windowed_rows_in_checkpointed_chunks(monkeypatch):
    """A budget that forces chunks under autograd runs each chunk checkpointed
    and recomputes it in the backward: the recomputation must make the same
    windows (same unstable neurons; float32, where a changed sum would show),
    and the gradients equal the whole batch's."""
    model, x = _make("large_mixed", seed=7)
    model, x = model.float(), x.float()
    chunks = []
    original = BoundedModule._checkpointed_chunk
    monkeypatch.setattr(BoundedModule, "_checkpointed_chunk",
                        lambda self, *a: chunks.append(a[2]) or original(self, *a))
    per_sample = BoundedModule(model).symbolic_bytes_per_sample(x)
    grads = []
    for budget in (None, per_sample):  # one sample a chunk
        model.zero_grad(set_to_none=True)
        lb, ub = _bounds(model, x, True, eps=0.08, memory_budget=budget)
        (ub - lb).sum().backward()
        grads.append([lb, ub] + [p.grad for p in model.parameters()])
    assert len(chunks) == 3
    for g, w in zip(*grads):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_windowed_conv_and_relu_give_the_dense_rows():
    """The state itself: rows, radius and center of the windowed steps against
    the dense ops of the reference, L2 input rows included."""
    g = torch.Generator().manual_seed(0)
    center = torch.rand(2, 3, 9, 8, generator=g, dtype=torch.float64)
    widths = torch.rand(2, 3, 9, 8, generator=g, dtype=torch.float64) * 0.3
    conv1 = nn.Conv2d(3, 4, 3, 2, 1).double()
    conv2 = nn.Conv2d(4, 5, (2, 3), (1, 2), (1, 0)).double()
    D = widths[0].numel()
    for norm in (math.inf, 2.0):
        diag = DiagonalSymbolic(center, widths)
        state = windowed.WindowedSymbolic.from_diagonal(diag, D, norm)
        torch.testing.assert_close(state.gens, diag.gens, rtol=0, atol=0)
        dense_c, dense_g = center, diag.gens
        for conv in (conv1, conv2):
            out_hw = conv(dense_c).shape[2:]
            state = windowed.conv2d(state, conv.weight, conv.bias, conv.stride, conv.padding, out_hw)
            dense_c, dense_g, dense_r = reference.symbolic_conv2d(dense_c, dense_g, conv.weight, conv.bias,
                                                                  conv.stride, conv.padding, (1, 1), 1, D, norm)
            torch.testing.assert_close(state.center, dense_c, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(state.gens, dense_g, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(state.radius, dense_r, rtol=1e-12, atol=1e-12)
            state = windowed.relu(state, state.vals.shape[1])
            dense_c, dense_g, _ = reference.symbolic_relu(dense_c, dense_g, dense_r)
            assert state.vals.shape[1] == dense_g.shape[1] > D  # new rows, in the dense op's order
            torch.testing.assert_close(state.center, dense_c, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(state.gens, dense_g, rtol=1e-12, atol=1e-12)
        # windows stay inside the map
        hb, wb = state.window
        assert (state.ay >= 0).all() and (state.ay + hb <= state.map[1]).all()
        assert (state.ax >= 0).all() and (state.ax + wb <= state.map[2]).all()


def test_windowed_path_is_taken_where_it_pays(monkeypatch):
    """Not a silent fallback to the dense rows: the windowed convolution runs
    on the MixTrain-style stacks, and only the layers without a windowed form
    (grouped, dilated) or where it would not pay take the dense op."""
    calls = []
    original = windowed.conv2d
    monkeypatch.setattr(windowed, "conv2d", lambda *a: calls.append(a[1].shape) or original(*a))
    model, x = _make("large_mixed", seed=1)
    _bounds(model, x, True)
    # The fourth (4x4 stride 2 to 4x4) would need its whole output per window: dense rows from there.
    assert len(calls) == 3
    calls.clear()
    model, x = _make("grouped_then_dilated", seed=1)
    _bounds(model, x, True)
    assert len(calls) == 1
    calls.clear()
    model, x = _make("kernel_near_map", seed=1)
    _bounds(model, x, True)
    assert len(calls) == 2  # the second 5x5 convolution's windows cover its whole 6x6 output: as many products


def test_conv2d_pays_rule():
    conv = nn.Conv2d(4, 4, 4, 2, 1)
    cpu = torch.device("cpu")
    assert windowed.conv2d_pays((2, 2), conv, (7, 7), cpu)
    assert windowed.conv2d_pays((5, 5), conv, (7, 7), cpu)  # 25 * 16 against 16 * 49
    assert not windowed.conv2d_pays((8, 8), conv, (7, 7), cpu)  # 64 * 25 against 16 * 49
    assert not windowed.conv2d_pays((1, 1), nn.Conv2d(4, 4, 3, 1, 1, groups=2), (14, 14), cpu)
    assert not windowed.conv2d_pays((1, 1), nn.Conv2d(4, 4, 3, 1, 2, dilation=2), (14, 14), cpu)


def test_windowed_rows_on_the_engine_test_nets_are_sound():
    """The engine's own test networks, fused engine, windowed rows (the
    default): random points of the ball stay inside the bounds."""
    for name in nets.NETS:
        model = nets.make(name, seed=4)
        x = nets.inputs(name, 4, seed=4)
        bm = BoundedModule(model)
        assert bm.windowed_rows
        lb, ub = bm.compute_bounds(x, 0.05, "symbolic")
        g = torch.Generator().manual_seed(11)
        for _ in range(20):
            pts = (x + (torch.rand(x.shape, generator=g, dtype=x.dtype) * 2 - 1) * 0.05).clamp(0, 1)
            out = model(pts).detach()
            assert (out >= lb - 1e-9).all() and (out <= ub + 1e-9).all(), name


def test_empty_batch():
    model, x = _make("small_strided", seed=2)
    lb, ub = _bounds(model, x[:0], True)
    assert lb.shape == ub.shape == (0, 4)


@pytest.mark.parametrize("name", ["large_mixed", "batchnorm_avgpool", "grouped_then_dilated", "two_branches",
                                  "flatten_relu", "kernel_near_map"])
@pytest.mark.parametrize("rows", [True, False])
def test_memory_plan_follows_the_rows_the_pass_keeps(name, rows, monkeypatch):
    """The memory plan (BoundedModule._symbolic_row_numel) counts per node the
    elements of one row as the pass stores it: a window's where the rows stay
    windowed, the layer's output else. Checked against each layer's output
    state in a real pass (a plan that guessed windows where the pass makes
    dense rows would let chunks outgrow the budget)."""
    model, x = _make(name, seed=2)
    bm = BoundedModule(model)
    bm.windowed_rows = rows
    seen = {}
    for idx, node in enumerate(bm.nodes[1:], start=1):
        def recorded(sp, *states, _f=node.layer.symbolic, _i=idx):
            out = _f(sp, *states)
            if isinstance(out, windowed.WindowedSymbolic):
                seen[_i] = out.vals[0, 0].numel()
            elif isinstance(out, DiagonalSymbolic):
                seen[_i] = out.widths[0].numel()
            else:
                seen[_i] = out.gens[0, 0].numel()
            return out
        monkeypatch.setattr(node.layer, "symbolic", recorded)
    bm.compute_bounds(x, 0.1, "symbolic")
    plan = bm._symbolic_row_numel(x.device)
    assert {i: kept for i, (kept, _, _) in plan.items()} == seen
    assert any(windows for _, _, windows in plan.values()) == rows
    if rows and name not in ("flatten_relu", "kernel_near_map"):
        assert any(made > 0 for _, made, _ in plan.values())  # a layer that makes the dense rows from windows
