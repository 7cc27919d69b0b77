// interval_conv2d's Winograd path on the CPU, for 3x3 stride-1 convolutions:
// F(2x2, 3x3) or F(4x4, 3x3) (winograd_tile; common/winograd_simd.h has
// both). F(2x2, 3x3) (Lavin & Gray, 2016) computes each 2 x 2 block of outputs
// ("tile") from a 4 x 4 input patch with 16 products per channel pair
// instead of 36, so the multiply-adds drop 2.25x. Per tile:
//
//   V = B^T d B  (the patch, transformed)       U = G g G^T  (each 3 x 3 filter)
//   M[xi] = sum_c V[xi, c] * U[xi, c, o]        (16 independent products, xi = 0..15)
//   Y = A^T M A  (the 2 x 2 outputs)
//
// The transforms are linear, so center and radius go through them alike;
// only the filters differ: U from W for the center, Ua = G |W| G^T (not |U|)
// for the radius, so that both products are exactly the direct ones'
// (conv(c, W), conv(r, |W|)) up to float rounding. Center and radius stay
// paired in adjacent elements throughout ([.., channel, 2], as in the direct
// path), so the 16 products are 16 runs of the direct kernel's micro-kernel
// (interval_direct_conv_span) with the channels as taps: one (center, radius)
// broadcast feeds both products, each (U, Ua) vector pair is loaded once.
//
// Rounding: B and A hold only 0 and +-1, G only 0, +-1/2 and 1, so the
// transforms add and halve. But the transformed radius patch has both signs,
// so the radius's rounding error scales with the patch's radii, not with the
// output's own (the direct path sums non-negative terms, its error is
// relative to the result): an output whose true radius is 0 beside radii of
// 1e3 came out as -2e-4. (F(4x4, 3x3), below, the same with 6 x 6 patches,
// 36 products per 16 outputs: its B holds up to +-5, A up to +-8, G 1/4,
// 1/6, 1/12, 1/24, and its rounding is about 10x F(2x2, 3x3)'s, a few 1e-6
// of the outputs' scale in float32.) For a non-negative input radius (every IBP box) the
// radius is therefore clamped at 0, which can only move it toward the truth;
// the absolute error left is of the order of the center's, which no path
// rounds outward either. (Tests: the reference at the other paths'
// tolerance, box points at float32 rounding, and radii >= 0 on sparse boxes.)
//
// 4x4 stride-2 convolutions (the MixTrain nets' downsampling layers) take
// the same road after a change of variables: with kernel rows i = 2a + ph
// and columns j = 2b + pw,
//   out[y, x] = sum over (ph, pw) of sum over a, b < 2 of
//               xpad[2 (y + a) + ph, 2 (x + b) + pw] * W[2a + ph, 2b + pw],
// a 2x2 stride-1 convolution over the input's four stride phases (4 C
// channels, the phase-(ph, pw) pixels of the padded input). F(2x2, 2x2)
// computes each 2 x 2 block of it with 9 products per channel instead of 16;
// the phases are the taps' outer index, so the 9 products are again runs of
// the direct micro-kernel, with 4 C taps.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/interval_conv2d_cpu.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {

bool winograd_applies(const ConvGeometry& g) {
  const bool f23 = g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1;
  const bool f22_phased = g.kh == 4 && g.kw == 4 && g.stride[0] == 2 && g.stride[1] == 2;
  return (f23 || f22_phased) && g.dilation[0] == 1 && g.dilation[1] == 1 && g.groups == 1;
}

