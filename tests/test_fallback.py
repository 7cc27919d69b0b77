"""Without the compiled extension the ops still work, through the reference,
and say so: a warning on import and extension_loaded=False in build_info()."""
import subprocess
import sys

CODE = r"""
import sys, warnings
sys.modules["mixtrain_cuda._C"] = None  # makes `from .. import _C` fail as on a broken install
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch, mixtrain_cuda as mc
    c, r, w = torch.randn(2, 5), torch.rand(2, 5), torch.randn(3, 5)
    oc, orad = mc.interval_linear(c, r, w)
    torch.testing.assert_close(orad, r @ w.abs().t())
info = mc.build_info()
assert info["extension_loaded"] is False and info["cpu_kernels"] is False, info
assert info["load_error"], info
messages = [str(w.message) for w in caught]
assert any("reference" in m for m in messages), messages
print("ok")
"""


def test_missing_extension_warns_and_falls_back():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
