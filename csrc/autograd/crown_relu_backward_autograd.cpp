// crown_relu_backward's autograd, in C++ (why C++: interval_linear_autograd.cpp).
// The backward is crown_relu_backward_grad, one fused pass; called with its own
// (Python) autograd when the backward is recorded, for double backward.
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class CrownReluBackward : public torch::autograd::Function<CrownReluBackward> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& A, const at::Tensor& lower,
                               const at::Tensor& upper, bool upper_bound) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [A_out, bias] = call_crown_relu_backward(A, lower, upper, upper_bound);
    ctx->saved_data["upper_bound"] = upper_bound;
    ctx->save_for_backward({A, lower, upper});
    return {A_out, bias};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    BelowAutogradUnlessRecording below;
    auto [d_A, d_lower, d_upper] = call_crown_relu_backward_grad(grads[0], grads[1], saved[0], saved[1], saved[2],
                                                                 ctx->saved_data["upper_bound"].toBool());
    return {ctx->needs_input_grad(0) ? d_A : at::Tensor(), ctx->needs_input_grad(1) ? d_lower : at::Tensor(),
            ctx->needs_input_grad(2) ? d_upper : at::Tensor(), at::Tensor()};
  }
};

TensorPair crown_relu_backward_autograd(const at::Tensor& A, const at::Tensor& lower, const at::Tensor& upper,
                                        bool upper_bound) {
  auto out = CrownReluBackward::apply(A, lower, upper, upper_bound);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) { m.impl("crown_relu_backward", &crown_relu_backward_autograd); }

}  // namespace mixtrain