// F(4x4, 3x3) or F(2x2, 3x3) for a 3x3 stride-1 layer: 4 or 2 outputs per
// tile side. MIXTRAIN_CPU_WINOGRAD_TILE=2|4 forces one (tests, A/B runs).
// F(4x4, 3x3) does 4x fewer multiply-adds than the direct sums against
// F(2x2, 3x3)'s 2.25x and a 6 x 6 transform per 16 outputs instead of a 4 x 4
// one per 4, but its filters are 36 values instead of 16 (transformed on
// every call, and read by every product), which only many tiles repay.
// Session 24, 2-core AVX2 (AMD EPYC), cpu_conv_paths.py --tile-ab, both
// layouts, two runs each, F43 / F23 time:
//  - from 128 tiles of 4 x 4: 16..64 channels on 16x16 and 32x32 at B = 8
//    0.67-0.92 (32->32 on 32x32 0.67-0.74), 64->64 and 128->128 on 8x8 at
//    B = 32 0.70-0.79, 32->64 on 16x16 at B = 32 0.74-0.79;
//  - fewer tiles lose or draw: 8x8 at B = 8 (32 tiles) 0.88-1.50 (128 ch.)
//    and 0.93-1.17 (64 ch.), 16x16 at B = 1 (16) 0.91-1.28, 32x32 at B = 1
//    (64) 0.95-1.28, 4x4 (one tile) 1.60-1.82;
//  - outputs not a multiple of 4, whose last tiles are part empty: 32->64 on
//    14x14 at B = 8 1.04-1.07, at B = 32 0.96-0.99 (a draw).
// NCHW outputs, since F(4x4, 3x3) stores them by rows of 4 (wino_store_row4;
// F(2x2, 3x3) still element by element): 32-128 channels from 32 tiles,
// 0.81-0.88 on 16x16 at B = 2, 8x8 at B = 8 and 32x32 at B = 1 (32->32 on
// 16x16 at B = 2 1.04, a draw), 0.85-1.10 at 16 tiles; 16 channels (16->16
// on 32x32 at B = 1, 64 tiles: 0.94, but the direct path 1.17x faster) from 128.
int64_t winograd_tile(const ConvGeometry& g, bool nhwc, bool forced) {
  if (const char* e = forced ? std::getenv("MIXTRAIN_CPU_WINOGRAD_TILE") : nullptr) {
    if (std::strcmp(e, "2") == 0) return 2;
    if (std::strcmp(e, "4") == 0) return 4;
  }
  if (g.out_h % 4 != 0 || g.out_w % 4 != 0) return 2;
  const int64_t tiles = g.batch * (g.out_h / 4) * (g.out_w / 4);
  return tiles >= 128 || (!nhwc && g.channels >= 32 && tiles >= 32) ? 4 : 2;
}

namespace {

// The filter transforms, for up to 16 filters at once: filter i's element e
// at k[e * 16 + i] (row-major), value xi at u[xi * 16 + i]. Loops over the
// filters innermost, which the compiler vectorizes (one filter at a time,
// the transforms were about half of a 128->128 call at B = 1: perf, session
// 23).
// U = G k G^T of 3 x 3 filters k, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <typename T>
void filter_transform_lanes(const T* k, T* u, int n) {
  T t[4][3][16];
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < n; ++i) {
      const T a = k[j * 16 + i], b = k[(3 + j) * 16 + i], c = k[(6 + j) * 16 + i];
      t[0][j][i] = a;
      t[1][j][i] = T(0.5) * (a + b + c);
      t[2][j][i] = T(0.5) * (a - b + c);
      t[3][j][i] = c;
    }
  for (int r = 0; r < 4; ++r)
    for (int i = 0; i < n; ++i) {
      const T a = t[r][0][i], b = t[r][1][i], c = t[r][2][i];
      u[(4 * r) * 16 + i] = a;
      u[(4 * r + 1) * 16 + i] = T(0.5) * (a + b + c);
      u[(4 * r + 2) * 16 + i] = T(0.5) * (a - b + c);
      u[(4 * r + 3) * 16 + i] = c;
    }
}

// U = G k G^T of 3 x 3 filters k for F(4x4, 3x3), value xi = 6 * r + c at
// u[xi * 16 + i], with
//   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1].
// Filters innermost, as above, and products by 1/6 (no divisions: with them,
// one filter at a time, the transforms took more than half of a 128->128
// call on 8x8 at B = 1).
template <typename T>
void filter_transform43_lanes(const T* k, T* u, int n) {
  const T sixth = T(1) / T(6);
  T t[6][3][16];
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < n; ++i) {
      const T a = k[j * 16 + i], b = k[(3 + j) * 16 + i], c = k[(6 + j) * 16 + i];
      t[0][j][i] = T(0.25) * a;
      t[1][j][i] = -sixth * (a + b + c);
      t[2][j][i] = -sixth * (a - b + c);
      t[3][j][i] = sixth * (T(0.25) * a + T(0.5) * b + c);
      t[4][j][i] = sixth * (T(0.25) * a - T(0.5) * b + c);
      t[5][j][i] = c;
    }
  for (int r = 0; r < 6; ++r)
    for (int i = 0; i < n; ++i) {
      const T a = t[r][0][i], b = t[r][1][i], c = t[r][2][i];
      u[(6 * r) * 16 + i] = T(0.25) * a;
      u[(6 * r + 1) * 16 + i] = -sixth * (a + b + c);
      u[(6 * r + 2) * 16 + i] = -sixth * (a - b + c);
      u[(6 * r + 3) * 16 + i] = sixth * (T(0.25) * a + T(0.5) * b + c);
      u[(6 * r + 4) * 16 + i] = sixth * (T(0.25) * a - T(0.5) * b + c);
      u[(6 * r + 5) * 16 + i] = c;
    }
}

