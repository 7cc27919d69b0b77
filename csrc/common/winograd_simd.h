// The transforms of Winograd's F(2x2, 3x3) for the CPU's interval 3x3
// convolution (cpu/interval_conv2d_winograd_cpu.cpp), vectorized along the
// paired channel axis: every element is a (center, radius) pair's half, and
// the transforms are linear, so center and radius go through them side by
// side. Included by interval_gemm_simd.h inside its SIMD namespace (Simd<T,
// Bytes> is defined there); the same ODR rule holds: no inline library
// functions.
//
//   V = B^T d B   (d: a 4 x 4 input patch)    B^T = [1  0 -1  0]
//                                                   [0  1  1  0]
//                                                   [0 -1  1  0]
//                                                   [0  1  0 -1]
//   Y = A^T M A   (M: the 4 x 4 products)     A^T = [1  1  1  0]
//                                                   [0  1 -1 -1]
// Every coefficient is 0 or +-1: the transforms are additions only.
// F(4x4, 3x3) (6 x 6 patches, 36 products per 4 x 4 outputs) and F(2x2, 2x2)
// (the stride-2 4x4 path) follow below.

// The 16 transformed values of one patch, n elements each (n = 2 * channels):
// patch element (i, j) at x + i * row + j * px, value xi = 4 * i + j at v + xi * vs.
template <typename T, int Bytes>
void wino_input_tile(const T* x, int64_t row, int64_t px, int64_t n, T* v, int64_t vs) {
  using S = Simd<T, Bytes>;
  using Vec = typename S::V;
  constexpr int L = S::L;
  const int64_t nv = n - n % L;
  for (int64_t e = 0; e < nv; e += L) {
    Vec t[4][4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const Vec d0 = S::load(x + j * px + e), d1 = S::load(x + row + j * px + e);
      const Vec d2 = S::load(x + 2 * row + j * px + e), d3 = S::load(x + 3 * row + j * px + e);
      t[0][j] = d0 - d2;
      t[1][j] = d1 + d2;
      t[2][j] = d2 - d1;
      t[3][j] = d1 - d3;
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const Vec o[4] = {t[i][0] - t[i][2], t[i][1] + t[i][2], t[i][2] - t[i][1], t[i][1] - t[i][3]};
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) __builtin_memcpy(v + (4 * i + j) * vs + e, &o[j], sizeof(Vec));
    }
  }
  for (int64_t e = nv; e < n; ++e) {
    T t[4][4];
    for (int j = 0; j < 4; ++j) {
      const T d0 = x[j * px + e], d1 = x[row + j * px + e], d2 = x[2 * row + j * px + e],
              d3 = x[3 * row + j * px + e];
      t[0][j] = d0 - d2;
      t[1][j] = d1 + d2;
      t[2][j] = d2 - d1;
      t[3][j] = d1 - d3;
    }
    for (int i = 0; i < 4; ++i) {
      v[(4 * i) * vs + e] = t[i][0] - t[i][2];
      v[(4 * i + 1) * vs + e] = t[i][1] + t[i][2];
      v[(4 * i + 2) * vs + e] = t[i][2] - t[i][1];
      v[(4 * i + 3) * vs + e] = t[i][1] - t[i][3];
    }
  }
}

template <typename T, typename Vec, int... I>
static void wino_unpair(Vec a, Vec b, T* c, T* r, bool nonneg_r, std::integer_sequence<int, I...>) {
  const Vec cv = __builtin_shufflevector(a, b, (2 * I)...);
  Vec rv = __builtin_shufflevector(a, b, (2 * I + 1)...);
  if (nonneg_r) rv = rv < Vec{} ? Vec{} : rv;
  __builtin_memcpy(c, &cv, sizeof(Vec));
  __builtin_memcpy(r, &rv, sizeof(Vec));
}

