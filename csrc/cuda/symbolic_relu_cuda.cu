// symbolic_relu on CUDA (MixTrain's relaxation, see common/relu_relax.h).
// 1) relax: per neuron, slope/shift, new center and an "unstable" flag;
// 2) a per-sample prefix sum of the flags gives each unstable neuron its new
//    row (compaction); the batch maximum U is the only host sync;
// 3) apply: one pass writes the scaled old rows and the new rows.
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

template <typename T>
__global__ void symbolic_relax_kernel(const T* __restrict__ c, const T* __restrict__ rad, T* __restrict__ lam,
                                      T* __restrict__ mu, T* __restrict__ oc, int64_t* __restrict__ flag, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    T l, m;
    const bool fresh = symbolic_relax(c[i], rad[i], l, m);
    lam[i] = l;
    mu[i] = m;
    oc[i] = l * c[i] + m;
    flag[i] = fresh ? 1 : 0;
  }
}

// flag[i] in {0, 1}, cum[i] its inclusive prefix sum within the sample.
__global__ void row_index_kernel(const int64_t* __restrict__ flag, const int64_t* __restrict__ cum,
                                 int64_t* __restrict__ index, int64_t R, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    index[i] = flag[i] ? R + cum[i] - 1 : -1;
}

template <typename T>
__global__ void symbolic_relu_apply_kernel(const T* __restrict__ G, const T* __restrict__ lam,
                                           const T* __restrict__ mu, const int64_t* __restrict__ index,
                                           T* __restrict__ out, int64_t B, int64_t R, int64_t U, int64_t N) {
  const int64_t total = B * (R + U) * N;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i % N, row = (i / N) % (R + U), b = i / (N * (R + U));
    const int64_t bn = b * N + n;
    out[i] = row < R ? lam[bn] * G[(b * R + row) * N + n] : (index[bn] == row ? mu[bn] : T(0));
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_relu_cuda(const at::Tensor& center, const at::Tensor& gens,
                                                                  const at::Tensor& radius) {
  const auto dims = check_symbolic_relu_args(center, gens, radius);
  const int64_t B = dims[0], R = dims[1], N = dims[2];
  const c10::cuda::CUDAGuard guard(center.device());
  auto stream = at::cuda::getCurrentCUDAStream();
  const at::Tensor c = center.contiguous(), g = gens.contiguous(), rad = radius.contiguous();
  at::Tensor oc = at::empty_like(c);
  at::Tensor lam = at::empty({B, N}, c.options()), mu = at::empty({B, N}, c.options());
  at::Tensor flag = at::empty({B, N}, c.options().dtype(at::kLong));
  at::Tensor row_index = at::empty(c.sizes(), c.options().dtype(at::kLong));
  const int64_t n = B * N;
  int64_t U = 0;
  if (n > 0) {
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "symbolic_relu_cuda_relax", [&] {
      symbolic_relax_kernel<scalar_t><<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(
          c.data_ptr<scalar_t>(), rad.data_ptr<scalar_t>(), lam.data_ptr<scalar_t>(), mu.data_ptr<scalar_t>(),
          oc.data_ptr<scalar_t>(), flag.data_ptr<int64_t>(), n);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    const at::Tensor cum = at::cumsum(flag, 1);
    row_index_kernel<<<cuda::blocks_for(n), cuda::kThreads, 0, stream>>>(
        flag.data_ptr<int64_t>(), cum.data_ptr<int64_t>(), row_index.data_ptr<int64_t>(), R, n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    U = N > 0 ? cum.select(1, N - 1).max().item<int64_t>() : 0;
  }
  auto out_shape = g.sizes().vec();
  out_shape[1] = R + U;
  at::Tensor og = at::empty(out_shape, g.options());
  const int64_t total = B * (R + U) * N;
  if (total > 0) {
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "symbolic_relu_cuda_apply", [&] {
      symbolic_relu_apply_kernel<scalar_t><<<cuda::blocks_for(total), cuda::kThreads, 0, stream>>>(
          g.data_ptr<scalar_t>(), lam.data_ptr<scalar_t>(), mu.data_ptr<scalar_t>(), row_index.data_ptr<int64_t>(),
          og.data_ptr<scalar_t>(), B, R, U, N);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  return {oc, og, row_index};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("symbolic_relu", &symbolic_relu_cuda); }

}  // namespace mixtrain
