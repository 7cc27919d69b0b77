"""The CMake build (libmixtrain_ops.so, for C++ users) registers working ops, with autograd.

CI builds it first (scripts/build_cmake.sh) and sets MIXTRAIN_CMAKE_LIB; a
plain local run skips when the library was not built."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.environ.get("MIXTRAIN_CMAKE_LIB", os.path.join(ROOT, "build-cmake", "libmixtrain_ops.so"))

CHECK = r"""
import sys, torch, torch.nn.functional as F
torch.ops.load_library(sys.argv[1])
c, r, w, b = torch.randn(3, 40), torch.rand(3, 40), torch.randn(9, 40), torch.randn(9)
oc, orad = torch.ops.mixtrain.interval_linear(c, r, w, b)
torch.testing.assert_close(oc, F.linear(c, w, b))
torch.testing.assert_close(orad, F.linear(r, w.abs()))
lo, up = torch.randn(2, 5), torch.randn(2, 5).abs()
A = torch.randn(2, 3, 5)
A2, bias = torch.ops.mixtrain.crown_relu_backward(A, lo - up, lo + up, True)
assert A2.shape == A.shape and bias.shape == (2, 3)
# Autograd comes with the library (csrc/autograd/, C++): no Python package loaded here.
c.requires_grad_(True); w.requires_grad_(True)
oc, orad = torch.ops.mixtrain.interval_linear(c, r, w, b)
(oc.sum() + 2 * orad.sum()).backward()
w2 = w.detach().clone().requires_grad_(True)
(F.linear(c.detach(), w2, b).sum() + 2 * F.linear(r, w2.abs()).sum()).backward()
torch.testing.assert_close(w.grad, w2.grad)
torch.testing.assert_close(c.grad, torch.ones(3, 9) @ w.detach())
print("ok")
"""


@pytest.mark.skipif(not os.path.exists(LIB) and os.environ.get("MIXTRAIN_CMAKE_LIB") is None,
                    reason="CMake library not built (scripts/build_cmake.sh)")
def test_cmake_library_registers_working_ops():
    assert os.path.exists(LIB), "MIXTRAIN_CMAKE_LIB points to a missing file: " + LIB
    # A fresh interpreter: the Python extension must not register the library first.
    out = subprocess.run([sys.executable, "-c", CHECK, LIB], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
