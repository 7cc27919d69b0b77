// interval_conv2d on the CPU: (conv(c, W) + b, conv(r, |W|)).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "checks.h"
#include "cpu/im2col.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// Up to this many multiply-adds (per product) the fused path -- im2col of a
// tile of positions plus the fused interval product, each weight loaded once
// for both -- wins, because two oneDNN convolutions and |W| pay three
// dispatches and primitive set-ups, which dominate small layers. Above it,
// oneDNN's direct convolution is faster than im2col (packing the patches
// costs as much as the products when there are few output channels).
// Measured on the 2-core AVX-512 development machine (fused/reference):
// B=1 MNIST-small conv1 (0.1M MACs) 3.7x, conv2 (0.4M) 2.6x, CIFAR-small
// conv1 (0.2M) 2.4x; B=8 conv1 (0.4M) 1.4x; B=8 CIFAR-small conv1 (1.6M)
// 0.6x, B=1 MNIST-large conv2 (2.8M) 0.8x.
constexpr int64_t kFusedMaxMacs = int64_t(1) << 20;

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
  if (macs > kFusedMaxMacs) return interval_conv2d_onednn(center, radius, weight, bias, g);

  const at::Tensor c = center.contiguous(), r = radius.contiguous(), w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({g.batch, g.out_channels, g.out_h, g.out_w}, c.options());
  at::Tensor orad = at::empty_like(oc);
  if (oc.numel() == 0) return {oc, orad};

  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_conv2d_cpu", [&] {
    const int64_t width = interval_conv_tile_width(std::is_same<scalar_t, double>::value);
    TORCH_INTERNAL_ASSERT(width <= kMaxConvTile);
    const int64_t tiles = (L + width - 1) / width;
    const int64_t in_stride = g.channels * g.height * g.width;
    const int64_t cin_g = g.channels / g.groups;
    // One task per (sample, group, tile of output positions): pack the input
    // patches of the tile, run every output channel over them, copy out.
    at::parallel_for(0, g.batch * g.groups * tiles, 1, [&](int64_t t0, int64_t t1) {
      std::vector<scalar_t> xc(Kg * width), xr(Kg * width), tc(Og * width), tr(Og * width);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / (g.groups * tiles), gi = (t / tiles) % g.groups, l0 = (t % tiles) * width;
        pack_patch_tile(c.data_ptr<scalar_t>() + n * in_stride, g, gi * cin_g, cin_g, l0, width, xc.data());
        pack_patch_tile(r.data_ptr<scalar_t>() + n * in_stride, g, gi * cin_g, cin_g, l0, width, xr.data());
        IntervalConvTile<scalar_t> tile{xc.data(), xr.data(), w.data_ptr<scalar_t>() + gi * Og * Kg, Kg,
                                        b.defined() ? b.data_ptr<scalar_t>() + gi * Og : nullptr,
                                        tc.data(), tr.data(), Kg, Og};
        interval_conv_tile(tile);
        const int64_t live = std::min(width, L - l0);
        scalar_t* dc = oc.data_ptr<scalar_t>() + (n * g.out_channels + gi * Og) * L + l0;
        scalar_t* dr = orad.data_ptr<scalar_t>() + (n * g.out_channels + gi * Og) * L + l0;
        for (int64_t o = 0; o < Og; ++o) {
          std::copy(tc.data() + o * width, tc.data() + o * width + live, dc + o * L);
          std::copy(tr.data() + o * width, tr.data() + o * width + live, dr + o * L);
        }
      }
    });
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("interval_conv2d", &interval_conv2d_cpu); }

}  // namespace mixtrain
