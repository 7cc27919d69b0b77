// crown_relu_backward on the CPU: one step of CROWN's backward pass through a
// ReLU with pre-activation bounds [lower, upper]. For the upper bound of A y:
//   A' = A+ * upper_slope + A- * lower_slope,  bias = sum_n A+ * upper_intercept
// and for the lower bound the roles of A+ and A- swap.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor> crown_relu_backward_cpu(const at::Tensor& A, const at::Tensor& lower,
                                                           const at::Tensor& upper, bool upper_bound) {
  const auto dims = check_crown_relu_args(A, lower, upper);
  const int64_t B = dims[0], S = dims[1], N = dims[2];
  const at::Tensor a = A.contiguous(), l = lower.contiguous(), u = upper.contiguous();
  at::Tensor out = at::empty_like(a);
  at::Tensor bias = at::empty({B, S}, a.options());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "crown_relu_backward_cpu", [&] {
    // The relaxation depends on (b, n) only: compute it once, reuse it for all S rows.
    std::vector<scalar_t> us(B * N), ui(B * N), ls(B * N);
    const scalar_t* lp = l.data_ptr<scalar_t>();
    const scalar_t* up = u.data_ptr<scalar_t>();
    at::parallel_for(0, B * N, 16384, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) crown_relax(lp[i], up[i], us[i], ui[i], ls[i]);
    });
    at::parallel_for(0, B * S, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / S;
        const scalar_t* src = a.data_ptr<scalar_t>() + t * N;
        scalar_t* dst = out.data_ptr<scalar_t>() + t * N;
        const scalar_t* s_up = us.data() + b * N;
        const scalar_t* i_up = ui.data() + b * N;
        const scalar_t* s_lo = ls.data() + b * N;
        scalar_t acc = 0;
        for (int64_t n = 0; n < N; ++n) {
          const scalar_t x = src[n];
          // Upper bound: positive coefficients take the upper relaxation.
          const bool take_upper = upper_bound ? x > 0 : x < 0;
          dst[n] = x * (take_upper ? s_up[n] : s_lo[n]);
          acc += take_upper ? x * i_up[n] : scalar_t(0);
        }
        bias.data_ptr<scalar_t>()[t] = acc;
      }
    });
  });
  return {out, bias};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_relu_backward", &crown_relu_backward_cpu); }

}  // namespace mixtrain
