// symbolic_conv2d on CUDA: cuDNN convolves the center (with bias) and all
// generator rows at once (batch B*R, no bias); a column kernel then reduces
// the rows of each sample into the concrete radius. Unlike symbolic_linear
// this reads the new generators once more; fusing the reduction into an
// implicit-GEMM convolution is left for a GPU session to measure and write.
#include <torch/library.h>

#include "checks.h"
#include "cuda/cuda_utils.cuh"
#include "cuda/generator_radius.cuh"

namespace mixtrain {
namespace {

// One thread per (b, neuron); consecutive threads read consecutive neurons of
// the same generator row, so every row read is coalesced.
template <typename T>
__global__ void generator_radius_kernel(const T* __restrict__ Y, T* __restrict__ l1, T* __restrict__ sq, int64_t B,
                                        int64_t R, int64_t width, int64_t input_rows, bool l2) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * width;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / width, n = i % width;
    const T* col = Y + b * R * width + n;
    T s1 = T(0), s2 = T(0);
    for (int64_t r = 0; r < R; ++r) {
      const T v = col[r * width];
      if (l2 && r < input_rows) s2 += v * v;
      else s1 += cuda::abs_val(v);
    }
    l1[i] = s1;
    if (l2) sq[i] = s2;
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_conv2d_cuda(
    const at::Tensor& center, const at::Tensor& gens, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups, int64_t input_rows,
    double input_norm) {
  const ConvGeometry g = check_symbolic_conv_args(center, gens, weight, bias, stride, padding, dilation, groups,
                                                   input_rows, input_norm);
  const int64_t B = g.batch, R = gens.size(1);
  const bool l2 = input_norm == 2.0;
  const c10::cuda::CUDAGuard guard(center.device());

  at::Tensor out_center = at::conv2d(center, weight, bias, stride, padding, dilation, groups).contiguous();
  const int64_t width = g.out_channels * g.out_h * g.out_w;
  if (B * R == 0) {
    return {out_center, at::empty({B, R, g.out_channels, g.out_h, g.out_w}, gens.options()),
            at::zeros({B, g.out_channels, g.out_h, g.out_w}, gens.options())};
  }
  // The radius kernel writes every element: no zero fill needed.
  at::Tensor l1 = at::empty({B, g.out_channels, g.out_h, g.out_w}, gens.options());
  at::Tensor sq = l2 ? at::empty_like(l1) : at::Tensor();
  at::Tensor out_gens =
      at::conv2d(gens.reshape({B * R, g.channels, g.height, g.width}), weight, c10::nullopt, stride, padding,
                 dilation, groups)
          .contiguous()
          .view({B, R, g.out_channels, g.out_h, g.out_w});
  AT_DISPATCH_FLOATING_TYPES(gens.scalar_type(), "symbolic_conv2d_cuda", [&] {
    generator_radius_kernel<scalar_t>
        <<<cuda::blocks_for(B * width), cuda::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
            out_gens.data_ptr<scalar_t>(), l1.data_ptr<scalar_t>(), l2 ? sq.data_ptr<scalar_t>() : nullptr, B, R,
            width, input_rows, l2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out_center, out_gens, cuda::finish_radius(l1, sq, l2)};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("symbolic_conv2d", &symbolic_conv2d_cuda); }

}  // namespace mixtrain
