// crown_conv2d_backward on CUDA: cuDNN's transposed convolution, in IEEE
// float32 (cuda_utils.cuh: TF32 would make the bound unsound), and the bias
// term as a sum. No kernel of our own yet: the CPU kernel exists because
// oneDNN runs transposed convolutions onto one channel at 4-5 G multiply-
// adds/s; cuDNN on such layers is unmeasured (awaits a GPU session).
#include <torch/library.h>

#include <array>

#include "checks.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor> crown_conv2d_backward_cuda(const at::Tensor& A, const at::Tensor& weight,
                                                              const c10::optional<at::Tensor>& bias,
                                                              at::IntArrayRef stride, at::IntArrayRef padding,
                                                              at::IntArrayRef dilation,
                                                              at::IntArrayRef input_size) {
  const ConvGeometry g = check_crown_conv_args(A, weight, bias, stride, padding, dilation, input_size);
  if (g.batch == 0)
    return {at::empty({0, g.channels, g.height, g.width}, A.options().memory_format(crown_conv_output_format(g.channels))),
            at::zeros({0}, A.options())};
  // output_padding: the input rows/columns a strided convolution never reads.
  const std::array<int64_t, 2> output_padding{
      g.height - ((g.out_h - 1) * g.stride[0] - 2 * g.padding[0] + g.dilation[0] * (g.kh - 1) + 1),
      g.width - ((g.out_w - 1) * g.stride[1] - 2 * g.padding[1] + g.dilation[1] * (g.kw - 1) + 1)};
  const auto& ctx = at::globalContext();
  at::Tensor out = at::_convolution(A, weight, c10::nullopt, stride, padding, dilation, /*transposed=*/true,
                                    output_padding, 1, ctx.benchmarkCuDNN(), ctx.deterministicCuDNN(),
                                    ctx.userEnabledCuDNN(), /*allow_tf32=*/false)
                       .contiguous(crown_conv_output_format(g.channels));
  at::Tensor bias_term = bias.has_value() ? (A.sum({2, 3}) * *bias).sum(1) : at::zeros({g.batch}, A.options());
  return {out, bias_term};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("crown_conv2d_backward", &crown_conv2d_backward_cuda); }

}  // namespace mixtrain
