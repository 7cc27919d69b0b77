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
// each under its own `#pragma GCC target` and with its own MIXTRAIN_SIMD_NS and
// MIXTRAIN_SIMD_BYTES, so the same code is compiled once per instruction set;
// each defines a kernel table (end of file) that cpu/interval_gemm.cpp picks.
// It must stay free of torch and of inline library functions (ODR: the same
// inline function compiled for AVX-512 must not leak into the generic path).
#include <cstdint>
#include <utility>  // integer_sequence: a type only, no inline code

#include "interval_gemm_args.h"

#if !defined(MIXTRAIN_SIMD_NS) || !defined(MIXTRAIN_SIMD_BYTES)
#error "define MIXTRAIN_SIMD_NS and MIXTRAIN_SIMD_BYTES before including interval_gemm_simd.h"
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
  // A broadcast straight from memory (one load uop). Not `V{} + x`: without
  // -ffast-math GCC must add the zero (-0.0 + 0.0 is not -0.0), so it loads a
  // scalar, adds, and shuffles it across the register on the FMA port.
  static V broadcast(const T* p) { return splat(*p, std::make_integer_sequence<int, L>{}); }
  template <int... I>
  static V splat(T x, std::integer_sequence<int, I...>) {
    return V{((void)I, x)...};
  }
  // (p[0], p[1]) repeated across the vector: one 2-element broadcast (AVX2
  // float: vbroadcastsd, a single load uop).
  // Floats: the pair as one 64-bit integer splat (a shuffle of an 8-byte
  // vector compiled to a store, a reload and a vpermd per broadcast).
  static V broadcast_pair(const T* p) {
    if constexpr (sizeof(T) == 4) {
      typedef uint64_t Q __attribute__((vector_size(Bytes)));
      uint64_t bits;
      __builtin_memcpy(&bits, p, sizeof(bits));
      const Q q = splat_q<Q>(bits, std::make_integer_sequence<int, Bytes / 8>{});
      V v;
      __builtin_memcpy(&v, &q, sizeof(V));
      return v;
    } else {
      typedef T H __attribute__((vector_size(2 * sizeof(T))));
      H h;
      __builtin_memcpy(&h, p, sizeof(H));
      return pair_splat(h, std::make_integer_sequence<int, L>{});
    }
  }
  template <typename Q, int... I>
  static Q splat_q(uint64_t x, std::integer_sequence<int, I...>) {
    return Q{((void)I, x)...};
  }
  template <typename H, int... I>
  static V pair_splat(H h, std::integer_sequence<int, I...>) {
    return __builtin_shufflevector(h, h, (I % 2)...);
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
// reference, 4x2 blocks 1.6x). 2x4 keeps 16 accumulators: on AVX2's 16
// registers they spill, so cpu/interval_gemm_avx2.cpp sets 2x2. Override with
// -D for experiments.
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

// ---- Convolution form (see IntervalDirectConv): output channels in lanes,
// center and radius paired in adjacent lanes, a block of P positions x OV
// vectors (OV * L / 2 channels). Per tap, OV vectors of (W, |W|) pairs are
// loaded once and reused by P positions; each position's (center, radius)
// pair is broadcast once, from its base address plus the tap's offset, and
// feeds OV FMAs that compute both products. (Center and radius broadcast
// separately, against W and |W| vectors, cost two broadcasts per position
// for the same FMAs: 1.2-1.5 loads per FMA on AVX2, which with its 16
// registers allowed only 3 x 2 or 6 x 1 blocks.) One flat loop over the taps:
// the nested channel/row/column loops of a textbook direct convolution cost
// as much as the FMAs at kw = 3 or 4. The positions are the output's,
// flattened to [out_h * out_w], so a block may span two rows: MNIST-large's
// 13-wide rows as blocks of 6 + 4 + 3 ran the small blocks at a third fewer
// FMAs per cycle (perf), and flattening took the kernel from 0.93x to 1.3x
// oneDNN there (B = 8; see the caller). ob: the block's first element of the
// paired channel axis (2 * channel).
template <typename T, int Bytes, int P, int OV>
static void direct_block(const IntervalDirectConv<T>& d, int64_t j0, int64_t t0, int64_t ob) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t row = 2 * d.op;
  T* tile = d.tile + t0 * row + ob;
  const T* xq[P];
  for (int q = 0; q < P; ++q) {
    const int64_t oh = (j0 + t0 + q) / d.out_w, ow = (j0 + t0 + q) % d.out_w;
    xq[q] = d.x + d.ps * (oh * d.sh * d.wp + ow * d.sw);
  }
  V acc[P][OV];
#pragma GCC unroll 32
  for (int v = 0; v < OV; ++v) {
    const V b = d.bias ? S::load(d.bias + ob + v * L) : V{};  // (bias, 0) pairs
#pragma GCC unroll 32
    for (int q = 0; q < P; ++q) acc[q][v] = b;
  }
  // Panels: this block's weights follow each other tap by tap (2 L elements a
  // tap); rows: one 2 * op row per tap.
  const T* w = d.wpanel ? d.w + ob / (2 * L) * d.wpanel + ob % (2 * L) : d.w + ob;
  const int64_t wstep = d.wpanel ? 2 * L : row;
  for (int64_t k = 0; k < d.taps; ++k, w += wstep) {
    const int64_t o = d.off[k];
    V wv[OV];
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) wv[v] = S::load(w + v * L);
#pragma GCC unroll 32
    for (int q = 0; q < P; ++q) {
      const V xv = S::broadcast_pair(xq[q] + o);
#pragma GCC unroll 4
      for (int v = 0; v < OV; ++v) acc[q][v] += xv * wv[v];
    }
  }
