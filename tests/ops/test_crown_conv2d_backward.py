"""crown_conv2d_backward at the shapes the bound engine gives it (the first
layers of the MixTrain nets, A channels-last or not), over a sweep of
convolution geometries, its second derivatives and its errors."""
import random

import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import reference
from mixtrain_cuda.ops._conv_args import conv_out_hw

from .test_parity import assert_close_to_oracle


def _case(N, O, C, k, size, stride, padding, dilation=(1, 1), dtype=torch.float32, channels_last=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    kh, kw = k
    weight = torch.randn(O, C, kh, kw, generator=g, dtype=dtype)
    oh, ow = conv_out_hw(size[0], size[1], weight, stride, padding, dilation)
    A = torch.randn(N, O, oh, ow, generator=g, dtype=dtype)
    if channels_last:
        A = A.contiguous(memory_format=torch.channels_last)
    return A, weight, torch.randn(O, generator=g, dtype=dtype)


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("layer", [
    dict(O=16, C=1, k=(4, 4), size=(28, 28), stride=(2, 2), padding=(1, 1)),   # MNIST small, conv 1
    dict(O=32, C=1, k=(3, 3), size=(28, 28), stride=(1, 1), padding=(1, 1)),   # MNIST large, conv 1
    dict(O=32, C=3, k=(3, 3), size=(32, 32), stride=(1, 1), padding=(1, 1)),   # CIFAR large, conv 1
    dict(O=16, C=3, k=(4, 4), size=(32, 32), stride=(2, 2), padding=(1, 1)),   # CIFAR small, conv 1
    dict(O=32, C=3, k=(7, 7), size=(64, 64), stride=(2, 2), padding=(3, 3)),   # ImageNet-200 stem
])
def test_first_layer_shapes(layer, channels_last):
    A, weight, bias = _case(7, **layer, channels_last=channels_last)
    args = (layer["stride"], layer["padding"], (1, 1), layer["size"])
    got = mc.crown_conv2d_backward(A, weight, bias, *args)
    want32 = reference.crown_conv2d_backward(A, weight, bias, *args)
    oracle = reference.crown_conv2d_backward(A.double(), weight.double(), bias.double(), *args)
    for g, r, o in zip(got, want32, oracle):
        assert g.shape == o.shape and g.is_contiguous()
        assert_close_to_oracle(g, r, o)


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("layer", [
    dict(O=32, C=16, k=(4, 4), size=(14, 14), stride=(2, 2), padding=(1, 1)),  # MNIST small, conv 2
    dict(O=32, C=32, k=(4, 4), size=(28, 28), stride=(2, 2), padding=(1, 1)),  # MNIST large, conv 2
    dict(O=64, C=64, k=(4, 4), size=(16, 16), stride=(2, 2), padding=(1, 1)),  # CIFAR large, conv 4
    dict(O=64, C=32, k=(3, 3), size=(16, 16), stride=(2, 2), padding=(1, 1)),  # CIFAR ResNet, stage 3
    dict(O=128, C=128, k=(3, 3), size=(8, 8), stride=(2, 2), padding=(1, 1)),  # ImageNet-200 ResNet, stage 4
    dict(O=64, C=32, k=(3, 3), size=(14, 14), stride=(1, 1), padding=(1, 1)),  # MNIST large, conv 3
])
def test_wide_layer_shapes(layer, channels_last):
    """The wide form (input channels a multiple of 16) on the nets' inner
    layers: the result is channels-last in memory, equal to the reference."""
    A, weight, bias = _case(5, **layer, channels_last=channels_last)
    args = (layer["stride"], layer["padding"], (1, 1), layer["size"])
    got = mc.crown_conv2d_backward(A, weight, bias, *args)
    want32 = reference.crown_conv2d_backward(A, weight, bias, *args)
    oracle = reference.crown_conv2d_backward(A.double(), weight.double(), bias.double(), *args)
    assert got[0].is_contiguous(memory_format=torch.channels_last)
    for g, r, o in zip(got, want32, oracle):
        assert g.shape == o.shape
        assert_close_to_oracle(g, r, o)


def test_geometry_sweep_float64():
    """Random kernels, strides, paddings, dilations and input sizes (with rows
    and columns a strided convolution never reads), 1..5 or 16..48 input
    channels and 1..20 output channels, against the reference."""
    rnd = random.Random(0)
    for seed in range(60):
        kh, kw = rnd.randint(1, 5), rnd.randint(1, 5)
        stride = (rnd.randint(1, 3), rnd.randint(1, 3))
        padding = (rnd.randint(0, 2), rnd.randint(0, 2))
        dilation = (rnd.randint(1, 2), rnd.randint(1, 2))
        size = (rnd.randint(dilation[0] * (kh - 1) + 1, 13), rnd.randint(dilation[1] * (kw - 1) + 1, 13))
        # Every third case in the wide form: 16, 32 or 48 input channels.
        channels = rnd.choice((16, 32, 48)) if seed % 3 == 2 else rnd.randint(1, 5)
        A, weight, bias = _case(rnd.randint(1, 4), rnd.randint(1, 20), channels, (kh, kw), size, stride,
                                padding, dilation, dtype=torch.float64, channels_last=rnd.random() < 0.5, seed=seed)
        bias = bias if rnd.random() < 0.7 else None
        got = mc.crown_conv2d_backward(A, weight, bias, stride, padding, dilation, size)
        want = reference.crown_conv2d_backward(A, weight, bias, stride, padding, dilation, size)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12, msg=lambda m: "%s (seed %d)" % (m, seed))


@pytest.mark.parametrize("channels", [2, 16])
def test_double_backward(channels):
    """The backward is made of differentiable convolutions: second derivatives
    (training through a CROWN-IBP loss differentiated twice) match the reference's."""
    A, weight, bias = _case(2, 5, channels, (3, 3), (7, 6), (2, 1), (1, 0), dtype=torch.float64)
    A, weight, bias = (t.requires_grad_() for t in (A, weight, bias))
    conv = dict(stride=(2, 1), padding=(1, 0), input_size=(7, 6))
    assert torch.autograd.gradgradcheck(lambda a, w, b: mc.crown_conv2d_backward(a, w, b, **conv),
                                        (A, weight, bias), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_errors_name_the_problem():
    A, weight, bias = _case(2, 5, 1, (3, 3), (8, 8), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="input_size"):
        mc.crown_conv2d_backward(A, weight, bias, 1, 1)
    with pytest.raises(RuntimeError, match="9x9 input .* 9x9 output, but A is 8x8"):
        mc.crown_conv2d_backward(A, weight, bias, 1, 1, input_size=(9, 9))
    with pytest.raises(RuntimeError, match="A has 4 channels but weight has 5 out_channels"):
        mc.crown_conv2d_backward(A[:, :4], weight, bias, 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="A must be 4-D"):
        mc.crown_conv2d_backward(A[0], weight, bias, 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="bias must have shape"):
        mc.crown_conv2d_backward(A, weight, bias[:3], 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="dtype"):
        mc.crown_conv2d_backward(A.double(), weight, bias, 1, 1, input_size=(8, 8))
