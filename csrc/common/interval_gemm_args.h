#pragma once
// Arguments of the CPU fused interval product (see interval_gemm_simd.h).
// A plain struct with no inline functions, shared by every SIMD variant.
#include <cstdint>

namespace mixtrain {

template <typename T>
struct IntervalGemm {
  const T* c;       // [M, K], rows lda apart, unit stride along k
  const T* r;       // [M, K], same layout as c
  int64_t lda;
  const T* w;       // [N, K] contiguous
  const T* bias;    // [N] or nullptr
  T* out_c;         // element (m, n) at m * ldo_m + n * ldo_n
  T* out_r;
  int64_t ldo_m, ldo_n;
  int64_t M, K, N;
};

}  // namespace mixtrain
