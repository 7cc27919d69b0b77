"""What both attacks promise alike: model modes restored, no parameter
gradients, bad input rejected."""
import math

import pytest
import torch

from mixtrain_cuda.attacks import interval_attack, pgd

from . import nets

ATTACKS = {"pgd": pgd, "interval": lambda *a, **k: interval_attack(*a, interval_steps=2, **k)}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_modes_restored_and_no_parameter_gradients(name):
    net = nets.bn_net()
    net.train()
    net[5].eval()  # a mixed state must come back as it was, module by module
    modes = [m.training for m in net.modules()]
    stats = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.rand(6, *nets.SHAPE), torch.randint(0, nets.CLASSES, (6,))
    ATTACKS[name](net, x, y, 0.1, norm=math.inf)
    assert [m.training for m in net.modules()] == modes
    assert all(p.grad is None for p in net.parameters())
    for k, v in net.state_dict().items():  # eval mode: BatchNorm running statistics untouched
        assert torch.equal(v, stats[k]), k


@pytest.mark.parametrize("name", list(ATTACKS))
def test_existing_parameter_gradients_untouched(name):
    net = nets.trained_mlp()
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    x, y = nets.blobs(4, seed=0)
    ATTACKS[name](net, x, y, 0.1)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in net.parameters())


def _bad_cases():
    x, y = nets.blobs(4, seed=0)
    nan_x = x.clone()
    nan_x[0, 0, 0, 0] = float("nan")
    return {
        "negative eps": (x, y, -0.1, {}),
        "nan eps": (x, y, float("nan"), {}),
        "inf eps": (x, y, float("inf"), {}),
        "negative eps entry": (x, y, torch.tensor([0.1, -0.1, 0.1, 0.1]), {}),
        "nan eps entry": (x, y, torch.tensor([0.1, float("nan"), 0.1, 0.1]), {}),
        "eps wrong shape": (x, y, torch.full((3,), 0.1), {}),
        "eps per pixel": (x, y, torch.full(x.shape, 0.1), {}),
        "nan x": (nan_x, y, 0.1, {}),
        "x outside range": (x + 2.0, y, 0.1, {}),
        "y wrong shape": (x, y[:3], 0.1, {}),
        "y out of range": (x, y + nets.CLASSES, 0.1, {}),
        "y negative": (x, y - nets.CLASSES, 0.1, {}),
        "bad norm": (x, y, 0.1, {"norm": 1}),
        "bad loss": (x, y, 0.1, {"loss": "hinge"}),
        "negative steps": (x, y, 0.1, {"steps": -1}),
        "zero restarts": (x, y, 0.1, {"restarts": 0}),
        "negative step size": (x, y, 0.1, {"step_size": -0.01}),
        "x_min above x_max": (x, y, 0.1, {"x_min": 1.0, "x_max": 0.0}),
    }


@pytest.mark.parametrize("name", list(ATTACKS))
@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_input_rejected(name, case):
    x, y, eps, kwargs = _bad_cases()[case]
    with pytest.raises(ValueError):
        ATTACKS[name](nets.trained_mlp(), x, y, eps, **kwargs)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_wrong_types_rejected(name):
    x, y = nets.blobs(4, seed=0)
    with pytest.raises(TypeError):
        ATTACKS[name](nets.trained_mlp(), x.long(), y, 0.1)
    with pytest.raises(TypeError):
        ATTACKS[name](nets.trained_mlp(), x, y.float(), 0.1)
