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

// One register block: rows [m, m+MB) against W rows [n, n+NB). Rows past
// `valid` (an odd tail of W) are computed on row n again and not stored.
template <typename T, int Bytes, int MB, int NB>
static void interval_block(const IntervalGemm<T>& g, int64_t m, int64_t n, int valid) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t K = g.K;
  const int64_t kv = K - K % L;
  const T* w[NB];
  for (int j = 0; j < NB; ++j) w[j] = g.w + (n + (j < valid ? j : 0)) * K;
  V ac[MB][NB], ar[MB][NB];
  for (int i = 0; i < MB; ++i)
    for (int j = 0; j < NB; ++j) ac[i][j] = ar[i][j] = V{};
  for (int64_t k = 0; k < kv; k += L) {
    V wv[NB], wa[NB];
    for (int j = 0; j < NB; ++j) {
      wv[j] = S::load(w[j] + k);
      wa[j] = S::abs(wv[j]);
    }
    for (int i = 0; i < MB; ++i) {
      const V cv = S::load(g.c + (m + i) * g.lda + k);
      const V rv = S::load(g.r + (m + i) * g.lda + k);
      for (int j = 0; j < NB; ++j) {
        ac[i][j] += cv * wv[j];
        ar[i][j] += rv * wa[j];
      }
    }
  }
  for (int i = 0; i < MB; ++i) {
    const T* cr = g.c + (m + i) * g.lda;
    const T* rr = g.r + (m + i) * g.lda;
    T* oc = g.out_c + (m + i) * g.ldo_m;
    T* orr = g.out_r + (m + i) * g.ldo_m;
    for (int j = 0; j < valid; ++j) {
      T sc = S::sum(ac[i][j]), sr = S::sum(ar[i][j]);
      for (int64_t k = kv; k < K; ++k) {
        const T a = w[j][k];
        sc += cr[k] * a;
        sr += rr[k] * (a < T(0) ? -a : a);
      }
      if (g.bias) sc += g.bias[n + j];
      oc[(n + j) * g.ldo_n] = sc;
      orr[(n + j) * g.ldo_n] = sr;
    }
  }
}

template <typename T, int Bytes, int MB, int NB>
static void interval_rows(const IntervalGemm<T>& g, int64_t n, int valid) {
  int64_t m = 0;
  for (; m + MB <= g.M; m += MB) interval_block<T, Bytes, MB, NB>(g, m, n, valid);
  for (; m < g.M; ++m) interval_block<T, Bytes, 1, NB>(g, m, n, valid);
}

template <typename T, int Bytes, int MB, int NB>
static void interval_cols_blocked(const IntervalGemm<T>& g, int64_t n_begin, int64_t n_end) {
  for (int64_t n = n_begin; n < n_end; n += NB) {
    const int valid = int(n_end - n < NB ? n_end - n : NB);
    interval_rows<T, Bytes, MB, NB>(g, n, valid);
  }
}

// Register-block sizes, chosen with benchmarks/bench_ops.py on the 2-core
// AVX-512 development machine (16 rows x 2048 x 2048: 2x4 blocks 1.8-1.9x the
// reference, 4x2 blocks 1.6x). 2x4 keeps 16 accumulators, which still fit the
// 16 registers of AVX2. Override with -D for experiments.
#ifndef MIXTRAIN_GEMM_FEW_NB
#define MIXTRAIN_GEMM_FEW_NB 4
#endif
#ifndef MIXTRAIN_GEMM_MB
#define MIXTRAIN_GEMM_MB 2
#define MIXTRAIN_GEMM_NB 4
#endif

// All M rows against W rows [n_begin, n_end): the unit of parallel work.
// Few rows: each row streams W with 4 weight rows in flight (8 independent
// accumulator chains). More rows: an MB x NB block shares each loaded W vector
// among MB rows and each loaded input vector among NB weight rows.
template <typename T, int Bytes>
void interval_gemm_cols(const IntervalGemm<T>& g, int64_t n_begin, int64_t n_end) {
  if (g.M < 4) interval_cols_blocked<T, Bytes, 1, MIXTRAIN_GEMM_FEW_NB>(g, n_begin, n_end);
  else interval_cols_blocked<T, Bytes, MIXTRAIN_GEMM_MB, MIXTRAIN_GEMM_NB>(g, n_begin, n_end);
}

// ---- Convolution form (see IntervalConvTile): vectorized along output
// positions, a 4 (channels) x 2-vector (positions) register block. Each weight
// is broadcast once and its absolute value taken in a register for the radius
// product; no horizontal sums. k is blocked by kConvKBlock so the packed input
// tile of a k-block stays in L1 while every channel block reuses it.
constexpr int64_t kConvKBlock = 128;

template <typename T, int Bytes, int NB>
static void conv_tile_block(const IntervalConvTile<T>& t, int64_t n, int64_t k0, int64_t k1) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L, LT = 2 * L;
  V ac[NB][2], ar[NB][2];
  for (int i = 0; i < NB; ++i)
    for (int j = 0; j < 2; ++j) {
      if (k0 == 0) {
        ac[i][j] = V{} + (t.bias ? t.bias[n + i] : T(0));
        ar[i][j] = V{};
      } else {
        ac[i][j] = S::load(t.out_c + (n + i) * LT + j * L);
        ar[i][j] = S::load(t.out_r + (n + i) * LT + j * L);
      }
    }
  for (int64_t k = k0; k < k1; ++k) {
    const V c0 = S::load(t.xc + k * LT), c1 = S::load(t.xc + k * LT + L);
    const V r0 = S::load(t.xr + k * LT), r1 = S::load(t.xr + k * LT + L);
    for (int i = 0; i < NB; ++i) {
      const V w = V{} + t.w[(n + i) * t.ldw + k];
      const V a = S::abs(w);
      ac[i][0] += w * c0;
      ac[i][1] += w * c1;
      ar[i][0] += a * r0;
      ar[i][1] += a * r1;
    }
  }
  for (int i = 0; i < NB; ++i)
    for (int j = 0; j < 2; ++j) {
      __builtin_memcpy(t.out_c + (n + i) * LT + j * L, &ac[i][j], sizeof(V));
      __builtin_memcpy(t.out_r + (n + i) * LT + j * L, &ar[i][j], sizeof(V));
    }
}

template <typename T, int Bytes>
void interval_conv_tile(const IntervalConvTile<T>& t) {
  int64_t k0 = 0;
  do {
    const int64_t k1 = t.K - k0 < kConvKBlock ? t.K : k0 + kConvKBlock;
    int64_t n = 0;
    for (; n + 4 <= t.N; n += 4) conv_tile_block<T, Bytes, 4>(t, n, k0, k1);
    for (; n < t.N; ++n) conv_tile_block<T, Bytes, 1>(t, n, k0, k1);
    k0 = k1;
  } while (k0 < t.K);
}

template <typename T, int Bytes>
constexpr int64_t conv_tile_width() {
  return 2 * Simd<T, Bytes>::L;
}

}  // namespace MIXTRAIN_SIMD_NS
}  // namespace mixtrain
