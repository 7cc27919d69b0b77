// interval_linear on CUDA: (c W^T + b, r |W|^T) over any leading dims.
//
// Few rows (MixTrain's k sampled points): the op is bound by reading W, so a
// warp owns F output features, streams their W rows once with 16-byte loads
// (U packs per feature in flight per lane, so that enough bytes are on the way
// to cover HBM latency at low occupancy), and feeds every loaded element to
// both products for up to ROWS input rows; |W| exists only in registers. F > 1
// lets one load of a c/r pack serve F features: with many rows the kernel
// would otherwise be bound by re-reading c and r from L1, not by W.
// Many rows: arithmetic dominates and cuBLAS wins (two GEMMs, |W|
// materialized once). The rule (own kernel up to kOwnRows rows, or while the
// product is small enough that the host's cost of three library launches
// dominates) is set by benchmarks/gpu_kernel_choices.py on an H100
// (benchmarks/README.md): at K = N = 2048 the own kernel takes 25 us up to 4
// rows and 50 us at 8 against cuBLAS's 60, but 92 us at 16 rows against 81.
#include <torch/library.h>

#include "checks.h"
#include "interval_linear_rows.h"
#include "kernel_choice.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

constexpr int64_t kOwnRows = 8;
constexpr int64_t kOwnProduct = int64_t(1) << 24;  // M * K * N
constexpr int kWarpsPerBlock = 8;

template <typename T, int V, int ROWS, int F, int U>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    interval_linear_few_rows_kernel(const T* __restrict__ c, const T* __restrict__ r, const T* __restrict__ w,
                                    const T* __restrict__ bias, T* __restrict__ oc, T* __restrict__ orad, int64_t M,
                                    int64_t K, int64_t N) {
  using P = cuda::Pack<T, V>;
  const int lane = threadIdx.x & 31;
  const int64_t n0 = (int64_t(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5)) * F;
  if (n0 >= N) return;
  const int64_t kp = K / V;  // K is a multiple of V on this path
  const P* cp = reinterpret_cast<const P*>(c);
  const P* rp = reinterpret_cast<const P*>(r);
  const P* wp = reinterpret_cast<const P*>(w);
  for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
    const int rows = int(M - m0 < ROWS ? M - m0 : ROWS);
    T ac[ROWS][F], ar[ROWS][F];
#pragma unroll
    for (int i = 0; i < ROWS; ++i)
#pragma unroll
      for (int f = 0; f < F; ++f) ac[i][f] = ar[i][f] = T(0);
    for (int64_t k0 = lane; k0 < kp; k0 += 32 * U) {
      P wv[U][F];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int f = 0; f < F; ++f) {
          const int64_t k = k0 + 32 * u;
          if (k < kp && n0 + f < N) {
            wv[u][f] = wp[(n0 + f) * kp + k];
          } else {
#pragma unroll
            for (int j = 0; j < V; ++j) wv[u][f].v[j] = T(0);
          }
        }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t k = k0 + 32 * u;
        if (k >= kp) break;
#pragma unroll
        for (int i = 0; i < ROWS; ++i) {
          if (i < rows) {
            const P cv = cp[(m0 + i) * kp + k];
            const P rv = rp[(m0 + i) * kp + k];
#pragma unroll
            for (int f = 0; f < F; ++f)
#pragma unroll
              for (int j = 0; j < V; ++j) {
                ac[i][f] += cv.v[j] * wv[u][f].v[j];
                ar[i][f] += rv.v[j] * cuda::abs_val(wv[u][f].v[j]);
              }
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < ROWS; ++i)
#pragma unroll
      for (int f = 0; f < F; ++f) {
        const T sc = cuda::warp_sum(ac[i][f]);
        const T sr = cuda::warp_sum(ar[i][f]);
        const int64_t n = n0 + f;
        if (lane == 0 && i < rows && n < N) {
          oc[(m0 + i) * N + n] = sc + (bias ? bias[n] : T(0));
          orad[(m0 + i) * N + n] = sr;
        }
      }
  }
}

template <typename T, int V, int ROWS, int F, int U>
void launch_few_rows(const at::Tensor& c, const at::Tensor& r, const at::Tensor& w, const at::Tensor& b,
                     at::Tensor& oc, at::Tensor& orad) {
  const int64_t M = c.size(0), K = c.size(1), N = w.size(0);
  const int64_t features_per_block = int64_t(kWarpsPerBlock) * F;
  const int64_t blocks = (N + features_per_block - 1) / features_per_block;
  interval_linear_few_rows_kernel<T, V, ROWS, F, U>
      <<<blocks, kWarpsPerBlock * 32, 0, at::cuda::getCurrentCUDAStream()>>>(
          c.data_ptr<T>(), r.data_ptr<T>(), w.data_ptr<T>(), b.defined() ? b.data_ptr<T>() : nullptr,
          oc.data_ptr<T>(), orad.data_ptr<T>(), M, K, N);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Register tiles by row count: one or two rows are pure W streaming (one
// feature per warp for the most warps, four packs in flight per lane); more
// rows share each c/r load among more features.
template <typename T, int V>
void launch_for_rows(const at::Tensor& c, const at::Tensor& r, const at::Tensor& w, const at::Tensor& b,
                     at::Tensor& oc, at::Tensor& orad) {
  const int64_t M = c.size(0);
  if (M <= 2) {
    launch_few_rows<T, V, 2, 1, 4>(c, r, w, b, oc, orad);
  } else if (M <= 4) {
    launch_few_rows<T, V, 4, 2, 2>(c, r, w, b, oc, orad);
  } else if (M <= 8) {
    launch_few_rows<T, V, 8, 4, 1>(c, r, w, b, oc, orad);
  } else {
    launch_few_rows<T, V, 16, 4, 1>(c, r, w, b, oc, orad);
  }
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
  if (K == 0 || !use_own_kernel(ChoiceOp::IntervalLinear, M <= kOwnRows || M * K * N <= kOwnProduct)) {
    const cuda::IeeeMatmulGuard ieee;  // cuda_utils.cuh: bounds need IEEE float32
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
        launch_for_rows<scalar_t, V>(c, r, w, b, oc, orad);
      } else {
        launch_for_rows<scalar_t, 1>(c, r, w, b, oc, orad);
      }
    });
  }
  return {oc.view(x.out_shape), orad.view(x.out_shape)};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("interval_linear", &interval_linear_cuda); }

}  // namespace mixtrain