#pragma GCC unroll 32
  for (int q = 0; q < P; ++q)
#pragma GCC unroll 4
    for (int v = 0; v < OV; ++v) __builtin_memcpy(tile + q * row + v * L, &acc[q][v], sizeof(V));
}

template <typename T, int Bytes, int OV, int P>
static void direct_block_p(const IntervalDirectConv<T>& d, int64_t j0, int64_t j, int64_t ob, int p) {
  if constexpr (P > 1) {
    if (p < P) return direct_block_p<T, Bytes, OV, P - 1>(d, j0, j, ob, p);
  }
  direct_block<T, Bytes, P, OV>(d, j0, j, ob);
}

// n positions in blocks of at most Pmax, none smaller than 3 where n allows
// (13 = 6 + 4 + 3, not 6 + 6 + 1): a block of 1 or 2 positions loads as many
// weight vectors as a full one for a fraction of the FMAs.
template <typename T, int Bytes, int Pmax, int OV>
static void direct_positions(const IntervalDirectConv<T>& d, int64_t j0, int64_t positions, int64_t ob) {
  for (int64_t j = 0; j < positions;) {  // j: in the span, from j0
    const int64_t n = positions - j;
    const int p = int(n <= Pmax ? n : (n - Pmax >= 3 ? Pmax : (n + 1) / 2));
    direct_block_p<T, Bytes, OV, Pmax>(d, j0, j, ob, p);
    j += p;
  }
}

// Positions per register block of two vectors: 6 x 2 accumulators + 2
// weight vectors + 1 broadcast fit AVX2's 16 registers (a block that does
// not fit keeps accumulators on the stack: perf showed a store and a reload
// per tap). The AVX-512 variant (32 registers) defines larger blocks before
// including this.
#ifndef MIXTRAIN_DIRECT_P2
#define MIXTRAIN_DIRECT_P2 6
#endif
// Output positions [j0, j0 + positions) of the flattened [out_h * out_w]
// output, every channel, into tile ([positions, op, 2]). (Passes over
// chunks of taps small enough for L1 measured no faster: the weights come
// from L2 fast enough for 24 FMAs per 4 weight vectors -- once they are one
// sequential stream per block, IntervalDirectConv::wpanel.)
template <typename T, int Bytes>
void interval_direct_conv_span(const IntervalDirectConv<T>& d, int64_t j0, int64_t positions) {
  constexpr int L = Simd<T, Bytes>::L;
  // On the paired channel axis (2 per channel). op, ob0 and ob1 are whole
  // multiples of the SIMD width in channels (L / 2 pairs per vector), so the
  // range is whole two-vector blocks: no one-vector remainder to run.
  const int64_t end = 2 * (d.ob1 ? d.ob1 : d.op);
  for (int64_t ob = 2 * d.ob0; ob < end; ob += 2 * L)
    direct_positions<T, Bytes, MIXTRAIN_DIRECT_P2, 2>(d, j0, positions, ob);
}

// ---- CROWN's ReLU step on one row of A (see cpu/crown_relu_backward_cpu.cpp):
// A' = A * (take_upper ? s_up : s_lo), returns sum(take_upper ? A * i_up : 0),
// take_upper = A > 0 for an upper bound, A < 0 for a lower one. Explicit
// vectors: GCC 12 turns the scalar form's selects into mispredicting branches.
template <typename T, int Bytes>
T crown_row(const T* src, T* dst, const T* s_up, const T* i_up, const T* s_lo, int64_t N, bool upper_bound) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t nv = N - N % L;
  V acc = V{};
  for (int64_t n = 0; n < nv; n += L) {
    const V x = S::load(src + n);
    const auto take = upper_bound ? x > V{} : x < V{};
    const V out = x * (take ? S::load(s_up + n) : S::load(s_lo + n));
    __builtin_memcpy(dst + n, &out, sizeof(V));
    acc += take ? x * S::load(i_up + n) : V{};
  }
  T total = S::sum(acc);
  for (int64_t n = nv; n < N; ++n) {
    const T x = src[n];
    const bool take_upper = upper_bound ? x > 0 : x < 0;
    dst[n] = x * (take_upper ? s_up[n] : s_lo[n]);
    total += take_upper ? x * i_up[n] : T(0);
  }
  return total;
}

