import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """These tests run thousands of tiny ops; on a busy machine with few cores,
    intra-op threads fighting for them made the suite ~25x slower (90 s vs
    3.5 s on 2 cores). One thread is also the fastest for tensors this small."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
