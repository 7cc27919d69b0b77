"""tune_cpu_allocator: freed tensors of a few MiB are reused instead of being
faulted in again (counted page faults, not time), torch's allocator asks for
transparent huge pages, and the environment wins."""
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc only")

# Allocates and frees 100 tensors of 1 MiB, 100 MiB in all, as a deep bound
# pass does; prints the minor page faults per iteration after a warm-up. With
# glibc's defaults every iteration faults: either the tensors are above the
# (dynamic) mmap threshold and mapped afresh, or they come from the heap and
# freeing them leaves more than the trim threshold (at most 64 MiB) free at its
# top, which goes back to the kernel.
_PROBE = r"""
import ctypes, resource, sys, torch
import mixtrain_cuda as mc
if sys.argv[1] == "tune":
    state = mc.tune_cpu_allocator()
else:  # glibc's start-up thresholds (128 KiB), fixed: the dynamic ones depend on the process's history
    libc = ctypes.CDLL("libc.so.6")
    state = [libc.mallopt(-3, 128 << 10), libc.mallopt(-1, 128 << 10)]
def step():
    ts = [torch.ones(1 << 18) for _ in range(100)]
    del ts
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10.0, state)
"""


def _faults(mode, env=None):
    full = dict(os.environ, **(env or {}))
    for k in [k for k in full if k.startswith("MALLOC_") and k not in (env or {})]:
        del full[k]
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, env=full,
                         timeout=120, check=True).stdout.split(None, 1)
    return float(out[0]), out[1].strip()


def test_tuned_allocator_reuses_freed_pages():
    faults, state = _faults("tune")
    assert "'tuned': True" in state
    # 100 MiB is 25600 pages: untuned, all of them are faulted in again.
    assert faults < 100, faults


def test_environment_wins():
    _, state = _faults("tune", {"MIXTRAIN_MALLOC": "default"})
    assert "'tuned': False" in state and "MIXTRAIN_MALLOC" in state
    _, state = _faults("tune", {"MALLOC_ARENA_MAX": "2"})
    assert "'tuned': False" in state and "MALLOC_ARENA_MAX" in state
    _, state = _faults("tune", {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"})
    assert "'tuned': False" in state and "GLIBC_TUNABLES" in state


def test_probe_sees_faults_at_glibc_start_up_thresholds():
    """The probe does show the problem the setting fixes (otherwise the first
    test proves nothing). glibc's own thresholds move with what the process
    freed before, so that untuned runs fault every iteration or not at all:
    the control fixes them at their start-up values."""
    faults, state = _faults("none")
    assert state == "[1, 1]"
    assert faults > 10000, faults


_THP_PROBE = r"""
import sys, torch
if sys.argv[1] == "late":
    torch.zeros(3)  # torch reads THP_MEM_ALLOC_ENABLE at its first tensor
import mixtrain_cuda as mc
state = mc.tune_cpu_allocator()["huge_pages"]
# With huge pages torch aligns its blocks to the page; a 4 MiB block from the heap otherwise lands on a page
# boundary one time in 64, so eight of them all aligned is no accident.
aligned = all(torch.empty(1 << 20).data_ptr() % 4096 == 0 for _ in range(8))
print(state["used"], aligned, state["why"])
"""


def _thp(mode, env=None):
    full = dict(os.environ)
    full.pop("THP_MEM_ALLOC_ENABLE", None)
    full.update(env or {})
    out = subprocess.run([sys.executable, "-c", _THP_PROBE, mode], capture_output=True, text=True, env=full,
                         timeout=120, check=True).stdout.split(None, 2)
    return out[0] == "True", out[1] == "True", out[2].strip()


def _kernel_offers_thp():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not _kernel_offers_thp(), reason="the kernel offers no transparent huge pages")
def test_huge_pages_when_set_before_torch_allocates():
    used, aligned, why = _thp("early")
    assert used and aligned, why
    used, aligned, why = _thp("late")  # too late: the state says so, and what to do
    assert not used and not aligned and "set it in the environment" in why
    used, aligned, why = _thp("late", {"THP_MEM_ALLOC_ENABLE": "1"})  # the environment's own setting works
    assert used and aligned and "from the environment" in why
    used, aligned, why = _thp("early", {"THP_MEM_ALLOC_ENABLE": "0"})  # and the environment wins
    assert not used and not aligned and "THP_MEM_ALLOC_ENABLE=0" in why
