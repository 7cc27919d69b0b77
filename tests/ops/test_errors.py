"""Bad input gets an error that names the argument."""
import pytest
import torch

import mixtrain_cuda as mc


def test_interval_linear_shape_mismatch():
    with pytest.raises(RuntimeError, match="radius"):
        mc.interval_linear(torch.randn(2, 4), torch.randn(2, 5), torch.randn(3, 4))
    with pytest.raises(RuntimeError, match="in_features"):
        mc.interval_linear(torch.randn(2, 4), torch.randn(2, 4), torch.randn(3, 5))
    with pytest.raises(RuntimeError, match="bias"):
        mc.interval_linear(torch.randn(2, 4), torch.randn(2, 4), torch.randn(3, 4), torch.randn(4))


def test_interval_linear_dtype_and_rank():
    with pytest.raises(RuntimeError, match="weight has dtype"):
        mc.interval_linear(torch.randn(2, 4), torch.randn(2, 4), torch.randn(3, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="radius has dtype"):
        mc.interval_linear(torch.randn(2, 4), torch.randn(2, 4, dtype=torch.float64), torch.randn(3, 4))
    with pytest.raises(RuntimeError, match="weight must be 2-D"):
        mc.interval_linear(torch.randn(2, 4), torch.randn(2, 4), torch.randn(3, 4, 1))
    with pytest.raises(RuntimeError, match="center must be float32 or float64"):
        mc.interval_linear(torch.ones(2, 4, dtype=torch.int32), torch.ones(2, 4, dtype=torch.int32),
                           torch.ones(3, 4, dtype=torch.int32))


def test_interval_conv2d_errors():
    c = torch.randn(1, 4, 8, 8)
    with pytest.raises(RuntimeError, match="weight must be 4-D"):
        mc.interval_conv2d(c, c, torch.randn(3, 4, 3))
    with pytest.raises(RuntimeError, match="input channels"):
        mc.interval_conv2d(c, c, torch.randn(3, 2, 3, 3))
    with pytest.raises(RuntimeError, match="divisible by groups"):
        mc.interval_conv2d(c, c, torch.randn(3, 2, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match="center must be 4-D"):
        mc.interval_conv2d(torch.randn(4, 8, 8), torch.randn(4, 8, 8), torch.randn(3, 4, 3, 3))
    with pytest.raises(RuntimeError, match="does not fit"):
        mc.interval_conv2d(c, c, torch.randn(3, 4, 9, 9))
    with pytest.raises(ValueError, match="stride"):
        mc.interval_conv2d(c, c, torch.randn(3, 4, 3, 3), stride=(1, 2, 3))


def test_symbolic_errors():
    with pytest.raises(RuntimeError, match="gens must be"):
        mc.symbolic_linear(torch.randn(2, 4), torch.randn(2, 3, 5), torch.randn(3, 4))
    with pytest.raises(RuntimeError, match="input_norm"):
        mc.symbolic_linear(torch.randn(2, 4), torch.randn(2, 3, 4), torch.randn(3, 4), input_norm=1.0)
    with pytest.raises(RuntimeError, match="input_rows"):
        mc.symbolic_linear(torch.randn(2, 4), torch.randn(2, 3, 4), torch.randn(3, 4), input_rows=5)
    with pytest.raises(RuntimeError, match="gens must be"):
        mc.symbolic_relu(torch.randn(2, 4), torch.randn(2, 3, 5), torch.rand(2, 4))
    with pytest.raises(RuntimeError, match="A must be"):
        mc.crown_relu_backward(torch.randn(2, 3, 5), torch.randn(2, 4), torch.randn(2, 4))


def test_interval_relu_backward_errors():
    x = torch.randn(2, 4)
    with pytest.raises(RuntimeError, match="grad_radius must have the shape"):
        mc.interval_relu_backward(x, torch.randn(2, 5), x, x)
    with pytest.raises(RuntimeError, match="grad_center has dtype"):
        mc.interval_relu_backward(x.double(), x, x, x)
    with pytest.raises(RuntimeError, match="radius must have the shape"):
        mc.interval_relu_backward(x, x, x, torch.randn(4, 2))


def test_crown_relu_backward_grad_errors():
    A, lo, up = torch.randn(2, 3, 5), torch.randn(2, 5), torch.randn(2, 5)
    with pytest.raises(RuntimeError, match="grad_A must have the shape"):
        mc.crown_relu_backward_grad(torch.randn(2, 3, 4), torch.randn(2, 3), A, lo, up)
    with pytest.raises(RuntimeError, match="grad_bias must be"):
        mc.crown_relu_backward_grad(torch.randn(2, 3, 5), torch.randn(2, 4), A, lo, up)


def test_device_mismatch_names_argument():
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU to build tensors on two devices")
    with pytest.raises(RuntimeError, match="weight is on"):
        mc.interval_linear(torch.randn(2, 4, device="cuda"), torch.randn(2, 4, device="cuda"), torch.randn(3, 4))


def test_benchmark_knobs_reject_bad_values():
    from mixtrain_cuda import _C
    with pytest.raises(RuntimeError, match="choice must be auto, own or library"):
        _C._set_kernel_choice("interval_linear", "fast")
    with pytest.raises(RuntimeError, match="warps per feature must be"):
        _C._set_interval_linear_split(3)
    _C._set_interval_linear_split(4)  # accepted, and back to the size rule
    _C._set_interval_linear_split(0)
