// crown_relu_conv2d_backward on the CPU: CROWN's backward step through
// relu(conv(x)) -- crown_relu_backward, then crown_conv2d_backward -- with
// the ReLU's step done on each row of A while the convolution kernel copies
// it into its zero-padded buffer (cpu/crown_conv2d_backward_cpu.cpp). A after
// the ReLU is never stored or read back: unfused, that step is a pass of its
// own over A (18 rows per point in CROWN-IBP), memory-bound, about 6% of a
// CROWN-IBP pass on mnist_large (benchmarks/README.md, session 20).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "cpu/crown_conv2d_backward_cpu.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor> crown_relu_conv2d_backward_cpu(
    const at::Tensor& A, const at::Tensor& lower, const at::Tensor& upper, bool upper_bound,
    const at::Tensor& weight, const c10::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
    at::IntArrayRef dilation, at::IntArrayRef input_size) {
  const ConvGeometry g =
      check_crown_relu_conv_args(A, lower, upper, weight, bias, stride, padding, dilation, input_size);
  const int64_t B = A.size(0), S = A.size(1), O = g.out_channels;
  const int64_t n = g.out_h * g.out_w * O;  // neurons per sample
  // The relaxation once per sample neuron (not per row of A), in A's
  // channels-last order: [3, B, OH, OW, O]. The engine passes bounds that are
  // channels-last already (layers/relu.py), so the permutes copy nothing there.
  at::Tensor relax = at::empty({3, B, g.out_h, g.out_w, O}, A.options());
  if (B * S > 0) {
    const at::Tensor l = lower.permute({0, 2, 3, 1}).contiguous(), u = upper.permute({0, 2, 3, 1}).contiguous();
    AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "crown_relu_conv2d_backward_relax", [&] {
      const scalar_t* lp = l.data_ptr<scalar_t>();
      const scalar_t* up = u.data_ptr<scalar_t>();
      scalar_t* us = relax.data_ptr<scalar_t>();
      scalar_t* ui = us + B * n;
      scalar_t* ls = ui + B * n;
      at::parallel_for(0, B * n, 16384, [&](int64_t i0, int64_t i1) {
        crown_relax_row(lp + i0, up + i0, us + i0, ui + i0, ls + i0, i1 - i0);
      });
    });
  }
  const CrownReluStep step{relax, S, upper_bound};
  auto [out, bias_term] = crown_conv2d_backward_rows(A.flatten(0, 1), weight, bias, g, &step);
  return {out.view({B, S, g.channels, g.height, g.width}), bias_term.view({B, S})};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_relu_conv2d_backward", &crown_relu_conv2d_backward_cpu); }

}  // namespace mixtrain
