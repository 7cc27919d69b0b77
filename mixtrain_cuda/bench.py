"""Op benchmark cases shared by `mixtrain bench` and benchmarks/ (pytest-benchmark).

Each case builds inputs of a shape MixTrain uses and returns the fused op, the
pure-PyTorch reference, and the bytes and flops that bound it from below. The
floor of a case is max(bytes / bandwidth, flops / peak), with bandwidth and
peak measured on the spot (a large copy, a large GEMM), so the number means
something on any machine.
"""
import ctypes
import dataclasses
import functools
import itertools
import statistics
import time

import torch

from . import ops
from .ops import reference


@dataclasses.dataclass
class Case:
    name: str
    op: str
    fused: object    # callable, no arguments
    ref: object      # callable, no arguments
    bytes: float     # compulsory memory traffic of the fused op
    flops: float     # multiply-adds * 2


def _ibp_linear(rows, k, n, device, dtype):
    c = torch.randn(rows, k, device=device, dtype=dtype)
    r = torch.rand(rows, k, device=device, dtype=dtype)
    # The op is bound by reading W: on a GPU, W must come from device memory.
    weights = rotating(lambda: (torch.randn(n, k, device=device, dtype=dtype), torch.randn(n, device=device,
                                                                                          dtype=dtype)),
                       (n * k + n) * c.element_size(), device)

    def fused():
        w, b = weights()
        return ops.interval_linear(c, r, w, b)

    def ref():
        w, b = weights()
        return reference.interval_linear(c, r, w, b)
    size = c.element_size()
    return Case("interval_linear rows=%d K=%d N=%d" % (rows, k, n), "interval_linear", fused, ref,
                size * (n * k + 2 * rows * k + 2 * rows * n + n), 4.0 * rows * k * n)


def _ibp_conv(batch, cin, hw, cout, ksize, stride, padding, device, dtype, label):
    c = torch.randn(batch, cin, hw, hw, device=device, dtype=dtype)
    r = torch.rand_like(c)
    w = torch.randn(cout, cin, ksize, ksize, device=device, dtype=dtype)
    b = torch.randn(cout, device=device, dtype=dtype)
    out_hw = (hw + 2 * padding - ksize) // stride + 1
    size = c.element_size()
    macs = batch * cout * out_hw * out_hw * cin * ksize * ksize
    return Case("interval_conv2d %s B=%d" % (label, batch), "interval_conv2d",
                lambda: ops.interval_conv2d(c, r, w, b, stride, padding),
                lambda: reference.interval_conv2d(c, r, w, b, (stride, stride), (padding, padding)),
                size * (w.numel() + 2 * c.numel() + 2 * batch * cout * out_hw * out_hw), 4.0 * macs)


def _symbolic_linear(batch, rows, k, n, device, dtype, label):
    c = torch.randn(batch, k, device=device, dtype=dtype)
    g = torch.randn(batch, rows, k, device=device, dtype=dtype)
    w = torch.randn(n, k, device=device, dtype=dtype)
    size = c.element_size()
    return Case("symbolic_linear %s k=%d rows=%d" % (label, batch, rows), "symbolic_linear",
                lambda: ops.symbolic_linear(c, g, w, None, input_rows=rows),
                lambda: reference.symbolic_linear(c, g, w, None, rows),
                size * (g.numel() + batch * rows * n + n * k), 2.0 * batch * rows * k * n)


def _symbolic_conv(batch, rows, cin, hw, cout, ksize, stride, padding, device, dtype, label):
    c = torch.randn(batch, cin, hw, hw, device=device, dtype=dtype)
    g = torch.randn(batch, rows, cin, hw, hw, device=device, dtype=dtype)
    w = torch.randn(cout, cin, ksize, ksize, device=device, dtype=dtype)
    out_hw = (hw + 2 * padding - ksize) // stride + 1
    size = c.element_size()
    return Case("symbolic_conv2d %s k=%d rows=%d" % (label, batch, rows), "symbolic_conv2d",
                lambda: ops.symbolic_conv2d(c, g, w, None, stride, padding, input_rows=rows),
                lambda: reference.symbolic_conv2d(c, g, w, None, (stride, stride), (padding, padding), (1, 1), 1,
                                                  rows),
                size * (g.numel() + batch * rows * cout * out_hw * out_hw),
                2.0 * batch * rows * cout * out_hw * out_hw * cin * ksize * ksize)


