#include "cpu/interval_gemm.h"

#include <cstdlib>
#include <cstring>

namespace mixtrain {

void interval_gemm_cols_generic(const IntervalGemm<float>&, int64_t, int64_t);
void interval_gemm_cols_generic(const IntervalGemm<double>&, int64_t, int64_t);
void interval_direct_conv_row_generic(const IntervalDirectConv<float>&, int64_t);
void interval_direct_conv_row_generic(const IntervalDirectConv<double>&, int64_t);
int64_t simd_lanes_generic(bool);
void crown_relax_row_generic(const float*, const float*, float*, float*, float*, int64_t);
void crown_relax_row_generic(const double*, const double*, double*, double*, double*, int64_t);
float crown_row_generic(const float*, float*, const float*, const float*, const float*, int64_t, bool);
double crown_row_generic(const double*, double*, const double*, const double*, const double*, int64_t, bool);
#if defined(__x86_64__) || defined(__i386__)
void interval_gemm_cols_avx512(const IntervalGemm<float>&, int64_t, int64_t);
void interval_gemm_cols_avx512(const IntervalGemm<double>&, int64_t, int64_t);
void interval_direct_conv_row_avx512(const IntervalDirectConv<float>&, int64_t);
void interval_direct_conv_row_avx512(const IntervalDirectConv<double>&, int64_t);
int64_t simd_lanes_avx512(bool);
void crown_relax_row_avx512(const float*, const float*, float*, float*, float*, int64_t);
void crown_relax_row_avx512(const double*, const double*, double*, double*, double*, int64_t);
float crown_row_avx512(const float*, float*, const float*, const float*, const float*, int64_t, bool);
double crown_row_avx512(const double*, double*, const double*, const double*, const double*, int64_t, bool);
void interval_gemm_cols_avx2(const IntervalGemm<float>&, int64_t, int64_t);
void interval_gemm_cols_avx2(const IntervalGemm<double>&, int64_t, int64_t);
void interval_direct_conv_row_avx2(const IntervalDirectConv<float>&, int64_t);
void interval_direct_conv_row_avx2(const IntervalDirectConv<double>&, int64_t);
int64_t simd_lanes_avx2(bool);
void crown_relax_row_avx2(const float*, const float*, float*, float*, float*, int64_t);
void crown_relax_row_avx2(const double*, const double*, double*, double*, double*, int64_t);
float crown_row_avx2(const float*, float*, const float*, const float*, const float*, int64_t, bool);
double crown_row_avx2(const double*, double*, const double*, const double*, const double*, int64_t, bool);
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
void dispatch(const IntervalGemm<T>& g, int64_t n0, int64_t n1) {
  switch (level()) {
#if defined(__x86_64__) || defined(__i386__)
    case Level::Avx512: interval_gemm_cols_avx512(g, n0, n1); return;
    case Level::Avx2: interval_gemm_cols_avx2(g, n0, n1); return;
#endif
    default: interval_gemm_cols_generic(g, n0, n1); return;
  }
}

template <typename T>
void dispatch(const IntervalDirectConv<T>& d, int64_t oh) {
  switch (level()) {
#if defined(__x86_64__) || defined(__i386__)
    case Level::Avx512: interval_direct_conv_row_avx512(d, oh); return;
    case Level::Avx2: interval_direct_conv_row_avx2(d, oh); return;
#endif
    default: interval_direct_conv_row_generic(d, oh); return;
  }
}
}  // namespace

void interval_gemm_cols(const IntervalGemm<float>& g, int64_t n0, int64_t n1) { dispatch(g, n0, n1); }
void interval_gemm_cols(const IntervalGemm<double>& g, int64_t n0, int64_t n1) { dispatch(g, n0, n1); }

void interval_direct_conv_row(const IntervalDirectConv<float>& d, int64_t oh) { dispatch(d, oh); }
void interval_direct_conv_row(const IntervalDirectConv<double>& d, int64_t oh) { dispatch(d, oh); }

int64_t interval_simd_lanes(bool is_double) {
  switch (level()) {
#if defined(__x86_64__) || defined(__i386__)
    case Level::Avx512: return simd_lanes_avx512(is_double);
    case Level::Avx2: return simd_lanes_avx2(is_double);
#endif
    default: return simd_lanes_generic(is_double);
  }
}

template <typename T>
T crown_dispatch(const T* a, T* o, const T* su, const T* iu, const T* sl, int64_t n, bool ub) {
  switch (level()) {
#if defined(__x86_64__) || defined(__i386__)
    case Level::Avx512: return crown_row_avx512(a, o, su, iu, sl, n, ub);
    case Level::Avx2: return crown_row_avx2(a, o, su, iu, sl, n, ub);
#endif
    default: return crown_row_generic(a, o, su, iu, sl, n, ub);
  }
}

float crown_row(const float* a, float* o, const float* su, const float* iu, const float* sl, int64_t n, bool ub) {
  return crown_dispatch(a, o, su, iu, sl, n, ub);
}
double crown_row(const double* a, double* o, const double* su, const double* iu, const double* sl, int64_t n,
                 bool ub) {
  return crown_dispatch(a, o, su, iu, sl, n, ub);
}

template <typename T>
void relax_dispatch(const T* l, const T* u, T* us, T* ui, T* ls, int64_t n) {
  switch (level()) {
#if defined(__x86_64__) || defined(__i386__)
    case Level::Avx512: crown_relax_row_avx512(l, u, us, ui, ls, n); return;
    case Level::Avx2: crown_relax_row_avx2(l, u, us, ui, ls, n); return;
#endif
    default: crown_relax_row_generic(l, u, us, ui, ls, n); return;
  }
}

void crown_relax_row(const float* l, const float* u, float* us, float* ui, float* ls, int64_t n) {
  relax_dispatch(l, u, us, ui, ls, n);
}
void crown_relax_row(const double* l, const double* u, double* us, double* ui, double* ls, int64_t n) {
  relax_dispatch(l, u, us, ui, ls, n);
}

const char* interval_gemm_simd_level() {
  switch (level()) {
    case Level::Avx512: return "avx512";
    case Level::Avx2: return "avx2";
    default: return "generic";
  }
}

}  // namespace mixtrain
