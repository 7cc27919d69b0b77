// crown_relu_conv2d_backward's autograd, in C++ (why C++: interval_linear_autograd.cpp):
// the chain rule through its two steps, each with its own op's formula
// (crown_conv2d_backward_autograd.cpp, crown_relu_backward_grad). A after the
// ReLU is recomputed here rather than saved, as the forward never stores it.
#include <ATen/ops/convolution_backward.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class CrownReluConv2dBackward : public torch::autograd::Function<CrownReluConv2dBackward> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& A, const at::Tensor& lower,
                               const at::Tensor& upper, bool upper_bound, const at::Tensor& weight,
                               const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                               at::IntArrayRef padding, at::IntArrayRef dilation, at::IntArrayRef input_size) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [back, bias_term] = call_crown_relu_conv2d_backward(A, lower, upper, upper_bound, weight, bias, stride,
                                                             padding, dilation, input_size);
    ctx->saved_data["upper_bound"] = upper_bound;
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["input_size"] = input_size;
    const bool has_bias = bias.has_value() && bias->defined();
    ctx->save_for_backward({A, lower, upper, weight, has_bias ? *bias : at::Tensor()});
    return {back, bias_term};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &A = saved[0], &lower = saved[1], &upper = saved[2], &weight = saved[3], &bias = saved[4];
    const bool upper_bound = ctx->saved_data["upper_bound"].toBool();
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const auto dilation = ctx->saved_data["dilation"].toIntVector();
    const auto input_size = ctx->saved_data["input_size"].toIntVector();
    // Edges: A, lower, upper, weight, then bias if one was given (upper_bound is not a tensor).
    const bool need_A = ctx->needs_input_grad(0), need_lower = ctx->needs_input_grad(1),
               need_upper = ctx->needs_input_grad(2), need_w = ctx->needs_input_grad(3),
               need_b = bias.defined() && ctx->needs_input_grad(4);
    const bool need_relu = need_A || need_lower || need_upper;
    BelowAutogradUnlessRecording below;
    const at::Tensor stepped = std::get<0>(call_crown_relu_backward(A, lower, upper, upper_bound)).flatten(0, 1);
    // The _symint form, output padding from sym_sizes: see transposed_output_padding.
    auto [d_stepped, d_weight, unused] = at::convolution_backward_symint(
        grads[0].flatten(0, 1), stepped, weight, std::nullopt, c10::fromIntArrayRefSlow(stride),
        c10::fromIntArrayRefSlow(padding), c10::fromIntArrayRefSlow(dilation), true,
        transposed_output_padding(stepped, weight, stride, padding, dilation, input_size), 1,
        {need_relu, need_w, false});
    at::Tensor d_bias;
    if (bias.defined()) {
      const at::Tensor g = grads[1].reshape({-1});  // [B * S], the gradient of the bias terms
      if (need_relu) d_stepped = d_stepped.addcmul(g.reshape({-1, 1, 1, 1}), bias.reshape({1, -1, 1, 1}));
      if (need_b) d_bias = g.unsqueeze(1).mul(stepped.sum({2, 3})).sum(0);
    }
    at::Tensor d_A, d_lower, d_upper;
    if (need_relu) {
      std::tie(d_A, d_lower, d_upper) =
          call_crown_relu_backward_grad(d_stepped.reshape_symint(A.sym_sizes()), grads[1], A, lower, upper,
                                        upper_bound);
    }
    return {need_A ? d_A : at::Tensor(), need_lower ? d_lower : at::Tensor(), need_upper ? d_upper : at::Tensor(),
            at::Tensor(), need_w ? d_weight : at::Tensor(), d_bias, at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

TensorPair crown_relu_conv2d_backward_autograd(const at::Tensor& A, const at::Tensor& lower, const at::Tensor& upper,
                                               bool upper_bound, const at::Tensor& weight,
                                               const std::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                               at::IntArrayRef padding, at::IntArrayRef dilation,
                                               at::IntArrayRef input_size) {
  auto out = CrownReluConv2dBackward::apply(A, lower, upper, upper_bound, weight, bias, stride, padding, dilation,
                                            input_size);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) {
  m.impl("crown_relu_conv2d_backward", &crown_relu_conv2d_backward_autograd);
}

}  // namespace mixtrain
