import pytest
import torch

from mixtrain_cuda import bench

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
