"""crown_relu_conv2d_backward, the CROWN step through relu(conv(x)) in one op,
against the two ops it replaces and the reference: at the MixTrain nets'
layer shapes (the engine's channels-last A and bounds), over a sweep of
geometries, its second derivatives and its errors."""
import random

import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import reference
from mixtrain_cuda.ops._conv_args import conv_out_hw

from .test_parity import assert_close_to_oracle


def _case(B, S, O, C, k, size, stride, padding, dilation=(1, 1), dtype=torch.float32, channels_last=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(O, C, k[0], k[1], generator=g, dtype=dtype)
    oh, ow = conv_out_hw(size[0], size[1], weight, stride, padding, dilation)
    A = torch.randn(B, S, O, oh, ow, generator=g, dtype=dtype)
    # Bounds with dead, active and unstable neurons, some with u >= -l and some not.
    lower = torch.randn(B, O, oh, ow, generator=g, dtype=dtype)
    upper = lower + 2 * torch.rand(B, O, oh, ow, generator=g, dtype=dtype)
    if channels_last:  # as the engine holds them on the CPU
        A = A.permute(0, 1, 3, 4, 2).contiguous().permute(0, 1, 4, 2, 3)
        lower, upper = (t.contiguous(memory_format=torch.channels_last) for t in (lower, upper))
    return A, lower, upper, weight, torch.randn(O, generator=g, dtype=dtype)


def _two_steps(A, lower, upper, weight, bias, stride, padding, dilation, size, upper_bound):
    """The two fused ops in turn: what the engine ran before this op."""
    stepped, relu_bias = mc.crown_relu_backward(A, lower, upper, upper_bound)
    back, conv_bias = mc.crown_conv2d_backward(stepped.flatten(0, 1), weight, bias, stride, padding, dilation, size)
    return back.reshape(*A.shape[:2], *back.shape[1:]), relu_bias + conv_bias.reshape(A.shape[:2])


@pytest.mark.parametrize("upper_bound", [True, False])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("layer", [
    dict(O=32, C=1, k=(3, 3), size=(28, 28), stride=(1, 1), padding=(1, 1)),   # MNIST large, conv 1
    dict(O=32, C=3, k=(3, 3), size=(32, 32), stride=(1, 1), padding=(1, 1)),   # CIFAR large, conv 1
    dict(O=16, C=1, k=(4, 4), size=(28, 28), stride=(2, 2), padding=(1, 1)),   # MNIST small, conv 1
    dict(O=32, C=32, k=(4, 4), size=(28, 28), stride=(2, 2), padding=(1, 1)),  # MNIST large, conv 2
    dict(O=64, C=32, k=(3, 3), size=(16, 16), stride=(1, 1), padding=(1, 1)),  # CIFAR large, conv 3
    dict(O=64, C=64, k=(4, 4), size=(14, 14), stride=(2, 2), padding=(1, 1)),  # MNIST large, conv 4
])
def test_layer_shapes(layer, channels_last, upper_bound):
    A, lower, upper, weight, bias = _case(3, 5, **layer, channels_last=channels_last)
    args = (layer["stride"], layer["padding"], (1, 1), layer["size"])
    got = mc.crown_relu_conv2d_backward(A, lower, upper, weight, bias, *args, upper_bound=upper_bound)
    two = _two_steps(A, lower, upper, weight, bias, *args, upper_bound)
    want32 = reference.crown_relu_conv2d_backward(A, lower, upper, upper_bound, weight, bias, *args)
    oracle = reference.crown_relu_conv2d_backward(A.double(), lower.double(), upper.double(), upper_bound,
                                                  weight.double(), bias.double(), *args)
    # The layout crown_conv2d_backward gives: channels-last rows for 16k input channels.
    assert got[0].stride() == two[0].stride()
    for g, t, r, o in zip(got, two, want32, oracle):
        assert g.shape == o.shape
        assert_close_to_oracle(g, r, o)
        torch.testing.assert_close(g, t, rtol=1e-5, atol=1e-5 * max(1.0, o.abs().max().item()))


def test_geometry_sweep_float64():
    """Random kernels, strides, paddings, dilations and input sizes, 1..5 or
    16..48 input channels, 1..20 output channels (the narrow form's channel
    padding), 1..4 rows per sample, against the reference."""
    rnd = random.Random(0)
    for seed in range(40):
        kh = rnd.randint(1, 4)
        stride = (rnd.randint(1, 3), rnd.randint(1, 3))
        padding = (rnd.randint(0, 2), rnd.randint(0, 2))
        dilation = (rnd.randint(1, 2), rnd.randint(1, 2))
        size = (rnd.randint(dilation[0] * (kh - 1) + 1, 11), rnd.randint(dilation[1] * (kh - 1) + 1, 11))
        channels = rnd.choice((16, 32, 48)) if seed % 3 == 2 else rnd.randint(1, 5)
        A, lower, upper, weight, bias = _case(rnd.randint(1, 3), rnd.randint(1, 4), rnd.randint(1, 20), channels,
                                              (kh, kh), size, stride, padding, dilation, dtype=torch.float64,
                                              channels_last=rnd.random() < 0.5, seed=seed)
        bias = bias if rnd.random() < 0.7 else None
        upper_bound = rnd.random() < 0.5
        got = mc.crown_relu_conv2d_backward(A, lower, upper, weight, bias, stride, padding, dilation, size,
                                            upper_bound=upper_bound)
        want = reference.crown_relu_conv2d_backward(A, lower, upper, upper_bound, weight, bias, stride, padding,
                                                    dilation, size)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-12, atol=1e-12, msg=lambda m: "%s (seed %d)" % (m, seed))


