#pragma once
// CROWN's backward step through a convolution on the CPU, shared by
// crown_conv2d_backward (cpu/crown_conv2d_backward_cpu.cpp) and
// crown_relu_conv2d_backward (cpu/crown_relu_conv2d_backward_cpu.cpp).
#include <ATen/ATen.h>

#include "checks.h"

namespace mixtrain {

// The step through the ReLU that follows the convolution in the network,
// done on each row of A as the kernel copies it into its padded buffer:
// relax is [3, samples, OH, OW, O] contiguous, the ReLU's (upper slope, upper
// intercept, lower slope) per neuron (crown_relax_row) in A's channels-last
// order; row n of A belongs to sample n / specs.
struct CrownReluStep {
  at::Tensor relax;
  int64_t specs;
  bool upper_bound;
};

// (conv_transpose2d(A', W) onto g's input size, [N] bias terms) with A' = A,
// or A after the ReLU step when relu is given (whose intercept sums then join
// the bias terms). A [N, O, OH, OW] in any layout (channels-last is free).
std::tuple<at::Tensor, at::Tensor> crown_conv2d_backward_rows(const at::Tensor& A, const at::Tensor& weight,
                                                              const c10::optional<at::Tensor>& bias,
                                                              const ConvGeometry& g, const CrownReluStep* relu);

}  // namespace mixtrain