// Stores the 2 x 2 outputs of L channels from o0 on, given as (center,
// radius) pairs in two vectors per output (y[half][q]); see wino_output_tile.
template <typename T, typename Vec, int... I>
static void wino_store(const Vec (&y)[2][4], int64_t o0, T* const* dc, T* const* dr, int64_t O, int64_t cs,
                       bool nonneg_r, std::integer_sequence<int, I...> seq) {
  constexpr int L = sizeof...(I);
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    if (!dc[q]) continue;
    if (cs == 1 && o0 + L <= O) {
      wino_unpair(y[0][q], y[1][q], dc[q] + o0, dr[q] + o0, nonneg_r, seq);
      continue;
    }
    for (int i = 0; i < L && o0 + i < O; ++i) {
      const Vec& v = y[(2 * i) / L][q];
      dc[q][(o0 + i) * cs] = v[(2 * i) % L];
      const T rad = v[(2 * i + 1) % L];
      dr[q][(o0 + i) * cs] = nonneg_r && rad < T(0) ? T(0) : rad;
    }
  }
}

// Row a of a 2 x 2 tile's outputs, NCHW (outputs b = 0, 1 of channel o at
// dc[o * cs + b]: adjacent), both inside and L channels from o0 on: y[half]
// [2 a + b] interleaved, so that each channel's 2 centers, and its 2 radii,
// leave as one store each, not element by element (as wino_store_row4 for
// F(4x4, 3x3)). Medians of 3 runs, the extension swapped old / new between
// processes, NCHW, B = 8, session 24: F(2x2, 3x3) 32->64 on 14x14 1.08x,
// 64->64 on 8x8 1.04x; F(2x2, 2x2) (4x4 s2) 32->32 on 28x28 1.07x, 64->64 on
// 14x14 1.08x, 32->32 on 32x32 1.04x.
// Lane e of a half: channel o0 + h L / 2 + e / 2, center (e even) or radius.
template <typename T, typename Vec, int... I>
static void wino_store_row2(const Vec (&y)[2][4], int a, int64_t o0, T* dc, T* dr, int64_t cs, bool nonneg_r,
                            std::integer_sequence<int, I...>) {
  constexpr int L = sizeof...(I);
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    Vec y0 = y[h][2 * a], y1 = y[h][2 * a + 1];
    if (nonneg_r) {  // the radius lanes (odd) at 0 or above
      const Vec c0 = y0 < Vec{} ? Vec{} : y0, c1 = y1 < Vec{} ? Vec{} : y1;
      y0 = __builtin_shufflevector(y0, c0, (I % 2 ? L + I : I)...);
      y1 = __builtin_shufflevector(y1, c1, (I % 2 ? L + I : I)...);
    }
    const Vec z[2] = {__builtin_shufflevector(y0, y1, ((I % 2 ? L : 0) + I / 2)...),
                      __builtin_shufflevector(y0, y1, ((I % 2 ? L : 0) + L / 2 + I / 2)...)};
#pragma GCC unroll 16
    for (int e = 0; e < L; ++e) {
      const int64_t o = o0 + h * L / 2 + e / 2;
      __builtin_memcpy((e % 2 ? dr : dc) + o * cs, reinterpret_cast<const T*>(&z[e / (L / 2)]) + 2 * (e % (L / 2)),
                       2 * sizeof(T));
    }
  }
}

// wino_store, or on NCHW outputs whose tile is whole (every output inside)
// and L channels from o0 on, wino_store_row2 for both rows.
template <typename T, typename Vec, int... I>
static void wino_store_tile(const Vec (&y)[2][4], int64_t o0, T* const* dc, T* const* dr, int64_t O, int64_t cs,
                            bool nonneg_r, std::integer_sequence<int, I...> seq) {
  if (cs != 1 && dc[3] && o0 + int64_t(sizeof...(I)) <= O) {
    wino_store_row2(y, 0, o0, dc[0], dr[0], cs, nonneg_r, seq);
    wino_store_row2(y, 1, o0, dc[2], dr[2], cs, nonneg_r, seq);
    return;
  }
  wino_store(y, o0, dc, dr, O, cs, nonneg_r, seq);
}