def _relu_cases(device, dtype):
    B, R, N = 10, 784, 3136  # MNIST small after conv 1: 16 x 14 x 14 neurons, 784 input symbols
    c = torch.randn(B, N, device=device, dtype=dtype)
    rad = torch.rand(B, N, device=device, dtype=dtype)
    g = torch.randn(B, R, N, device=device, dtype=dtype) * 0.01
    A = torch.randn(B, 10, N, device=device, dtype=dtype)
    size = c.element_size()
    yield Case("interval_relu B=%d N=%d" % (B, N), "interval_relu", lambda: ops.interval_relu(c, rad),
               lambda: reference.interval_relu(c, rad), size * 4 * B * N, 0.0)
    yield Case("symbolic_relu k=%d rows=%d N=%d" % (B, R, N), "symbolic_relu",
               lambda: ops.symbolic_relu(c, g, rad), lambda: reference.symbolic_relu(c, g, rad),
               size * 2 * g.numel(), 0.0)
    yield Case("crown_relu_backward B=%d S=10 N=%d" % (B, N), "crown_relu_backward",
               lambda: ops.crown_relu_backward(A, c - rad, c + rad, True),
               lambda: reference.crown_relu_backward(A, c - rad, c + rad, True), size * 2 * A.numel(), 0.0)


def _crown_conv_cases(device, dtype, quick):
    """CROWN's backward step through the layers the engine gives
    crown_conv2d_backward (bounds/_ops.py): each net's first convolution (at
    most 4 input channels, the narrow form) and the strided ones with 16k input
    channels and a kernel above 1x1 (the wide form), at CROWN-IBP's 16 points x
    9 margins = 144 rows of A, channels-last as the engine hands it on (the
    oneDNN transposed convolutions before it leave it so)."""
    from .bounds._ops import crown_conv_kernel_shape  # the engine's rule, not a copy of it

    rows = 144
    layers = [spec for spec in conv_layers() if crown_conv_kernel_shape(spec[0], spec[3], spec[4])]
    for cin, hw, cout, k, stride, pad, label in (layers[:1] if quick else layers):
        out_hw = (hw + 2 * pad - k) // stride + 1
        A = torch.randn(rows, cout, out_hw, out_hw, device=device, dtype=dtype).contiguous(
            memory_format=torch.channels_last)
        w = torch.randn(cout, cin, k, k, device=device, dtype=dtype)
        b = torch.randn(cout, device=device, dtype=dtype)
        conv = ((stride, stride), (pad, pad), (1, 1), (hw, hw))
        yield Case("crown_conv2d_backward %s rows=%d" % (label, rows), "crown_conv2d_backward",
                   functools.partial(ops.crown_conv2d_backward, A, w, b, *conv),
                   functools.partial(reference.crown_conv2d_backward, A, w, b, *conv),
                   A.element_size() * (A.numel() + rows * cin * hw * hw), 2.0 * A.numel() * cin * k * k)


def _crown_relu_conv_cases(device, dtype):
    """CROWN's steps through relu(conv(x)) as one op (crown_relu_conv2d_backward,
    bounds/layers/conv.py: Conv2d.backward_with) against the reference's two
    steps, on the convolutions of the MixTrain nets whose output a ReLU reads
    directly (the residual nets put a BatchNorm between), at CROWN-IBP's 16
    points x 9 margins, A channels-last as the engine hands it on."""
    from .bounds._ops import crown_relu_conv_kernel_shape  # the engine's rule, not a copy of it

    B, S = 16, 9
    chains = [spec for spec in conv_layers() if "resnet" not in spec[6] and crown_relu_conv_kernel_shape(spec[0])]
    for cin, hw, cout, k, stride, pad, label in chains:
        out_hw = (hw + 2 * pad - k) // stride + 1
        A = torch.randn(B * S, cout, out_hw, out_hw, device=device, dtype=dtype).contiguous(
            memory_format=torch.channels_last).reshape(B, S, cout, out_hw, out_hw)
        lower = torch.randn(B, cout, out_hw, out_hw, device=device, dtype=dtype).contiguous(
            memory_format=torch.channels_last)
        upper = lower + torch.rand_like(lower)
        w = torch.randn(cout, cin, k, k, device=device, dtype=dtype)
        b = torch.randn(cout, device=device, dtype=dtype)
        conv = ((stride, stride), (pad, pad), (1, 1), (hw, hw))
        yield Case("crown_relu_conv2d_backward %s rows=%d" % (label, B * S), "crown_relu_conv2d_backward",
                   functools.partial(ops.crown_relu_conv2d_backward, A, lower, upper, w, b, *conv),
                   functools.partial(reference.crown_relu_conv2d_backward, A, lower, upper, True, w, b, *conv),
                   A.element_size() * (A.numel() + 2 * lower.numel() + B * S * cin * hw * hw),
                   2.0 * A.numel() * cin * k * k)


