// interval_relu's backward on CUDA: one elementwise pass (autograd's version
// was about 12 kernels with temporaries).
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

template <typename T>
__global__ void interval_relu_backward_kernel(const T* __restrict__ gc, const T* __restrict__ gr,
                                              const T* __restrict__ c, const T* __restrict__ r, T* __restrict__ dc,
                                              T* __restrict__ dr, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    interval_relu_backward_point(gc[i], gr[i], c[i], r[i], dc[i], dr[i]);
}

std::tuple<at::Tensor, at::Tensor> interval_relu_backward_cuda(const at::Tensor& grad_center,
                                                               const at::Tensor& grad_radius,
                                                               const at::Tensor& center, const at::Tensor& radius) {
  check_interval_relu_backward_args(grad_center, grad_radius, center, radius);
  const c10::cuda::CUDAGuard guard(center.device());
  const at::Tensor gc = grad_center.contiguous(), gr = grad_radius.contiguous();
  const at::Tensor c = center.contiguous(), r = radius.contiguous();
  at::Tensor dc = at::empty_like(c), dr = at::empty_like(c);
  const int64_t n = c.numel();
  if (n == 0) return {dc, dr};
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_relu_backward_cuda", [&] {
    interval_relu_backward_kernel<scalar_t>
        <<<cuda::blocks_for(n), cuda::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
            gc.data_ptr<scalar_t>(), gr.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(),
            dc.data_ptr<scalar_t>(), dr.data_ptr<scalar_t>(), n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {dc, dr};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("interval_relu_backward", &interval_relu_backward_cuda); }

}  // namespace mixtrain
