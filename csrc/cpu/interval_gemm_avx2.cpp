// The fused CPU interval product compiled for AVX2 + FMA: 8 floats per register (every x86-64 server of the last decade).
// Picked at run time by interval_gemm.cpp; see common/interval_gemm_simd.h.
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma")
#define MIXTRAIN_SIMD_NS simd_avx2
#include "common/interval_gemm_simd.h"

namespace mixtrain {
void interval_gemm_cols_avx2(const IntervalGemm<float>& g, int64_t n0, int64_t n1) {
  simd_avx2::interval_gemm_cols<float, 32>(g, n0, n1);
}
void interval_gemm_cols_avx2(const IntervalGemm<double>& g, int64_t n0, int64_t n1) {
  simd_avx2::interval_gemm_cols<double, 32>(g, n0, n1);
}
void interval_direct_conv_row_avx2(const IntervalDirectConv<float>& d, int64_t oh) {
  simd_avx2::interval_direct_conv_row<float, 32>(d, oh);
}
void interval_direct_conv_row_avx2(const IntervalDirectConv<double>& d, int64_t oh) {
  simd_avx2::interval_direct_conv_row<double, 32>(d, oh);
}
int64_t simd_lanes_avx2(bool is_double) {
  return is_double ? simd_avx2::simd_lanes<double, 32>() : simd_avx2::simd_lanes<float, 32>();
}
float crown_row_avx2(const float* a, float* o, const float* su, const float* iu, const float* sl, int64_t n, bool ub) {
  return simd_avx2::crown_row<float, 32>(a, o, su, iu, sl, n, ub);
}
double crown_row_avx2(const double* a, double* o, const double* su, const double* iu, const double* sl, int64_t n,
                    bool ub) {
  return simd_avx2::crown_row<double, 32>(a, o, su, iu, sl, n, ub);
}
void crown_relax_row_avx2(const float* l, const float* u, float* us, float* ui, float* ls, int64_t n) {
  simd_avx2::crown_relax_row<float, 32>(l, u, us, ui, ls, n);
}
void crown_relax_row_avx2(const double* l, const double* u, double* us, double* ui, double* ls, int64_t n) {
  simd_avx2::crown_relax_row<double, 32>(l, u, us, ui, ls, n);
}
}  // namespace mixtrain
#endif
