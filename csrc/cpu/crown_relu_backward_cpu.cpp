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

// One row of A, with explicit 16-byte vectors (the baseline of every x86-64
// and arm64 CPU): GCC 12 turns the scalar form's selects into branches, which
// mispredict on random signs and ran 6x slower than torch.compile's loop.
template <typename T>
T crown_row(const T* src, T* dst, const T* s_up, const T* i_up, const T* s_lo, int64_t N, bool upper_bound) {
  typedef T V __attribute__((vector_size(16)));
  constexpr int L = 16 / sizeof(T);
  const int64_t nv = N - N % L;
  V acc = V{};
  for (int64_t n = 0; n < nv; n += L) {
    V x, su, iu, sl;
    __builtin_memcpy(&x, src + n, sizeof(V));
    __builtin_memcpy(&su, s_up + n, sizeof(V));
    __builtin_memcpy(&iu, i_up + n, sizeof(V));
    __builtin_memcpy(&sl, s_lo + n, sizeof(V));
    const auto take = upper_bound ? x > V{} : x < V{};
    const V out = x * (take ? su : sl);
    __builtin_memcpy(dst + n, &out, sizeof(V));
    acc += take ? x * iu : V{};
  }
  T total = T(0);
  for (int i = 0; i < L; ++i) total += acc[i];
  for (int64_t n = nv; n < N; ++n) {
    const T x = src[n];
    const bool take_upper = upper_bound ? x > 0 : x < 0;
    dst[n] = x * (take_upper ? s_up[n] : s_lo[n]);
    total += take_upper ? x * i_up[n] : T(0);
  }
  return total;
}

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
        bias.data_ptr<scalar_t>()[t] = crown_row(src, dst, s_up, i_up, s_lo, N, upper_bound);
      }
    });
  });
  return {out, bias};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_relu_backward", &crown_relu_backward_cpu); }

}  // namespace mixtrain
