// interval_linear on CUDA: (c W^T + b, r |W|^T) over any leading dims.
//
// Few rows (MixTrain's k sampled points): the op is bound by reading W, so one
// warp owns one output feature, streams its W row once with wide coalesced
// loads and feeds every loaded element to both products for up to kRowsPerPass
// input rows held in registers; |W| exists only in registers.
// Many rows: arithmetic dominates and cuBLAS wins (two GEMMs, |W| materialized
// once). The crossover kBlasRows is a first estimate that still awaits a GPU
// benchmark (benchmarks/bench_interval_linear.py).
#include <torch/library.h>

#include "checks.h"
#include "interval_linear_rows.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

constexpr int kRowsPerPass = 8;
constexpr int64_t kBlasRows = 32;
constexpr int kWarpsPerBlock = 8;

template <typename T, int V>
__global__ void interval_linear_few_rows_kernel(const T* __restrict__ c, const T* __restrict__ r,
                                                const T* __restrict__ w, const T* __restrict__ bias,
                                                T* __restrict__ oc, T* __restrict__ orad, int64_t M, int64_t K,
                                                int64_t N) {
  using P = cuda::Pack<T, V>;
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  if (n >= N) return;
  const P* wrow = reinterpret_cast<const P*>(w + n * K);
  const int64_t kp = K / V;  // K is a multiple of V on this path
  for (int64_t m0 = 0; m0 < M; m0 += kRowsPerPass) {
    const int rows = int(M - m0 < kRowsPerPass ? M - m0 : kRowsPerPass);
    T ac[kRowsPerPass], ar[kRowsPerPass];
#pragma unroll
    for (int i = 0; i < kRowsPerPass; ++i) ac[i] = ar[i] = T(0);
    for (int64_t k = lane; k < kp; k += 32) {
      const P wv = wrow[k];
#pragma unroll
      for (int i = 0; i < kRowsPerPass; ++i) {
        if (i < rows) {
          const P cv = reinterpret_cast<const P*>(c + (m0 + i) * K)[k];
          const P rv = reinterpret_cast<const P*>(r + (m0 + i) * K)[k];
#pragma unroll
          for (int j = 0; j < V; ++j) {
            ac[i] += cv.v[j] * wv.v[j];
            ar[i] += rv.v[j] * cuda::abs_val(wv.v[j]);
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < kRowsPerPass; ++i) {
      const T sc = cuda::warp_sum(ac[i]);
      const T sr = cuda::warp_sum(ar[i]);
      if (lane == 0 && i < rows) {
        oc[(m0 + i) * N + n] = sc + (bias ? bias[n] : T(0));
        orad[(m0 + i) * N + n] = sr;
      }
    }
  }
}

template <typename T, int V>
void launch_few_rows(const at::Tensor& c, const at::Tensor& r, const at::Tensor& w, const at::Tensor& b,
                     at::Tensor& oc, at::Tensor& orad) {
  const int64_t M = c.size(0), K = c.size(1), N = w.size(0);
  const int64_t blocks = (N + kWarpsPerBlock - 1) / kWarpsPerBlock;
  interval_linear_few_rows_kernel<T, V><<<blocks, kWarpsPerBlock * 32, 0, at::cuda::getCurrentCUDAStream()>>>(
      c.data_ptr<T>(), r.data_ptr<T>(), w.data_ptr<T>(), b.defined() ? b.data_ptr<T>() : nullptr,
      oc.data_ptr<T>(), orad.data_ptr<T>(), M, K, N);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

bool aligned(const at::Tensor& t, int64_t bytes) {
  return reinterpret_cast<uintptr_t>(t.data_ptr()) % bytes == 0;
}

std::tuple<at::Tensor, at::Tensor> interval_linear_cuda(const at::Tensor& center, const at::Tensor& radius,
                                                        const at::Tensor& weight,
                                                        const c10::optional<at::Tensor>& bias) {
  check_interval_linear_args(center, radius, weight, bias);
  const c10::cuda::CUDAGuard guard(center.device());
  const int64_t N = weight.size(0), K = weight.size(1);
  const LinearRows x = linear_rows(center, radius, weight);
  const at::Tensor &c = x.c, &r = x.r;
  const int64_t M = x.M;
  if (M >= kBlasRows || K == 0) {
    return interval_linear_blas(x, weight, bias);
  }
  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({M, N}, c.options());
  at::Tensor orad = at::empty({M, N}, c.options());
  if (M > 0 && N > 0) {
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_linear_cuda", [&] {
      constexpr int V = 16 / sizeof(scalar_t);  // 16-byte loads
      if (K % V == 0 && aligned(c, 16) && aligned(r, 16) && aligned(w, 16)) {
        launch_few_rows<scalar_t, V>(c, r, w, b, oc, orad);
      } else {
        launch_few_rows<scalar_t, 1>(c, r, w, b, oc, orad);
      }
    });
  }
  return {oc.view(x.out_shape), orad.view(x.out_shape)};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("interval_linear", &interval_linear_cuda); }

}  // namespace mixtrain
