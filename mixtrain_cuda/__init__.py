"""mixtrain_cuda: fused C++/CUDA kernels and bounds for verifiably robust (MixTrain) training."""
from . import ops
from ._build_info import build_info
from .cpu_allocator import tune_cpu_allocator
from .ops import (
    crown_conv2d_backward,
    crown_relu_backward,
    crown_relu_backward_grad,
    crown_relu_conv2d_backward,
    interval_conv2d,
    interval_linear,
    interval_relu,
    interval_relu_backward,
    symbolic_conv2d,
    symbolic_linear,
    symbolic_relu,
)

__version__ = "0.1.0"

__all__ = ["build_info", "tune_cpu_allocator", *ops.__all__]
