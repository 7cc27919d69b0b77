// The fused CPU interval product compiled for AVX-512: 16 floats per register (Sapphire Rapids, Zen 4 and newer).
// Picked at run time by interval_gemm.cpp; see common/interval_gemm_simd.h.
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#define MIXTRAIN_SIMD_NS simd_avx512
#ifndef MIXTRAIN_DIRECT_P2
#define MIXTRAIN_DIRECT_P2 6
#define MIXTRAIN_DIRECT_P1 12
#endif
#include "common/interval_gemm_simd.h"

namespace mixtrain {
void interval_gemm_cols_avx512(const IntervalGemm<float>& g, int64_t n0, int64_t n1) {
  simd_avx512::interval_gemm_cols<float, 64>(g, n0, n1);
}
void interval_gemm_cols_avx512(const IntervalGemm<double>& g, int64_t n0, int64_t n1) {
  simd_avx512::interval_gemm_cols<double, 64>(g, n0, n1);
}
void interval_direct_conv_row_avx512(const IntervalDirectConv<float>& d, int64_t oh) {
  simd_avx512::interval_direct_conv_row<float, 64>(d, oh);
}
void interval_direct_conv_row_avx512(const IntervalDirectConv<double>& d, int64_t oh) {
  simd_avx512::interval_direct_conv_row<double, 64>(d, oh);
}
int64_t simd_lanes_avx512(bool is_double) {
  return is_double ? simd_avx512::simd_lanes<double, 64>() : simd_avx512::simd_lanes<float, 64>();
}
float crown_row_avx512(const float* a, float* o, const float* su, const float* iu, const float* sl, int64_t n, bool ub) {
  return simd_avx512::crown_row<float, 64>(a, o, su, iu, sl, n, ub);
}
double crown_row_avx512(const double* a, double* o, const double* su, const double* iu, const double* sl, int64_t n,
                    bool ub) {
  return simd_avx512::crown_row<double, 64>(a, o, su, iu, sl, n, ub);
}
void crown_relax_row_avx512(const float* l, const float* u, float* us, float* ui, float* ls, int64_t n) {
  simd_avx512::crown_relax_row<float, 64>(l, u, us, ui, ls, n);
}
void crown_relax_row_avx512(const double* l, const double* u, double* us, double* ui, double* ls, int64_t n) {
  simd_avx512::crown_relax_row<double, 64>(l, u, us, ui, ls, n);
}
}  // namespace mixtrain
#endif
