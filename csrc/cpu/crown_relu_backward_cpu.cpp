// crown_relu_backward on the CPU: one step of CROWN's backward pass through a
// ReLU with pre-activation bounds [lower, upper]. The row loop is the SIMD
// crown_row of common/interval_gemm_simd.h, picked per instruction set.
// For the upper bound of A y:
//   A' = A+ * upper_slope + A- * lower_slope,  bias = sum_n A+ * upper_intercept
// and for the lower bound the roles of A+ and A- swap.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"
#include "cpu/interval_gemm.h"

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
      crown_relax_row(lp + i0, up + i0, us.data() + i0, ui.data() + i0, ls.data() + i0, i1 - i0);
    });
    at::parallel_for(0, B * S, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / S;
        const scalar_t* src = a.data_ptr<scalar_t>() + t * N;
        scalar_t* dst = out.data_ptr<scalar_t>() + t * N;
        const scalar_t* s_up = us.data() + b * N;
        const scalar_t* i_up = ui.data() + b * N;
        const scalar_t* s_lo = ls.data() + b * N;
        bias.data_ptr<scalar_t>()[t] = crown_row(src, dst, s_up, i_up, s_lo, N, upper_bound);
      }
    });
  });
  return {out, bias};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_relu_backward", &crown_relu_backward_cpu); }

}  // namespace mixtrain
