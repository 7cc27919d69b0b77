// interval_linear on CUDA: (c W^T + b, r |W|^T) over any leading dims.
//
// Few rows (MixTrain's k sampled points): the op is bound by reading W, so a
// warp (or, up to 4 rows, WPF warps splitting K) owns F output features,
// streams their W rows once with 16-byte loads
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
// M * K * N. Was 2^24; session 25's sweep (results/h100-kernel-choices-session25-
// 2026-11-24.json, launch-inclusive) at K = N = 512: own kernel 49.7 us at 32
// rows against cuBLAS's 54.4, but 72.9 / 95.7 us at 48 / 64 rows against
// 52.1 / 53.0 (the 0.55x of 64 x 512 x 512 in every GPU table so far was this).
constexpr int64_t kOwnProduct = int64_t(1) << 23;
constexpr int kWarpsPerBlock = 8;

// WPF warps share each feature group and split K between them (split-K):
// with one or two rows and N of a few thousand, one warp per feature leaves
// too few warps, and too few bytes in flight, to stream W at full bandwidth.
// Their partial sums meet in shared memory.
template <typename T, int V, int ROWS, int F, int U, int WPF>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    interval_linear_few_rows_kernel(const T* __restrict__ c, const T* __restrict__ r, const T* __restrict__ w,
                                    const T* __restrict__ bias, T* __restrict__ oc, T* __restrict__ orad, int64_t M,
                                    int64_t K, int64_t N) {
  static_assert(kWarpsPerBlock % WPF == 0, "WPF must divide the warps of a block");
  using P = cuda::Pack<T, V>;
  constexpr int kGroups = kWarpsPerBlock / WPF;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int part = warp % WPF;  // this warp's share of K
  const int64_t n0 = (int64_t(blockIdx.x) * kGroups + warp / WPF) * F;
  // With WPF > 1 every warp must reach the __syncthreads below.
  if (WPF == 1 && n0 >= N) return;
  const int64_t kp = K / V;  // K is a multiple of V on this path
  const P* cp = reinterpret_cast<const P*>(c);
  const P* rp = reinterpret_cast<const P*>(r);
  const P* wp = reinterpret_cast<const P*>(w);
  __shared__ T partial[WPF > 1 ? kWarpsPerBlock : 1][ROWS][F][2];
  for (int64_t m0 = 0; m0 < M; m0 += ROWS) {
    const int rows = int(M - m0 < ROWS ? M - m0 : ROWS);
    T ac[ROWS][F], ar[ROWS][F];
#pragma unroll
    for (int i = 0; i < ROWS; ++i)
#pragma unroll
      for (int f = 0; f < F; ++f) ac[i][f] = ar[i][f] = T(0);
    for (int64_t k0 = int64_t(part) * 32 + lane; k0 < kp; k0 += 32 * WPF * U) {
      P wv[U][F];
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int f = 0; f < F; ++f) {
          const int64_t k = k0 + 32 * WPF * u;
          if (k < kp && n0 + f < N) {
            wv[u][f] = wp[(n0 + f) * kp + k];
          } else {
#pragma unroll
            for (int j = 0; j < V; ++j) wv[u][f].v[j] = T(0);
          }
        }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int64_t k = k0 + 32 * WPF * u;
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
        T sc = cuda::warp_sum(ac[i][f]);
        T sr = cuda::warp_sum(ar[i][f]);
        if (WPF > 1) {
          if (lane == 0) {
            partial[warp][i][f][0] = sc;
            partial[warp][i][f][1] = sr;
          }
          continue;
        }
        const int64_t n = n0 + f;
        if (lane == 0 && i < rows && n < N) {
          oc[(m0 + i) * N + n] = sc + (bias ? bias[n] : T(0));
          orad[(m0 + i) * N + n] = sr;
        }
      }
    if (WPF > 1) {
      __syncthreads();
      // The first warp of each group sums its WPF partials, in a fixed order
      // (the same bits on every call); lane i * F + f writes one output.
      if (part == 0) {
        for (int e = lane; e < ROWS * F; e += 32) {
          const int i = e / F, f = e % F;
          const int64_t n = n0 + f;
          if (i < rows && n < N) {
            T sc = T(0), sr = T(0);
#pragma unroll
            for (int p = 0; p < WPF; ++p) {
              sc += partial[warp + p][i][f][0];
              sr += partial[warp + p][i][f][1];
            }
            oc[(m0 + i) * N + n] = sc + (bias ? bias[n] : T(0));
            orad[(m0 + i) * N + n] = sr;
          }
        }
      }
      __syncthreads();  // partial is reused by the next rows
    }
  }
}

