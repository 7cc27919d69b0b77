#pragma once
// Radius of generator rows on CUDA: input-symbol rows (row < input_rows) are
// summed with the dual norm of the input ball (L1 for L-inf, L2 for L2),
// ReLU-symbol rows with L1. Kernels accumulate `l1` and `sq` (sum of squares);
// finish_radius turns them into the radius.
#include <ATen/ATen.h>

#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace cuda {

inline at::Tensor finish_radius(at::Tensor l1, const at::Tensor& sq, bool l2) {
  return l2 ? l1.add_(sq.sqrt()) : l1;
}

// Column sums of Y [B, R, W] over a chunk of rows: thread x owns column
// (b, n) -- consecutive threads read consecutive columns of one row, so every
// read is coalesced -- and grid row y owns rows [y * chunk, (y + 1) * chunk),
// writing its partial sums to row y of `l1` / `sq` ([chunks, B * W]).
// Chunks exist because B * W alone can be a few thousand threads (MNIST small
// conv2 at k = 2: 3136 columns over 3920 rows), far too few for a GPU. The
// partials are summed afterwards in a fixed order, not with atomics: the
// radius must be the same bits on every call, since the ReLU after it decides
// from it which neurons are unstable, and a checkpointed chunk whose backward
// recomputation decided differently (one more generator row) is refused by
// autograd (seen on the H100 in the CIFAR symbolic passes).
template <typename T>
__global__ void generator_radius_kernel(const T* __restrict__ Y, T* __restrict__ l1, T* __restrict__ sq, int64_t B,
                                        int64_t R, int64_t width, int64_t input_rows, bool l2, int64_t chunk) {
  const int64_t r0 = int64_t(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < R ? r0 + chunk : R;
  const int64_t columns = B * width;
  T* l1_part = l1 + int64_t(blockIdx.y) * columns;
  T* sq_part = l2 ? sq + int64_t(blockIdx.y) * columns : nullptr;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < columns;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / width, n = i % width;
    const T* col = Y + b * R * width + n;
    T s1 = T(0), s2 = T(0);
    for (int64_t r = r0; r < r1; ++r) {
      const T v = col[r * width];
      if (l2 && r < input_rows) s2 += v * v;
      else s1 += abs_val(v);
    }
    l1_part[i] = s1;
    if (l2) sq_part[i] = s2;
  }
}

// The radius [B, W...] of Y [B, R, W...] (shape of Y without dim 1).
inline at::Tensor generator_radius(const at::Tensor& Y, int64_t input_rows, bool l2) {
  const int64_t B = Y.size(0), R = Y.size(1);
  const int64_t width = B == 0 || R == 0 ? 0 : Y.numel() / (B * R);
  std::vector<int64_t> shape = Y.sizes().vec();
  shape.erase(shape.begin() + 1);
  // About 4 resident threads' worth of work per SM thread slot, in chunks of
  // at least 16 rows; one chunk when the columns alone fill the GPU.
  const int64_t columns = B * width;
  const int64_t want = 4 * int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 2048;
  int64_t chunks = columns > 0 ? (want + columns - 1) / columns : 1;
  const int64_t max_chunks = (R + 15) / 16;
  chunks = chunks < 1 ? 1 : (chunks > max_chunks ? max_chunks : chunks);
  chunks = chunks > 65535 ? 65535 : chunks;
  const int64_t chunk = R > 0 ? (R + chunks - 1) / chunks : 1;
  chunks = R > 0 ? (R + chunk - 1) / chunk : 1;
  if (columns == 0) return at::zeros(shape, Y.options());  // no rows (or no neurons): radius 0
  at::Tensor l1 = at::empty({chunks, columns}, Y.options());
  at::Tensor sq = l2 ? at::empty({chunks, columns}, Y.options()) : at::Tensor();
  const at::Tensor y = Y.contiguous();
  const dim3 grid(static_cast<unsigned>(blocks_for(columns)), static_cast<unsigned>(chunks));
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "generator_radius", [&] {
    generator_radius_kernel<scalar_t><<<grid, kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        y.data_ptr<scalar_t>(), l1.data_ptr<scalar_t>(), l2 ? sq.data_ptr<scalar_t>() : nullptr, B, R, width,
        input_rows, l2, chunk);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  // torch's reduction over the chunks is deterministic (no atomics).
  at::Tensor l1_sum = chunks > 1 ? l1.sum(0) : l1.squeeze(0);
  at::Tensor sq_sum = l2 ? (chunks > 1 ? sq.sum(0) : sq.squeeze(0)) : at::Tensor();
  return finish_radius(l1_sum, sq_sum, l2).view(shape);
}

}  // namespace cuda
}  // namespace mixtrain
