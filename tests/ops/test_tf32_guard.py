"""The CUDA kernels' guard for IEEE float32 library products
(csrc/common/ieee_matmul_guard.h): inside it TF32 is off whatever the user
set, through either of torch's two APIs for it, and on return the user's
settings are exactly as they were. The guard touches only at::Context, so
this runs on any build (the CUDA kernels' own products under TF32 settings:
tests/ops/test_cuda.py)."""
import pytest
import torch

from mixtrain_cuda import _C

matmul = torch.backends.cuda.matmul


def _new_api():
    return getattr(matmul, "fp32_precision", None)


@pytest.fixture
def restore_settings():
    legacy = None
    try:
        legacy = torch.get_float32_matmul_precision()
    except RuntimeError:
        pass
    new = _new_api()
    yield
    torch.set_float32_matmul_precision(legacy or "highest")
    if new is not None:
        matmul.fp32_precision = new


@pytest.mark.parametrize("legacy", ["highest", "high", "medium"])
def test_guard_turns_tf32_off_and_restores_the_legacy_setting(legacy, restore_settings):
    torch.set_float32_matmul_precision(legacy)
    before = _new_api()
    inside, no_tf32, still = _C._ieee_matmul_guard_probe()
    assert inside == "highest" and no_tf32 and not still
    assert torch.get_float32_matmul_precision() == legacy
    assert _new_api() == before


def test_guard_works_with_the_new_api_alone(restore_settings):
    """A user who set only torch.backends.cuda.matmul.fp32_precision = "tf32"
    (torch's recommended API since 2.9): torch's legacy getter raises there
    (the two APIs disagree); the guard must neither raise nor leave TF32 on,
    and must leave the user's setting as it was."""
    if _new_api() is None:
        pytest.skip("this torch has no fp32_precision API")
    torch.set_float32_matmul_precision("highest")
    matmul.fp32_precision = "tf32"
    inside, no_tf32, still = _C._ieee_matmul_guard_probe()
    assert inside == "highest" and no_tf32 and not still
    assert _new_api() == "tf32"
