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

// The packed form of the same product (packed_gemm_simd.h), for tens of rows.
// k blocks of PACKED_KC, output channels packed PACKED_NC at a time: a
// thread's pack buffer holds PACKED_KC * PACKED_NC * 2 elements (128 KB of
// floats: L2, beside a k block of x for 50 rows, 100 KB).
constexpr int64_t PACKED_KC = 256;
constexpr int64_t PACKED_NC = 64;

template <typename T>
struct PackedGemm {
  const T* x;       // [M, K, 2]: (center, radius) pairs, rows ldx elements apart
  int64_t ldx;
  const T* w;       // [N, K] contiguous
  const T* bias;    // [N] or nullptr
  T* acc;           // [M, np, 2]: paired accumulators, np = N rounded up to the panel width
  T* out_c;         // [M, N] rows ldo_m apart
  T* out_r;
  int64_t ldo_m;
  int64_t M, K, N, np;
};

}  // namespace mixtrain

namespace mixtrain {

// The convolution form of the fused interval product: a direct convolution,
// output channels in SIMD lanes (no im2col), center and radius paired:
//   tile[j, 2o]     = bias[o] + sum_k w[k, 2o]     * x[off[k] + ps * base(j)]
//   tile[j, 2o + 1] =           sum_k w[k, 2o + 1] * x[off[k] + ps * base(j) + 1]
// with w[k, 2o] = W[o, tap k] and w[k, 2o + 1] = |W[o, tap k]|, base(j) = (oh
// * sh) * wp + ow * sw the input position of output position j. k runs over
// the taps (i, j, c) of one group, off[k] = 2 * ((i*dh*wp + j*dw) * C + c) is
// the tap's offset in x, and x holds center and radius interleaved
// ([h, w, c, {center, radius}], zero-padded), so one 2-element broadcast
// serves both products and the kernel is a single flat loop over k whatever
// the geometry. op = out channels rounded up to the SIMD width.
template <typename T>
struct IntervalDirectConv {
  const T* x;             // [hp, wp, channels, 2] of one sample, at its group's first channel
  const int64_t* off;     // [taps]
  int64_t taps, wp;
  const T* w;             // [taps, op, 2]: (W, |W|) per channel
  const T* bias;          // [op, 2]: (bias, 0) per channel (zero-padded), or nullptr
  int64_t op;
  int64_t sh, sw;
  int64_t out_w;
  T* tile;                // [positions, op, 2]: (center, radius) per channel
  // The channels to compute, [ob0, ob1) (multiples of the SIMD width in
  // channels: whole two-vector register blocks; ob1 = 0: up to op), so that small outputs can be
  // split between threads by channels rather than into short position spans.
  int64_t ob0 = 0, ob1 = 0;
  // Elements from one input position to the next in x: 2 * channels (x is
  // channels-last, [hp, wp, channels, 2]); the caller sets it.
  int64_t ps = 0;
  // wpanel > 0: w is laid out in panels of two SIMD vectors of pairs (the
  // SIMD width in channels), [op / width, taps, 2 * width], wpanel elements
  // apart (taps * 2 * width), so that a register block's weights are one
  // sequential stream; 0: [taps, op, 2] as above.
  int64_t wpanel = 0;
};

// One sample row of CROWN's backward step through a convolution: the
// transposed convolution of A onto the layer's input, computed output-
// stationary from a channels-last A (crown_conv_simd.h):
//   out[c, y, x] = sum over the taps (u, v) that reach (y, x), and over o,
//                  of A[i, j, o] * W[o, c, u, v]
// where y = i*sh - ph + u*dh and x = j*sw - pw + v*dw. Which taps reach an
// output depends only on its phase ((y + ph) mod sh, (x + pw) mod sw), and
// along a phase the positions they read move by one row or column of A per
// output. So the caller (cpu/crown_conv2d_backward_cpu.cpp) pads A with zeros
// (rows, columns, and channels up to a multiple of the SIMD width) until every
// tap of every output reads inside it, and lists per phase pair the taps as
// flat offsets from the output's base position, one entry per tap and vector
// of channels, with the weights packed in the same order.
template <typename T>
struct CrownConvRow {
  const T* a;              // [hp, wp, op]: the padded row of A
  int64_t op, wp;          // channels (a multiple of the SIMD width) and width of the padded A
  int64_t top, left;       // A's row 0, column 0 in the padded A
  T* out;                  // [C, height, width]
  int64_t C, height, width, sh, sw, ph, pw;
  // Phase pair p = ((y + ph) % sh) * sw + (x + pw) % sw: its entries are
  // k in [first[p], first[p + 1]), at a + base + off[k], with the weights of
  // channel c at w[(k * C + c) * lanes], lanes the SIMD width.
  const int64_t* first;
  const int64_t* off;
  const T* w;
  // The wide form (in_channels a multiple of 16, crown_conv_output_format):
  // out is [height, width, C] (channels-last), op is A's O channels unpadded,
  // entry k (of `taps` in all) is one tap at a + base + off[k], and the
  // weights come in chunks of cw output channels (two SIMD vectors, or one):
  // channel c0 + c of chunk c0 / cw, A channel o, at w[((c0 / cw * taps + k)
  // * O + o) * cw + c] = w[(c0 * taps + k * cw) * O + o * cw + c].
  bool wide = false;
  int64_t O = 0, taps = 0, cw = 0;
};

// The CPU kernels of one instruction set (interval_gemm_simd.h defines one
// table per variant; cpu/interval_gemm.cpp picks one at run time).
template <typename T>
struct SimdKernels {
  void (*gemm_cols)(const IntervalGemm<T>&, int64_t n0, int64_t n1);
  void (*packed_gemm_cols)(const PackedGemm<T>&, int64_t n0, int64_t n1, int64_t m0, int64_t m1, T* pack);
  int64_t packed_panel;  // output channels per panel of packed_gemm_cols (its n0 are multiples)
  void (*direct_conv_span)(const IntervalDirectConv<T>&, int64_t j0, int64_t positions);
  T (*crown_row)(const T* a, T* out, const T* s_up, const T* i_up, const T* s_lo, int64_t n, bool upper_bound);
  void (*crown_relax_row)(const T* l, const T* u, T* us, T* ui, T* ls, int64_t n);
  void (*crown_conv_rows)(const CrownConvRow<T>&, int64_t y0, int64_t y1);
  void (*wino_input_tile)(const T* x, int64_t row, int64_t px, int64_t n, T* v, int64_t vs);
  void (*wino_output_tile)(const T* m, int64_t ms, int64_t n, const T* bias, T* const* dc, T* const* dr,
                           int64_t O, int64_t cs, bool nonneg_r);
  void (*wino22_input_tile)(const T* x, int64_t row, int64_t px, int64_t n, T* v, int64_t vs);
  void (*wino22_output_tile)(const T* m, int64_t ms, int64_t n, const T* bias, T* const* dc, T* const* dr,
                             int64_t O, int64_t cs, bool nonneg_r);
  void (*wino43_input_tile)(const T* x, int64_t row, int64_t px, int64_t n, T* v, int64_t vs);
  void (*wino43_output_tile)(const T* m, int64_t ms, int64_t n, const T* bias, T* const* dc, T* const* dr,
                             int64_t O, int64_t cs, bool nonneg_r);
  int64_t lanes;
};

}  // namespace mixtrain
