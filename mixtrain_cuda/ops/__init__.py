"""The fused ops. Each public function runs the compiled kernel (CPU or CUDA,
picked by the dispatcher) and falls back, with a warning, to the pure-PyTorch
reference in :mod:`mixtrain_cuda.ops.reference` when no kernel serves the input."""
from ._extension import OP_NAMES
from .crown_conv2d_backward import crown_conv2d_backward
from .crown_relu_backward import crown_relu_backward
from .crown_relu_backward_grad import crown_relu_backward_grad
from .crown_relu_conv2d_backward import crown_relu_conv2d_backward
from .interval_conv2d import interval_conv2d
from .interval_linear import interval_linear
from .interval_relu import interval_relu
from .interval_relu_backward import interval_relu_backward
from .symbolic_conv2d import symbolic_conv2d
from .symbolic_linear import symbolic_linear
from .symbolic_relu import symbolic_relu

__all__ = list(OP_NAMES)