# The networks whose convolutions the IBP conv cases take, with their input.
MIXTRAIN_NETS = [("mnist_small", 1, 28), ("mnist_large", 1, 28), ("cifar_small", 3, 32),
                 ("cifar_large", 3, 32), ("cifar_resnet", 3, 32), ("imagenet200_resnet", 3, 64)]


@functools.lru_cache(maxsize=None)
def conv_layers():
    """Every distinct convolution of the MixTrain networks (`mixtrain_cuda.models`),
    read off the models themselves so that the benchmark cannot drift from them:
    (cin, hw, cout, k, stride, pad, label), label "net.convN" (N-th convolution
    of the net in call order, from 1), the first net that has the shape."""
    from . import models
    out, seen = [], set()
    for net, ch, side in MIXTRAIN_NETS:
        model = getattr(models, net)()
        found = []
        hooks = [m.register_forward_hook(lambda m, inp, o: found.append((m, inp[0].shape[-1])))
                 for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.no_grad():
            model(torch.zeros(1, ch, side, side))
        for h in hooks:
            h.remove()
        for i, (m, hw) in enumerate(found):
            if m.groups != 1 or m.dilation != (1, 1) or m.kernel_size[0] != m.kernel_size[1] or \
                    m.stride[0] != m.stride[1] or m.padding[0] != m.padding[1]:
                raise ValueError("conv_layers: %s.conv%d is not square; extend the case spec" % (net, i + 1))
            spec = (m.in_channels, hw, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
            if spec not in seen:
                seen.add(spec)
                out.append(spec + ("%s.conv%d" % (net, i + 1),))
    return out


# One layer per net for the quick views (the GPU kernel-choice sweep, the
# tables of earlier sessions): each net's widest-map or costliest early layer.
CONV_PICKS = ["mnist_small.conv1", "mnist_small.conv2", "mnist_large.conv2", "cifar_small.conv1",
              "cifar_large.conv3", "imagenet200_resnet.conv1"]


def conv_picks():
    by_label = {spec[6]: spec for spec in conv_layers()}
    return [by_label[label] for label in CONV_PICKS]


def cases(device="cpu", dtype=torch.float32, quick=False):
    """The benchmark cases; `quick` keeps one or two per op (the demo)."""
    out = []
    ibp_rows = (1, 16) if quick else (1, 4, 16, 64)
    ibp_sizes = (2048,) if quick else (512, 2048, 4096)
    for n in ibp_sizes:
        for rows in ibp_rows:
            out.append(_ibp_linear(rows, n, n, device, dtype))
    if not quick:  # the first linear layers of mnist_large and cifar_large at k = 50 (the packed CPU kernel)
        out.append(_ibp_linear(50, 3136, 512, device, dtype))
        out.append(_ibp_linear(50, 4096, 512, device, dtype))
    out.append(_ibp_linear(7850, 512, 512, device, dtype))  # many rows: the BLAS side
    convs = conv_layers() if not quick else conv_picks()[:2]
    for batch in ((1, 8) if not quick else (8,)):
        for spec in convs:
            out.append(_ibp_conv(batch, *spec[:6], device, dtype, spec[6]))
    # Symbolic: k = 10 points, rows = D + unstable (784 + ~1200 on MNIST small).
    out.append(_symbolic_linear(10, 2000, 1568, 100, device, dtype, "mnist_small.fc1"))
    if not quick:
        out.append(_symbolic_linear(10, 2000, 512, 512, device, dtype, "mnist_large.fc2"))
        out.append(_symbolic_conv(10, 784, 1, 28, 16, 4, 2, 1, device, dtype, "mnist_small.conv1"))
        out.append(_symbolic_conv(2, 784 + 3136, 16, 14, 32, 4, 2, 1, device, dtype, "mnist_small.conv2"))
    out.extend(_relu_cases(device, dtype) if not quick else list(_relu_cases(device, dtype))[1:2])
    if not quick:
        out.extend(_crown_conv_cases(device, dtype, quick))
        out.extend(_crown_relu_conv_cases(device, dtype))
    return out


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_seconds(fn, device="cpu", repeats=None, budget=0.5):
    """Median wall time of fn() over repeats (auto: as many as fit `budget`
    seconds, 5..200; 3 when one call alone takes longer than the budget).
    On CUDA: the GPU time per call of batches of back-to-back calls (see
    _cuda_median_seconds)."""
    if torch.device(device).type == "cuda":
        return _cuda_median_seconds(fn, repeats, budget)
    fn()
    sync(device)
    if repeats is None:
        t0 = time.perf_counter()
        fn()
        sync(device)
        one = max(time.perf_counter() - t0, 1e-6)
        repeats = 3 if one > budget else int(min(200, max(5, budget / one)))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cuda_graph_seconds(fn, calls=64, budget=0.3):
    """GPU time per call of `calls` calls replayed from one CUDA graph: the
    kernels alone, without the host's launch cost (which is most of a small
    op's time on the device machine's host: 15-25 us per torch op). Three
    warm-up calls on a side stream first, as graph capture requires."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn()
    return median_seconds(graph.replay, "cuda", budget=budget) / calls


def _cuda_median_seconds(fn, repeats=None, budget=0.5):
    """CUDA events around batches of calls made back to back (about 2 ms of
    work each), median over batches of the time per call. A host clock with a
    synchronize after every call would add the synchronization's ~10 us to
    every call and leave the GPU idle between them; a training loop launches
    back to back, so this is the time it sees, launch overhead included where
    the host cannot keep up."""
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    one = max(time.perf_counter() - t0, 1e-6)
    inner = int(min(100, max(1, 2e-3 / one)))
    if repeats is None:
        repeats = 3 if one > budget else int(min(50, max(5, budget / (one * inner))))
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        for _ in range(inner):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / inner)
    return statistics.median(times)


def rotating(make, nbytes, device):
    """A callable returning the next of several copies of make()'s result, as
    many as cover twice the GPU's L2 cache (one copy off CUDA), so that a timed
    loop reads its operands from device memory, as a real pass does, and not
    from the L2 that the previous call left them in."""
    copies = 1
    if torch.device(device).type == "cuda":
        l2 = torch.cuda.get_device_properties(device).L2_cache_size
        copies = max(1, min(64, -(-2 * l2 // max(nbytes, 1))))
    items = [make() for _ in range(copies)]
    it = itertools.cycle(items)
    return lambda: next(it)


def peak_bytes(fn, device="cpu"):
    """How far one fn() raises memory above where it started: CUDA's peak
    allocation, or on Linux the process's peak resident size (the kernel's
    high-water mark, reset first through /proc/self/clear_refs, after glibc
    gave its free pages back). None where neither can be read."""
    if torch.device(device).type == "cuda":
        sync(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        sync(device)
        return torch.cuda.max_memory_allocated(device) - start
    try:
        _malloc_trim()  # hand freed heap pages back, so the pass must touch fresh pages for what it allocates
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        start = _proc_status_kb("VmRSS")
        fn()
        return max(0, _proc_status_kb("VmHWM") - start) * 1024
    except (OSError, StopIteration, ValueError):
        return None


def _malloc_trim():
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: the measure may then read low (freed memory reused)


def _proc_status_kb(field):
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith(field + ":")).split()[1])


def write_cpu_record(path, script, argv, timing, rows, device="cpu", **extra):
    """The JSON record of a benchmark script (benchmarks/*.py): device (the
    CPU's name, or the GPU's for a `device` on CUDA), date, commit, threads,
    the CPU allocator's state, the command that made it, how it was timed, any
    `extra` fields, and its rows."""
    import datetime
    import json

    from .cli import device_name, git_commit
    from .cpu_allocator import cpu_allocator_state
    record = dict(device=device_name(device),
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  commit=git_commit(), threads=torch.get_num_threads(), cpu_allocator=cpu_allocator_state(),
                  command=" ".join([script, *argv]), timing=timing, **extra, rows=rows)
    with open(path, "w") as f:
        json.dump(record, f, indent=1)


def machine_peaks(device="cpu", dtype=torch.float32):
    """(bytes/s, flop/s) measured with a large copy and a large GEMM."""
    n = 64 << 20  # 256 MiB of float32 read + written
    a = torch.empty(n // 4 if dtype == torch.float32 else n // 8, device=device, dtype=dtype)
    b = torch.empty_like(a)
    # Peaks: the best of three medians. One median of 5 copies measured 2185
    # and 2798 GB/s on the same H100 within minutes (the first, a GPU just
    # out of idle clocks), and a floor from a low peak flatters every kernel.
    copy_s = min(median_seconds(lambda: b.copy_(a), device, repeats=5) for _ in range(3))
    m = 2048
    x = torch.randn(m, m, device=device, dtype=dtype)
    y = torch.randn(m, m, device=device, dtype=dtype)
    mm_s = min(median_seconds(lambda: x @ y, device, repeats=5) for _ in range(3))
    return 2 * a.numel() * a.element_size() / copy_s, 2.0 * m ** 3 / mm_s


def floor_seconds(case, peaks):
    bandwidth, peak = peaks
    return max(case.bytes / bandwidth, case.flops / peak if case.flops else 0.0)


def run(device="cpu", dtype=torch.float32, quick=False, compiled_reference=False, progress=None, only=None):
    """Times every case (those whose name contains `only`, if given); returns
    a list of dicts (times in seconds)."""
    from .bounds.precision import ieee_float32
    with ieee_float32(device):  # the reference in IEEE float32 too, as the fused ops always are
        return _run(device, dtype, quick, compiled_reference, progress, only)


def _run(device, dtype, quick, compiled_reference, progress, only):
    peaks = machine_peaks(device, dtype)
    rows = []
    all_cases = [c for c in cases(device, dtype, quick) if only is None or only in c.name]
    for i, case in enumerate(all_cases):
        if progress:
            progress(i, len(all_cases), case.name)
        fused = median_seconds(case.fused, device)
        ref = median_seconds(case.ref, device)
        row = dict(case=case.name, op=case.op, fused_s=fused, reference_s=ref, speedup=ref / fused,
                   floor_s=floor_seconds(case, peaks), bytes=case.bytes, flops=case.flops)
        if compiled_reference:
            compiled = torch.compile(case.ref)
            row["compiled_reference_s"] = median_seconds(compiled, device)
        rows.append(row)
    return dict(peaks=dict(bytes_per_s=peaks[0], flop_per_s=peaks[1]), rows=rows)


def format_table(result, markdown=False):
    compiled = any("compiled_reference_s" in r for r in result["rows"])
    head = ["case", "fused ms", "ref ms", "speedup"] + (["compiled ref ms"] if compiled else []) + [
        "floor ms", "floor/fused"]
    rows = []
    for r in result["rows"]:
        row = [r["case"], "%.3f" % (r["fused_s"] * 1e3), "%.3f" % (r["reference_s"] * 1e3), "%.2fx" % r["speedup"]]
        if compiled:
            row.append("%.3f" % (r["compiled_reference_s"] * 1e3) if "compiled_reference_s" in r else "-")
        row += ["%.3f" % (r["floor_s"] * 1e3), "%.0f%%" % (100.0 * r["floor_s"] / r["fused_s"])]
        rows.append(row)
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
        fmt = "  ".join("%%-%ds" % w if i == 0 else "%%%ds" % w for i, w in enumerate(widths))
        lines = [fmt % tuple(head)] + [fmt % tuple(row) for row in rows]
    p = result["peaks"]
    lines.append("floor = max(bytes / %.1f GB/s, flops / %.1f GFLOP/s), both measured here"
                 % (p["bytes_per_s"] / 1e9, p["flop_per_s"] / 1e9))
    return "\n".join(lines)