@pytest.mark.parametrize("channels", [2, 16])
def test_double_backward(channels):
    """Its backward is made of differentiable ops: second derivatives as the reference's."""
    A, lower, upper, weight, bias = _case(2, 3, 5, channels, (3, 3), (7, 6), (2, 1), (1, 0), dtype=torch.float64)
    A = torch.where(A.abs() < 0.1, A + 0.3 * torch.sign(A), A)  # away from the sign switch
    A, weight, bias = (t.requires_grad_() for t in (A, weight, bias))
    conv = dict(stride=(2, 1), padding=(1, 0), input_size=(7, 6))
    assert torch.autograd.gradgradcheck(
        lambda a, w, b: mc.crown_relu_conv2d_backward(a, lower, upper, w, b, **conv), (A, weight, bias),
        eps=1e-6, atol=1e-5, rtol=1e-4)


def test_errors_name_the_problem():
    A, lower, upper, weight, bias = _case(2, 3, 5, 1, (3, 3), (8, 8), (1, 1), (1, 1))
    with pytest.raises(ValueError, match="input_size"):
        mc.crown_relu_conv2d_backward(A, lower, upper, weight, bias, 1, 1)
    with pytest.raises(RuntimeError, match="A must be 5-D"):
        mc.crown_relu_conv2d_backward(A[0], lower, upper, weight, bias, 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="upper must have the shape of lower"):
        mc.crown_relu_conv2d_backward(A, lower, upper[:1], weight, bias, 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="A must be \\[batch, specs, \\*neurons\\] matching lower"):
        mc.crown_relu_conv2d_backward(A, lower[:1], upper[:1], weight, bias, 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="9x9 input .* 9x9 output, but A is 8x8"):
        mc.crown_relu_conv2d_backward(A, lower, upper, weight, bias, 1, 1, input_size=(9, 9))
    with pytest.raises(RuntimeError, match="bias must have shape"):
        mc.crown_relu_conv2d_backward(A, lower, upper, weight, bias[:3], 1, 1, input_size=(8, 8))
    with pytest.raises(RuntimeError, match="dtype"):
        mc.crown_relu_conv2d_backward(A, lower.double(), upper, weight, bias, 1, 1, input_size=(8, 8))
