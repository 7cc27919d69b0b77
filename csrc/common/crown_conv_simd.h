// CROWN's backward step through a convolution on the CPU (see CrownConvRow
// in interval_gemm_args.h for the layout the caller prepares).
//
// Output-stationary, vectorized along A's channels o (contiguous in a
// channels-last A): a block of PX outputs of one phase in one row x CB input
// channels holds PX * CB accumulators; per entry (tap, vector of channels) it
// loads CB weight vectors and PX A vectors for PX * CB fused multiply-adds,
// and each output is one horizontal sum at the end. Why this shape: the
// transposed convolution onto the first layer's 1-3 channels leaves oneDNN
// at 4-5 G multiply-adds/s on a 2-core AVX2 machine, and a product then
// col2im spends more time in the scalar fold than in the product.
//
// Included by interval_gemm_simd.h inside its SIMD namespace (it uses that
// file's Simd and obeys its rule: no inline library functions).

// The sum of a vector's lanes by halving. Not Simd::sum's loop over lanes:
// indexing a vector makes GCC keep the accumulators on the stack, and it
// zeroed that stack with a `rep stos` on every block (11% of the kernel's time).
template <typename T, int Bytes, typename V>
static T lane_sum(V v) {
  if constexpr (Bytes == int(sizeof(T))) {
    T x;
    __builtin_memcpy(&x, &v, sizeof(T));
    return x;
  } else {
    typedef T H __attribute__((vector_size(Bytes / 2)));
    H lo, hi;
    __builtin_memcpy(&lo, &v, Bytes / 2);
    __builtin_memcpy(&hi, reinterpret_cast<const char*>(&v) + Bytes / 2, Bytes / 2);
    return lane_sum<T, Bytes / 2>(lo + hi);
  }
}

// Outputs x = x0 + (m0 + m) * sw, m < PX, of row y (all of one phase pair),
// channels c0 .. c0 + CB - 1.
template <typename T, int Bytes, int PX, int CB>
static void crown_conv_block(const CrownConvRow<T>& g, const T* a, int64_t k0, int64_t k1, T* out, int64_t c0) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t op = g.op;
  // Every loop over m and c fully unrolled, so that acc lives in registers.
  V acc[PX][CB];
#pragma GCC unroll 32
  for (int m = 0; m < PX; ++m)
#pragma GCC unroll 4
    for (int c = 0; c < CB; ++c) acc[m][c] = V{};
  const T* w = g.w + (k0 * g.C + c0) * L;
  for (int64_t k = k0; k < k1; ++k, w += g.C * L) {
    const T* ak = a + g.off[k];
    V wv[CB];
#pragma GCC unroll 4
    for (int c = 0; c < CB; ++c) wv[c] = S::load(w + c * L);
#pragma GCC unroll 32
    for (int m = 0; m < PX; ++m) {
      const V av = S::load(ak + m * op);  // the next output of the phase reads the next column of A
#pragma GCC unroll 4
      for (int c = 0; c < CB; ++c) acc[m][c] += av * wv[c];
    }
  }
  const int64_t plane = g.height * g.width;
#pragma GCC unroll 32
  for (int m = 0; m < PX; ++m)
#pragma GCC unroll 4
    for (int c = 0; c < CB; ++c) out[c * plane + m * g.sw] = lane_sum<T, Bytes>(acc[m][c]);
}

template <typename T, int Bytes, int CB, int PX>
static void crown_conv_block_p(const CrownConvRow<T>& g, const T* a, int64_t k0, int64_t k1, T* out, int64_t c0,
                               int p) {
  if constexpr (PX > 1) {
    if (p < PX) return crown_conv_block_p<T, Bytes, CB, PX - 1>(g, a, k0, k1, out, c0, p);
  }
  crown_conv_block<T, Bytes, PX, CB>(g, a, k0, k1, out, c0);
}

// Accumulators per block: 12 of AVX2's 16 registers (the rest hold the
// weight and A vectors); the AVX-512 variant sets more before including.
#ifndef MIXTRAIN_CROWN_CONV_ACC
#define MIXTRAIN_CROWN_CONV_ACC 12
#endif

