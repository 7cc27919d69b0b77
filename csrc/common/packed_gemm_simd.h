// interval_linear's CPU product for tens of rows, in the GotoBLAS form
// (cpu/interval_linear_cpu.cpp):
//
//   out_c[m, n] = bias[n] + sum_k c[m, k] * W[n, k]
//   out_r[m, n] =           sum_k r[m, k] * |W[n, k]|
//
// Why not the dot-product kernel of interval_gemm_simd.h at these sizes: it
// vectorizes along k and reduces each (row, column) at the end, and it ran at
// ~50% of the FMA peak whatever the row count (2-core Zen 3: 100-108 GFLOP/s
// of 204 at 16-100 rows x 3136 x 512), under two MKL GEMMs from 32-50 rows on.
// Here the output is register-blocked instead (MR rows x PW channels, no
// reductions), as a BLAS does: the same shape ran 162 GFLOP/s (80%) before
// packing costs (benchmarks/README.md, session 22).
//
// Layout: the input rows come paired, x[m, k, 2] = (c[m, k], r[m, k]) (the
// caller interleaves them, rows ldx apart), and a block of W is packed per
// call into panels of PW output channels, panel[k][2 * PW] = (W[n, k],
// |W[n, k]|) per channel n, so one 2-element broadcast of (c, r) times one panel vector yields both
// products of L / 2 channels at once, center and radius in adjacent lanes
// (the direct convolution's pairing, interval_gemm_simd.h). The k axis is cut
// into blocks of PACKED_KC: an MR-row strip of x over one k block (12 KB for
// 6 float rows) stays in L1 while the PACKED_NC channels' panels (128 KB)
// stream past it from L2. (Panels outside, x strips streaming past each
// panel, measured 0.94-1.00x of this at 16-256 rows, alternating.) The
// accumulators go to a paired buffer [M, np, 2] between k blocks, which the
// last pass splits into out_c and out_r.
//
// Included by interval_gemm_simd.h inside its SIMD namespace (Simd<T, Bytes>
// is defined there); the same ODR rule holds: no inline library functions.

// Channels per panel: two vectors of (W, |W|) pairs.
template <typename T, int Bytes>
constexpr int64_t packed_panel_channels() {
  return Simd<T, Bytes>::L;
}

// (w[h], a[h], w[h + 1], a[h + 1], ...): L / 2 lanes of each from lane h.
template <typename V, int L, int... I>
static V interleave_half(V w, V a, int h, std::integer_sequence<int, I...>) {
  return h == 0 ? __builtin_shufflevector(w, a, ((I % 2) * L + I / 2)...)
                : __builtin_shufflevector(w, a, ((I % 2) * L + L / 2 + I / 2)...);
}

// Packs channels [n0, n0 + PW) of W's columns [k0, k0 + kc) into
// dst[kc][2 * PW]. Channels at or past N repeat channel n0 (their outputs
// land in the accumulators' padding, never read). Per k, the PW channels are
// gathered into one vector, and its pairs with |W| are two interleaving
// shuffles: the scalar form (a select per element) took as long as the
// products.
template <typename T, int Bytes>
static void packed_pack_panel(const PackedGemm<T>& g, int64_t k0, int64_t kc, int64_t n0, T* dst) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  const T* rows[L];
  for (int j = 0; j < L; ++j) rows[j] = g.w + (n0 + j < g.N ? n0 + j : n0) * g.K + k0;
  for (int64_t k = 0; k < kc; ++k, dst += 2 * L) {
    V w;
#pragma GCC unroll 16
    for (int j = 0; j < L; ++j) w[j] = rows[j][k];
    const V a = S::abs(w);
    const V lo = interleave_half<V, L>(w, a, 0, std::make_integer_sequence<int, L>{});
    const V hi = interleave_half<V, L>(w, a, L / 2, std::make_integer_sequence<int, L>{});
    __builtin_memcpy(dst, &lo, sizeof(V));
    __builtin_memcpy(dst + L, &hi, sizeof(V));
  }
}

