#include "cpu/interval_gemm.h"

#include <cstdlib>
#include <cstring>

namespace mixtrain {

// The tables defined by interval_gemm_{generic,avx2,avx512}.cpp.
namespace simd_generic {
extern const SimdKernels<float> kernels_f32;
extern const SimdKernels<double> kernels_f64;
}  // namespace simd_generic
#if defined(__x86_64__) || defined(__i386__)
namespace simd_avx2 {
extern const SimdKernels<float> kernels_f32;
extern const SimdKernels<double> kernels_f64;
}  // namespace simd_avx2
namespace simd_avx512 {
extern const SimdKernels<float> kernels_f32;
extern const SimdKernels<double> kernels_f64;
}  // namespace simd_avx512
#endif

namespace {
enum class Level { Generic, Avx2, Avx512 };

// MIXTRAIN_CPU_SIMD=generic|avx2|avx512 caps the level (for testing every variant).
Level detect() {
  Level best = Level::Generic;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Level::Avx2;
  if (best == Level::Avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
    best = Level::Avx512;
#endif
  const char* cap = std::getenv("MIXTRAIN_CPU_SIMD");
  if (cap) {
    Level want = best;
    if (!std::strcmp(cap, "generic")) want = Level::Generic;
    else if (!std::strcmp(cap, "avx2")) want = Level::Avx2;
    else if (!std::strcmp(cap, "avx512")) want = Level::Avx512;
    if (want < best) best = want;
  }
  return best;
}

Level level() {
  static const Level l = detect();
  return l;
}

template <typename T>
const SimdKernels<T>& pick(const SimdKernels<T>& generic, const SimdKernels<T>* avx2, const SimdKernels<T>* avx512) {
  switch (level()) {
    case Level::Avx512: return *avx512;
    case Level::Avx2: return *avx2;
    default: return generic;
  }
}

template <typename T>
const SimdKernels<T>& kernels();

#if defined(__x86_64__) || defined(__i386__)
template <>
const SimdKernels<float>& kernels<float>() {
  static const SimdKernels<float>& k =
      pick(simd_generic::kernels_f32, &simd_avx2::kernels_f32, &simd_avx512::kernels_f32);
  return k;
}
template <>
const SimdKernels<double>& kernels<double>() {
  static const SimdKernels<double>& k =
      pick(simd_generic::kernels_f64, &simd_avx2::kernels_f64, &simd_avx512::kernels_f64);
  return k;
}
#else
template <>
const SimdKernels<float>& kernels<float>() { return simd_generic::kernels_f32; }
template <>
const SimdKernels<double>& kernels<double>() { return simd_generic::kernels_f64; }
#endif
}  // namespace

void interval_gemm_cols(const IntervalGemm<float>& g, int64_t n0, int64_t n1) { kernels<float>().gemm_cols(g, n0, n1); }
void interval_gemm_cols(const IntervalGemm<double>& g, int64_t n0, int64_t n1) {
  kernels<double>().gemm_cols(g, n0, n1);
}

void packed_gemm_cols(const PackedGemm<float>& g, int64_t n0, int64_t n1, int64_t m0, int64_t m1, float* pack) {
  kernels<float>().packed_gemm_cols(g, n0, n1, m0, m1, pack);
}
void packed_gemm_cols(const PackedGemm<double>& g, int64_t n0, int64_t n1, int64_t m0, int64_t m1, double* pack) {
  kernels<double>().packed_gemm_cols(g, n0, n1, m0, m1, pack);
}
int64_t packed_gemm_panel(bool is_double) {
  return is_double ? kernels<double>().packed_panel : kernels<float>().packed_panel;
}

void interval_direct_conv_span(const IntervalDirectConv<float>& d, int64_t j0, int64_t n) {
  kernels<float>().direct_conv_span(d, j0, n);
}
void interval_direct_conv_span(const IntervalDirectConv<double>& d, int64_t j0, int64_t n) {
  kernels<double>().direct_conv_span(d, j0, n);
}

int64_t interval_simd_lanes(bool is_double) { return is_double ? kernels<double>().lanes : kernels<float>().lanes; }

float crown_row(const float* a, float* o, const float* su, const float* iu, const float* sl, int64_t n, bool ub) {
  return kernels<float>().crown_row(a, o, su, iu, sl, n, ub);
}
double crown_row(const double* a, double* o, const double* su, const double* iu, const double* sl, int64_t n,
                 bool ub) {
  return kernels<double>().crown_row(a, o, su, iu, sl, n, ub);
}

void crown_relax_row(const float* l, const float* u, float* us, float* ui, float* ls, int64_t n) {
  kernels<float>().crown_relax_row(l, u, us, ui, ls, n);
}
void crown_relax_row(const double* l, const double* u, double* us, double* ui, double* ls, int64_t n) {
  kernels<double>().crown_relax_row(l, u, us, ui, ls, n);
}

void crown_conv_rows(const CrownConvRow<float>& g, int64_t y0, int64_t y1) {
  kernels<float>().crown_conv_rows(g, y0, y1);
}
void crown_conv_rows(const CrownConvRow<double>& g, int64_t y0, int64_t y1) {
  kernels<double>().crown_conv_rows(g, y0, y1);
}

void wino_input_tile(const float* x, int64_t row, int64_t px, int64_t n, float* v, int64_t vs) {
  kernels<float>().wino_input_tile(x, row, px, n, v, vs);
}
void wino_input_tile(const double* x, int64_t row, int64_t px, int64_t n, double* v, int64_t vs) {
  kernels<double>().wino_input_tile(x, row, px, n, v, vs);
}
void wino_output_tile(const float* m, int64_t ms, int64_t n, const float* bias, float* const* dc, float* const* dr,
                      int64_t O, int64_t cs, bool nonneg_r) {
  kernels<float>().wino_output_tile(m, ms, n, bias, dc, dr, O, cs, nonneg_r);
}
void wino_output_tile(const double* m, int64_t ms, int64_t n, const double* bias, double* const* dc, double* const* dr,
                      int64_t O, int64_t cs, bool nonneg_r) {
  kernels<double>().wino_output_tile(m, ms, n, bias, dc, dr, O, cs, nonneg_r);
}

void wino22_input_tile(const float* x, int64_t row, int64_t px, int64_t n, float* v, int64_t vs) {
  kernels<float>().wino22_input_tile(x, row, px, n, v, vs);
}
void wino22_input_tile(const double* x, int64_t row, int64_t px, int64_t n, double* v, int64_t vs) {
  kernels<double>().wino22_input_tile(x, row, px, n, v, vs);
}
void wino22_output_tile(const float* m, int64_t ms, int64_t n, const float* bias, float* const* dc, float* const* dr,
                        int64_t O, int64_t cs, bool nonneg_r) {
  kernels<float>().wino22_output_tile(m, ms, n, bias, dc, dr, O, cs, nonneg_r);
}
void wino22_output_tile(const double* m, int64_t ms, int64_t n, const double* bias, double* const* dc,
                        double* const* dr, int64_t O, int64_t cs, bool nonneg_r) {
  kernels<double>().wino22_output_tile(m, ms, n, bias, dc, dr, O, cs, nonneg_r);
}

void wino43_input_tile(const float* x, int64_t row, int64_t px, int64_t n, float* v, int64_t vs) {
  kernels<float>().wino43_input_tile(x, row, px, n, v, vs);
}
void wino43_input_tile(const double* x, int64_t row, int64_t px, int64_t n, double* v, int64_t vs) {
  kernels<double>().wino43_input_tile(x, row, px, n, v, vs);
}
void wino43_output_tile(const float* m, int64_t ms, int64_t n, const float* bias, float* const* dc, float* const* dr,
                        int64_t O, int64_t cs, bool nonneg_r) {
  kernels<float>().wino43_output_tile(m, ms, n, bias, dc, dr, O, cs, nonneg_r);
}
void wino43_output_tile(const double* m, int64_t ms, int64_t n, const double* bias, double* const* dc,
                        double* const* dr, int64_t O, int64_t cs, bool nonneg_r) {
  kernels<double>().wino43_output_tile(m, ms, n, bias, dc, dr, O, cs, nonneg_r);
}

const char* interval_gemm_simd_level() {
  switch (level()) {
    case Level::Avx512: return "avx512";
    case Level::Avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace mixtrain