// U = G k G^T of 2 x 2 filters k, G = [1 0; 1 1; 0 1].
template <typename T>
void filter_transform22_lanes(const T* k, T* u, int n) {
  for (int i = 0; i < n; ++i) {
    const T k0 = k[i], k1 = k[16 + i], k2 = k[32 + i], k3 = k[48 + i];
    const T t[3][2] = {{k0, k1}, {k0 + k2, k1 + k3}, {k2, k3}};
    for (int r = 0; r < 3; ++r) {
      u[(3 * r) * 16 + i] = t[r][0];
      u[(3 * r + 1) * 16 + i] = t[r][0] + t[r][1];
      u[(3 * r + 2) * 16 + i] = t[r][1];
    }
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> interval_conv2d_winograd(const at::Tensor& center, const at::Tensor& radius,
                                                            const at::Tensor& weight,
                                                            const c10::optional<at::Tensor>& bias,
                                                            const ConvGeometry& g) {
  const at::MemoryFormat fmt = cpu_box_format(center);
  const bool nhwc = fmt == at::MemoryFormat::ChannelsLast;
  at::Tensor oc = empty_in_format({g.batch, g.out_channels, g.out_h, g.out_w}, center.options(), fmt);
  at::Tensor orad = at::empty_like(oc);
  if (oc.numel() == 0) return {oc, orad};
  const int64_t C = g.channels, O = g.out_channels, L = g.out_h * g.out_w;
  // F(2x2, 3x3) or F(4x4, 3x3) for 3x3 stride 1 (winograd_tile), F(2x2, 2x2)
  // over the stride phases for 4x4 stride 2.
  const bool phased = g.kh == 4;
  const int64_t m = phased ? 2 : winograd_tile(g, nhwc);             // outputs per tile side
  const int64_t alpha = phased ? 3 : m + 2, nx = alpha * alpha;  // patch side, products per tile
  const int64_t phases = phased ? 4 : 1, K = phases * C;        // the products' taps
  // Tiles cover the output; a last row or column of tiles past the output's
  // edge reads up to m - 1 (3x3) or two (4x4 stride 2) more zero rows or
  // columns of input than the padding gives (pad_interleave), and the copy is
  // at least the padded input's size.
  const int64_t th = (g.out_h + m - 1) / m, tw = (g.out_w + m - 1) / m, tiles = th * tw;
  const int64_t step = phased ? 4 : m;  // input rows from one tile to the next
  const int64_t hp = std::max(step * th + 2, g.height + 2 * g.padding[0]);
  const int64_t wp = std::max(step * tw + 2, g.width + 2 * g.padding[1]);
  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(center.scalar_type(), "interval_conv2d_winograd", [&] {
    const int64_t lanes = interval_simd_lanes(std::is_same<scalar_t, double>::value);
    const int64_t op = (O + lanes - 1) / lanes * lanes;
    // The filters, [nx, op / lanes, K, 2 * lanes]: (U, Ua) per output channel,
    // in panels of `lanes` channels (what the micro-kernel's register block
    // reads, tap after tap: IntervalDirectConv::wpanel), channels padded to
    // whole vectors with zeros; tap k = phase * C + c. (MIXTRAIN_CPU_CONV_PANELS=0:
    // [nx, K, op, 2], the layout before: the products ran 1.03-1.13x slower,
    // 128->128 on 8x8 at B = 8 1.13x, 64->64 on 16x16 1.10x; 32->32 on 32x32
    // 0.98x, noise. Session 23, the path forced, the layouts alternating.)
    const bool panels = direct_weight_panels();
    at::Tensor ut = op > O ? at::zeros({nx * K * op * 2}, center.options())
                           : at::empty({nx * K * op * 2}, center.options());
    scalar_t* u = ut.data_ptr<scalar_t>();
    const scalar_t* ws = w.data_ptr<scalar_t>();
    // One task per (block of `lanes` output channels, tap): the block's
    // filters transformed into a local [nx, 2 * lanes] buffer, then each of
    // the nx rows copied whole -- one cache line of pairs in float on AVX2,
    // the lines of consecutive taps consecutive in panels. (Filter by
    // filter, each transform's 2 * nx values went to nx places 2 * K * op
    // elements apart, 128 KB at 128 channels, a new page each: about 1.1 ms of
    // a 128->128 call, the call at B = 1 1.3 ms against 0.16 ms per sample
    // more; session 23.)
    const int64_t oblocks = (O + lanes - 1) / lanes;
    TORCH_CHECK(lanes <= 16, "interval_conv2d (Winograd): the filter transforms hold at most 16 lanes, got ", lanes);
    at::parallel_for(0, oblocks * K, 16, [&](int64_t t0, int64_t t1) {
      std::vector<scalar_t> buf(nx * 2 * lanes);
      // [element][filter] (at most 16 lanes): the block's filters of tap k, W and |W|; their transforms.
      scalar_t fw[9 * 16], fa[9 * 16], uc[36 * 16], ua[36 * 16];
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t ob = t / K, k = t % K, o0 = ob * lanes;
        const int n = int(std::min<int64_t>(lanes, O - o0));
        const int64_t ph = k / C / 2, pw = k / C % 2, c = k % C;
        const int64_t taps = g.kh * g.kw;
        for (int i = 0; i < n; ++i) {
          const scalar_t* f = ws + ((o0 + i) * C + c) * taps;
          if (phased) {  // this phase's 2 x 2 filter: W[2a + ph, 2b + pw]
            for (int a = 0; a < 2; ++a)
              for (int bb = 0; bb < 2; ++bb) fw[(2 * a + bb) * 16 + i] = f[(2 * a + ph) * 4 + 2 * bb + pw];
          } else {
            for (int q = 0; q < 9; ++q) fw[q * 16 + i] = f[q];
          }
        }
        for (int q = 0; q < (phased ? 4 : 9); ++q)
          for (int i = 0; i < n; ++i) fa[q * 16 + i] = fw[q * 16 + i] < 0 ? -fw[q * 16 + i] : fw[q * 16 + i];
        if (phased) {
          filter_transform22_lanes(fw, uc, n);
          filter_transform22_lanes(fa, ua, n);
        } else if (m == 4) {
          filter_transform43_lanes(fw, uc, n);
          filter_transform43_lanes(fa, ua, n);
        } else {
          filter_transform_lanes(fw, uc, n);
          filter_transform_lanes(fa, ua, n);
        }
        for (int64_t xi = 0; xi < nx; ++xi)
          for (int i = 0; i < n; ++i) {
            buf[xi * 2 * lanes + 2 * i] = uc[xi * 16 + i];
            buf[xi * 2 * lanes + 2 * i + 1] = ua[xi * 16 + i];
          }
        // Channels o0.. of tap k, value xi: panels [nx, op / lanes, K, 2 * lanes], rows [nx, K, op, 2].
        const int64_t at = direct_weight_offset(panels, K, op, lanes, k, o0);
        for (int64_t xi = 0; xi < nx; ++xi)
          std::copy(buf.data() + xi * 2 * lanes, buf.data() + xi * 2 * lanes + 2 * n, u + xi * K * op * 2 + at);
      }
    });
    std::vector<scalar_t> bp(op * 2, 0);  // (bias, 0) per channel
    if (b.defined())
      for (int64_t o = 0; o < O; ++o) bp[2 * o] = b.data_ptr<scalar_t>()[o];
    std::vector<int64_t> off(K);  // the "taps" of the products: the channels of one tile
    for (int64_t k = 0; k < K; ++k) off[k] = 2 * k;

    // One task per (sample, span of at most S tiles). S bounds the buffers
    // (nx transformed patches and nx products per tile) while keeping each
    // (U, Ua) slice in use for many tiles; smaller spans where the chunk of samples (below) is
    // small, so that every thread gets several tasks.
    // (S at most 3072 * 16 / nx / (K + op): about 96K elements of scratch,
    // 384 KB in float32 -- up to 110K where the floor of 6 tiles binds, nx = 36
    // with K + op > 227; with 768 or 1536 instead of 3072 the 3x3 path timed
    // the same, within the noise.)
    const int64_t S_max = std::min<int64_t>(96, std::max<int64_t>(6, 3072 * 16 / nx / (K + op)));
    // Samples per copy of the input (pad_chunk_samples), each copy computed before the next is made.
    const int64_t chunk = pad_chunk_samples(g, hp, wp, sizeof(scalar_t));
    const int64_t want = std::max<int64_t>(1, (4 * at::get_num_threads() + chunk - 1) / chunk);
    const int64_t spans = std::max<int64_t>((tiles + S_max - 1) / S_max, std::min<int64_t>(want, tiles / 12));
    const int64_t S = (tiles + spans - 1) / spans;
    const int64_t per = (tiles + S - 1) / S;
    const int64_t row = wp * C * 2, px = C * 2;
    // Strides: V value xi of tile t at t * vt + xi * vx, M likewise. (Tile
    // by tile, [t, xi, ...], measured no faster: 0.93-1.14x, alternating.)
    // The nx slices of each are one 64-byte line more than S tiles apart:
    // exactly S * 2 * K or S * 2 * op elements (8 or 16 KB at 32 or 64
    // channels) apart, the 16 streams of a 3x3 transform fell into the same L1
    // sets (cifar_large conv3 at B = 50: 7.7 against 6.9 ms, alternating).
    const int64_t skew = 64 / int64_t(sizeof(scalar_t));
    const int64_t vt = 2 * K, vx = S * 2 * K + skew, mt = 2 * op, mx = S * 2 * op + skew;
    scalar_t* const oc_p = oc.data_ptr<scalar_t>();
    scalar_t* const or_p = orad.data_ptr<scalar_t>();
    const scalar_t* const bias_p = b.defined() ? bp.data() : nullptr;
    // Clamp the radius at 0 (see the top) only where the input's is >= 0: the
    // op also serves signed radii (linear-bound matrices), whose images may be
    // negative. The copy reports negative radii as it reads them (per copy:
    // these samples' outputs read only these samples' radii).
    for_each_padded_copy(center, radius, g, hp, wp, chunk, true, [&](const at::Tensor& xt, int64_t n0, int64_t nc,
                                                                     bool radius_negative) {
      const bool nonneg_r = !radius_negative;
      const scalar_t* x = xt.data_ptr<scalar_t>();
      at::parallel_for(0, nc * per, 1, [&](int64_t t0, int64_t t1) {
        // Scratch, written before it is read (no zero fill).
        std::unique_ptr<scalar_t[]> vb(new scalar_t[nx * vx]), mb(new scalar_t[nx * mx]);
        for (int64_t tt = t0; tt < t1; ++tt) {
          const int64_t ns = tt / per, n = n0 + ns;  // ns: the sample in the copy
          const int64_t first = (tt % per) * S, cnt = std::min(S, tiles - first);
          for (int64_t t = 0; t < cnt; ++t) {
            const int64_t ty = (first + t) / tw, tx = (first + t) % tw;
            const scalar_t* patch = x + (ns * hp + step * ty) * row + step * tx * px;
            if (!phased) {
              if (m == 4)
                wino43_input_tile(patch, row, px, 2 * C, vb.get() + t * vt, vx);
              else
                wino_input_tile(patch, row, px, 2 * C, vb.get() + t * vt, vx);
              continue;
            }
            // Phase (ph, pw): every other row and column, from (ph, pw) on.
            for (int64_t p = 0; p < 4; ++p)
              wino22_input_tile(patch + p / 2 * row + p % 2 * px, 2 * row, 2 * px, 2 * C,
                                vb.get() + t * vt + p * 2 * C, vx);
          }
          for (int64_t xi = 0; xi < nx; ++xi) {
            // The tiles as positions of a one-row "output" S wide, each tile's
            // channels as the taps: M[xi] = V[xi] (U[xi], Ua[xi]).
            IntervalDirectConv<scalar_t> d{vb.get() + xi * vx, off.data(), K, 0,
                                           u + xi * K * op * 2, nullptr, op, 1, 1, S,
                                           mb.get() + xi * mx};
            d.ps = vt;
            if (panels) d.wpanel = K * 2 * lanes;
            interval_direct_conv_span(d, 0, cnt);
          }
          for (int64_t t = 0; t < cnt; ++t) {
            const int64_t ty = (first + t) / tw, tx = (first + t) % tw;
            scalar_t *dc[16], *dr[16];  // output q = m * row + column of the tile
            for (int q = 0; q < m * m; ++q) {
              const int64_t oy = m * ty + q / m, ox = m * tx + q % m;
              const bool inside = oy < g.out_h && ox < g.out_w;
              // Channels-last: pixel (oy, ox)'s channels are contiguous; NCHW: L apart.
              const int64_t at = nhwc ? (n * L + oy * g.out_w + ox) * O : n * O * L + oy * g.out_w + ox;
              dc[q] = inside ? oc_p + at : nullptr;
              dr[q] = inside ? or_p + at : nullptr;
            }
            if (phased)
              wino22_output_tile(mb.get() + t * mt, mx, op * 2, bias_p, dc, dr, O, nhwc ? 1 : L, nonneg_r);
            else if (m == 4)
              wino43_output_tile(mb.get() + t * mt, mx, op * 2, bias_p, dc, dr, O, nhwc ? 1 : L, nonneg_r);
            else
              wino_output_tile(mb.get() + t * mt, mx, op * 2, bias_p, dc, dr, O, nhwc ? 1 : L, nonneg_r);
          }
        }
      });
    });
  });
  return {oc, orad};
}

}  // namespace mixtrain
