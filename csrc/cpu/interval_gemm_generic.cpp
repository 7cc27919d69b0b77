// The fused CPU interval product compiled for the baseline instruction set of the compiler target (SSE2 on x86-64, NEON on arm64).
// Picked at run time by interval_gemm.cpp; see common/interval_gemm_simd.h.
#include <cstdint>

#if 1

#define MIXTRAIN_SIMD_NS simd_generic
#include "common/interval_gemm_simd.h"

namespace mixtrain {
void interval_gemm_cols_generic(const IntervalGemm<float>& g, int64_t n0, int64_t n1) {
  simd_generic::interval_gemm_cols<float, 16>(g, n0, n1);
}
void interval_gemm_cols_generic(const IntervalGemm<double>& g, int64_t n0, int64_t n1) {
  simd_generic::interval_gemm_cols<double, 16>(g, n0, n1);
}
void interval_direct_conv_row_generic(const IntervalDirectConv<float>& d, int64_t oh) {
  simd_generic::interval_direct_conv_row<float, 16>(d, oh);
}
void interval_direct_conv_row_generic(const IntervalDirectConv<double>& d, int64_t oh) {
  simd_generic::interval_direct_conv_row<double, 16>(d, oh);
}
int64_t simd_lanes_generic(bool is_double) {
  return is_double ? simd_generic::simd_lanes<double, 16>() : simd_generic::simd_lanes<float, 16>();
}
float crown_row_generic(const float* a, float* o, const float* su, const float* iu, const float* sl, int64_t n, bool ub) {
  return simd_generic::crown_row<float, 16>(a, o, su, iu, sl, n, ub);
}
double crown_row_generic(const double* a, double* o, const double* su, const double* iu, const double* sl, int64_t n,
                    bool ub) {
  return simd_generic::crown_row<double, 16>(a, o, su, iu, sl, n, ub);
}
void crown_relax_row_generic(const float* l, const float* u, float* us, float* ui, float* ls, int64_t n) {
  simd_generic::crown_relax_row<float, 16>(l, u, us, ui, ls, n);
}
void crown_relax_row_generic(const double* l, const double* u, double* us, double* ui, double* ls, int64_t n) {
  simd_generic::crown_relax_row<double, 16>(l, u, us, ui, ls, n);
}
}  // namespace mixtrain
#endif