// The 2 x 2 outputs of one tile from its 16 products (value xi at m + xi *
// ms), n paired elements each (n = 2 * padded channels, a multiple of 2 * L),
// plus `bias` ([n], (bias, 0) pairs, or nullptr), stored unpaired: output q =
// 2 * a + b (a, b in {0, 1}) of channel o at dc[q][o * cs] (center) and
// dr[q][o * cs] (radius), for o < O; dc[q] == nullptr skips output q (past
// the output's edge). Channels-last outputs (cs == 1) take whole vectors:
// each pair of product vectors is split into a center and a radius vector
// by two shuffles (a scalar scatter after the transform cost about as much as
// the transform itself: perf, 5% of a B = 50 call).
// nonneg_r (the caller's input radius is >= 0 everywhere) clamps the radius
// at 0: the transformed radius patch and filters have both signs, so an
// output whose true radius is 0 next to large radii can round to a small
// negative value (-2e-4 with radii of 1e3), which the direct sums of
// non-negative terms never do.
template <typename T, int Bytes>
void wino_output_tile(const T* m, int64_t ms, int64_t n, const T* bias, T* const* dc, T* const* dr, int64_t O,
                      int64_t cs, bool nonneg_r) {
  using S = Simd<T, Bytes>;
  using Vec = typename S::V;
  constexpr int L = S::L;
  for (int64_t e = 0; e < n; e += 2 * L) {
    Vec y[2][4];  // [half of the 2L elements][output q]
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const T* mh = m + e + h * L;
      Vec s[2][4];
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        const Vec m0 = S::load(mh + j * ms), m1 = S::load(mh + (4 + j) * ms);
        const Vec m2 = S::load(mh + (8 + j) * ms), m3 = S::load(mh + (12 + j) * ms);
        s[0][j] = m0 + m1 + m2;
        s[1][j] = m1 - m2 - m3;
      }
      const Vec b = bias ? S::load(bias + e + h * L) : Vec{};
#pragma GCC unroll 2
      for (int a = 0; a < 2; ++a) {
        y[h][2 * a] = s[a][0] + s[a][1] + s[a][2] + b;
        y[h][2 * a + 1] = s[a][1] - s[a][2] - s[a][3] + b;
      }
    }
    wino_store_tile(y, e / 2, dc, dr, O, cs, nonneg_r, std::make_integer_sequence<int, L>{});
  }
}

// ---- F(2x2, 2x2), for 4x4 stride-2 convolutions taken apart into their four
// stride phases (cpu/interval_conv2d_winograd_cpu.cpp): 9 products per tile
// instead of 16.
//   B^T = [1 -1  0]    G = [1 0]    A^T = [1 1 0]
//         [0  1  0]        [1 1]          [0 1 1]
//         [0 -1  1]        [0 1]
// (y0 = (d0 - d1) g0 + d1 (g0 + g1), y1 = d1 (g0 + g1) + (d2 - d1) g1.)

