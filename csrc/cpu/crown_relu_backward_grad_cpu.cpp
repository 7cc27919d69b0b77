// crown_relu_backward's gradient on the CPU, in one pass over A. Training
// through CROWN-IBP differentiates every ReLU step of the backward pass;
// autograd's version was about 20 elementwise torch ops over tensors the size
// of A, several of them temporaries.
//   d_A    = grad_A * (take ? us : ls) + (take ? grad_bias * ui : 0)
//   d_l, d_u from the chord's derivatives (common/relu_relax.h, crown_relax_grad)
// with take = A > 0 for an upper bound, A < 0 for a lower one.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>

#include "checks.h"
#include "common/relu_relax.h"

namespace mixtrain {
namespace {

// Neurons per task: A's rows are read in runs of this many contiguous values,
// and the per-neuron relaxation and sums stay in L1.
constexpr int64_t kNeurons = 512;

std::tuple<at::Tensor, at::Tensor, at::Tensor> crown_relu_backward_grad_cpu(
    const at::Tensor& grad_A, const at::Tensor& grad_bias, const at::Tensor& A, const at::Tensor& lower,
    const at::Tensor& upper, bool upper_bound) {
  const auto dims = check_crown_relu_grad_args(grad_A, grad_bias, A, lower, upper);
  const int64_t B = dims[0], S = dims[1], N = dims[2];
  const at::Tensor ga = grad_A.contiguous(), gb = grad_bias.contiguous(), a = A.contiguous();
  const at::Tensor l = lower.contiguous(), u = upper.contiguous();
  at::Tensor d_A = at::empty_like(a), d_l = at::empty_like(l), d_u = at::empty_like(u);
  const int64_t chunks = (N + kNeurons - 1) / kNeurons;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "crown_relu_backward_grad_cpu", [&] {
    const scalar_t *gap = ga.data_ptr<scalar_t>(), *gbp = gb.data_ptr<scalar_t>(), *ap = a.data_ptr<scalar_t>();
    const scalar_t *lp = l.data_ptr<scalar_t>(), *up = u.data_ptr<scalar_t>();
    scalar_t *dap = d_A.data_ptr<scalar_t>(), *dlp = d_l.data_ptr<scalar_t>(), *dup = d_u.data_ptr<scalar_t>();
    at::parallel_for(0, B * chunks, 1, [&](int64_t t0, int64_t t1) {
      scalar_t us[kNeurons], ui[kNeurons], ls[kNeurons], g_slope[kNeurons], g_icpt[kNeurons];
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / chunks, n0 = (t % chunks) * kNeurons, n = std::min(kNeurons, N - n0);
        const scalar_t* lb = lp + b * N + n0;
        const scalar_t* ub = up + b * N + n0;
        for (int64_t j = 0; j < n; ++j) {
          crown_relax(lb[j], ub[j], us[j], ui[j], ls[j]);
          g_slope[j] = g_icpt[j] = scalar_t(0);
        }
        for (int64_t s = 0; s < S; ++s) {
          const int64_t row = (b * S + s) * N + n0;
          const scalar_t* x = ap + row;
          const scalar_t* g = gap + row;
          scalar_t* out = dap + row;
          const scalar_t gbias = gbp[b * S + s];
          // Selects as arithmetic with t in {0, 1} (one of each pair of terms is
          // an exact 0): branch-free, so the loop vectorizes.
          for (int64_t j = 0; j < n; ++j) {
            const scalar_t v = x[j];
            const scalar_t take = (upper_bound ? v > scalar_t(0) : v < scalar_t(0)) ? scalar_t(1) : scalar_t(0);
            out[j] = g[j] * (take * us[j] + (scalar_t(1) - take) * ls[j]) + take * (gbias * ui[j]);
            g_slope[j] += take * (g[j] * v);
            g_icpt[j] += take * (gbias * v);
          }
        }
        for (int64_t j = 0; j < n; ++j)
          crown_relax_grad(lb[j], ub[j], g_slope[j], g_icpt[j], dlp[b * N + n0 + j], dup[b * N + n0 + j]);
      }
    });
  });
  return {d_A, d_l, d_u};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_relu_backward_grad", &crown_relu_backward_grad_cpu); }

}  // namespace mixtrain
