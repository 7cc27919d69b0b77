// Every schema of the `mixtrain` op library, in one place. Backends add
// implementations with TORCH_LIBRARY_IMPL in cpu/ and cuda/; the training ops'
// autograd (IBP's and CROWN-IBP's) in autograd/ (C++, for the host cost), the
// other ops' autograd and every fake (meta) kernel from Python (mixtrain_cuda/ops/).
// Shapes and layouts are documented in csrc/README.md.
#include <torch/library.h>

TORCH_LIBRARY(mixtrain, m) {
  // IBP through an affine map: (c W^T + b, r |W|^T).
  m.def("interval_linear(Tensor center, Tensor radius, Tensor weight, Tensor? bias) -> (Tensor, Tensor)");
  m.def(
      "interval_conv2d(Tensor center, Tensor radius, Tensor weight, Tensor? bias, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups) -> (Tensor, Tensor)");
  // Symbolic-interval affine step: (W c + b, G W^T, concrete radius of the result).
  m.def(
      "symbolic_linear(Tensor center, Tensor gens, Tensor weight, Tensor? bias, int input_rows, "
      "float input_norm) -> (Tensor, Tensor, Tensor)");
  m.def(
      "symbolic_conv2d(Tensor center, Tensor gens, Tensor weight, Tensor? bias, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, int input_rows, float input_norm) -> (Tensor, Tensor, Tensor)");
  // ReLU relaxations, fused (concretize + relax + apply).
  m.def("interval_relu(Tensor center, Tensor radius) -> (Tensor, Tensor)");
  // interval_relu's backward in one pass (autograd's elementwise chain took 12 passes).
  m.def(
      "interval_relu_backward(Tensor grad_center, Tensor grad_radius, Tensor center, Tensor radius) "
      "-> (Tensor, Tensor)");
  m.def("symbolic_relu(Tensor center, Tensor gens, Tensor radius) -> (Tensor, Tensor, Tensor)");
  m.def("crown_relu_backward(Tensor A, Tensor lower, Tensor upper, bool upper_bound) -> (Tensor, Tensor)");
  // CROWN's backward step through a convolution (groups 1): conv_transpose2d(A, W) onto the layer's input
  // size, and the bias term sum A * bias. CPU: a kernel for few input channels (the first layer's).
  m.def(
      "crown_conv2d_backward(Tensor A, Tensor weight, Tensor? bias, int[2] stride, int[2] padding, "
      "int[2] dilation, int[2] input_size) -> (Tensor, Tensor)");
  // crown_relu_backward then crown_conv2d_backward in one step: the backward step through
  // relu(conv(x)), with A [B, S, ...] and the ReLU's pre-activation bounds [B, ...]. CPU: the ReLU's
  // step runs inside the convolution kernel's copy of A (A after the ReLU is never stored).
  m.def(
      "crown_relu_conv2d_backward(Tensor A, Tensor lower, Tensor upper, bool upper_bound, Tensor weight, "
      "Tensor? bias, int[2] stride, int[2] padding, int[2] dilation, int[2] input_size) -> (Tensor, Tensor)");
  // crown_relu_backward's gradient in one pass over A (training through CROWN-IBP).
  m.def(
      "crown_relu_backward_grad(Tensor grad_A, Tensor grad_bias, Tensor A, Tensor lower, Tensor upper, "
      "bool upper_bound) -> (Tensor, Tensor, Tensor)");
}
