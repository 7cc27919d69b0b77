// interval_conv2d's autograd, in C++ (why C++: interval_linear_autograd.cpp):
// the gradient of (conv(c, W) + b, conv(r, |W|)), two convolution_backward calls.
#include <ATen/ops/convolution_backward.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class IntervalConv2d : public torch::autograd::Function<IntervalConv2d> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& center, const at::Tensor& radius,
                               const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                               at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                               int64_t groups) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [c, r] = call_interval_conv2d(center, radius, weight, bias, stride, padding, dilation, groups);
    ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    ctx->save_for_backward({center, radius, weight});
    return {c, r};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &center = saved[0], &radius = saved[1], &weight = saved[2];
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const auto stride = ctx->saved_data["stride"].toIntVector();
    const auto padding = ctx->saved_data["padding"].toIntVector();
    const auto dilation = ctx->saved_data["dilation"].toIntVector();
    const int64_t groups = ctx->saved_data["groups"].toInt();
    const bool need_c = ctx->needs_input_grad(0), need_r = ctx->needs_input_grad(1),
               need_w = ctx->needs_input_grad(2), need_b = has_bias && ctx->needs_input_grad(3);
    at::Tensor d_center, d_radius, d_weight, d_bias, d_wc, d_wr;
    // The _symint form and weight's sym_sizes: under torch.compile plain sizes() would fix them into the graph.
    const auto s = c10::fromIntArrayRefSlow(stride), p = c10::fromIntArrayRefSlow(padding),
               d = c10::fromIntArrayRefSlow(dilation);
    const std::vector<c10::SymInt> output_padding{0, 0};
    if (need_c || need_w || need_b) {
      const auto bias_sizes = has_bias ? at::OptionalSymIntArrayRef(weight.sym_sizes().slice(0, 1)) : std::nullopt;
      std::tie(d_center, d_wc, d_bias) = at::convolution_backward_symint(
          grads[0], center, weight, bias_sizes, s, p, d, false, output_padding, groups, {need_c, need_w, need_b});
    }
    if (need_r || need_w) {
      std::tie(d_radius, d_wr, std::ignore) = at::convolution_backward_symint(
          grads[1], radius, weight.abs(), std::nullopt, s, p, d, false, output_padding, groups,
          {need_r, need_w, false});
    }
    // d(conv(r, |W|))/dW = sign(W) * (the gradient with respect to |W|): the subgradient 0 at W = 0.
    if (need_w) d_weight = d_wc.addcmul(weight.sign(), d_wr);
    return {d_center, d_radius, d_weight, d_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> interval_conv2d_autograd(const at::Tensor& center, const at::Tensor& radius,
                                                            const at::Tensor& weight,
                                                            const std::optional<at::Tensor>& bias,
                                                            at::IntArrayRef stride, at::IntArrayRef padding,
                                                            at::IntArrayRef dilation, int64_t groups) {
  auto out = IntervalConv2d::apply(center, radius, weight, bias, stride, padding, dilation, groups);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) { m.impl("interval_conv2d", &interval_conv2d_autograd); }

}  // namespace mixtrain
