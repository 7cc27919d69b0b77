// The fused interval product on the CPU, written once for any SIMD width.
//
//   out_c[m, n] = bias[n] + sum_k c[m, k] * W[n, k]
//   out_r[m, n] =           sum_k r[m, k] * |W[n, k]|
//
// Each element of W is loaded once per block of MB rows and used for both
// products; |W| lives only in a register. Vectorized along k (the contiguous
// dimension of both the input rows and W), with a 2 (n) x MB (m) register
// block, so every loaded W vector feeds 2*MB fused multiply-adds.
//
// This header is included by csrc/cpu/interval_gemm_{avx512,avx2,generic}.cpp,
// each under its own `#pragma GCC target` and with its own MIXTRAIN_SIMD_NS, so
// the same code is compiled once per instruction set and picked at run time.
// It must stay free of torch and of inline library functions (ODR: the same
// inline function compiled for AVX-512 must not leak into the generic path).
#include <cstdint>

#include "interval_gemm_args.h"

#ifndef MIXTRAIN_SIMD_NS
#error "define MIXTRAIN_SIMD_NS before including interval_gemm_simd.h"
#endif

namespace mixtrain {
namespace MIXTRAIN_SIMD_NS {


template <typename T> struct Bits;
template <> struct Bits<float> { using type = uint32_t; };
template <> struct Bits<double> { using type = uint64_t; };

template <typename T, int Bytes>
struct Simd {
  typedef T V __attribute__((vector_size(Bytes)));
  typedef typename Bits<T>::type I __attribute__((vector_size(Bytes)));
  static constexpr int L = Bytes / int(sizeof(T));

  static V load(const T* p) {
    V v;
    __builtin_memcpy(&v, p, sizeof(V));
    return v;
  }
  static V abs(V v) {
    using B = typename Bits<T>::type;
    const I magnitude = I{} + (~B(0) >> 1);  // every bit but the sign bit
    return (V)((I)v & magnitude);
  }
  static T sum(V v) {
    T s = T(0);
    for (int i = 0; i < L; ++i) s += v[i];
    return s;
  }
};

// One register block: rows [m, m+MB) against W rows n0 and n1 (n1 may equal n0
// at an odd tail; then its results are simply not stored).
template <typename T, int Bytes, int MB>
static void interval_block(const IntervalGemm<T>& g, int64_t m, int64_t n0, int64_t n1, bool store_n1) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t K = g.K;
  const int64_t kv = K - K % L;
  const T* w0 = g.w + n0 * K;
  const T* w1 = g.w + n1 * K;
  V ac0[MB], ac1[MB], ar0[MB], ar1[MB];
  for (int i = 0; i < MB; ++i) ac0[i] = ac1[i] = ar0[i] = ar1[i] = V{};
  for (int64_t k = 0; k < kv; k += L) {
    const V a = S::load(w0 + k), b = S::load(w1 + k);
    const V aa = S::abs(a), ba = S::abs(b);
    for (int i = 0; i < MB; ++i) {
      const V cv = S::load(g.c + (m + i) * g.lda + k);
      const V rv = S::load(g.r + (m + i) * g.lda + k);
      ac0[i] += cv * a;
      ac1[i] += cv * b;
      ar0[i] += rv * aa;
      ar1[i] += rv * ba;
    }
  }
  for (int i = 0; i < MB; ++i) {
    T sc0 = S::sum(ac0[i]), sc1 = S::sum(ac1[i]), sr0 = S::sum(ar0[i]), sr1 = S::sum(ar1[i]);
    const T* cr = g.c + (m + i) * g.lda;
    const T* rr = g.r + (m + i) * g.lda;
    for (int64_t k = kv; k < K; ++k) {
      const T a = w0[k], b = w1[k];
      sc0 += cr[k] * a;
      sc1 += cr[k] * b;
      sr0 += rr[k] * (a < T(0) ? -a : a);
      sr1 += rr[k] * (b < T(0) ? -b : b);
    }
    if (g.bias) {
      sc0 += g.bias[n0];
      sc1 += g.bias[n1];
    }
    T* oc = g.out_c + (m + i) * g.ldo_m;
    T* orr = g.out_r + (m + i) * g.ldo_m;
    oc[n0 * g.ldo_n] = sc0;
    orr[n0 * g.ldo_n] = sr0;
    if (store_n1) {
      oc[n1 * g.ldo_n] = sc1;
      orr[n1 * g.ldo_n] = sr1;
    }
  }
}

// All M rows against W rows [n_begin, n_end): the unit of parallel work.
template <typename T, int Bytes>
void interval_gemm_cols(const IntervalGemm<T>& g, int64_t n_begin, int64_t n_end) {
  constexpr int MB = 4;
  for (int64_t n = n_begin; n < n_end; n += 2) {
    const bool two = n + 1 < n_end;
    const int64_t n1 = two ? n + 1 : n;
    int64_t m = 0;
    for (; m + MB <= g.M; m += MB) interval_block<T, Bytes, MB>(g, m, n, n1, two);
    switch (g.M - m) {
      case 3: interval_block<T, Bytes, 3>(g, m, n, n1, two); break;
      case 2: interval_block<T, Bytes, 2>(g, m, n, n1, two); break;
      case 1: interval_block<T, Bytes, 1>(g, m, n, n1, two); break;
      default: break;
    }
  }
}

}  // namespace MIXTRAIN_SIMD_NS
}  // namespace mixtrain