// Row y, channels c0 .. c0 + CB - 1: each column phase in blocks of equal
// size, at most PXmax (28 outputs as 9 + 9 + 10, not 12 + 12 + 4).
template <typename T, int Bytes, int CB>
static void crown_conv_row_channels(const CrownConvRow<T>& g, int64_t y, int64_t c0) {
  constexpr int PXmax = MIXTRAIN_CROWN_CONV_ACC / CB;
  const int64_t qy = (y + g.ph) / g.sh, ry = (y + g.ph) % g.sh;
  const T* arow = g.a + (qy + g.top) * g.wp * g.op;
  T* orow = g.out + (c0 * g.height + y) * g.width;
  for (int64_t rx = 0; rx < g.sw; ++rx) {
    // The first output of the phase: the smallest x >= 0 with (x + pw) % sw == rx.
    const int64_t x0 = ((rx - g.pw) % g.sw + g.sw) % g.sw;
    if (x0 >= g.width) continue;
    const int64_t count = (g.width - x0 + g.sw - 1) / g.sw, qx0 = (x0 + g.pw) / g.sw;
    const int64_t pair = ry * g.sw + rx, k0 = g.first[pair], k1 = g.first[pair + 1];
    const int64_t blocks = (count + PXmax - 1) / PXmax;
    for (int64_t b = 0, m = 0; b < blocks; ++b) {
      const int p = int((count - m) / (blocks - b));  // equal shares, the larger ones last
      crown_conv_block_p<T, Bytes, CB, PXmax>(g, arow + (qx0 + m + g.left) * g.op, k0, k1, orow + x0 + m * g.sw,
                                              c0, p);
      m += p;
    }
  }
}

// The wide form (g.wide: in_channels a multiple of 16, channels-last out):
// vectorized along the output's channels c instead. A block of P outputs of
// one phase x CV vectors of channels holds P * CV accumulators; per tap and A
// channel o it loads CV weight vectors and broadcasts P values of A, for
// P * CV fused multiply-adds, and stores whole vectors (no horizontal sums).
// This is a GEMM micro-kernel (positions x channels, reduced over taps x A's
// channels) whose A operand is gathered through the tap offsets, so no
// im2col/col2im copy. Why: oneDNN's transposed 4x4 stride-2 convolutions of
// the 16-64 channel layers ran at 31-45 G multiply-adds/s on the 2-core AVX2
// machine, against about 60 for a GEMM (benchmarks/README, session 15).
template <typename T, int Bytes, int P, int CV>
static void crown_conv_wide_block(const CrownConvRow<T>& g, const T* const* a, int64_t k0, int64_t k1,
                                  T* const* out, int64_t c0) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t O = g.O;
  V acc[P][CV];
#pragma GCC unroll 32
  for (int m = 0; m < P; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) acc[m][v] = V{};
  for (int64_t k = k0; k < k1; ++k) {
    const T* ak[P];
#pragma GCC unroll 32
    for (int m = 0; m < P; ++m) ak[m] = a[m] + g.off[k];
    const T* w = g.w + (c0 * g.taps + k * CV * L) * O;  // chunk c0 / (CV * L), tap k
    for (int64_t o = 0; o < O; ++o, w += CV * L) {
      V wv[CV];
#pragma GCC unroll 4
      for (int v = 0; v < CV; ++v) wv[v] = S::load(w + v * L);
#pragma GCC unroll 32
      for (int m = 0; m < P; ++m) {
        const V av = S::broadcast(ak[m] + o);
#pragma GCC unroll 4
        for (int v = 0; v < CV; ++v) acc[m][v] += av * wv[v];
      }
    }
  }
#pragma GCC unroll 32
  for (int m = 0; m < P; ++m)
#pragma GCC unroll 4
    for (int v = 0; v < CV; ++v) __builtin_memcpy(out[m] + c0 + v * L, &acc[m][v], sizeof(V));
}

template <typename T, int Bytes, int CV, int P>
static void crown_conv_wide_block_p(const CrownConvRow<T>& g, const T* const* a, int64_t k0, int64_t k1,
                                    T* const* out, int64_t c0, int p) {
  if constexpr (P > 1) {
    if (p < P) return crown_conv_wide_block_p<T, Bytes, CV, P - 1>(g, a, k0, k1, out, c0, p);
  }
  crown_conv_wide_block<T, Bytes, P, CV>(g, a, k0, k1, out, c0);
}

