// The fused CPU interval product compiled for AVX-512: 16 floats per register (Sapphire Rapids, Zen 4 and newer).
// Picked at run time by interval_gemm.cpp; see common/interval_gemm_simd.h.
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#define MIXTRAIN_SIMD_NS simd_avx512
#include "common/interval_gemm_simd.h"

namespace mixtrain {
void interval_gemm_cols_avx512(const IntervalGemm<float>& g, int64_t n0, int64_t n1) {
  simd_avx512::interval_gemm_cols<float, 64>(g, n0, n1);
}
void interval_gemm_cols_avx512(const IntervalGemm<double>& g, int64_t n0, int64_t n1) {
  simd_avx512::interval_gemm_cols<double, 64>(g, n0, n1);
}
void interval_conv_tile_avx512(const IntervalConvTile<float>& t) { simd_avx512::interval_conv_tile<float, 64>(t); }
void interval_conv_tile_avx512(const IntervalConvTile<double>& t) { simd_avx512::interval_conv_tile<double, 64>(t); }
int64_t interval_conv_tile_width_avx512(bool is_double) {
  return is_double ? simd_avx512::conv_tile_width<double, 64>() : simd_avx512::conv_tile_width<float, 64>();
}
}  // namespace mixtrain
#endif
