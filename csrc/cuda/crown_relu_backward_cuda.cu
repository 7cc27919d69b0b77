// crown_relu_backward on CUDA: one block per row (b, s) of A; the relaxation
// of each neuron is recomputed from [lower, upper] on the fly (cheaper than
// storing it), A' is written in the same pass, and the intercept term is
// reduced in the block -- deterministic, no atomics.
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

template <typename T>
__global__ void crown_relu_backward_kernel(const T* __restrict__ A, const T* __restrict__ lower,
                                           const T* __restrict__ upper, T* __restrict__ out, T* __restrict__ bias,
                                           int64_t S, int64_t N, bool upper_bound) {
  __shared__ T scratch[32];
  const int64_t row = blockIdx.x, b = row / S;
  const T* src = A + row * N;
  T* dst = out + row * N;
  const T* lb = lower + b * N;
  const T* ub = upper + b * N;
  T acc = T(0);
  for (int64_t n = threadIdx.x; n < N; n += blockDim.x) {
    T us, ui, ls;
    crown_relax(lb[n], ub[n], us, ui, ls);
    const T x = src[n];
    const bool take_upper = upper_bound ? x > T(0) : x < T(0);
    dst[n] = x * (take_upper ? us : ls);
    if (take_upper) acc += x * ui;
  }
  acc = cuda::block_sum(acc, scratch);
  if (threadIdx.x == 0) bias[row] = acc;
}

std::tuple<at::Tensor, at::Tensor> crown_relu_backward_cuda(const at::Tensor& A, const at::Tensor& lower,
                                                            const at::Tensor& upper, bool upper_bound) {
  const auto dims = check_crown_relu_args(A, lower, upper);
  const int64_t B = dims[0], S = dims[1], N = dims[2];
  const c10::cuda::CUDAGuard guard(A.device());
  const at::Tensor a = A.contiguous(), l = lower.contiguous(), u = upper.contiguous();
  at::Tensor out = at::empty_like(a);
  at::Tensor bias = at::zeros({B, S}, a.options());
  if (B * S == 0) return {out, bias};
  TORCH_CHECK(B * S <= int64_t(2147483647), "crown_relu_backward: too many rows (", B * S, ") for one launch");
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "crown_relu_backward_cuda", [&] {
    crown_relu_backward_kernel<scalar_t><<<B * S, cuda::kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        a.data_ptr<scalar_t>(), l.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
        bias.data_ptr<scalar_t>(), S, N, upper_bound);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {out, bias};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("crown_relu_backward", &crown_relu_backward_cuda); }

}  // namespace mixtrain
