import pytest
import torch

from mixtrain_cuda.ops import _extension


def pytest_collection_modifyitems(config, items):
    """CUDA tests skip cleanly where there is no GPU or no CUDA kernel."""
    if torch.cuda.is_available() and _extension.CUDA_COMPILED:
        return
    why = "no CUDA GPU visible" if not torch.cuda.is_available() else "extension built without CUDA kernels"
    skip = pytest.mark.skip(reason=why)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
