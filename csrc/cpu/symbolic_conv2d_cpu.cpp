// symbolic_conv2d on the CPU: the convolution applied to the center (with
// bias) and to every generator row (without), and the concrete radius of the
// result, accumulated chunk by chunk while each convolved chunk is in cache.
#include <torch/library.h>

#include "checks.h"
#include "cpu/generator_radius.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_conv2d_cpu(
    const at::Tensor& center, const at::Tensor& gens, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups, int64_t input_rows,
    double input_norm) {
  const ConvGeometry g = check_symbolic_conv_args(center, gens, weight, bias, stride, padding, dilation, groups,
                                                   input_rows, input_norm);
  const int64_t B = g.batch, R = gens.size(1);
  const bool l2 = input_norm == 2.0;
  at::IntArrayRef s(g.stride, 2), p(g.padding, 2), d(g.dilation, 2);

  at::Tensor out_center = at::conv2d(center, weight, bias, s, p, d, groups).contiguous();
  const int64_t width = g.out_channels * g.out_h * g.out_w;
  at::Tensor out_gens = at::empty({B, R, g.out_channels, g.out_h, g.out_w}, gens.options());
  at::Tensor l1 = at::zeros({B, g.out_channels, g.out_h, g.out_w}, gens.options());
  at::Tensor sq = l2 ? at::zeros_like(l1) : at::Tensor();
  if (B * R * width > 0) {
    const at::Tensor flat = gens.reshape({B * R, g.channels, g.height, g.width});
    at::Tensor flat_out = out_gens.view({B * R, width});
    const int64_t chunk = generator_chunk_rows(width, gens.element_size());
    AT_DISPATCH_FLOATING_TYPES(gens.scalar_type(), "symbolic_conv2d_cpu", [&] {
      for (int64_t r0 = 0; r0 < B * R; r0 += chunk) {
        const int64_t rc = std::min(chunk, B * R - r0);
        const at::Tensor made = at::conv2d(flat.narrow(0, r0, rc), weight, c10::nullopt, s, p, d, groups);
        at::Tensor dst = flat_out.narrow(0, r0, rc);
        dst.copy_(made.view({rc, width}));
        accumulate_flat_chunk(dst.data_ptr<scalar_t>(), r0, rc, R, width, input_rows, l2, l1.data_ptr<scalar_t>(),
                              l2 ? sq.data_ptr<scalar_t>() : nullptr);
      }
    });
  }
  at::Tensor radius = l2 ? l1.add_(sq.sqrt_()) : l1;
  return {out_center, out_gens, radius};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("symbolic_conv2d", &symbolic_conv2d_cpu); }

}  // namespace mixtrain
