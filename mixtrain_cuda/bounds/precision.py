"""Bound passes on CUDA run in IEEE float32.

Bounds are claims about float32 arithmetic. A product rounded to TF32 (a
10-bit mantissa, about 1e-3 relative) can move a center or shrink a radius by
far more than float32 rounding, and the bound is then no longer sound. PyTorch
lets cuDNN take TF32 for float32 convolutions by default
(`torch.backends.cudnn.allow_tf32` is True) and cuBLAS once a user asks for it
(`torch.set_float32_matmul_precision("high")`, common in training scripts).
The fused ops guard their own library calls (csrc/cuda/cuda_utils.cuh); this
guards the engine's products around them (CROWN's backward pass, the
specification, the reference engine).
"""
import contextlib

import torch

# torch >= 2.10: the CUDA-matmul entry of the fp32_precision API, which torch's
# CUDA products read there. The legacy getter (get_float32_matmul_precision)
# raises where the two APIs disagree -- a user who set only
# torch.backends.cuda.matmul.fp32_precision = "tf32" -- and the legacy setter
# also changes the CPU's oneDNN setting (csrc/common/ieee_matmul_guard.h, the
# same choice in C++).
_FP32_PRECISION_API = torch.__version__ >= "2.10" and hasattr(torch.backends.cuda.matmul, "fp32_precision")


@contextlib.contextmanager
def ieee_float32(device):
    """Inside: float32 matmuls and convolutions on CUDA are IEEE float32; the
    user's settings come back on exit. A no-op off CUDA."""
    if torch.device(device).type != "cuda":
        yield
        return
    cuda_matmul = torch.backends.cuda.matmul
    if _FP32_PRECISION_API:
        matmul = cuda_matmul.fp32_precision
        cuda_matmul.fp32_precision = "ieee"
    else:
        matmul = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        if _FP32_PRECISION_API:
            cuda_matmul.fp32_precision = matmul
        else:
            torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = cudnn
