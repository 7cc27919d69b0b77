"""What was built and what is registered."""
import torch

from .ops import _extension


def build_info():
    """A dict saying how the library was built and which kernels are registered.

    Keys: ``torch``, ``cuda_version`` (of torch), ``extension_loaded``,
    ``load_error``, ``cuda_compiled``, ``cpu_simd`` (the instruction set the CPU
    kernels use here), ``cpu_kernels``/``cuda_kernels`` (True only when every op
    has one), ``ops`` (per op: ``{"cpu": bool, "cuda": bool}``), ``gpu_visible``.
    """
    ops = {name: {"cpu": _extension.has_kernel(name, "CPU"), "cuda": _extension.has_kernel(name, "CUDA")}
           for name in _extension.OP_NAMES}
    return {
        "torch": torch.__version__,
        "cuda_version": torch.version.cuda,
        "extension_loaded": _extension.LOADED,
        "load_error": _extension.LOAD_ERROR,
        "cuda_compiled": _extension.CUDA_COMPILED,
        "cpu_simd": _extension._C.cpu_simd_level() if _extension.LOADED else None,
        "cpu_kernels": all(v["cpu"] for v in ops.values()),
        "cuda_kernels": all(v["cuda"] for v in ops.values()),
        "ops": ops,
        "gpu_visible": torch.cuda.is_available(),
    }
