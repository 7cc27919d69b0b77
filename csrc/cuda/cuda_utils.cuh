#pragma once
// Small helpers shared by the CUDA kernels: launch geometry, a vector pack for
// wide loads, and warp/block reductions.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>

#include "common/ieee_matmul_guard.h"

#include <array>
#include <cstdint>

namespace mixtrain {
namespace cuda {

constexpr int kThreads = 256;

inline int64_t blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  // Grid-stride loops cover the rest; 65535 * 8 blocks keep every SM busy.
  return b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b);
}

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T>
__device__ __forceinline__ T abs_val(T x) {
  return x < T(0) ? -x : x;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block; the result is valid in thread 0. `scratch` holds 32 values.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? scratch[threadIdx.x] : T(0);
  if (warp == 0) v = warp_sum(v);
  return v;
}

// Bounds are claims about float32 arithmetic. A library product rounded to
// TF32 (10-bit mantissa, about 1e-3 relative) can move a center or shrink a
// radius by far more than float32 rounding, and the bound stops being sound.
// cuDNN takes TF32 for float32 convolutions by default
// (torch.backends.cudnn.allow_tf32 is True) and cuBLAS does once a user asks
// (torch.set_float32_matmul_precision("high")), so every cuBLAS and cuDNN call
// in these kernels runs in IEEE float32, whatever the global settings say.

// cuBLAS: common/ieee_matmul_guard.h (no CUDA headers, so that a CPU build tests it).
using IeeeMatmulGuard = ::mixtrain::IeeeMatmulGuard;

// cuDNN: at::_convolution takes allow_tf32 per call, so no global changes.
inline at::Tensor conv2d_ieee(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                              at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                              int64_t groups) {
  const auto& ctx = at::globalContext();
  const std::array<int64_t, 2> no_output_padding{0, 0};
  return at::_convolution(input, weight, bias, stride, padding, dilation, /*transposed=*/false, no_output_padding,
                          groups, ctx.benchmarkCuDNN(), ctx.deterministicCuDNN(), ctx.userEnabledCuDNN(),
                          /*allow_tf32=*/false);
}

}  // namespace cuda
}  // namespace mixtrain