// The CROWN relaxation of n neurons at once, in vectors: upper slope, upper
// intercept, lower slope -- the same formulas as relu_relax.h's crown_relax
// (tests compare both with the reference).
template <typename T, int Bytes>
void crown_relax_row(const T* lo, const T* up, T* us, T* ui, T* ls, int64_t n) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const V zero = V{}, one = V{} + T(1);
  const int64_t nv = n - n % L;
  for (int64_t i = 0; i < nv; i += L) {
    const V l = S::load(lo + i), u = S::load(up + i);
    const auto unstable = (l < zero) & (u > zero);
    const V stable = l >= zero ? one : zero;
    const V chord = u / (unstable ? u - l : one);
    const V a = unstable ? chord : stable, b = unstable ? -l * chord : zero;
    const V c = unstable ? (u >= -l ? one : zero) : stable;
    __builtin_memcpy(us + i, &a, sizeof(V));
    __builtin_memcpy(ui + i, &b, sizeof(V));
    __builtin_memcpy(ls + i, &c, sizeof(V));
  }
  // The tail in scalars. Not a call to relu_relax.h's crown_relax: an inline
  // function compiled here under the AVX-512 target could be the copy the
  // linker keeps for every other caller (the ODR rule at the top of the file).
  for (int64_t i = nv; i < n; ++i) {
    const T l = lo[i], u = up[i];
    const bool unstable = l < T(0) && u > T(0);
    const T stable = l >= T(0) ? T(1) : T(0);
    const T chord = u / (unstable ? u - l : T(1));
    us[i] = unstable ? chord : stable;
    ui[i] = unstable ? -l * chord : T(0);
    ls[i] = unstable ? (u >= -l ? T(1) : T(0)) : stable;
  }
}

#include "crown_conv_simd.h"  // crown_conv_rows, in this namespace
#include "winograd_simd.h"   // the Winograd transforms: wino_*, wino22_*, wino43_*
#include "packed_gemm_simd.h"  // packed_gemm_cols: interval_linear at tens of rows

// This variant's kernel table, e.g. mixtrain::simd_avx2::kernels_f32.
extern const SimdKernels<float> kernels_f32;
extern const SimdKernels<double> kernels_f64;
const SimdKernels<float> kernels_f32{&interval_gemm_cols<float, MIXTRAIN_SIMD_BYTES>,
                                     &packed_gemm_cols<float, MIXTRAIN_SIMD_BYTES>,
                                     packed_panel_channels<float, MIXTRAIN_SIMD_BYTES>(),
                                     &interval_direct_conv_span<float, MIXTRAIN_SIMD_BYTES>,
                                     &crown_row<float, MIXTRAIN_SIMD_BYTES>,
                                     &crown_relax_row<float, MIXTRAIN_SIMD_BYTES>,
                                     &crown_conv_rows<float, MIXTRAIN_SIMD_BYTES>,
                                     &wino_input_tile<float, MIXTRAIN_SIMD_BYTES>,
                                     &wino_output_tile<float, MIXTRAIN_SIMD_BYTES>,
                                     &wino22_input_tile<float, MIXTRAIN_SIMD_BYTES>,
                                     &wino22_output_tile<float, MIXTRAIN_SIMD_BYTES>,
                                     &wino43_input_tile<float, MIXTRAIN_SIMD_BYTES>,
                                     &wino43_output_tile<float, MIXTRAIN_SIMD_BYTES>,
                                     Simd<float, MIXTRAIN_SIMD_BYTES>::L};
const SimdKernels<double> kernels_f64{&interval_gemm_cols<double, MIXTRAIN_SIMD_BYTES>,
                                      &packed_gemm_cols<double, MIXTRAIN_SIMD_BYTES>,
                                      packed_panel_channels<double, MIXTRAIN_SIMD_BYTES>(),
                                      &interval_direct_conv_span<double, MIXTRAIN_SIMD_BYTES>,
                                      &crown_row<double, MIXTRAIN_SIMD_BYTES>,
                                      &crown_relax_row<double, MIXTRAIN_SIMD_BYTES>,
                                      &crown_conv_rows<double, MIXTRAIN_SIMD_BYTES>,
                                      &wino_input_tile<double, MIXTRAIN_SIMD_BYTES>,
                                      &wino_output_tile<double, MIXTRAIN_SIMD_BYTES>,
                                      &wino22_input_tile<double, MIXTRAIN_SIMD_BYTES>,
                                      &wino22_output_tile<double, MIXTRAIN_SIMD_BYTES>,
                                      &wino43_input_tile<double, MIXTRAIN_SIMD_BYTES>,
                                      &wino43_output_tile<double, MIXTRAIN_SIMD_BYTES>,
                                      Simd<double, MIXTRAIN_SIMD_BYTES>::L};

}  // namespace MIXTRAIN_SIMD_NS
}  // namespace mixtrain
