// interval_relu's autograd, in C++ (why C++: interval_linear_autograd.cpp).
// The backward is interval_relu_backward, called with its own autograd, so
// double backward works.
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class IntervalRelu : public torch::autograd::Function<IntervalRelu> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& center, const at::Tensor& radius) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [c, r] = call_interval_relu(center, radius);
    ctx->save_for_backward({center, radius});
    return {c, r};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    BelowAutogradUnlessRecording below;
    auto [d_center, d_radius] = call_interval_relu_backward(grads[0], grads[1], saved[0], saved[1]);
    return {ctx->needs_input_grad(0) ? d_center : at::Tensor(), ctx->needs_input_grad(1) ? d_radius : at::Tensor()};
  }
};

TensorPair interval_relu_autograd(const at::Tensor& center, const at::Tensor& radius) {
  auto out = IntervalRelu::apply(center, radius);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) { m.impl("interval_relu", &interval_relu_autograd); }

}  // namespace mixtrain
