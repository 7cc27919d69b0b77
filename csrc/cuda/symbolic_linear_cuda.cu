// symbolic_linear on CUDA: center W c + b (cuBLAS, one row per sample), and the
// generator product G W^T in one of two ways (kSmallProduct decides):
// - own: a tiled kernel whose epilogue also reduces the tile's columns into
//   the concrete radius -- the new generators are written once and never read
//   back just to bound them;
// - library: one cuBLAS GEMM over all B*R rows, then the column kernel of
//   generator_radius.cuh reads them once more. At MixTrain's sizes the product
//   is arithmetic-bound (MNIST small fc1 at k = 10: 3.1 GMAC against 8 MB of
//   output), and cuBLAS's float32 GEMM runs far closer to the peak than this
//   64x64 tile does, so the extra read costs less than it saves.
// Both run in IEEE float32 (cuda_utils.cuh says why).
#include <torch/library.h>

#include "checks.h"
#include "kernel_choice.h"
#include "cuda/cuda_utils.cuh"
#include "cuda/generator_radius.cuh"

namespace mixtrain {
namespace {

constexpr int TM = 64, TN = 64, TK = 16;  // tile rows, tile columns, k-step
constexpr int kTileThreads = 256;         // 16 x 16 threads, 4 x 4 outputs each
// Products of at most this many multiply-adds take the fused tile kernel (one
// launch, no second read); larger ones go to cuBLAS. Measured on an H100
// (benchmarks/gpu_kernel_choices.py, benchmarks/README.md): fused wins up to
// 164M (55 us against 78) and loses from 3.1G (MNIST small fc1 at k = 10:
// 469 us against 297).
constexpr int64_t kSmallProduct = int64_t(1) << 29;

// Y[b, row, n] = sum_k G[b, row, k] * W[n, k]. Grid (N/TN, R/TM, B): a tile
// never spans two samples, so its column sums belong to one (b, n).
template <typename T>
__global__ void symbolic_linear_gens_kernel(const T* __restrict__ G, const T* __restrict__ W, T* __restrict__ Y,
                                            T* __restrict__ l1, T* __restrict__ sq, int64_t R, int64_t K, int64_t N,
                                            int64_t input_rows, bool l2) {
  // +1: the tile loads write along k, 64 words apart without the padding
  // (a 16-way bank conflict).
  __shared__ T As[TK][TM + 1];
  __shared__ T Ws[TK][TN + 1];
  __shared__ T red_l1[16][TN];
  __shared__ T red_sq[16][TN];
  const int64_t b = blockIdx.z, row0 = int64_t(blockIdx.y) * TM, col0 = int64_t(blockIdx.x) * TN;
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const T* Gb = G + b * R * K;
  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);

  for (int64_t k0 = 0; k0 < K; k0 += TK) {
#pragma unroll
    for (int e = 0; e < (TM * TK) / kTileThreads; ++e) {
      const int idx = t + e * kTileThreads, rr = idx / TK, kk = idx % TK;
      const int64_t row = row0 + rr, k = k0 + kk;
      As[kk][rr] = (row < R && k < K) ? Gb[row * K + k] : T(0);
      const int64_t col = col0 + rr;
      Ws[kk][rr] = (col < N && k < K) ? W[col * K + k] : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; ++kk) {
      T a[4], w[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) w[j] = Ws[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * w[j];
    }
    __syncthreads();
  }

  // Epilogue: store the tile and reduce its columns into the radius.
  T part_l1[4] = {T(0), T(0), T(0), T(0)}, part_sq[4] = {T(0), T(0), T(0), T(0)};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t row = row0 + ty * 4 + i;
    if (row >= R) continue;
    const bool to_sq = l2 && row < input_rows;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t col = col0 + tx * 4 + j;
      const T v = acc[i][j];
      if (col < N) Y[(b * R + row) * N + col] = v;
      if (to_sq) part_sq[j] += v * v;
      else part_l1[j] += cuda::abs_val(v);
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    red_l1[ty][tx * 4 + j] = part_l1[j];
    red_sq[ty][tx * 4 + j] = part_sq[j];
  }
  __syncthreads();
  if (t < TN) {
    const int64_t col = col0 + t;
    if (col < N) {
      T s1 = T(0), s2 = T(0);
#pragma unroll
      for (int i = 0; i < 16; ++i) {
        s1 += red_l1[i][t];
        s2 += red_sq[i][t];
      }
      // Each row tile writes its own partial sums ([row tiles, B, N]), added
      // up afterwards in a fixed order: no atomics, so the radius is the same
      // bits on every call (generator_radius.cuh says why that matters).
      const int64_t at = (int64_t(blockIdx.y) * gridDim.z + b) * N + col;
      l1[at] = s1;
      if (l2) sq[at] = s2;
    }
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_linear_cuda(const at::Tensor& center, const at::Tensor& gens,
                                                                    const at::Tensor& weight,
                                                                    const c10::optional<at::Tensor>& bias,
                                                                    int64_t input_rows, double input_norm) {
  check_symbolic_linear_args(center, gens, weight, bias, input_rows, input_norm);
  const int64_t B = gens.size(0), R = gens.size(1), K = gens.size(2), N = weight.size(0);
  TORCH_CHECK(B <= 65535 && (R + TM - 1) / TM <= 65535,
              "symbolic_linear on CUDA takes at most 65535 samples and 4194240 generator rows per call "
              "(the engine chunks)");
  const bool l2 = input_norm == 2.0;
  const c10::cuda::CUDAGuard guard(center.device());
  const cuda::IeeeMatmulGuard ieee;

  const at::Tensor wt = weight.t();
  at::Tensor out_center = bias.has_value() ? at::addmm(*bias, center, wt) : at::mm(center, wt);
  const at::Tensor g = gens.contiguous(), w = weight.contiguous();
  if (!use_own_kernel(ChoiceOp::SymbolicLinear, B * R * K * N <= kSmallProduct) && B * R * N > 0) {
    at::Tensor out_gens = at::mm(g.view({B * R, K}), wt).view({B, R, N});
    return {out_center, out_gens, cuda::generator_radius(out_gens, input_rows, l2)};
  }
  at::Tensor out_gens = at::empty({B, R, N}, g.options());
  if (B * R * N == 0) {
    return {out_center, out_gens, at::zeros({B, N}, g.options())};
  }
  const int64_t row_tiles = (R + TM - 1) / TM;
  at::Tensor l1 = at::empty({row_tiles, B, N}, g.options());  // partial sums of each row tile
  at::Tensor sq = l2 ? at::empty({row_tiles, B, N}, g.options()) : at::Tensor();
  const dim3 grid((N + TN - 1) / TN, row_tiles, B);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "symbolic_linear_cuda", [&] {
    symbolic_linear_gens_kernel<scalar_t><<<grid, kTileThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        g.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(), out_gens.data_ptr<scalar_t>(), l1.data_ptr<scalar_t>(),
        l2 ? sq.data_ptr<scalar_t>() : nullptr, R, K, N, input_rows, l2);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  // torch's reduction over the row tiles is deterministic (no atomics).
  at::Tensor l1_sum = row_tiles > 1 ? l1.sum(0) : l1.squeeze(0);
  at::Tensor sq_sum = l2 ? (row_tiles > 1 ? sq.sum(0) : sq.squeeze(0)) : at::Tensor();
  return {out_center, out_gens, cuda::finish_radius(l1_sum, sq_sum, l2)};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("symbolic_linear", &symbolic_linear_cuda); }

}  // namespace mixtrain
