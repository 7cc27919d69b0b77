// interval_conv2d's Winograd path on the CPU, for 3x3 stride-1 convolutions:
// F(2x2, 3x3) (Lavin & Gray, 2016) computes each 2 x 2 block of outputs
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
// transforms add and halve; the error is a small multiple of the direct
// convolution's (tests compare both with the reference at the same tolerance).
#include <ATen/Parallel.h>

#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/interval_conv2d_cpu.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {

bool winograd_applies(const ConvGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.stride[0] == 1 && g.stride[1] == 1 && g.dilation[0] == 1 &&
         g.dilation[1] == 1 && g.groups == 1;
}

namespace {

// U = G k G^T of one 3 x 3 filter k (row-major), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <typename T>
void filter_transform(const T k[9], T u[16]) {
  T t[4][3];
  for (int j = 0; j < 3; ++j) {
    t[0][j] = k[j];
    t[1][j] = T(0.5) * (k[j] + k[3 + j] + k[6 + j]);
    t[2][j] = T(0.5) * (k[j] - k[3 + j] + k[6 + j]);
    t[3][j] = k[6 + j];
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = t[i][0];
    u[4 * i + 1] = T(0.5) * (t[i][0] + t[i][1] + t[i][2]);
    u[4 * i + 2] = T(0.5) * (t[i][0] - t[i][1] + t[i][2]);
    u[4 * i + 3] = t[i][2];
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
  // Tiles cover the output; an odd last row or column of outputs reads one
  // more zero row or column of input than the padding gives (pad_interleave).
  const int64_t th = (g.out_h + 1) / 2, tw = (g.out_w + 1) / 2, tiles = th * tw;
  const int64_t hp = 2 * th + 2, wp = 2 * tw + 2;
  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();

  AT_DISPATCH_FLOATING_TYPES(center.scalar_type(), "interval_conv2d_winograd", [&] {
    const at::Tensor xt = pad_interleave(center, radius, g, hp, wp);
    const scalar_t* x = xt.data_ptr<scalar_t>();
    const int64_t lanes = interval_simd_lanes(std::is_same<scalar_t, double>::value);
    const int64_t op = (O + lanes - 1) / lanes * lanes;
    // The filters, [16, C, op, 2]: (U, Ua) per output channel, channels padded
    // to whole vectors with zeros.
    at::Tensor ut = op > O ? at::zeros({16 * C * op * 2}, center.options())
                           : at::empty({16 * C * op * 2}, center.options());
    scalar_t* u = ut.data_ptr<scalar_t>();
    const scalar_t* ws = w.data_ptr<scalar_t>();
    at::parallel_for(0, O, 8, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for (int64_t c = 0; c < C; ++c) {
          const scalar_t* k = ws + (o * C + c) * 9;
          scalar_t ka[9], uc[16], ua[16];
          for (int i = 0; i < 9; ++i) ka[i] = k[i] < 0 ? -k[i] : k[i];
          filter_transform(k, uc);
          filter_transform(ka, ua);
          for (int xi = 0; xi < 16; ++xi) {
            scalar_t* dst = u + ((xi * C + c) * op + o) * 2;
            dst[0] = uc[xi];
            dst[1] = ua[xi];
          }
        }
    });
    std::vector<scalar_t> bp(op * 2, 0);  // (bias, 0) per channel
    if (b.defined())
      for (int64_t o = 0; o < O; ++o) bp[2 * o] = b.data_ptr<scalar_t>()[o];
    std::vector<int64_t> off(C);  // the "taps" of the products: the channels of one tile
    for (int64_t c = 0; c < C; ++c) off[c] = 2 * c;

    // One task per (sample, span of at most S tiles). S bounds the buffers
    // (16 transformed patches and 16 products per tile) while keeping each
    // (U, Ua) slice in use for many tiles; smaller spans where the batch is
    // small, so that every thread gets several tasks.
    // (S at most 3072 / (C + op), about 200 KB of scratch: 768 and 1536 timed
    // the same, within the noise.)
    const int64_t S_max = std::min<int64_t>(96, std::max<int64_t>(6, 3072 / (C + op)));
    const int64_t want = std::max<int64_t>(1, (4 * at::get_num_threads() + g.batch - 1) / g.batch);
    const int64_t spans = std::max<int64_t>((tiles + S_max - 1) / S_max, std::min<int64_t>(want, tiles / 12));
    const int64_t S = (tiles + spans - 1) / spans;
    const int64_t per = (tiles + S - 1) / S;
    const int64_t row = wp * C * 2, px = C * 2;
    // Strides: V value xi of tile t at t * vt + xi * vx, M likewise. (Tile
    // by tile, [t, xi, ...], measured no faster: 0.93-1.14x, alternating.)
    // The 16 slices of each are one 64-byte line more than S tiles apart:
    // exactly S * 2 * C or S * 2 * op elements (8 or 16 KB at 32 or 64
    // channels) apart, the 16 streams of a transform fell into the same L1
    // sets (cifar_large conv3 at B = 50: 7.7 against 6.9 ms, alternating).
    const int64_t skew = 64 / int64_t(sizeof(scalar_t));
    const int64_t vt = 2 * C, vx = S * 2 * C + skew, mt = 2 * op, mx = S * 2 * op + skew;
    scalar_t* const oc_p = oc.data_ptr<scalar_t>();
    scalar_t* const or_p = orad.data_ptr<scalar_t>();
    const scalar_t* const bias_p = b.defined() ? bp.data() : nullptr;
    at::parallel_for(0, g.batch * per, 1, [&](int64_t t0, int64_t t1) {
      // Scratch, written before it is read (no zero fill).
      std::unique_ptr<scalar_t[]> vb(new scalar_t[16 * vx]), mb(new scalar_t[16 * mx]);
      for (int64_t tt = t0; tt < t1; ++tt) {
        const int64_t n = tt / per, first = (tt % per) * S, cnt = std::min(S, tiles - first);
        for (int64_t t = 0; t < cnt; ++t) {
          const int64_t ty = (first + t) / tw, tx = (first + t) % tw;
          wino_input_tile(x + (n * hp + 2 * ty) * row + 2 * tx * px, row, px, 2 * C, vb.get() + t * vt, vx);
        }
        for (int64_t xi = 0; xi < 16; ++xi) {
          // The tiles as positions of a one-row "output" S wide, each tile's
          // channels as the taps: M[xi] = V[xi] (U[xi], Ua[xi]).
          IntervalDirectConv<scalar_t> d{vb.get() + xi * vx, off.data(), C, 0,
                                         u + xi * C * op * 2, nullptr, op, 1, 1, S,
                                         mb.get() + xi * mx};
          d.ps = vt;
          interval_direct_conv_span(d, 0, cnt);
        }
        for (int64_t t = 0; t < cnt; ++t) {
          const int64_t ty = (first + t) / tw, tx = (first + t) % tw;
          scalar_t *dc[4], *dr[4];
          for (int q = 0; q < 4; ++q) {
            const int64_t oy = 2 * ty + q / 2, ox = 2 * tx + q % 2;
            const bool inside = oy < g.out_h && ox < g.out_w;
            // Channels-last: pixel (oy, ox)'s channels are contiguous; NCHW: L apart.
            const int64_t at = nhwc ? (n * L + oy * g.out_w + ox) * O : n * O * L + oy * g.out_w + ox;
            dc[q] = inside ? oc_p + at : nullptr;
            dr[q] = inside ? or_p + at : nullptr;
          }
          wino_output_tile(mb.get() + t * mt, mx, op * 2, bias_p, dc, dr, O, nhwc ? 1 : L);
        }
      }
    });
  });
  return {oc, orad};
}

}  // namespace mixtrain
