import pytest
import torch

from mixtrain_cuda import bench
from mixtrain_cuda.cpu_allocator import tune_cpu_allocator

# As the `mixtrain` command does: without it, how many page faults a CPU pass
# takes depends on what ran before it in the process (mixtrain_cuda/cpu_allocator.py).
tune_cpu_allocator()

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

_cases = {}
_peaks = {}


def get_case(device, index):
    if device not in _cases:
        _cases[device] = bench.cases(device)
    return _cases[device][index]


def get_peaks(device):
    if device not in _peaks:
        _peaks[device] = bench.machine_peaks(device)
    return _peaks[device]



@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
