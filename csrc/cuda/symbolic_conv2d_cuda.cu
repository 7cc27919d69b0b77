// symbolic_conv2d on CUDA: cuDNN convolves the center (with bias) and all
// generator rows at once (batch B*R, no bias), both in IEEE float32; a column
// kernel then reduces the rows of each sample into the concrete radius. Unlike
// the CPU kernel this reads the new generators once more; fusing the reduction
// into an implicit-GEMM convolution would save that read (B*R*W floats, a few
// microseconds on an H100 at MixTrain's sizes, next to a convolution of tens).
#include <torch/library.h>

#include "checks.h"
#include "cuda/cuda_utils.cuh"
#include "cuda/generator_radius.cuh"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_conv2d_cuda(
    const at::Tensor& center, const at::Tensor& gens, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups, int64_t input_rows,
    double input_norm) {
  const ConvGeometry g = check_symbolic_conv_args(center, gens, weight, bias, stride, padding, dilation, groups,
                                                   input_rows, input_norm);
  const int64_t B = g.batch, R = gens.size(1);
  const bool l2 = input_norm == 2.0;
  const c10::cuda::CUDAGuard guard(center.device());

  at::Tensor out_center =
      cuda::conv2d_ieee(center, weight, bias, stride, padding, dilation, groups).contiguous();
  if (B * R == 0) {
    return {out_center, at::empty({B, R, g.out_channels, g.out_h, g.out_w}, gens.options()),
            at::zeros({B, g.out_channels, g.out_h, g.out_w}, gens.options())};
  }
  at::Tensor out_gens =
      cuda::conv2d_ieee(gens.reshape({B * R, g.channels, g.height, g.width}), weight, c10::nullopt, stride, padding,
                        dilation, groups)
          .contiguous()
          .view({B, R, g.out_channels, g.out_h, g.out_w});
  return {out_center, out_gens, cuda::generator_radius(out_gens, input_rows, l2)};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("symbolic_conv2d", &symbolic_conv2d_cuda); }

}  // namespace mixtrain
