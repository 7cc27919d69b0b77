// interval_conv2d on CUDA: (conv(c, W) + b, conv(r, |W|)).
// Convolutions are arithmetic-heavy even at small batch, so both products go
// to cuDNN (|W| is tiny for conv weights). Whether a fused implicit-GEMM
// kernel (one pass over W and the input tiles for both products) beats this at
// MixTrain's batch 1..8 awaits a GPU benchmark (benchmarks/bench_interval_conv2d.py).
#include <torch/library.h>

#include "checks.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor> interval_conv2d_cuda(const at::Tensor& center, const at::Tensor& radius,
                                                        const at::Tensor& weight,
                                                        const c10::optional<at::Tensor>& bias,
                                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                                        at::IntArrayRef dilation, int64_t groups) {
  check_interval_conv_args(center, radius, weight, bias, stride, padding, dilation, groups);
  const c10::cuda::CUDAGuard guard(center.device());
  at::Tensor oc = at::conv2d(center, weight, bias, stride, padding, dilation, groups);
  at::Tensor orad = at::conv2d(radius, weight.abs(), c10::nullopt, stride, padding, dilation, groups);
  return {oc.contiguous(), orad.contiguous()};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("interval_conv2d", &interval_conv2d_cuda); }

}  // namespace mixtrain
