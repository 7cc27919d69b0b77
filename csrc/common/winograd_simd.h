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
    wino_store(y, e / 2, dc, dr, O, cs, nonneg_r, std::make_integer_sequence<int, L>{});
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
    wino_store(y, e / 2, dc, dr, O, cs, nonneg_r, std::make_integer_sequence<int, L>{});
  }
}