// The 9 transformed values of one 3 x 3 patch: element (i, j) at x + i * row
// + j * px, value xi = 3 * i + j at v + xi * vs.
template <typename T, int Bytes>
void wino22_input_tile(const T* x, int64_t row, int64_t px, int64_t n, T* v, int64_t vs) {
  using S = Simd<T, Bytes>;
  using Vec = typename S::V;
  constexpr int L = S::L;
  const int64_t nv = n - n % L;
  for (int64_t e = 0; e < nv; e += L) {
    Vec t[3][3];
#pragma GCC unroll 3
    for (int j = 0; j < 3; ++j) {
      const Vec d0 = S::load(x + j * px + e), d1 = S::load(x + row + j * px + e);
      const Vec d2 = S::load(x + 2 * row + j * px + e);
      t[0][j] = d0 - d1;
      t[1][j] = d1;
      t[2][j] = d2 - d1;
    }
#pragma GCC unroll 3
    for (int i = 0; i < 3; ++i) {
      const Vec o[3] = {t[i][0] - t[i][1], t[i][1], t[i][2] - t[i][1]};
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) __builtin_memcpy(v + (3 * i + j) * vs + e, &o[j], sizeof(Vec));
    }
  }
  for (int64_t e = nv; e < n; ++e) {
    T t[3][3];
    for (int j = 0; j < 3; ++j) {
      const T d0 = x[j * px + e], d1 = x[row + j * px + e], d2 = x[2 * row + j * px + e];
      t[0][j] = d0 - d1;
      t[1][j] = d1;
      t[2][j] = d2 - d1;
    }
    for (int i = 0; i < 3; ++i) {
      v[(3 * i) * vs + e] = t[i][0] - t[i][1];
      v[(3 * i + 1) * vs + e] = t[i][1];
      v[(3 * i + 2) * vs + e] = t[i][2] - t[i][1];
    }
  }
}

// The 2 x 2 outputs of one tile from its 9 products (value xi at m + xi * ms);
// the rest as wino_output_tile.
template <typename T, int Bytes>
void wino22_output_tile(const T* m, int64_t ms, int64_t n, const T* bias, T* const* dc, T* const* dr, int64_t O,
                        int64_t cs, bool nonneg_r) {
  using S = Simd<T, Bytes>;
  using Vec = typename S::V;
  constexpr int L = S::L;
  for (int64_t e = 0; e < n; e += 2 * L) {
    Vec y[2][4];
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const T* mh = m + e + h * L;
      Vec s[2][3];
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        const Vec m0 = S::load(mh + j * ms), m1 = S::load(mh + (3 + j) * ms), m2 = S::load(mh + (6 + j) * ms);
        s[0][j] = m0 + m1;
        s[1][j] = m1 + m2;
      }
      const Vec b = bias ? S::load(bias + e + h * L) : Vec{};
#pragma GCC unroll 2
      for (int a = 0; a < 2; ++a) {
        y[h][2 * a] = s[a][0] + s[a][1] + b;
        y[h][2 * a + 1] = s[a][1] + s[a][2] + b;
      }
    }
    wino_store_tile(y, e / 2, dc, dr, O, cs, nonneg_r, std::make_integer_sequence<int, L>{});
  }
}

// ---- F(4x4, 3x3), for 3x3 stride-1 convolutions with larger outputs: each
// 4 x 4 block of outputs from a 6 x 6 input patch, 36 products per channel
// pair instead of 144 (4x fewer multiply-adds, against F(2x2, 3x3)'s 2.25x),
// and one 6 x 6 transform per 16 outputs instead of a 4 x 4 one per 4.
// The interpolation points 0, +-1, +-2 (Lavin & Gray; NNPACK's choice):
//   B^T = [4  0 -5  0  1  0]    A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]          [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]          [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]          [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]
//         [0  4  0 -5  0  1]
// (G, the filters' 6 x 3 transform, in cpu/interval_conv2d_winograd_cpu.cpp.)
// Coefficients up to 8: the rounding error grows with them (relative to the
// patch's magnitudes, about 4-8x F(2x2, 3x3)'s in float32), which is why the
// smaller form stays for the layers where the larger does not pay.

// r = B^T d of one column (or row) d of a patch; V a vector or a scalar.
template <typename T, typename V>
static void wino43_bt(const V (&d)[6], V (&r)[6]) {
  const V t1 = d[4] - T(4) * d[2], t2 = d[3] - T(4) * d[1];
  const V t3 = d[4] - d[2], t4 = T(2) * (d[3] - d[1]);
  r[0] = T(4) * d[0] - T(5) * d[2] + d[4];
  r[1] = t1 + t2;
  r[2] = t1 - t2;
  r[3] = t3 + t4;
  r[4] = t3 - t4;
  r[5] = T(4) * d[1] - T(5) * d[3] + d[5];
}

