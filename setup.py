"""Build of mixtrain_cuda's C++/CUDA extension (`mixtrain_cuda._C`).

CPU kernels are always built. CUDA kernels are built whenever torch is a CUDA
build and nvcc is found -- a visible GPU is *not* required (the kernels then
compile and link but cannot run). Environment switches:

  USE_CUDA=0             build the CPU kernels only
  FORCE_CUDA=1           fail loudly if the CUDA kernels cannot be built
  TORCH_CUDA_ARCH_LIST   GPU architectures (default: the visible GPU's, else "8.0;9.0")
  CUDA_HOME              toolkit folder (default: /usr/local/cuda when it has nvcc)
  MAX_JOBS               parallel compile jobs (ninja)
"""
import glob
import os
import shutil
import sys

from setuptools import find_packages, setup

ROOT = os.path.dirname(os.path.abspath(__file__))


def _env_flag(name):
    value = os.environ.get(name)
    return None if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def _find_cuda_home():
    """torch guesses CUDA_HOME from the nvcc on PATH; on machines where nvcc is
    linked into a plain bin/ that guess is wrong, so prefer the standard folder."""
    for candidate in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if candidate and os.path.exists(os.path.join(candidate, "bin", "nvcc")):
            return os.path.realpath(candidate)
    nvcc = shutil.which("nvcc")
    if nvcc:
        home = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
        if os.path.exists(os.path.join(home, "include", "cuda_runtime.h")):
            return home
    return None


def _nvidia_wheel_includes():
    """cusparse.h, cublas_v2.h and friends, which torch's CUDA headers include,
    come with the nvidia-* wheels rather than with the toolkit."""
    dirs = []
    for site in sys.path:
        base = os.path.join(site, "nvidia")
        if os.path.isdir(base):
            dirs += sorted(glob.glob(os.path.join(base, "cu*", "include")))
            dirs += sorted(glob.glob(os.path.join(base, "*", "include")))
    seen, out = set(), []
    for d in dirs:
        if os.path.isdir(d) and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _decide_cuda(torch):
    use_cuda, force_cuda = _env_flag("USE_CUDA"), _env_flag("FORCE_CUDA")
    if use_cuda is False:
        if force_cuda:
            raise RuntimeError("USE_CUDA=0 and FORCE_CUDA=1 contradict each other")
        return False, "disabled by USE_CUDA=0"
    reasons = []
    if torch.version.cuda is None:
        reasons.append("torch %s is not a CUDA build" % torch.__version__)
    cuda_home = _find_cuda_home()
    if cuda_home is None:
        reasons.append("nvcc not found (set CUDA_HOME)")
    if reasons:
        msg = "; ".join(reasons)
        if force_cuda or use_cuda:
            raise RuntimeError("CUDA kernels requested but cannot be built: " + msg)
        return False, msg
    os.environ["CUDA_HOME"] = cuda_home
    return True, "nvcc in " + cuda_home


def _extensions():
    import torch
    from torch.utils import cpp_extension

    with_cuda, why = _decide_cuda(torch)
    print("mixtrain_cuda build: CUDA kernels %s (%s)" % ("ON" if with_cuda else "OFF", why))

    sources = sorted(glob.glob(os.path.join("csrc", "*.cpp")) + glob.glob(os.path.join("csrc", "cpu", "*.cpp"))
                     + glob.glob(os.path.join("csrc", "autograd", "*.cpp")))
    # The C++ standard is left to torch (C++20 since torch 2.10, C++17 before).
    # -fopenmp: at::parallel_for is inlined into our code and runs serially
    # unless the extension itself is compiled with OpenMP.
    cxx_flags = ["-O3", "-fvisibility=hidden", "-fopenmp"]
    link_flags = ["-fopenmp"]
    macros = []
    include_dirs = [os.path.join(ROOT, "csrc")]
    if not with_cuda:
        return [cpp_extension.CppExtension("mixtrain_cuda._C", sources, include_dirs=include_dirs,
                                           define_macros=macros, extra_compile_args={"cxx": cxx_flags},
                                           extra_link_args=link_flags)]

    # torch's cpp_extension caches CUDA_HOME at import time: make sure the one we found wins.
    cpp_extension.CUDA_HOME = os.environ["CUDA_HOME"]
    if not os.environ.get("TORCH_CUDA_ARCH_LIST"):
        visible = torch.cuda.is_available() and torch.cuda.device_count() > 0
        if not visible:
            # No GPU here: build for A100 (sm_80) and H100/H200 (sm_90), plus PTX for newer ones.
            os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0+PTX"
    sources += sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
    macros.append(("MIXTRAIN_WITH_CUDA", "1"))
    include_dirs += _nvidia_wheel_includes()
    nvcc_flags = ["-O3", "--expt-relaxed-constexpr", "-lineinfo"]
    return [cpp_extension.CUDAExtension("mixtrain_cuda._C", sources, include_dirs=include_dirs,
                                        define_macros=macros, extra_link_args=link_flags,
                                        extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags})]


def _cmdclass():
    from torch.utils.cpp_extension import BuildExtension
    return {"build_ext": BuildExtension.with_options(use_ninja=shutil.which("ninja") is not None)}


setup(
    name="mixtrain_cuda",
    version="0.1.0",
    description="Fused C++/CUDA kernels and a bound engine for verifiably robust (MixTrain) training",
    packages=find_packages(include=["mixtrain_cuda", "mixtrain_cuda.*"]),
    python_requires=">=3.10",
    install_requires=["torch>=2.4", "numpy"],
    extras_require={"test": ["pytest", "pytest-benchmark", "hypothesis"]},
    ext_modules=_extensions(),
    cmdclass=_cmdclass(),
    entry_points={"console_scripts": ["mixtrain=mixtrain_cuda.cli:main"]},
)