// The wide form over output rows [y0, y1): per phase pair, its outputs in
// row-major order, in blocks of up to Pmax that may span rows (a block inside
// one row would hold only 7 outputs of a 14-wide stride-2 layer: too few
// independent accumulator chains to hide the FMA latency, 35 against 53 G
// multiply-adds/s), each block over every chunk of channels in turn (its A
// values are then reused from L1; chunks outermost measured the same).
template <typename T, int Bytes, int CV>
static void crown_conv_wide_rows_cv(const CrownConvRow<T>& g, int64_t y0, int64_t y1) {
  constexpr int L = Simd<T, Bytes>::L;
  constexpr int Pmax = MIXTRAIN_CROWN_CONV_ACC / CV;
  for (int64_t ry = 0; ry < g.sh; ++ry)
    for (int64_t rx = 0; rx < g.sw; ++rx) {
      // The phase's first output row and column: the smallest y >= y0 with (y + ph) % sh == ry, and so on.
      const int64_t ya = y0 + ((ry - (y0 + g.ph)) % g.sh + g.sh) % g.sh;
      const int64_t xa = ((rx - g.pw) % g.sw + g.sw) % g.sw;
      if (ya >= y1 || xa >= g.width) continue;
      const int64_t rows = (y1 - ya + g.sh - 1) / g.sh, cols = (g.width - xa + g.sw - 1) / g.sw;
      const int64_t count = rows * cols, pair = ry * g.sw + rx, k0 = g.first[pair], k1 = g.first[pair + 1];
      const int64_t blocks = (count + Pmax - 1) / Pmax;
      // The phase's outputs (ya + r * sh, xa + c * sw) read A from (qy0 + r, qx0 + c) on: the
      // pointers advance by counters, with no division per output (three 64-bit divisions per
      // output cost about a sixth of a 32-channel layer's time, whose blocks are short: 4 taps x
      // 32 channels of A).
      const T* const a0 = g.a + (((ya + g.ph) / g.sh + g.top) * g.wp + (xa + g.pw) / g.sw + g.left) * g.op;
      T* const out0 = g.out + (ya * g.width + xa) * g.C;
      const int64_t a_row = g.wp * g.op, out_row = g.sh * g.width * g.C, out_col = g.sw * g.C;
      int64_t r = 0, c = 0;  // the next block's first output, as (phase row, phase column)
      for (int64_t b = 0, m = 0; b < blocks; ++b) {
        const int p = int((count - m) / (blocks - b));  // equal shares, the larger ones last
        const T* a[Pmax];
        T* out[Pmax];
        for (int i = 0; i < p; ++i) {
          a[i] = a0 + r * a_row + c * g.op;
          out[i] = out0 + r * out_row + c * out_col;
          if (++c == cols) {
            c = 0;
            ++r;
          }
        }
        for (int64_t c0 = 0; c0 < g.C; c0 += CV * L)
          crown_conv_wide_block_p<T, Bytes, CV, Pmax>(g, a, k0, k1, out, c0, p);
        m += p;
      }
    }
}

// The chunk width g.cw the host packed the weights in: two vectors or one.
template <typename T, int Bytes>
static void crown_conv_wide_rows(const CrownConvRow<T>& g, int64_t y0, int64_t y1) {
  if (g.cw == 2 * Simd<T, Bytes>::L) crown_conv_wide_rows_cv<T, Bytes, 2>(g, y0, y1);
  else crown_conv_wide_rows_cv<T, Bytes, 1>(g, y0, y1);
}

// Output rows [y0, y1) of one sample row, every channel (in groups of 3, or
// of 2 vectors in the wide form).
template <typename T, int Bytes>
void crown_conv_rows(const CrownConvRow<T>& g, int64_t y0, int64_t y1) {
  if (g.wide) return crown_conv_wide_rows<T, Bytes>(g, y0, y1);
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t c0 = 0; c0 < g.C; c0 += 3) {
      const int64_t cb = g.C - c0 < 3 ? g.C - c0 : 3;
      if (cb == 3) crown_conv_row_channels<T, Bytes, 3>(g, y, c0);
      else if (cb == 2) crown_conv_row_channels<T, Bytes, 2>(g, y, c0);
      else crown_conv_row_channels<T, Bytes, 1>(g, y, c0);
    }
}