// One register block: MR rows (x rows ldx apart, at their block's first k)
// against one packed panel over kc; adds into (or, first, sets) the paired
// accumulators o ([MR][2 * PW], rows ldo apart).
template <typename T, int Bytes, int MR>
static void packed_block(const T* x, int64_t ldx, const T* panel, int64_t kc, T* o, int64_t ldo, bool first) {
  using S = Simd<T, Bytes>;
  using V = typename S::V;
  constexpr int L = S::L;
  V acc[MR][2];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < 2; ++v) acc[i][v] = first ? V{} : S::load(o + i * ldo + v * L);
  for (int64_t k = 0; k < kc; ++k, panel += 2 * L) {
    const V w0 = S::load(panel), w1 = S::load(panel + L);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const V xv = S::broadcast_pair(x + i * ldx + 2 * k);
      acc[i][0] += xv * w0;
      acc[i][1] += xv * w1;
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < 2; ++v) __builtin_memcpy(o + i * ldo + v * L, &acc[i][v], sizeof(V));
}

// A block of rows (rows <= MR: the last, short block of M) dispatched to the
// register block of that height.
template <typename T, int Bytes, int MR>
static void packed_block_rows(const T* x, int64_t ldx, const T* panel, int64_t kc, T* o, int64_t ldo, bool first,
                              int rows) {
  if constexpr (MR > 1) {
    if (rows < MR) return packed_block_rows<T, Bytes, MR - 1>(x, ldx, panel, kc, o, ldo, first, rows);
  }
  packed_block<T, Bytes, MR>(x, ldx, panel, kc, o, ldo, first);
}

// Rows per register block: MR x 2 accumulators + 2 panel vectors + 1
// broadcast in the 16 (AVX2) or 32 (AVX-512) registers -- the direct
// convolution's block sizes.
#ifndef MIXTRAIN_PACKED_MR
#define MIXTRAIN_PACKED_MR MIXTRAIN_DIRECT_P2
#endif

// Output channels [n0, n1) of rows [m0, m1) (n0 a multiple of the panel
// width; the unit of parallel work). pack: PACKED_KC * PACKED_NC * 2 elements
// of this thread's own.
template <typename T, int Bytes>
void packed_gemm_cols(const PackedGemm<T>& g, int64_t n0, int64_t n1, int64_t m0, int64_t m1, T* pack) {
  constexpr int64_t PW = packed_panel_channels<T, Bytes>();
  static_assert(PACKED_NC % PW == 0, "a channel block is whole panels (the pack buffer's size)");
  constexpr int MR = MIXTRAIN_PACKED_MR;
  const int64_t ldx = g.ldx, ldo = 2 * g.np;
  for (int64_t k0 = 0; k0 < g.K; k0 += PACKED_KC) {
    const int64_t kc = g.K - k0 < PACKED_KC ? g.K - k0 : PACKED_KC;
    const bool first = k0 == 0;
    for (int64_t nb = n0; nb < n1; nb += PACKED_NC) {
      const int64_t nc = n1 - nb < PACKED_NC ? n1 - nb : PACKED_NC;
      for (int64_t p = 0; p < nc; p += PW) packed_pack_panel<T, Bytes>(g, k0, kc, nb + p, pack + p * 2 * kc);
      for (int64_t m = m0; m < m1; m += MR) {
        const int rows = int(m1 - m < MR ? m1 - m : MR);
        for (int64_t p = 0; p < nc; p += PW)
          packed_block_rows<T, Bytes, MR>(g.x + m * ldx + 2 * k0, ldx, pack + p * 2 * kc, kc,
                                          g.acc + m * ldo + 2 * (nb + p), ldo, first, rows);
      }
    }
  }
  // Split the pairs into the two outputs, adding the bias.
  const int64_t end = n1 < g.N ? n1 : g.N;
  for (int64_t m = m0; m < m1; ++m) {
    const T* a = g.acc + m * ldo;
    T* oc = g.out_c + m * g.ldo_m;
    T* orr = g.out_r + m * g.ldo_m;
    if (g.bias)
      for (int64_t n = n0; n < end; ++n) oc[n] = a[2 * n] + g.bias[n];
    else
      for (int64_t n = n0; n < end; ++n) oc[n] = a[2 * n];
    for (int64_t n = n0; n < end; ++n) orr[n] = a[2 * n + 1];
  }
}
