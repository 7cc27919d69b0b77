"""The guards for IEEE float32 library products -- the CUDA kernels'
(csrc/common/ieee_matmul_guard.h) and the bound engine's
(mixtrain_cuda/bounds/precision.py): inside them TF32 is off whatever the
user set, through either of torch's two APIs for it, and on return the
user's settings are as they were. Both touch only torch's global settings,
so this runs on any build (the products themselves under TF32 settings:
tests/ops/test_cuda.py, tests/bounds/test_cuda.py)."""
import os
import subprocess
import sys

import pytest
import torch

from mixtrain_cuda import _C
from mixtrain_cuda.bounds.precision import _FP32_PRECISION_API, ieee_float32

matmul = torch.backends.cuda.matmul
INSIDE = "ieee" if _FP32_PRECISION_API else "highest"


def _settings():
    """Everything a guard could change: the legacy matmul setting (None where
    its getter raises), the fp32_precision entries, cuDNN's flag."""
    try:
        legacy = torch.get_float32_matmul_precision()
    except RuntimeError:
        legacy = None
    new = {}
    if hasattr(matmul, "fp32_precision"):
        new = dict(cuda_matmul=matmul.fp32_precision, mkldnn_matmul=torch.backends.mkldnn.matmul.fp32_precision,
                   generic=torch.backends.fp32_precision)
    return dict(legacy=legacy, cudnn=torch.backends.cudnn.allow_tf32, **new)


@pytest.fixture
def restore_settings():
    before = _settings()
    yield
    torch.set_float32_matmul_precision(before["legacy"] or "highest")
    if "cuda_matmul" in before:
        matmul.fp32_precision = before["cuda_matmul"]
        torch.backends.mkldnn.matmul.fp32_precision = before["mkldnn_matmul"]
    torch.backends.cudnn.allow_tf32 = before["cudnn"]


def _check_both_guards():
    before = _settings()
    inside, no_tf32, still = _C._ieee_matmul_guard_probe()
    assert inside == INSIDE and no_tf32 and not still
    assert _settings() == before
    with ieee_float32("cuda"):  # (only flags: no GPU needed)
        if _FP32_PRECISION_API:
            assert matmul.fp32_precision == "ieee"
        else:
            assert torch.get_float32_matmul_precision() == "highest"
        assert not torch.backends.cudnn.allow_tf32
    assert _settings() == before


@pytest.mark.parametrize("legacy", ["highest", "high", "medium"])
def test_guards_turn_tf32_off_and_restore_the_legacy_setting(legacy, restore_settings):
    torch.set_float32_matmul_precision(legacy)
    torch.backends.cudnn.allow_tf32 = True
    _check_both_guards()
    assert torch.get_float32_matmul_precision() == legacy


def test_guards_work_with_the_new_api_alone(restore_settings):
    """A user who set only torch.backends.cuda.matmul.fp32_precision = "tf32"
    (torch's recommended API since 2.9): torch's legacy getter raises there
    (the two APIs disagree); the guards must neither raise nor leave TF32 on,
    and must leave the user's setting as it was."""
    if not _FP32_PRECISION_API:
        pytest.skip("torch < 2.10: the guards use the legacy API only")
    torch.set_float32_matmul_precision("highest")
    matmul.fp32_precision = "tf32"
    torch.backends.cudnn.conv.fp32_precision = "tf32"
    _check_both_guards()
    assert matmul.fp32_precision == "tf32"


def test_guards_leave_a_fresh_process_as_it_was():
    """torch's defaults (an "inherit" entry for CUDA matmuls), in a process
    that changed nothing before."""
    code = (
        "import torch\n"
        "from tests.ops.test_tf32_guard import _settings, _check_both_guards\n"
        "before = _settings()\n"
        "_check_both_guards()\n"
        "assert _settings() == before and before['legacy'] == 'highest', before\n"
        "print('ok')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
