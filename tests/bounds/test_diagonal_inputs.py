"""The symbolic pass's diagonal input symbols (layers.DiagonalSymbolic): the
first convolution or linear layer makes its generator rows in closed form
instead of pushing the D one-hot rows of every sample through the layer. The
bounds and their gradients must be those of the dense rows (the engine's
`diagonal_inputs = False`), on every first-layer kind, both norms and engines."""
import math

import pytest
import torch
import torch.nn as nn

from mixtrain_cuda.bounds import BoundedModule, margin_spec
from mixtrain_cuda.bounds.layers import DiagonalSymbolic
from mixtrain_cuda.models import Normalize

from . import nets


class InputResidual(nn.Module):
    """x + conv(x) on the input itself: the Add reads the diagonal state."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, 1, 1)

    def forward(self, x):
        return x + self.conv(x)


FIRST_LAYERS = {
    # name: (network, per-sample input shape)
    "conv": (lambda: nn.Sequential(nn.Conv2d(2, 5, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 4 * 3, 4)),
             (2, 7, 5)),
    "conv_dilated_grouped": (lambda: nn.Sequential(nn.Conv2d(2, 4, 3, 1, 2, dilation=2, groups=2), nn.ReLU(),
                                                   nn.Flatten(), nn.Linear(4 * 7 * 5, 4)), (2, 7, 5)),
    "normalize_conv": (lambda: nn.Sequential(Normalize([0.4, 0.6], [0.3, 0.2]), nn.Conv2d(2, 3, 4, 2, 1), nn.ReLU(),
                                             nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(16, 4)), (2, 8, 8)),
    "batchnorm_conv_no_bias": (lambda: nn.Sequential(nn.BatchNorm2d(2), nn.Conv2d(2, 3, 3, bias=False), nn.ReLU(),
                                                     nn.Flatten(), nn.Linear(3 * 5 * 3, 4)), (2, 7, 5)),
    "flatten_linear": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 4)), (3, 2, 2)),
    "linear_on_vectors": (lambda: nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4)), (6,)),
    "relu_first": (lambda: nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 4)),
                   (3, 2, 2)),
    "add_first": (lambda: nn.Sequential(InputResidual(), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 4)),
                  (2, 4, 4)),
    "avgpool_first": (lambda: nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2 * 2 * 2, 6), nn.ReLU(),
                                            nn.Linear(6, 4)), (2, 4, 4)),
}


def _make(name, seed):
    torch.manual_seed(seed)
    build, shape = FIRST_LAYERS[name]
    net = build().double()
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(-1.5, 1.5)  # negative scales too: the widths keep their sign
            m.bias.data.uniform_(-0.5, 0.5)
    x = torch.rand(3, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return net.eval(), x


def _bounds(model, x, diagonal, reference, norm, C, eps):
    bm = BoundedModule(model, reference=reference)
    bm.diagonal_inputs = diagonal
    return bm.compute_bounds(x, eps, "symbolic", norm=norm, C=C)


@pytest.mark.parametrize("name", list(FIRST_LAYERS))
@pytest.mark.parametrize("norm", [math.inf, 2])
@pytest.mark.parametrize("reference", [False, True])
def test_diagonal_inputs_give_the_dense_rows_bounds(name, norm, reference):
    model, x = _make(name, seed=3)
    C = margin_spec(torch.tensor([0, 1, 3]), 4).double()
    for spec in (None, C):
        for eps in (0.0, 0.07, 0.5, torch.tensor([0.02, 0.0, 0.1], dtype=torch.float64).reshape(3, *[1] * (x.dim() - 1))):
            got = _bounds(model, x, True, reference, norm, spec, eps)
            want = _bounds(model, x, False, reference, norm, spec, eps)
            for g, w in zip(got, want):
                torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    # One sample without autograd scales the response in place.
    with torch.no_grad():
        for g, w in zip(_bounds(model, x[1:2], True, reference, norm, None, 0.5),
                        _bounds(model, x[1:2], False, reference, norm, None, 0.5)):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    lb, ub = _bounds(model, x, True, reference, norm, None, 0.5)
    assert (ub - lb).max() > 1e-3  # the symbols reach the output: the comparison above is not of zeros


@pytest.mark.parametrize("name", ["conv", "normalize_conv", "flatten_linear", "batchnorm_conv_no_bias"])
@pytest.mark.parametrize("norm", [math.inf, 2])
def test_diagonal_inputs_give_the_dense_rows_gradients(name, norm):
    """Training differentiates the bounds: same gradients to every weight and
    to the input (the interval attack steps along the input's)."""
    model, x = _make(name, seed=5)
    grads = []
    for diagonal in (True, False):
        model.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        lb, ub = _bounds(model, xi, diagonal, False, norm, None, 0.05)
        (ub - 0.3 * lb).sum().backward()
        grads.append([xi.grad] + [p.grad for p in model.parameters()])
    for g, w in zip(*grads):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("norm", [math.inf, 2])
def test_linear_on_more_than_two_dims_takes_its_bias_on_the_last(reference, norm):
    """nn.Linear on [B, 3, 3]: its bias is along the last dimension, which a
    square input would hide if it were added along dimension 1 (found by a
    review: the first version did, and gave unsound bounds). The fused ops take
    only 2-D centers, so the oracle is the reference engine's dense rows."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(9, 4)).double().eval()
    x = torch.rand(2, 3, 3, dtype=torch.float64)
    for eps in (0.0, 0.1):
        got = _bounds(net, x, True, reference, norm, None, eps)
        want = _bounds(net, x, False, True, norm, None, eps)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12)
    lb, ub = _bounds(net, x, True, reference, norm, None, 0.0)
    torch.testing.assert_close(lb, net(x).detach())


def test_diagonal_state_materializes_the_one_hot_rows():
    center = torch.rand(2, 3, 2, 2, dtype=torch.float64)
    widths = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    state = DiagonalSymbolic(center, widths)
    want = torch.diag_embed(widths.reshape(2, 12)).reshape(2, 12, 3, 2, 2)
    torch.testing.assert_close(state.gens, want, rtol=0, atol=0)
    torch.testing.assert_close(state.radius, widths.abs(), rtol=0, atol=0)


def test_diagonal_inputs_on_the_engine_test_nets_are_sound():
    """The engine's own test networks, fused engine, diagonal inputs (the
    default): random points of the ball stay inside the bounds."""
    for name in nets.NETS:
        model = nets.make(name, seed=2)
        x = nets.inputs(name, 4, seed=2)
        lb, ub = BoundedModule(model).compute_bounds(x, 0.05, "symbolic")
        g = torch.Generator().manual_seed(9)
        for _ in range(20):
            pts = (x + (torch.rand(x.shape, generator=g, dtype=x.dtype) * 2 - 1) * 0.05).clamp(0, 1)
            out = model(pts).detach()
            assert (out >= lb - 1e-9).all() and (out <= ub + 1e-9).all(), name
