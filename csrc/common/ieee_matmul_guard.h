// IeeeMatmulGuard: library matrix products (cuBLAS, cuBLASLt) in IEEE float32
// for the guard's scope, whatever the user's TF32 settings, which are left as
// they were. Bounds are claims about float32 arithmetic: a product rounded to
// TF32 (10-bit mantissa, about 1e-3 relative) can move a center or shrink a
// radius by far more than float32 rounding, and the bound stops being sound.
// No CUDA headers: the settings live in at::Context, so tests/ops/test_tf32_guard.py
// checks the save-and-restore on a CPU build too.
//
// Two mechanisms, both on:
//  - at::NoTF32Guard, thread-local: torch's cuBLAS handle and cuBLASLt set-up
//    skip TF32 while one is alive (CublasHandlePool.cpp, CUDABlas.cpp);
//  - the global precision set to "highest" for the scope, for torch versions
//    or paths that read only the global setting. (A thread running its own
//    GEMM at that moment could see it; it then runs in IEEE float32 too, never
//    less precise.)
// torch has two APIs for that setting since 2.9: the legacy one
// (set_float32_matmul_precision) and fp32_precision per backend and op. The
// legacy getter raises where the two disagree (a user who set only
// torch.backends.cuda.matmul.fp32_precision = "tf32"), so the guard reads the
// legacy value only if it can, sets "highest" through the legacy setter (which
// always works and sets both), and restores the legacy value where it was
// readable, then the new API's value for CUDA matmuls as it was (torch >= 2.10:
// Context::float32Precision(Float32Backend, Float32Op)).
#pragma once

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#define MIXTRAIN_TORCH_FP32_PRECISION_API (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 10))

namespace mixtrain {

class IeeeMatmulGuard {
 public:
  IeeeMatmulGuard() {
    at::Context& ctx = at::globalContext();
#if MIXTRAIN_TORCH_FP32_PRECISION_API
    saved_new_ = ctx.float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL);
#endif
    try {
      saved_ = ctx.float32MatmulPrecision();
      legacy_readable_ = true;
    } catch (const c10::Error&) {
      // The two APIs disagree (see the top): the new API's value is restored below.
    }
    if (!legacy_readable_ || saved_ != at::Float32MatmulPrecision::HIGHEST) {
      ctx.setFloat32MatmulPrecision("highest");
      changed_ = true;
    }
  }
  ~IeeeMatmulGuard() {
    if (!changed_) return;
    at::Context& ctx = at::globalContext();
    if (legacy_readable_) ctx.setFloat32MatmulPrecision(saved_ == at::Float32MatmulPrecision::HIGH ? "high" : "medium");
#if MIXTRAIN_TORCH_FP32_PRECISION_API
    ctx.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, saved_new_);
#endif
  }
  IeeeMatmulGuard(const IeeeMatmulGuard&) = delete;
  IeeeMatmulGuard& operator=(const IeeeMatmulGuard&) = delete;

 private:
  at::NoTF32Guard no_tf32_;
  at::Float32MatmulPrecision saved_ = at::Float32MatmulPrecision::HIGHEST;
  bool legacy_readable_ = false, changed_ = false;
#if MIXTRAIN_TORCH_FP32_PRECISION_API
  at::Float32Precision saved_new_ = at::Float32Precision::NONE;
#endif
};

}  // namespace mixtrain
