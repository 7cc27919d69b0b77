"""Loading of the compiled library and the no-silent-fallback rule.

The compiled extension `mixtrain_cuda._C` registers the `mixtrain::*` ops. If it
is missing (not built) or was built without CUDA, the public wrappers fall
back to the pure-PyTorch reference (`reference.py`) -- and say so: once as a
warning, and always in `mixtrain_cuda.build_info()`.
"""
import warnings

import torch
from torch.autograd import forward_ad as _forward_ad

OP_NAMES = (
    "interval_linear",
    "interval_conv2d",
    "symbolic_linear",
    "symbolic_conv2d",
    "interval_relu",
    "interval_relu_backward",
    "symbolic_relu",
    "crown_relu_backward",
    "crown_relu_backward_grad",
    "crown_conv2d_backward",
    "crown_relu_conv2d_backward",
)

try:
    from .. import _C  # noqa: F401  (importing runs the static op registrations)

    LOAD_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    _C = None
    LOAD_ERROR = "%s: %s" % (type(exc).__name__, exc)

LOADED = _C is not None
CUDA_COMPILED = bool(getattr(_C, "cuda_compiled", False))

_warned = set()


def warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def has_kernel(op_name, dispatch_key):
    if not LOADED:
        return False
    return torch._C._dispatch_has_kernel_for_dispatch_key("mixtrain::" + op_name, dispatch_key)


def use_kernel(op_name, tensor):
    """True when the compiled kernel serves `tensor`'s device; otherwise warn once
    and return False so that the caller runs the reference."""
    if not LOADED:
        warn_once("load", "mixtrain_cuda: the compiled extension is not loaded (%s); every op runs its slow "
                          "pure-PyTorch reference. Rebuild with `pip install --no-build-isolation -e .`." % LOAD_ERROR)
        return False
    device = tensor.device.type
    if device == "cuda" and not CUDA_COMPILED:
        warn_once("cuda", "mixtrain_cuda: the extension was built without CUDA kernels; ops on CUDA tensors run "
                          "the pure-PyTorch reference. Rebuild with a CUDA torch and nvcc (FORCE_CUDA=1).")
        return False
    if device not in ("cpu", "cuda", "meta"):
        warn_once("dev:" + device, "mixtrain_cuda: no kernels for device %r; %s runs the reference." % (device, op_name))
        return False
    return True


if not LOADED:
    warn_once("load", "mixtrain_cuda: the compiled extension could not be loaded (%s); ops fall back to the "
                      "pure-PyTorch reference." % LOAD_ERROR)
elif torch.cuda.is_available() and not CUDA_COMPILED:
    warn_once("cuda", "mixtrain_cuda: a GPU is visible but the extension was built without CUDA kernels; "
                      "ops on CUDA tensors fall back to the pure-PyTorch reference.")


_DIRECT = getattr(_C, "direct", None)


def _any_requires_grad(args):
    # A plain loop: any() over a generator costs twice as much (1 us for 8 arguments).
    for a in args:
        if isinstance(a, torch.Tensor) and a.requires_grad:
            return True
    return False


def _reject_forward_ad(name, args):
    """The ops have no forward-mode derivative (jvp): their C++ autograd raises
    for dual inputs, and the below-autograd calls here would drop the tangent
    silently. Say so instead. Outside a forward-AD level this is one lookup."""
    if getattr(_forward_ad, "_current_level", -1) < 0:
        return
    for a in args:
        if isinstance(a, torch.Tensor) and _forward_ad.unpack_dual(a).tangent is not None:
            raise NotImplementedError(
                "mixtrain_cuda: %s has no forward-mode derivative (torch.autograd.forward_ad, torch.func.jvp); "
                "use reverse mode (backward / torch.autograd.grad), or the pure-PyTorch twin in "
                "mixtrain_cuda.ops.reference" % name)


def call_kernel(name, *args):
    """torch.ops.mixtrain.<name>(*args). When nothing needs a gradient (no_grad,
    or no input requires one) the op runs below the autograd key, which skips
    its autograd kernel (for the ops whose autograd is still Python,
    torch.library.register_autograd's: about 3-12 us per call even when it
    records nothing, as much as a small layer's whole bound pass), and
    through `_C.direct` (csrc/direct_calls.cpp), typed arguments instead of
    torch.ops' boxed ones: 3.1 us instead of 6.1 for a tiny interval_conv2d on
    the 2-core CPU. torch.compile, __torch_function__ overrides and modes keep
    the torch.ops path, which they know how to trace or intercept."""
    _reject_forward_ad(name, args)
    if torch.compiler.is_compiling() or (torch.is_grad_enabled() and _any_requires_grad(args)):
        return tuple(getattr(torch.ops.mixtrain, name)(*args))
    if _DIRECT is not None and not torch._C._has_torch_function(args) \
            and not torch._C._is_torch_function_mode_enabled():
        return getattr(_DIRECT, name)(*args)
    with torch._C._AutoDispatchBelowAutograd():
        return tuple(getattr(torch.ops.mixtrain, name)(*args))
