// IeeeMatmulGuard: library matrix products (cuBLAS, cuBLASLt) in IEEE float32
// for the guard's scope, whatever the user's TF32 settings, which are left as
// they were. Bounds are claims about float32 arithmetic: a product rounded to
// TF32 (10-bit mantissa, about 1e-3 relative) can move a center or shrink a
// radius by far more than float32 rounding, and the bound stops being sound.
// No CUDA headers: the settings live in at::Context, so tests/ops/test_tf32_guard.py
// checks the save-and-restore on a CPU build too.
//
// torch reads two things before a float32 product: at::NoTF32Guard
// (thread-local; the cuBLAS handle's set-up skips TF32 while one is alive)
// and a global setting (the cuBLASLt paths read only that one). The guard
// holds the first and sets the second for its scope. (A thread running its own
// GEMM at that moment could see the setting; it then runs in IEEE float32 too,
// never less precise.)
//
// The global setting has had two APIs since torch 2.9: the legacy one
// (set_float32_matmul_precision) and fp32_precision per backend and op. The
// legacy getter raises where the two disagree -- a user who set only
// torch.backends.cuda.matmul.fp32_precision = "tf32" -- and the legacy setter
// also changes the CPU's oneDNN matmul setting. So from torch 2.10 (where
// Context::float32Precision takes enums) the guard touches only the new API's
// CUDA-matmul entry, which is what torch's CUDA products read there; before,
// the legacy setting, read only if it can be.
#pragma once

#include <ATen/Context.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#define MIXTRAIN_TORCH_FP32_PRECISION_API (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 10))

namespace mixtrain {

class IeeeMatmulGuard {
 public:
#if MIXTRAIN_TORCH_FP32_PRECISION_API
  IeeeMatmulGuard() {
    at::Context& ctx = at::globalContext();
    saved_ = ctx.float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL);
    if (saved_ != at::Float32Precision::IEEE) {
      ctx.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL, at::Float32Precision::IEEE);
      changed_ = true;
    }
  }
  ~IeeeMatmulGuard() {
    if (!changed_) return;
    at::Context& ctx = at::globalContext();
    // The getter resolves "inherit" (NONE) through the CUDA and generic entries;
    // where the saved value is what they give, inheriting is restored, so that
    // a later change of theirs still reaches matmuls.
    const at::Float32Precision parent = ctx.float32Precision(at::Float32Backend::CUDA, at::Float32Op::ALL);
    ctx.setFloat32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL,
                            saved_ == parent ? at::Float32Precision::NONE : saved_);
  }
#else
  IeeeMatmulGuard() {
    at::Context& ctx = at::globalContext();
    try {
      saved_ = ctx.float32MatmulPrecision();
      readable_ = true;
    } catch (const c10::Error&) {
      // torch 2.9 with fp32_precision set: left at "highest" after the scope
      // (more precise, never less; that torch's string API is not used here).
    }
    if (!readable_ || saved_ != at::Float32MatmulPrecision::HIGHEST) {
      ctx.setFloat32MatmulPrecision("highest");
      changed_ = true;
    }
  }
  ~IeeeMatmulGuard() {
    if (changed_ && readable_)
      at::globalContext().setFloat32MatmulPrecision(saved_ == at::Float32MatmulPrecision::HIGH ? "high" : "medium");
  }
#endif
  IeeeMatmulGuard(const IeeeMatmulGuard&) = delete;
  IeeeMatmulGuard& operator=(const IeeeMatmulGuard&) = delete;

  // What the CUDA products see inside the guard, for the tests: "ieee" (new API) or "highest" (legacy).
  static const char* inside_precision() {
#if MIXTRAIN_TORCH_FP32_PRECISION_API
    return at::globalContext().float32Precision(at::Float32Backend::CUDA, at::Float32Op::MATMUL) ==
                   at::Float32Precision::IEEE
               ? "ieee"
               : "not ieee";
#else
    return at::globalContext().float32MatmulPrecision() == at::Float32MatmulPrecision::HIGHEST ? "highest"
                                                                                              : "not highest";
#endif
  }

 private:
  at::NoTF32Guard no_tf32_;
  bool changed_ = false;
#if MIXTRAIN_TORCH_FP32_PRECISION_API
  at::Float32Precision saved_ = at::Float32Precision::NONE;
#else
  at::Float32MatmulPrecision saved_ = at::Float32MatmulPrecision::HIGHEST;
  bool readable_ = false;
#endif
};

}  // namespace mixtrain
