// CROWN's backward step through a convolution onto few input channels (the
// first layer's), on the CPU: see CrownConvRow in interval_gemm_args.h.
//
// Output-stationary and vectorized along A's channels o, which a channels-
// last A keeps contiguous: a block of PX output columns of one run x CB input
// channels holds PX * CB accumulators; per tap and vector of channels it loads
// CB weight vectors and PX A vectors for PX * CB fused multiply-adds, and each
// output is one horizontal sum at the end. No column buffer and no fold: the
// earlier product-then-col2im spent more time in the scalar fold than in the
// product (2.9 of 5.2 ms at 288 rows, 32 -> 1 channel, 3x3, 28x28, 2-core AVX2).
// A transposed convolution onto one channel leaves oneDNN's kernels at 4-5 G
// multiply-adds/s; this layout gives every lane work whatever C is.
//
// Included by interval_gemm_simd.h inside its SIMD namespace (it uses that
// file's Simd and obeys its rule: no inline library functions).

// One block: output columns m0 .. m0 + PX - 1 of run r, output row y,
// channels c0 .. c0 + CB - 1.
template <typename T, int Bytes, int PX, int CB>
static void crown_conv_block(const CrownConvRow<T>& g, int64_t y, int64_t r, int64_t m0, int64_t c0) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t O = g.O, ov = O - O % L;
  V acc[PX][CB];
  T tail[PX][CB];
  for (int m = 0; m < PX; ++m)
    for (int c = 0; c < CB; ++c) {
      acc[m][c] = V{};
      tail[m][c] = T(0);
    }
  for (int64_t ky = g.y_first[y]; ky < g.y_first[y + 1]; ++ky) {
    const int64_t u = g.y_u[ky], i = g.y_i[ky];
    for (int64_t kx = g.run_first[r]; kx < g.run_first[r + 1]; ++kx) {
      const T* a = g.a + (i * g.OW + g.run_j0[kx] + m0) * O;  // column m of the block: a + m * O
      const T* w = g.weight + ((u * g.kw + g.run_v[kx]) * g.C + c0) * O;
      for (int64_t o = 0; o < ov; o += L) {
        V wv[CB];
        for (int c = 0; c < CB; ++c) wv[c] = S::load(w + c * O + o);
        for (int m = 0; m < PX; ++m) {
          const V av = S::load(a + m * O + o);
          for (int c = 0; c < CB; ++c) acc[m][c] += av * wv[c];
        }
      }
      for (int64_t o = ov; o < O; ++o)
        for (int m = 0; m < PX; ++m)
          for (int c = 0; c < CB; ++c) tail[m][c] += a[m * O + o] * w[c * O + o];
    }
  }
  T* out = g.out + (c0 * g.height + y) * g.width + g.run_x0[r] + m0 * g.sw;
  for (int m = 0; m < PX; ++m)
    for (int c = 0; c < CB; ++c) out[c * g.height * g.width + m * g.sw] = S::sum(acc[m][c]) + tail[m][c];
}

template <typename T, int Bytes, int CB, int PX>
static void crown_conv_block_p(const CrownConvRow<T>& g, int64_t y, int64_t r, int64_t m0, int64_t c0, int p) {
  if constexpr (PX > 1) {
    if (p < PX) return crown_conv_block_p<T, Bytes, CB, PX - 1>(g, y, r, m0, c0, p);
  }
  crown_conv_block<T, Bytes, PX, CB>(g, y, r, m0, c0);
}

// Accumulators per block: 12 of AVX2's 16 registers (the rest hold the
// weight and A vectors); the AVX-512 variant sets more before including.
#ifndef MIXTRAIN_CROWN_CONV_ACC
#define MIXTRAIN_CROWN_CONV_ACC 12
#endif

// Every run of output row y for channels c0 .. c0 + CB - 1, in blocks of at
// most PXmax columns, none smaller than 3 where the run allows (a small block
// loads as many weight vectors as a full one for fewer multiply-adds).
template <typename T, int Bytes, int CB>
static void crown_conv_row_channels(const CrownConvRow<T>& g, int64_t y, int64_t c0) {
  constexpr int PXmax = MIXTRAIN_CROWN_CONV_ACC / CB;
  for (int64_t r = 0; r < g.runs; ++r) {
    const int64_t count = g.run_count[r];
    for (int64_t m = 0; m < count;) {
      const int64_t n = count - m;
      const int p = int(n <= PXmax ? n : (n - PXmax >= 3 ? PXmax : (n + 1) / 2));
      crown_conv_block_p<T, Bytes, CB, PXmax>(g, y, r, m, c0, p);
      m += p;
    }
  }
}

// Output rows [y0, y1) of one sample row, every channel (in groups of 3).
template <typename T, int Bytes>
void crown_conv_rows(const CrownConvRow<T>& g, int64_t y0, int64_t y1) {
  for (int64_t y = y0; y < y1; ++y)
    for (int64_t c0 = 0; c0 < g.C; c0 += 3) {
      const int64_t cb = g.C - c0 < 3 ? g.C - c0 : 3;
      if (cb == 3) crown_conv_row_channels<T, Bytes, 3>(g, y, c0);
      else if (cb == 2) crown_conv_row_channels<T, Bytes, 2>(g, y, c0);
      else crown_conv_row_channels<T, Bytes, 1>(g, y, c0);
    }
}
