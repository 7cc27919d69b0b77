// crown_relu_backward's gradient on CUDA: a thread per neuron (b, n) walks the
// S rows of A (consecutive threads read consecutive n: coalesced), writes d_A
// and keeps the two sums for d_lower/d_upper in registers -- no atomics, the
// same bits on every call.
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

template <typename T>
__global__ void crown_relu_backward_grad_kernel(const T* __restrict__ grad_A, const T* __restrict__ grad_bias,
                                                const T* __restrict__ A, const T* __restrict__ lower,
                                                const T* __restrict__ upper, T* __restrict__ d_A,
                                                T* __restrict__ d_lower, T* __restrict__ d_upper, int64_t B,
                                                int64_t S, int64_t N, bool upper_bound) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < B * N; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / N, n = i % N;
    const T l = lower[i], u = upper[i];
    T us, ui, ls;
    crown_relax(l, u, us, ui, ls);
    T g_slope = T(0), g_icpt = T(0);
    for (int64_t s = 0; s < S; ++s) {
      const int64_t at = (b * S + s) * N + n;
      const T v = A[at], g = grad_A[at], gb = grad_bias[b * S + s];
      const bool take = upper_bound ? v > T(0) : v < T(0);
      d_A[at] = g * (take ? us : ls) + (take ? gb * ui : T(0));
      if (take) {
        g_slope += g * v;
        g_icpt += gb * v;
      }
    }
    crown_relax_grad(l, u, g_slope, g_icpt, d_lower[i], d_upper[i]);
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> crown_relu_backward_grad_cuda(
    const at::Tensor& grad_A, const at::Tensor& grad_bias, const at::Tensor& A, const at::Tensor& lower,
    const at::Tensor& upper, bool upper_bound) {
  const auto dims = check_crown_relu_grad_args(grad_A, grad_bias, A, lower, upper);
  const int64_t B = dims[0], S = dims[1], N = dims[2];
  const c10::cuda::CUDAGuard guard(A.device());
  const at::Tensor ga = grad_A.contiguous(), gb = grad_bias.contiguous(), a = A.contiguous();
  const at::Tensor l = lower.contiguous(), u = upper.contiguous();
  at::Tensor d_A = at::empty_like(a), d_l = at::empty_like(l), d_u = at::empty_like(u);
  if (B * N == 0) return {d_A, d_l, d_u};
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "crown_relu_backward_grad_cuda", [&] {
    crown_relu_backward_grad_kernel<scalar_t>
        <<<cuda::blocks_for(B * N), cuda::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
            ga.data_ptr<scalar_t>(), gb.data_ptr<scalar_t>(), a.data_ptr<scalar_t>(), l.data_ptr<scalar_t>(),
            u.data_ptr<scalar_t>(), d_A.data_ptr<scalar_t>(), d_l.data_ptr<scalar_t>(), d_u.data_ptr<scalar_t>(), B,
            S, N, upper_bound);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {d_A, d_l, d_u};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("crown_relu_backward_grad", &crown_relu_backward_grad_cuda); }

}  // namespace mixtrain
