// crown_relu_conv2d_backward on CUDA: the two steps in turn, through the
// dispatcher (crown_relu_backward's kernel, then crown_conv2d_backward's
// cuDNN call). Not fused: the CPU fuses them because the ReLU's pass over A
// is memory-bound there. On the H100 this composition runs 2.1-4.8x the
// reference's two steps launch-inclusive (results/h100-ops-session25-2026-11-24.json,
// the reference's ReLU step being many elementwise ops); whether one fused
// kernel would beat it is unmeasured.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "checks.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor> crown_relu_conv2d_backward_cuda(
    const at::Tensor& A, const at::Tensor& lower, const at::Tensor& upper, bool upper_bound,
    const at::Tensor& weight, const c10::optional<at::Tensor>& bias, at::IntArrayRef stride, at::IntArrayRef padding,
    at::IntArrayRef dilation, at::IntArrayRef input_size) {
  const ConvGeometry g =
      check_crown_relu_conv_args(A, lower, upper, weight, bias, stride, padding, dilation, input_size);
  static auto relu_step =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mixtrain::crown_relu_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool)>();
  static auto conv_step =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mixtrain::crown_conv2d_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&,
                                                    const c10::optional<at::Tensor>&, at::IntArrayRef,
                                                    at::IntArrayRef, at::IntArrayRef, at::IntArrayRef)>();
  const int64_t B = A.size(0), S = A.size(1);
  auto [relu_A, relu_bias] = relu_step.call(A, lower, upper, upper_bound);
  auto [out, conv_bias] = conv_step.call(relu_A.flatten(0, 1), weight, bias, stride, padding, dilation, input_size);
  return {out.view({B, S, g.channels, g.height, g.width}), relu_bias + conv_bias.view({B, S})};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("crown_relu_conv2d_backward", &crown_relu_conv2d_backward_cuda); }

}  // namespace mixtrain
