#pragma once
// Radius of generator rows on CUDA: input-symbol rows (row < input_rows) are
// summed with the dual norm of the input ball (L1 for L-inf, L2 for L2),
// ReLU-symbol rows with L1. Kernels accumulate `l1` and `sq` (sum of squares);
// finish_radius turns them into the radius.
#include <ATen/ATen.h>

namespace mixtrain {
namespace cuda {

inline at::Tensor finish_radius(at::Tensor l1, const at::Tensor& sq, bool l2) {
  return l2 ? l1.add_(sq.sqrt()) : l1;
}

}  // namespace cuda
}  // namespace mixtrain
