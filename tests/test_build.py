"""The build: what build_info() reports matches what is registered."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

import mixtrain_cuda as mc
from mixtrain_cuda.ops import _extension


def test_build_info_reports_every_op():
    info = mc.build_info()
    for key in ("torch", "cuda_version", "cpu_kernels", "cuda_kernels", "ops", "cpu_simd", "extension_loaded"):
        assert key in info
    assert info["torch"] == torch.__version__
    assert set(info["ops"]) == set(_extension.OP_NAMES)
    assert info["extension_loaded"], info["load_error"]
    assert info["cpu_kernels"], info["ops"]
    assert info["cpu_simd"] in ("avx512", "avx2", "generic")


def test_cuda_kernels_registered_when_the_build_had_cuda():
    info = mc.build_info()
    assert info["cuda_kernels"] == info["cuda_compiled"]
    for name, where in info["ops"].items():
        assert where["cuda"] == info["cuda_compiled"], name
    # On a CUDA torch with nvcc the README's build compiles the CUDA kernels; CI
    # sets MIXTRAIN_EXPECT_CUDA=1 so that a silently CPU-only build fails here.
    if os.environ.get("MIXTRAIN_EXPECT_CUDA") == "1":
        assert torch.version.cuda is not None and shutil.which("nvcc") or os.path.exists("/usr/local/cuda/bin/nvcc")
        assert info["cuda_compiled"], "the extension was built without CUDA kernels"


@pytest.mark.skipif(not _extension.LOADED or not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="needs the built extension and ldd (Linux)")
def test_extension_links_libstdcxx_dynamically():
    """A C++ runtime linked into _C.so (a compiler wrapper that passes
    -static-libstdc++, as /opt/gcc/bin/g++ on the GPU machines does) has its
    own copy of the locale machinery: the first error message that formats a
    number then crashes the process (seen on torch 2.11). Build with the
    system compiler instead (CC=gcc CXX=g++)."""
    from mixtrain_cuda import _C
    out = subprocess.run(["ldd", _C.__file__], capture_output=True, text=True).stdout
    assert "libstdc++" in out, "mixtrain_cuda/_C links the C++ runtime statically:\n" + out
