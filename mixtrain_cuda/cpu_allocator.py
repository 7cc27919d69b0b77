"""glibc malloc settings for bound passes and training on the CPU.

torch's CPU tensors come from malloc. glibc serves a request above its mmap
threshold (128 KiB at start, raised as such blocks are freed, to 32 MiB at
most) with a fresh mmap, and returns the top of its heap to the kernel once
more than twice that is free. A bound pass allocates and frees tensors of a
few hundred KiB to a few MiB in every layer, and so, call after call, it gets
pages the kernel must fault in and zero again: on the 2-core development
machine, 1800-14000 page faults per IBP pass at batch 64, 30-50% of its time
(mnist_large: 28.6 ms with glibc's defaults, 18.5 ms with the settings below;
the pure-PyTorch engine 35.2 -> 22.6 ms). Worse for benchmarks, how many faults
a pass takes depends on what the process allocated before, so the same pass
measured 2.0 ms or 4.4 ms in two processes.

`tune_cpu_allocator()` fixes the mmap threshold at 32 MiB (blocks up to that
size come from the heap and are reused) and the trim threshold at 1 GiB (freed
heap memory stays with the process, up to that much), which is what
PyTorch's CPU performance guide gets by preloading jemalloc or tcmalloc. The
cost: the process keeps up to its peak heap mapped. The `mixtrain` command
calls it; library users call it themselves (it changes the whole process), or
preload another allocator. The environment wins: if any of glibc's MALLOC_*
variables or glibc.malloc tunables is set, jemalloc or tcmalloc is preloaded,
or MIXTRAIN_MALLOC=default, nothing is changed. The trim threshold holds per
malloc arena (glibc makes more for threads that allocate at once).

Tensors above the mmap threshold (CROWN's coefficient matrices reach hundreds
of MiB) are still mapped afresh each time, and their 4 KiB pages faulted in
one by one. torch's CPU allocator asks for transparent huge pages (2 MiB) for
allocations from 2 MiB on when THP_MEM_ALLOC_ENABLE=1, which it reads once, at
the process's first tensor allocation. `tune_cpu_allocator()` sets it when the
environment has not, and its state says whether it took effect (not once torch
has allocated a tensor: then set it in the environment). Measured on the
2-core development machine (kernel THP mode "madvise"): torch.zeros(100 MiB)
62 -> 18 ms; a `crown` pass on mnist_small at 8 points 1190 -> 520 ms
(medians of three processes each); IBP and CROWN-IBP passes at k <= 50, whose
tensors stay below 32 MiB, unchanged within noise.
"""
import ctypes
import os
import platform

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 1 << 30

_state = {"tuned": False, "why": "not requested"}


def tune_cpu_allocator():
    """Sets glibc's mmap and trim thresholds (see the module docstring) once per
    process. Returns a dict saying what was done and why; `cpu_allocator_state()`
    returns the same later."""
    if _state["tuned"]:
        return dict(_state)
    if os.environ.get("MIXTRAIN_MALLOC", "").lower() == "default":
        _state.update(tuned=False, why="MIXTRAIN_MALLOC=default")
        return dict(_state)
    # glibc's own settings (MALLOC_MMAP_THRESHOLD_, MALLOC_ARENA_MAX, ... or
    # GLIBC_TUNABLES=glibc.malloc.*): mallopt would override them, so leave them be.
    user = sorted(k for k in os.environ if k.startswith("MALLOC_"))
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        user.append("GLIBC_TUNABLES")
    if user:
        _state.update(tuned=False, why="left to the environment (%s)" % ", ".join(user))
        return dict(_state)
    preload = os.environ.get("LD_PRELOAD", "")
    if "jemalloc" in preload or "tcmalloc" in preload:
        _state.update(tuned=False, why="another allocator is preloaded (%s)" % preload)
        return dict(_state)
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _state.update(tuned=False, why="not glibc")
        return dict(_state)
    try:
        libc = ctypes.CDLL("libc.so.6")
        mmap_ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        trim_ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError) as exc:
        _state.update(tuned=False, why="mallopt unavailable: %s" % exc)
        return dict(_state)
    _state["huge_pages"] = _huge_pages()
    if mmap_ok and trim_ok:
        _state.update(tuned=True, why="mmap threshold %d MiB, trim threshold %d MiB" % (
            MMAP_THRESHOLD >> 20, TRIM_THRESHOLD >> 20))
    else:
        _state.update(tuned=mmap_ok or trim_ok, why="mallopt refused %s" % " and ".join(
            name for name, ok in (("the mmap threshold", mmap_ok), ("the trim threshold", trim_ok)) if not ok))
    return dict(_state)


def _huge_pages():
    """Asks torch for transparent huge pages (module docstring) unless the
    environment decided; returns whether its allocator uses them. The probe:
    with THP_MEM_ALLOC_ENABLE in effect torch aligns allocations to the page,
    otherwise to 64 bytes, and a 64 MiB block (mapped, never touched) is then
    never page-aligned (glibc's header sits at the start of the mapping)."""
    import torch
    from_environment = "THP_MEM_ALLOC_ENABLE" in os.environ
    if not from_environment:
        os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            mode = f.read().strip()
    except OSError:
        mode = ""
    if "[never]" in mode or not mode:
        return dict(used=False, why="the kernel offers none (transparent_hugepage: %s)" % (mode or "absent"))
    setting = "THP_MEM_ALLOC_ENABLE=%s%s" % (os.environ["THP_MEM_ALLOC_ENABLE"],
                                             " (from the environment)" if from_environment else "")
    if torch.empty(16 << 20).data_ptr() % 4096 == 0:
        return dict(used=True, why=setting)
    if from_environment:
        return dict(used=False, why=setting)
    return dict(used=False, why="torch read THP_MEM_ALLOC_ENABLE before it was set, at its first tensor: set it in "
                                "the environment")


def cpu_allocator_state():
    """What tune_cpu_allocator() did in this process (for benchmark records)."""
    return dict(_state)