// y = A^T m of one column (or row) m of the products.
template <typename T, typename V>
static void wino43_at(const V (&m)[6], V (&y)[4]) {
  const V p = m[1] + m[2], q = m[1] - m[2], s = m[3] + m[4], t = m[3] - m[4];
  y[0] = m[0] + p + s;
  y[1] = q + T(2) * t;
  y[2] = p + T(4) * s;
  y[3] = q + T(8) * t + m[5];
}

// The 36 transformed values of one 6 x 6 patch: element (i, j) at x + i * row
// + j * px, value xi = 6 * i + j at v + xi * vs.
template <typename T, int Bytes>
void wino43_input_tile(const T* x, int64_t row, int64_t px, int64_t n, T* v, int64_t vs) {
  using S = Simd<T, Bytes>;
  using Vec = typename S::V;
  constexpr int L = S::L;
  const int64_t nv = n - n % L;
  for (int64_t e = 0; e < nv; e += L) {
    Vec t[6][6];  // [transformed row][column]
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      Vec d[6], r[6];
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) d[i] = S::load(x + i * row + j * px + e);
      wino43_bt<T>(d, r);
#pragma GCC unroll 6
      for (int i = 0; i < 6; ++i) t[i][j] = r[i];
    }
#pragma GCC unroll 6
    for (int i = 0; i < 6; ++i) {
      Vec o[6];
      wino43_bt<T>(t[i], o);
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) __builtin_memcpy(v + (6 * i + j) * vs + e, &o[j], sizeof(Vec));
    }
  }
  for (int64_t e = nv; e < n; ++e) {
    T t[6][6];
    for (int j = 0; j < 6; ++j) {
      T d[6], r[6];
      for (int i = 0; i < 6; ++i) d[i] = x[i * row + j * px + e];
      wino43_bt<T>(d, r);
      for (int i = 0; i < 6; ++i) t[i][j] = r[i];
    }
    for (int i = 0; i < 6; ++i) {
      T o[6];
      wino43_bt<T>(t[i], o);
      for (int j = 0; j < 6; ++j) v[(6 * i + j) * vs + e] = o[j];
    }
  }
}

// Shuffle indices of wino_store_row4's 4 x L transpose, per block of 4
// lanes (k = 4 j + p): unpacklo/unpackhi interleave two rows' lanes 0,1 /
// 2,3 of the block; quad 0/1 take lanes 0,1 / 2,3 of two such results.
static constexpr int wino_unpack_idx(int k, int L, int hi) { return (k % 2 ? L : 0) + k / 4 * 4 + 2 * hi + k % 4 / 2; }
static constexpr int wino_quad_idx(int k, int L, int hi) { return (k % 4 >= 2 ? L : 0) + k / 4 * 4 + 2 * hi + k % 2; }

