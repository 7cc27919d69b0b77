// interval_linear's autograd, in C++: the gradient of (c W^T + b, r |W|^T).
//
// Why C++ and not torch.library.register_autograd: the Python autograd kernel
// costs about 100 us of host time per call on the 2-core CPU (argument
// defaults, redispatch and autograd.Function.apply in Python), more than a
// small layer's whole bound pass, and on a GPU, where the kernels take
// microseconds, it is what a forward+backward pass waits for. A
// torch::autograd::Function costs a few microseconds.
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class IntervalLinear : public torch::autograd::Function<IntervalLinear> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& center, const at::Tensor& radius,
                               const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [c, r] = call_interval_linear(center, radius, weight, bias);
    ctx->saved_data["has_bias"] = bias.has_value() && bias->defined();
    ctx->save_for_backward({center, radius, weight});
    return {c, r};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &center = saved[0], &radius = saved[1], &weight = saved[2];
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    // Edges are numbered over the tensor inputs that were given: center, radius, weight, then bias.
    const bool need_c = ctx->needs_input_grad(0), need_r = ctx->needs_input_grad(1),
               need_w = ctx->needs_input_grad(2), need_b = has_bias && ctx->needs_input_grad(3);
    // Sizes as SymInts (sym_size, reshape_symint): under torch.compile a plain
    // sizes() would fix the batch size into the compiled graph.
    const c10::SymInt N = weight.sym_size(0), K = weight.sym_size(1);
    const at::Tensor gc = grads[0].reshape_symint({-1, N}), gr = grads[1].reshape_symint({-1, N});
    at::Tensor d_center, d_radius, d_weight, d_bias;
    if (need_c) d_center = gc.matmul(weight).reshape_symint(center.sym_sizes());
    if (need_r) d_radius = gr.matmul(weight.abs()).reshape_symint(radius.sym_sizes());
    if (need_w) {
      // d(r |W|^T)/dW = sign(W) * (g_r^T r): the subgradient 0 at W = 0.
      d_weight = gc.t()
                     .matmul(center.reshape_symint({-1, K}))
                     .addcmul(weight.sign(), gr.t().matmul(radius.reshape_symint({-1, K})));
    }
    if (need_b) d_bias = gc.sum(0);
    return {d_center, d_radius, d_weight, d_bias};
  }
};

std::tuple<at::Tensor, at::Tensor> interval_linear_autograd(const at::Tensor& center, const at::Tensor& radius,
                                                            const at::Tensor& weight,
                                                            const std::optional<at::Tensor>& bias) {
  auto out = IntervalLinear::apply(center, radius, weight, bias);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) { m.impl("interval_linear", &interval_linear_autograd); }

}  // namespace mixtrain
