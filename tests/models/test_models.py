import operator

import pytest
import torch
from torch import fx, nn

from mixtrain_cuda.models import (
    INPUT_SHAPES,
    MODELS,
    NUM_CLASSES,
    BasicBlock,
    Normalize,
    ResidualBlock,
    cnn7,
    get_model,
    mnist_small,
)

NAMES = sorted(MODELS)

# Generous ceilings: they catch an accidental blow-up (e.g. a wrong flatten size)
# without pinning every count.
PARAM_CEILING = {
    "mnist_small": 200_000,
    "mnist_large": 2_500_000,
    "cifar_small": 250_000,
    "cifar_large": 3_000_000,
    "cifar_resnet": 1_000_000,
    "imagenet200_resnet": 3_000_000,
    "cnn7": 20_000_000,
    "basicblock_net": 100_000,
}


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def batch(name, n=2):
    return torch.rand(n, *INPUT_SHAPES[name])


class LeafTracer(fx.Tracer):
    """Keeps Normalize as one call_module node, as the bound engine would."""

    def is_leaf_module(self, m, qualname):
        return isinstance(m, Normalize) or super().is_leaf_module(m, qualname)


def test_registry_tables_agree():
    assert set(INPUT_SHAPES) == set(MODELS) == set(NUM_CLASSES) == set(PARAM_CEILING)
    assert NUM_CLASSES["imagenet200_resnet"] == 200
    assert INPUT_SHAPES["imagenet200_resnet"] == (3, 64, 64)
    assert INPUT_SHAPES["mnist_small"] == (1, 28, 28)


@pytest.mark.parametrize("name", NAMES)
def test_forward_shape(name):
    model = get_model(name).eval()
    out = model(batch(name))
    assert out.shape == (2, NUM_CLASSES[name])
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_first_layer_is_normalize(name):
    first = next(iter(get_model(name).children()))
    assert isinstance(first, Normalize)
    assert first.mean.shape == first.std.shape == (1, INPUT_SHAPES[name][0], 1, 1)


@pytest.mark.parametrize("name", NAMES)
def test_fx_trace_matches(name):
    model = get_model(name).eval()
    x = batch(name)
    traced = fx.symbolic_trace(model)
    torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)
    # Only the arithmetic the bound engine handles may appear as functions.
    funcs = {n.target for n in traced.graph.nodes if n.op == "call_function"}
    assert funcs <= {operator.add, operator.sub, operator.truediv}


