// crown_conv2d_backward on CUDA: cuDNN's transposed convolution, in IEEE
// float32 (cuda_utils.cuh: TF32 would make the bound unsound), and the bias
// term as one matrix-vector product. No kernel of our own: the CPU kernel
// exists because oneDNN runs transposed convolutions onto one channel at 4-5 G
// multiply-adds/s; on the H100 cuDNN's transposed convolution is the
// reference's own (17-42 us at 144 rows on the first layers, graph-replayed,
// results/h100-crown-conv-bias-term-2026-11-24.json), so the op's time is
// that plus the bias term. Seen there, not taken: cuDNN runs 1.3-1.5x faster
// on NCHW A than on the channels-last A the engine hands on, but the copy
// eats it on the larger layers (mnist_large.conv1: 66.5 us with the copy
// against 46.6 without).
#include <torch/library.h>

#include <array>

#include "checks.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

// sum over (o, y, x) of A[n, o, y, x] * bias[o], as one matrix-vector product
// that reads A once in its own memory order: A's rows against bias repeated
// over the pixels (channels-last: [y, x, o] order; NCHW: [o, y, x]). The form
// before, (A.sum({2, 3}) * bias).sum(1), was three launches with a strided
// reduction over channels-last A: 8.6-27.8 us of the op's 25.6-65.9 us on
// the nets' first layers at 144 rows (H100, CUDA-graph replay,
// results/h100-crown-conv-bias-term-2026-11-24.json). IEEE float32 (guard): a
// TF32 product would round the bias term by about 1e-3.
at::Tensor bias_term(const at::Tensor& A, const at::Tensor& bias) {
  const int64_t n = A.size(0), pixels = A.size(2) * A.size(3);
  const cuda::IeeeMatmulGuard ieee;  // cuda_utils.cuh: bounds need IEEE float32
  if (A.is_contiguous(at::MemoryFormat::ChannelsLast) && !A.is_contiguous())
    return at::mv(A.permute({0, 2, 3, 1}).reshape({n, A.size(1) * pixels}), bias.repeat({pixels}));
  return at::mv(A.reshape({n, A.size(1) * pixels}), bias.repeat_interleave(pixels));
}

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
  return {out, bias.has_value() ? bias_term(A, *bias) : at::zeros({g.batch}, A.options())};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("crown_conv2d_backward", &crown_conv2d_backward_cuda); }

}  // namespace mixtrain
