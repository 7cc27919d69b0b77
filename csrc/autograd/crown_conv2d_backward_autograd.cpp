// crown_conv2d_backward's autograd, in C++ (why C++: interval_linear_autograd.cpp).
// The gradients of back = conv_transpose2d(A, W) are those autograd takes for
// F.conv_transpose2d: one convolution_backward call, whose oneDNN weight
// gradient is the transposed convolution's own. (As conv2d(grad, W) and the
// weight gradient of conv2d(grad, W) seen from A, the same numbers took twice
// as long: 19 against 9.4 ms forward+backward at 144 rows, 32 -> 1 channel
// 3x3, 2-core AVX2.) The bias term sum A * bias adds its own.
#include <ATen/ops/convolution_backward.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class CrownConv2dBackward : public torch::autograd::Function<CrownConv2dBackward> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& A, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                               at::IntArrayRef padding, at::IntArrayRef dilation, at::IntArrayRef input_size) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [back, bias_term] = call_crown_conv2d_backward(A, weight, bias, stride, padding, dilation, input_size);
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["input_size"] = input_size;
    const bool has_bias = bias.has_value() && bias->defined();
    ctx->save_for_backward({A, weight, has_bias ? *bias : at::Tensor()});
    return {back, bias_term};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &A = saved[0], &weight = saved[1], &bias = saved[2];
    // Edges: A, weight, then bias if one was given.
    const bool need_A = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1),
               need_b = bias.defined() && ctx->needs_input_grad(2);
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const auto dilation = ctx->saved_data["dilation"].toIntVector();
    const auto input_size = ctx->saved_data["input_size"].toIntVector();
    // The _symint form, output padding from A's sym_sizes: see transposed_output_padding.
    auto [d_A, d_weight, unused] = at::convolution_backward_symint(
        grads[0], A, weight, std::nullopt, c10::fromIntArrayRefSlow(stride), c10::fromIntArrayRefSlow(padding),
        c10::fromIntArrayRefSlow(dilation), true,
        transposed_output_padding(A, weight, stride, padding, dilation, input_size), 1, {need_A, need_w, false});
    at::Tensor d_bias;
    if (bias.defined()) {
      const at::Tensor& g = grads[1];  // [N], the gradient of the bias term sum A * bias
      if (need_A) d_A = d_A.addcmul(g.reshape({-1, 1, 1, 1}), bias.reshape({1, -1, 1, 1}));
      if (need_b) d_bias = g.unsqueeze(1).mul(A.sum({2, 3})).sum(0);
    }
    return {d_A, d_weight, d_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

TensorPair crown_conv2d_backward_autograd(const at::Tensor& A, const at::Tensor& weight,
                                          const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation,
                                          at::IntArrayRef input_size) {
  auto out = CrownConv2dBackward::apply(A, weight, bias, stride, padding, dilation, input_size);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) { m.impl("crown_conv2d_backward", &crown_conv2d_backward_autograd); }

}  // namespace mixtrain