@pytest.mark.parametrize("name", NAMES)
def test_fx_trace_with_normalize_leaf(name):
    model = get_model(name).eval()
    graph = LeafTracer().trace(model)
    gm = fx.GraphModule(model, graph)
    mods = dict(gm.named_modules())
    called = [mods[n.target] for n in graph.nodes if n.op == "call_module"]
    assert isinstance(called[0], Normalize)
    assert all(not isinstance(m, (nn.Sequential, ResidualBlock, BasicBlock)) for m in called)
    x = batch(name)
    torch.testing.assert_close(gm(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_param_count_ceiling_and_no_inplace(name):
    model = get_model(name)
    assert 0 < n_params(model) < PARAM_CEILING[name]
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)


@pytest.mark.parametrize("name", NAMES)
def test_backward_reaches_every_parameter(name):
    model = get_model(name).train()
    model(batch(name, n=4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_mnist_small_exact_layers():
    model = mnist_small()
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (1, 16, (4, 4), (2, 2), (1, 1)),
        (16, 32, (4, 4), (2, 2), (1, 1)),
    ]
    assert [(l.in_features, l.out_features) for l in linears] == [(1568, 100), (100, 10)]
    assert n_params(model) == 272 + 8224 + 156_900 + 1010
    torch.testing.assert_close(model[0].mean.flatten(), torch.tensor([0.1307]))
    torch.testing.assert_close(model[0].std.flatten(), torch.tensor([0.3081]))


@pytest.mark.parametrize("name, flat", [("cifar_small", 32 * 8 * 8), ("cifar_large", 64 * 8 * 8), ("mnist_large", 64 * 7 * 7)])
def test_flatten_sizes(name, flat):
    first_linear = next(m for m in get_model(name).modules() if isinstance(m, nn.Linear))
    assert first_linear.in_features == flat


def test_num_classes_kwarg_passes_through():
    for name in NAMES:
        out = get_model(name, num_classes=7).eval()(batch(name))
        assert out.shape == (2, 7)


def test_get_model_unknown_lists_names():
    with pytest.raises(ValueError) as err:
        get_model("resnet9000")
    msg = str(err.value)
    assert "resnet9000" in msg
    for name in MODELS:
        assert name in msg


def test_normalize_values_and_buffers():
    norm = Normalize([0.5, 0.25, 0.0], [0.5, 2.0, 1.0])
    x = torch.rand(2, 3, 4, 4)
    expected = torch.stack([(x[:, 0] - 0.5) / 0.5, (x[:, 1] - 0.25) / 2.0, x[:, 2]], dim=1)
    torch.testing.assert_close(norm(x), expected)
    assert norm.mean.shape == (1, 3, 1, 1)
    assert set(dict(norm.named_buffers())) == {"mean", "std"}
    assert list(norm.parameters()) == []
    assert norm.double().mean.dtype == torch.float64  # buffers follow .to()/.double()
    r = repr(norm)
    assert "mean=(0.5, 0.25, 0.0)" in r and "std=(0.5, 2.0, 1.0)" in r


def test_normalize_2d_input():
    norm = Normalize(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 4.0]), ndim=2)
    assert norm.mean.shape == (1, 2)
    x = torch.tensor([[3.0, 6.0], [1.0, 2.0]])
    torch.testing.assert_close(norm(x), torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    gm = fx.symbolic_trace(norm)
    torch.testing.assert_close(gm(x), norm(x))


@pytest.mark.parametrize("std", [[0.0], [-1.0], [0.5, 0.0, 0.2]])
def test_normalize_rejects_nonpositive_std(std):
    with pytest.raises(ValueError, match="std must be > 0"):
        Normalize([0.0] * len(std), std)


def test_normalize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="channels"):
        Normalize([0.1, 0.2], [0.3])
    with pytest.raises(ValueError, match="finite"):
        Normalize([float("nan")], [1.0])
    with pytest.raises(ValueError, match="4-D input got a 2-D"):
        Normalize([0.1, 0.2], [0.3, 0.4])(torch.rand(5, 2))


def test_residual_block_shortcuts():
    same = ResidualBlock(16, 16, stride=1)
    assert isinstance(same.shortcut, nn.Identity)
    x = torch.rand(2, 16, 8, 8)
    expected = torch.relu(same.branch(x) + x)
    torch.testing.assert_close(same(x), expected)

    down = ResidualBlock(16, 32, stride=2)
    proj = down.shortcut[0]
    assert (proj.kernel_size, proj.stride, proj.out_channels) == ((1, 1), (2, 2), 32)
    assert down(x).shape == (2, 32, 4, 4)

    bn = ResidualBlock(8, 8, batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 2
    assert all(m.bias is None for m in bn.modules() if isinstance(m, nn.Conv2d))


def test_basic_block_matches_torchvision_structure():
    block = BasicBlock(16, 32, stride=2).eval()
    assert isinstance(block.shortcut[0], nn.Conv2d) and isinstance(block.shortcut[1], nn.BatchNorm2d)
    assert block.conv1.bias is None and block.conv2.bias is None
    x = torch.rand(2, 16, 8, 8)
    out = torch.relu(block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x))))) + block.shortcut(x))
    torch.testing.assert_close(block(x), out)
    assert isinstance(BasicBlock(16, 16).shortcut, nn.Identity)


def test_cnn7_structure():
    model = cnn7()
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (3, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1)
    ]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model) == 5
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model) == 1
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(128 * 16 * 16, 512), (512, 10)]


def test_cnn7_mnist_and_argument_checks():
    model = cnn7(in_channels=1, input_size=28).eval()
    assert model[0].mean.flatten().tolist() == pytest.approx([0.1307])
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="even"):
        cnn7(input_size=31)
    with pytest.raises(ValueError, match="mean and std"):
        cnn7(in_channels=2)
    assert cnn7(in_channels=2, mean=[0, 0], std=[1, 1]).eval()(torch.rand(2, 2, 32, 32)).shape == (2, 10)
