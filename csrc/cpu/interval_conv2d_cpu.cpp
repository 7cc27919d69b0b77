// interval_conv2d on the CPU: (conv(c, W) + b, conv(r, |W|)).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "checks.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// Where the fused kernel -- a direct convolution with output channels in SIMD
// lanes, each weight vector loaded once for both products, no im2col -- beats
// two oneDNN convolutions plus |W|: small layers, where the reference's three
// dispatches and primitive set-ups dominate. Larger layers are compute-bound
// and oneDNN's kernels run 1.2-2x faster than ours, so they go there.
// Measured on the 2-core AVX-512 development machine (fused / reference):
// B=1 MNIST-small conv1 3.2x, conv2 1.8x, CIFAR-small conv1 2.5x; B=8 MNIST-
// small conv1 1.9x, conv2 (3.2M MACs) 1.2x, CIFAR-small conv1 (1.6M) 1.1x;
// but B=1 64->64 4x4 (2.4M MACs) 0.5x and B=8 16->32 on 16x16 (4.2M) 0.9x.
bool fused_conv_pays(int64_t macs, int64_t out_channels) {
  return macs <= (int64_t(1) << 20) || (out_channels <= 32 && macs <= (int64_t(7) << 19));
}

std::tuple<at::Tensor, at::Tensor> interval_conv2d_onednn(const at::Tensor& center, const at::Tensor& radius,
                                                          const at::Tensor& weight,
                                                          const c10::optional<at::Tensor>& bias,
                                                          const ConvGeometry& g) {
  at::IntArrayRef s(g.stride, 2), p(g.padding, 2), d(g.dilation, 2);
  at::Tensor oc = at::conv2d(center, weight, bias, s, p, d, g.groups);
  at::Tensor orad = at::conv2d(radius, weight.abs(), c10::nullopt, s, p, d, g.groups);
  return {oc.contiguous(), orad.contiguous()};
}

std::tuple<at::Tensor, at::Tensor> interval_conv2d_cpu(const at::Tensor& center, const at::Tensor& radius,
                                                       const at::Tensor& weight,
                                                       const c10::optional<at::Tensor>& bias,
                                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                                       at::IntArrayRef dilation, int64_t groups) {
  const ConvGeometry g = check_interval_conv_args(center, radius, weight, bias, stride, padding, dilation, groups);
  const int64_t L = g.out_h * g.out_w;
  const int64_t Kg = weight.size(1) * g.kh * g.kw;  // patch length of one group
  const int64_t Og = g.out_channels / g.groups;
  const int64_t macs = g.batch * L * g.out_channels * Kg;
  if (!fused_conv_pays(macs, g.out_channels)) return interval_conv2d_onednn(center, radius, weight, bias, g);

  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({g.batch, g.out_channels, g.out_h, g.out_w}, center.options());
  at::Tensor orad = at::empty_like(oc);
  if (oc.numel() == 0) return {oc, orad};
  // Zero padding is applied once up front, so the kernel reads every input in
  // place without bounds checks.
  const bool padded = g.padding[0] > 0 || g.padding[1] > 0;
  const std::vector<int64_t> pad{g.padding[1], g.padding[1], g.padding[0], g.padding[0]};
  // contiguous(): padding keeps a channels-last input channels-last.
  const at::Tensor c = (padded ? at::constant_pad_nd(center, pad) : center).contiguous();
  const at::Tensor r = (padded ? at::constant_pad_nd(radius, pad) : radius).contiguous();
  const int64_t hp = c.size(2), wp = c.size(3), cin_g = g.channels / g.groups;

  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_conv2d_cpu", [&] {
    // W^T and |W|^T per group, [Kg, op] with the channels padded to whole vectors.
    const int64_t lanes = interval_simd_lanes(std::is_same<scalar_t, double>::value);
    const int64_t op = (Og + lanes - 1) / lanes * lanes;
    std::vector<scalar_t> wt(g.groups * Kg * op, scalar_t(0)), wa(wt.size(), scalar_t(0)), bp(g.groups * op, 0);
    const scalar_t* wp_src = w.data_ptr<scalar_t>();
    for (int64_t gi = 0; gi < g.groups; ++gi)
      for (int64_t o = 0; o < Og; ++o) {
        for (int64_t k = 0; k < Kg; ++k) {
          const scalar_t v = wp_src[(gi * Og + o) * Kg + k];
          wt[(gi * Kg + k) * op + o] = v;
          wa[(gi * Kg + k) * op + o] = v < 0 ? -v : v;
        }
        if (b.defined()) bp[gi * op + o] = b.data_ptr<scalar_t>()[gi * Og + o];
      }
    // One task per (sample, group, output row).
    at::parallel_for(0, g.batch * g.groups * g.out_h, 1, [&](int64_t t0, int64_t t1) {
      std::vector<scalar_t> tc(g.out_w * op), tr(g.out_w * op);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / (g.groups * g.out_h), gi = (t / g.out_h) % g.groups, oh = t % g.out_h;
        const int64_t in_off = (n * g.channels + gi * cin_g) * hp * wp;
        IntervalDirectConv<scalar_t> d{c.data_ptr<scalar_t>() + in_off, r.data_ptr<scalar_t>() + in_off,
                                       cin_g, hp, wp,
                                       wt.data() + gi * Kg * op, wa.data() + gi * Kg * op,
                                       b.defined() ? bp.data() + gi * op : nullptr, op,
                                       g.kh, g.kw, g.stride[0], g.stride[1], g.dilation[0], g.dilation[1],
                                       g.out_w, tc.data(), tr.data()};
        interval_direct_conv_row(d, oh);
        // The tile is [position, channel]; the output NCHW.
        scalar_t* dc = oc.data_ptr<scalar_t>() + ((n * g.out_channels + gi * Og) * g.out_h + oh) * g.out_w;
        scalar_t* dr = orad.data_ptr<scalar_t>() + ((n * g.out_channels + gi * Og) * g.out_h + oh) * g.out_w;
        for (int64_t o = 0; o < Og; ++o)
          for (int64_t ow = 0; ow < g.out_w; ++ow) {
            dc[o * L + ow] = tc[ow * op + o];
            dr[o * L + ow] = tr[ow * op + o];
          }
      }
    });
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("interval_conv2d", &interval_conv2d_cpu); }

}  // namespace mixtrain
