// interval_relu_backward's autograd, in C++ (why C++: interval_linear_autograd.cpp):
// the op is linear in the gradients and self-adjoint, so its backward is itself.
#include <torch/autograd.h>
#include <torch/library.h>

#include "autograd/op_calls.h"

namespace mixtrain {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class IntervalReluBackward : public torch::autograd::Function<IntervalReluBackward> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& grad_center, const at::Tensor& grad_radius,
                               const at::Tensor& center, const at::Tensor& radius) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto [d_center, d_radius] = call_interval_relu_backward(grad_center, grad_radius, center, radius);
    ctx->save_for_backward({center, radius});
    return {d_center, d_radius};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    BelowAutogradUnlessRecording below;
    // The map (g_c, g_r) -> (d_c, d_r) is linear with the symmetric matrix
    // [[mu + ml, mu - ml], [mu - ml, mu + ml]] / 2 (mu, ml: the two masks), so
    // its transpose is itself. The masks are piecewise constant in (center,
    // radius): their gradient is 0.
    auto [d_gc, d_gr] = call_interval_relu_backward(grads[0], grads[1], saved[0], saved[1]);
    return {ctx->needs_input_grad(0) ? d_gc : at::Tensor(), ctx->needs_input_grad(1) ? d_gr : at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

TensorPair interval_relu_backward_autograd(const at::Tensor& grad_center, const at::Tensor& grad_radius,
                                    const at::Tensor& center, const at::Tensor& radius) {
  auto out = IntervalReluBackward::apply(grad_center, grad_radius, center, radius);
  return {out[0], out[1]};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, Autograd, m) { m.impl("interval_relu_backward", &interval_relu_backward_autograd); }

}  // namespace mixtrain
