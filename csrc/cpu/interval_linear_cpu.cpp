// interval_linear on the CPU: (c W^T + b, r |W|^T) over any leading dims.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>

#include "checks.h"
#include "interval_linear_rows.h"
#include "kernel_choice.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// Three ways to compute the product, by row count (2-core AMD EPYC Zen 3,
// AVX2, session 22: W evicted from the caches before each call, as a bound
// pass's convolutions evict it; the three sides alternating call by call in
// one process, medians of 25; benchmarks/README.md "Session 22"):
//  - below 12 rows, or below 6144 outputs (rows x N), the dot-product
//    kernel (interval_gemm_simd.h), which needs no pairing of x nor packing
//    of W: at 4-8 rows it beat the packed one by 1.1-1.4x (3136 x 512: 0.35
//    against 0.48 ms at 4 rows), at 12 rows x 512 the packed one led by
//    1.05-1.08x; with few output features the copies dominate the packed one:
//    50 x 512 x 10 0.053 against 0.077 ms, 300 x 512 x 10 0.16 against 0.27
//    (and the BLAS 0.19), 16 x 512 x 256 1.16x, 50 x 512 x 128 1.08x for the
//    dot kernel, but 50 x 512 x 256 and 50 x 3136 x 256 1.07x and 1.17x for
//    the packed one (at 6144-6400 outputs a draw: 50 x 128 0.93x and 1.09x);
//  - from there the packed kernel (packed_gemm_simd.h): against two MKL
//    GEMMs with |W| materialized, 1.37x at 50 x 3136 x 512 (2.22 against 3.04
//    ms), 1.43x at 50 x 4096 x 512, 1.14x at 128 rows, 1.05-1.07x at 256 rows
//    (512 x 512 up to 2048 x 2048);
//  - from 384 rows the BLAS: at 512 rows the two timed even (0.97-0.99x), at
//    1024 MKL led by 1.07x and at 7850 x 512 x 512 by 1.26x.
// The AVX-512 variant (12-row blocks) runs the same rule unmeasured.
// A benchmark may force a side: mixtrain_cuda._C._set_kernel_choice(
// "interval_linear", "own" (the dot-product kernel) | "packed" | "library").
constexpr int64_t packed_from_rows = 12, packed_from_outputs = 6144;
constexpr int64_t blas_from_rows = 384;

// The packed kernel (common/packed_gemm_simd.h): every row, x paired here.
template <typename T>
void interval_linear_packed(const LinearRows& x, const at::Tensor& w, const at::Tensor& b, at::Tensor& oc,
                            at::Tensor& orad) {
  const int64_t M = x.M, K = w.size(1), N = w.size(0);
  const int64_t pw = packed_gemm_panel(std::is_same_v<T, double>);
  const int64_t panels = (N + pw - 1) / pw;
  // Paired rows 4 KB apart (K = 512, 1024, ...) would put a register block's
  // rows in one L1 set (12 rows on AVX-512: more than its ways): a 64-byte
  // skew then.
  const int64_t ldx = 2 * K + ((2 * K * int64_t(sizeof(T))) % 4096 == 0 ? 64 / int64_t(sizeof(T)) : 0);
  at::Tensor paired = at::empty({M, ldx}, x.c.options());
  at::Tensor acc = at::empty({M, panels * pw, 2}, x.c.options());
  const int64_t threads = at::get_num_threads();
  at::Tensor pack = at::empty({threads, PACKED_KC * PACKED_NC * 2}, x.c.options());
  const T *c = x.c.data_ptr<T>(), *r = x.r.data_ptr<T>();
  T* p = paired.data_ptr<T>();
  at::parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, K)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t k = 0; k < K; ++k) {
        p[m * ldx + 2 * k] = c[m * K + k];
        p[m * ldx + 2 * k + 1] = r[m * K + k];
      }
  });
  const PackedGemm<T> g{p, ldx, w.data_ptr<T>(), b.defined() ? b.data_ptr<T>() : nullptr, acc.data_ptr<T>(),
                        oc.data_ptr<T>(), orad.data_ptr<T>(), N, M, K, N, panels * pw};
  T* packs = pack.data_ptr<T>();
  const int64_t per_thread = PACKED_KC * PACKED_NC * 2;
  // Each thread takes a run of panels and packs its own W slices; with fewer
  // panels than threads (N <= 8 on AVX2), the rows are split too (each part
  // packs the same panels).
  const int64_t parts = panels >= threads ? 1 : std::max<int64_t>(1, std::min(threads, M / 12));
  if (parts == 1) {
    at::parallel_for(0, panels, 1, [&](int64_t p0, int64_t p1) {
      packed_gemm_cols(g, p0 * pw, std::min(p1 * pw, N), 0, M, packs + at::get_thread_num() * per_thread);
    });
  } else {
    at::parallel_for(0, panels * parts, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t pi = t / parts, part = t % parts;
        packed_gemm_cols(g, pi * pw, std::min((pi + 1) * pw, N), M * part / parts, M * (part + 1) / parts,
                         packs + at::get_thread_num() * per_thread);
      }
    });
  }
}

std::tuple<at::Tensor, at::Tensor> interval_linear_cpu(const at::Tensor& center, const at::Tensor& radius,
                                                       const at::Tensor& weight,
                                                       const c10::optional<at::Tensor>& bias) {
  check_interval_linear_args(center, radius, weight, bias);
  const int64_t N = weight.size(0), K = weight.size(1);
  const LinearRows x = linear_rows(center, radius, weight);
  const at::Tensor &c = x.c, &r = x.r;
  const int64_t M = x.M;
  if (!use_own_kernel(ChoiceOp::IntervalLinear, M < blas_from_rows) && K > 0) {
    return interval_linear_blas(x, weight, bias);
  }
  const KernelChoice choice = kernel_choice(ChoiceOp::IntervalLinear);
  const bool packed = choice == KernelChoice::Packed ||
                      (choice == KernelChoice::Auto && M >= packed_from_rows && M * N >= packed_from_outputs);

  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({M, N}, c.options());
  at::Tensor orad = at::empty({M, N}, c.options());
  if (M > 0 && N > 0 && packed && K > 0) {
    AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_linear_packed",
                               [&] { interval_linear_packed<scalar_t>(x, w, b, oc, orad); });
  } else if (M > 0 && N > 0) {
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
