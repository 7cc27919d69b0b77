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

namespace mixtrain {

// The convolution form of the fused interval product, on one tile of output
// positions (im2col'ed and packed by the caller):
//   out_c[n, l] = bias[n] + sum_k W[n, k] * xc[k, l]
//   out_r[n, l] =           sum_k |W[n, k]| * xr[k, l]      for l < tile width
// xc, xr are [K, tile] and out_c, out_r [N, tile], contiguous; the tile width
// is interval_conv_tile_width() (two SIMD vectors).
template <typename T>
struct IntervalConvTile {
  const T* xc;
  const T* xr;
  const T* w;       // [N, K], rows ldw apart
  int64_t ldw;
  const T* bias;    // [N] or nullptr
  T* out_c;
  T* out_r;
  int64_t K, N;
};

}  // namespace mixtrain
