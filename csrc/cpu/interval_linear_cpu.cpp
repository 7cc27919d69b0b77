// interval_linear on the CPU: (c W^T + b, r |W|^T) over any leading dims.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "interval_linear_rows.h"
#include "kernel_choice.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// From this many rows on, the product is arithmetic-bound and the CPU BLAS
// (two GEMMs, |W| materialized once, which is cheap next to M*K*N work) beats
// the fused kernel. The crossover grows with W, because the reference's extra
// passes over W (|W|, the second GEMM) cost more once W leaves the caches.
// Measured on the 2-core AVX-512 development machine, fused/reference ratio at
// the crossover ~1.0: K=N=512 (1 MiB) 28 rows; 1024 and 2048 (4-16 MiB) 48
// rows; 4096 (64 MiB) between 64 (1.22x) and 128 (0.63x) rows.
// On the 2-core AVX2 machine (AMD EPYC, Zen 3; session 17), with W evicted
// from the caches before each call as a bound pass's convolutions evict it,
// own kernel / BLAS time: W 6.4-8 MB 0.52x at 16 rows, 0.91-0.93x at 50,
// 1.19-1.23x at 64; W 4 MB 1.05x at 50; W 1 MB 0.85-0.91x at 32-64 rows, 1.06x
// at 100. Inside whole IBP passes (mnist/cifar-large at k = 50) the two sides
// timed even (4.76 against 4.85 ms), so the rule stays. A benchmark may force
// either side: mixtrain_cuda._C._set_kernel_choice("interval_linear", ...).
int64_t blas_from_rows(int64_t weight_bytes) {
  if (weight_bytes <= (int64_t(2) << 20)) return 28;
  if (weight_bytes <= (int64_t(32) << 20)) return 48;
  return 80;
}

std::tuple<at::Tensor, at::Tensor> interval_linear_cpu(const at::Tensor& center, const at::Tensor& radius,
                                                       const at::Tensor& weight,
                                                       const c10::optional<at::Tensor>& bias) {
  check_interval_linear_args(center, radius, weight, bias);
  const int64_t N = weight.size(0), K = weight.size(1);
  const LinearRows x = linear_rows(center, radius, weight);
  const at::Tensor &c = x.c, &r = x.r;
  const int64_t M = x.M;
  if (!use_own_kernel(ChoiceOp::IntervalLinear, M < blas_from_rows(weight.numel() * weight.element_size())) &&
      K > 0) {
    return interval_linear_blas(x, weight, bias);
  }

  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({M, N}, c.options());
  at::Tensor orad = at::empty({M, N}, c.options());
  if (M > 0 && N > 0) {
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_linear_cpu", [&] {
      IntervalGemm<scalar_t> g{c.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), K, w.data_ptr<scalar_t>(),
                               b.defined() ? b.data_ptr<scalar_t>() : nullptr, oc.data_ptr<scalar_t>(),
                               orad.data_ptr<scalar_t>(), N, 1, M, K, N};
      // Work is split over blocks of 4 W rows; each thread streams its own slab of W.
      const int64_t blocks = (N + 3) / 4;
      const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(1, M * K));
      at::parallel_for(0, blocks, grain, [&](int64_t b0, int64_t b1) {
        interval_gemm_cols(g, 4 * b0, std::min(4 * b1, N));
      });
    });
  }
  return {oc.view(x.out_shape), orad.view(x.out_shape)};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("interval_linear", &interval_linear_cpu); }

}  // namespace mixtrain