// A row of 4 outputs, NCHW (output b of channel o at dc[o * cs + b]: four
// adjacent elements per channel), all inside and L channels from o0 on: y
// ([half][b], paired lanes) transposed 4 x L per half, so that each channel's
// 4 centers, and its 4 radii, leave as one 4-element store. (Element by
// element, wino_store's NCHW branch, the stores were 23% of a 32->32 3x3
// call on 32x32 at B = 8 by F(4x4, 3x3), perf, session 24.) Lane e = 4 j + m
// of the half ends up in quad m's block j; it holds channel e / 2's center
// (m even) or radius (m odd).
template <typename T, typename Vec, int... I>
static void wino_store_row4(const Vec (&y)[2][4], int64_t o0, T* dc, T* dr, int64_t cs, bool nonneg_r,
                            std::integer_sequence<int, I...>) {
  constexpr int L = sizeof...(I);
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {
    const Vec t0 = __builtin_shufflevector(y[h][0], y[h][1], wino_unpack_idx(I, L, 0)...);
    const Vec t1 = __builtin_shufflevector(y[h][0], y[h][1], wino_unpack_idx(I, L, 1)...);
    const Vec t2 = __builtin_shufflevector(y[h][2], y[h][3], wino_unpack_idx(I, L, 0)...);
    const Vec t3 = __builtin_shufflevector(y[h][2], y[h][3], wino_unpack_idx(I, L, 1)...);
    Vec u[4] = {__builtin_shufflevector(t0, t2, wino_quad_idx(I, L, 0)...),
                __builtin_shufflevector(t0, t2, wino_quad_idx(I, L, 1)...),
                __builtin_shufflevector(t1, t3, wino_quad_idx(I, L, 0)...),
                __builtin_shufflevector(t1, t3, wino_quad_idx(I, L, 1)...)};
    if (nonneg_r) {
      u[1] = u[1] < Vec{} ? Vec{} : u[1];
      u[3] = u[3] < Vec{} ? Vec{} : u[3];
    }
#pragma GCC unroll 4
    for (int m = 0; m < 4; ++m)
#pragma GCC unroll 4
      for (int j = 0; j < L / 4; ++j) {
        const int64_t o = o0 + h * L / 2 + 2 * j + m / 2;
        __builtin_memcpy((m % 2 ? dr : dc) + o * cs, reinterpret_cast<const T*>(&u[m]) + 4 * j, 4 * sizeof(T));
      }
  }
}

// The 4 x 4 outputs of one tile from its 36 products (value xi at m + xi *
// ms): output q = 4 * a + b at dc[q], dr[q]; the rest as wino_output_tile.
// Stored a row of 4 outputs at a time (wino_store's 4, or wino_store_row4's
// transposed stores: the caller's NCHW pointers of a row are adjacent, dc[q + 1]
// = dc[q] + 1, whenever the row's last output is inside).
template <typename T, int Bytes>
void wino43_output_tile(const T* m, int64_t ms, int64_t n, const T* bias, T* const* dc, T* const* dr, int64_t O,
                        int64_t cs, bool nonneg_r) {
  using S = Simd<T, Bytes>;
  using Vec = typename S::V;
  constexpr int L = S::L;
  for (int64_t e = 0; e < n; e += 2 * L) {
    Vec y[4][2][4];  // [output row a][half of the 2L elements][output column b]
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const T* mh = m + e + h * L;
      Vec s[4][6];  // A^T M: [a][column j]
#pragma GCC unroll 6
      for (int j = 0; j < 6; ++j) {
        Vec c[6], r[4];
#pragma GCC unroll 6
        for (int i = 0; i < 6; ++i) c[i] = S::load(mh + (6 * i + j) * ms);
        wino43_at<T>(c, r);
#pragma GCC unroll 4
        for (int a = 0; a < 4; ++a) s[a][j] = r[a];
      }
      const Vec b = bias ? S::load(bias + e + h * L) : Vec{};
#pragma GCC unroll 4
      for (int a = 0; a < 4; ++a) {
        Vec r[4];
        wino43_at<T>(s[a], r);
#pragma GCC unroll 4
        for (int bb = 0; bb < 4; ++bb) y[a][h][bb] = r[bb] + b;
      }
    }
#pragma GCC unroll 4
    for (int a = 0; a < 4; ++a) {
      // NCHW with the row's 4 outputs inside (adjacent) and L whole channels: transposed stores.
      if constexpr (L % 4 == 0)
        if (cs != 1 && dc[4 * a + 3] && e / 2 + L <= O) {
          wino_store_row4(y[a], e / 2, dc[4 * a], dr[4 * a], cs, nonneg_r, std::make_integer_sequence<int, L>{});
          continue;
        }
      wino_store(y[a], e / 2, dc + 4 * a, dr + 4 * a, O, cs, nonneg_r, std::make_integer_sequence<int, L>{});
    }
  }
}
