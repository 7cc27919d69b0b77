// interval_conv2d on the CPU: (conv(c, W) + b, conv(r, |W|)).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "cpu/im2col_rows.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// Up to this many multiply-adds (per product) the fused path -- im2col rows
// plus the fused interval product, one pass over W for both -- wins, because
// two oneDNN convolutions and |W| pay three dispatches and primitive set-ups.
// Above it oneDNN's convolution is faster. Decided with
// benchmarks/bench_interval_conv2d.py on the 2-core development machine.
constexpr int64_t kFusedMaxMacs = int64_t(4) << 20;

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
  const ConvGeometry g = check_conv_args(center, "center", weight, bias, stride, padding, dilation, groups);
  check_same_device_dtype(center, radius, "center", "radius");
  TORCH_CHECK(center.sizes() == radius.sizes(), "radius must have the shape of center ", center.sizes(),
              ", got ", radius.sizes());
  const int64_t L = g.out_h * g.out_w;
  const int64_t Kg = weight.size(1) * g.kh * g.kw;  // patch length of one group
  const int64_t Kt = g.channels * g.kh * g.kw;      // patch length of all channels
  const int64_t Og = g.out_channels / g.groups;
  const int64_t macs = g.batch * L * g.out_channels * Kg;
  if (macs > kFusedMaxMacs) return interval_conv2d_onednn(center, radius, weight, bias, g);

  const at::Tensor c = center.contiguous(), r = radius.contiguous(), w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({g.batch, g.out_channels, g.out_h, g.out_w}, c.options());
  at::Tensor orad = at::empty_like(oc);
  if (oc.numel() == 0) return {oc, orad};
  at::Tensor rows_c = at::empty({g.batch, L, Kt}, c.options());
  at::Tensor rows_r = at::empty_like(rows_c);

  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_conv2d_cpu", [&] {
    const int64_t in_stride = g.channels * g.height * g.width;
    at::parallel_for(0, g.batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t n = b0; n < b1; ++n) {
        im2col_rows(c.data_ptr<scalar_t>() + n * in_stride, g, rows_c.data_ptr<scalar_t>() + n * L * Kt);
        im2col_rows(r.data_ptr<scalar_t>() + n * in_stride, g, rows_r.data_ptr<scalar_t>() + n * L * Kt);
      }
    });
    // One task per (sample, group, pair of output channels).
    const int64_t pairs = (Og + 1) / 2;
    const int64_t tasks = g.batch * g.groups * pairs;
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, 2 * L * Kg));
    at::parallel_for(0, tasks, grain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / (g.groups * pairs), gi = (t / pairs) % g.groups, pair = t % pairs;
        const int64_t out_off = n * g.out_channels * L + gi * Og * L;
        IntervalGemm<scalar_t> gemm{rows_c.data_ptr<scalar_t>() + n * L * Kt + gi * Kg,
                                    rows_r.data_ptr<scalar_t>() + n * L * Kt + gi * Kg,
                                    Kt,
                                    w.data_ptr<scalar_t>() + gi * Og * Kg,
                                    b.defined() ? b.data_ptr<scalar_t>() + gi * Og : nullptr,
                                    oc.data_ptr<scalar_t>() + out_off,
                                    orad.data_ptr<scalar_t>() + out_off,
                                    1, L, L, Kg, Og};
        interval_gemm_cols(gemm, 2 * pair, std::min(2 * pair + 2, Og));
      }
    });
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("interval_conv2d", &interval_conv2d_cpu); }

}  // namespace mixtrain
