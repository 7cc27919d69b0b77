// interval_relu on CUDA: one elementwise pass in center/radius form.
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

template <typename T>
__global__ void interval_relu_kernel(const T* __restrict__ c, const T* __restrict__ r, T* __restrict__ oc,
                                     T* __restrict__ orad, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    interval_relu_point(c[i], r[i], oc[i], orad[i]);
}

std::tuple<at::Tensor, at::Tensor> interval_relu_cuda(const at::Tensor& center, const at::Tensor& radius) {
  check_interval_relu_args(center, radius);
  const c10::cuda::CUDAGuard guard(center.device());
  const at::Tensor c = center.contiguous(), r = radius.contiguous();
  at::Tensor oc = at::empty_like(c), orad = at::empty_like(c);
  const int64_t n = c.numel();
  if (n == 0) return {oc, orad};
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_relu_cuda", [&] {
    interval_relu_kernel<scalar_t><<<cuda::blocks_for(n), cuda::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        c.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), oc.data_ptr<scalar_t>(), orad.data_ptr<scalar_t>(), n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("interval_relu", &interval_relu_cuda); }

}  // namespace mixtrain
