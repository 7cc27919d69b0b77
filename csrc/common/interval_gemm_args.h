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

// The convolution form of the fused interval product: a direct convolution of
// one output row, output channels in SIMD lanes (no im2col).
//   tile_c[ow, o] = bias[o] + sum_k w[k, o]      * x[off[k] + 2 * ((oh*sh) * wp + ow*sw)]
//   tile_r[ow, o] =           sum_k w[k, op + o] * x[off[k] + 2 * ((oh*sh) * wp + ow*sw) + 1]
// k runs over the taps (c, i, j) of one group, off[k] = 2 * (c*hp*wp + i*dh*wp
// + j*dw) is the tap's offset in x, and x holds center and radius interleaved
// ([c, h, w, {center, radius}], zero-padded), so one address serves both and
// the kernel is a single flat loop over k whatever the geometry. Each weight
// row k is W^T then |W|^T, op = out channels rounded up to the SIMD width.
template <typename T>
struct IntervalDirectConv {
  const T* x;             // [channels, hp, wp, 2] of one sample and group
  const int64_t* off;     // [taps]
  int64_t taps, wp;
  const T* w;             // [taps, 2 * op]
  const T* bias;          // [op] (zero-padded) or nullptr
  int64_t op;
  int64_t sh, sw;
  int64_t out_w;
  T* tile_c;              // [positions, op]
  T* tile_r;
  // The channels to compute, [ob0, ob1) (multiples of two SIMD vectors but
  // for a last odd one; ob1 = 0: up to op), so that small outputs can be
  // split between threads by channels rather than into short position spans.
  int64_t ob0 = 0, ob1 = 0;
};

// One sample row of CROWN's backward step through a convolution: the
// transposed convolution of A onto the layer's input, computed output-
// stationary from a channels-last A (crown_conv_simd.h):
//   out[c, y, x] = sum over the taps (u, v) that reach (y, x), and over o,
//                  of a[i, j, o] * w[u, v, c, o]
// where (i, j) is the position of A that tap (u, v) carries onto (y, x):
// y = i*sh - ph + u*dh, x = j*sw - pw + v*dw. The taps that reach each output
// row, and runs of output columns the same taps reach, are listed once per
// call by the caller (cpu/crown_conv2d_backward_cpu.cpp).
template <typename T>
struct CrownConvRow {
  const T* a;                 // [OH, OW, O]: one row of A, channels-last
  const T* weight;            // [kh, kw, C, O]
  T* out;                     // [C, height, width]
  int64_t O, OW, C, kw, height, width, sw;
  const int64_t* y_first;     // the taps of output row y: (y_u[k], y_i[k]), k in [y_first[y], y_first[y + 1])
  const int64_t* y_u;
  const int64_t* y_i;
  // Run r: output columns x = run_x0[r] + m * sw, m < run_count[r], all
  // reached by the same taps, (run_v[k], run_j0[k] + m) for k in
  // [run_first[r], run_first[r + 1]).
  int64_t runs;
  const int64_t* run_x0;
  const int64_t* run_count;
  const int64_t* run_first;
  const int64_t* run_v;
  const int64_t* run_j0;
};

// The CPU kernels of one instruction set (interval_gemm_simd.h defines one
// table per variant; cpu/interval_gemm.cpp picks one at run time).
template <typename T>
struct SimdKernels {
  void (*gemm_cols)(const IntervalGemm<T>&, int64_t n0, int64_t n1);
  void (*direct_conv_span)(const IntervalDirectConv<T>&, int64_t j0, int64_t positions);
  T (*crown_row)(const T* a, T* out, const T* s_up, const T* i_up, const T* s_lo, int64_t n, bool upper_bound);
  void (*crown_relax_row)(const T* l, const T* u, T* us, T* ui, T* ls, int64_t n);
  void (*crown_conv_rows)(const CrownConvRow<T>&, int64_t y0, int64_t y1);
  int64_t lanes;
};

}  // namespace mixtrain