template <typename T, int V, int ROWS, int F, int U, int WPF>
void launch_few_rows(const at::Tensor& c, const at::Tensor& r, const at::Tensor& w, const at::Tensor& b,
                     at::Tensor& oc, at::Tensor& orad) {
  const int64_t M = c.size(0), K = c.size(1), N = w.size(0);
  const int64_t features_per_block = int64_t(kWarpsPerBlock / WPF) * F;
  const int64_t blocks = (N + features_per_block - 1) / features_per_block;
  interval_linear_few_rows_kernel<T, V, ROWS, F, U, WPF>
      <<<blocks, kWarpsPerBlock * 32, 0, at::cuda::getCurrentCUDAStream()>>>(
          c.data_ptr<T>(), r.data_ptr<T>(), w.data_ptr<T>(), b.defined() ? b.data_ptr<T>() : nullptr,
          oc.data_ptr<T>(), orad.data_ptr<T>(), M, K, N);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Warps per feature for 1-4 rows: split K until there are kTargetWarps warps
// or a lane would get less than one batch of U packs. Set from
// benchmarks/gpu_kernel_choices.py on an H100, graph-replayed kernel times
// (benchmarks/README.md): at K = N = 4096, 1 / 2 / 4 rows take 33.5 / 45.3 /
// 78.5 us with one warp per feature and 27.2 / 29.7 / 35.6 us with eight
// (the most, and the best there); at K = N = 2048, one row, 9.9 us with one
// warp, 8.8 with two, 9.2 with four, 10.3 with eight. At K = N = 512 every
// split takes 3-4 us: the launch.
constexpr int64_t kTargetWarps = 32768;

int auto_split(int64_t N, int64_t K, int F, int U, int V) {
  int wpf = 1;
  while (wpf < kWarpsPerBlock && (N + F - 1) / F * wpf < kTargetWarps && K / V >= int64_t(64) * wpf * U) wpf *= 2;
  return wpf;
}

template <typename T, int V, int ROWS, int F, int U>
void launch_split(int wpf, const at::Tensor& c, const at::Tensor& r, const at::Tensor& w, const at::Tensor& b,
                  at::Tensor& oc, at::Tensor& orad) {
  switch (wpf) {
    case 1: return launch_few_rows<T, V, ROWS, F, U, 1>(c, r, w, b, oc, orad);
    case 2: return launch_few_rows<T, V, ROWS, F, U, 2>(c, r, w, b, oc, orad);
    case 4: return launch_few_rows<T, V, ROWS, F, U, 4>(c, r, w, b, oc, orad);
    default: return launch_few_rows<T, V, ROWS, F, U, 8>(c, r, w, b, oc, orad);
  }
}

// Register tiles by row count: one or two rows are pure W streaming (one
// feature per warp group, four packs in flight per lane); more rows share each
// c/r load among more features. Up to 4 rows, warps also split K (above).
// The 8- and 16-row tiles split K only when forced (_set_interval_linear_split):
// with one warp per 4 features they launch N / 4 warps (1024 at N = 4096, under
// one block per SM on an H100), which is the likely reason they take 151 us at
// 8 x 4096 x 4096 against a W-read floor of 24 us
// (results/h100-kernel-choices-session25-2026-11-24.json). Their split rule
// awaits the next GPU session's sweep (benchmarks/gpu_kernel_choices.py times
// every split up to 16 rows).
template <typename T, int V>
void launch_for_rows(const at::Tensor& c, const at::Tensor& r, const at::Tensor& w, const at::Tensor& b,
                     at::Tensor& oc, at::Tensor& orad) {
  const int64_t M = c.size(0), K = c.size(1), N = w.size(0);
  const int forced = interval_linear_split();
  if (M <= 2) {
    launch_split<T, V, 2, 1, 4>(forced ? forced : auto_split(N, K, 1, 4, V), c, r, w, b, oc, orad);
  } else if (M <= 4) {
    launch_split<T, V, 4, 2, 2>(forced ? forced : auto_split(N, K, 2, 2, V), c, r, w, b, oc, orad);
  } else if (M <= 8) {
    launch_split<T, V, 8, 4, 1>(forced ? forced : 1, c, r, w, b, oc, orad);
  } else {
    launch_split<T, V, 16, 4, 1>(forced ? forced : 1, c, r, w, b, oc, orad);
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
