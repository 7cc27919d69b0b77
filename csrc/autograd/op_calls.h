#pragma once
// Typed calls of the mixtrain ops through the dispatcher, for the autograd
// kernels in this folder. Which kernel runs depends on the caller: under
// at::AutoDispatchBelowADInplaceOrView (a Function's forward) the backend's,
// otherwise (a Function's backward) the op's own autograd, so that a backward
// built from these ops can be differentiated again.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <optional>

namespace mixtrain {

using TensorPair = std::tuple<at::Tensor, at::Tensor>;
using TensorTriple = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

// For a Function's backward: without create_graph (grad mode off) nothing is
// recorded, so the ops it calls may skip their autograd kernels (most for
// those still in Python: crown_relu_backward_grad's). With
// create_graph they go through autograd, for double backward.
class BelowAutogradUnlessRecording {
 public:
  BelowAutogradUnlessRecording() {
    if (!at::GradMode::is_enabled()) guard_.emplace();
  }

 private:
  std::optional<at::AutoDispatchBelowADInplaceOrView> guard_;
};

inline TensorPair call_interval_linear(const at::Tensor& center, const at::Tensor& radius, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mixtrain::interval_linear", "")
                       .typed<TensorPair(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&)>();
  return op.call(center, radius, weight, bias);
}

inline TensorPair call_interval_conv2d(const at::Tensor& center, const at::Tensor& radius, const at::Tensor& weight,
                                       const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                       at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mixtrain::interval_conv2d", "")
                       .typed<TensorPair(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&, at::IntArrayRef, at::IntArrayRef,
                                         at::IntArrayRef, int64_t)>();
  return op.call(center, radius, weight, bias, stride, padding, dilation, groups);
}

inline TensorPair call_interval_relu(const at::Tensor& center, const at::Tensor& radius) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mixtrain::interval_relu", "")
                       .typed<TensorPair(const at::Tensor&, const at::Tensor&)>();
  return op.call(center, radius);
}

inline TensorPair call_interval_relu_backward(const at::Tensor& grad_center, const at::Tensor& grad_radius,
                                              const at::Tensor& center, const at::Tensor& radius) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mixtrain::interval_relu_backward", "")
          .typed<TensorPair(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  return op.call(grad_center, grad_radius, center, radius);
}

inline TensorPair call_crown_relu_backward(const at::Tensor& A, const at::Tensor& lower, const at::Tensor& upper,
                                           bool upper_bound) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mixtrain::crown_relu_backward", "")
                       .typed<TensorPair(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool)>();
  return op.call(A, lower, upper, upper_bound);
}

inline TensorTriple call_crown_relu_backward_grad(const at::Tensor& grad_A, const at::Tensor& grad_bias,
                                                  const at::Tensor& A, const at::Tensor& lower,
                                                  const at::Tensor& upper, bool upper_bound) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mixtrain::crown_relu_backward_grad", "")
                       .typed<TensorTriple(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                           const at::Tensor&, const at::Tensor&, bool)>();
  return op.call(grad_A, grad_bias, A, lower, upper, upper_bound);
}

inline TensorPair call_crown_conv2d_backward(const at::Tensor& A, const at::Tensor& weight,
                                             const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                             at::IntArrayRef padding, at::IntArrayRef dilation,
                                             at::IntArrayRef input_size) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mixtrain::crown_conv2d_backward", "")
                       .typed<TensorPair(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                         at::IntArrayRef, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef)>();
  return op.call(A, weight, bias, stride, padding, dilation, input_size);
}

inline TensorPair call_crown_relu_conv2d_backward(const at::Tensor& A, const at::Tensor& lower,
                                                  const at::Tensor& upper, bool upper_bound, const at::Tensor& weight,
                                                  const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                                  at::IntArrayRef padding, at::IntArrayRef dilation,
                                                  at::IntArrayRef input_size) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("mixtrain::crown_relu_conv2d_backward", "")
          .typed<TensorPair(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool, const at::Tensor&,
                            const std::optional<at::Tensor>&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                            at::IntArrayRef)>();
  return op.call(A, lower, upper, upper_bound, weight, bias, stride, padding, dilation, input_size);
}

// conv_transpose2d's output_padding that maps A ([N, O, OH, OW]) back onto
// input_size: the input rows and columns a strided convolution never reads.
// In SymInts, read with sym_size: under torch.compile a plain size() would
// fix every dimension of A, the batch too, into the compiled graph.
inline std::vector<c10::SymInt> transposed_output_padding(const at::Tensor& A, const at::Tensor& weight,
                                                          at::IntArrayRef stride, at::IntArrayRef padding,
                                                          at::IntArrayRef dilation, at::IntArrayRef input_size) {
  std::vector<c10::SymInt> pad;
  for (int d = 0; d < 2; ++d) {
    pad.push_back(input_size[d] - ((A.sym_size(2 + d) - 1) * stride[d] - 2 * padding[d] +
                                   dilation[d] * (weight.sym_size(2 + d) - 1) + 1));
  }
  return pad;
}

}  // namespace mixtrain
