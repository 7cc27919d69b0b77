// symbolic_linear on the CPU: center W c + b, generators G W^T, and the
// concrete radius of the result, accumulated chunk by chunk right after the
// BLAS product makes each chunk (the generators are not read again later).
#include <torch/library.h>

#include "checks.h"
#include "cpu/generator_radius.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_linear_cpu(const at::Tensor& center, const at::Tensor& gens,
                                                                   const at::Tensor& weight,
                                                                   const c10::optional<at::Tensor>& bias,
                                                                   int64_t input_rows, double input_norm) {
  check_symbolic_linear_args(center, gens, weight, bias, input_rows, input_norm);
  const int64_t B = gens.size(0), R = gens.size(1), N = weight.size(0);
  const bool l2 = input_norm == 2.0;

  const at::Tensor wt = weight.t();
  at::Tensor out_center = bias.has_value() ? at::addmm(*bias, center, wt) : at::mm(center, wt);
  at::Tensor out_gens = at::empty({B, R, N}, gens.options());
  at::Tensor l1 = at::zeros({B, N}, gens.options());
  at::Tensor sq = l2 ? at::zeros({B, N}, gens.options()) : at::Tensor();
  if (B * R * N > 0) {
    // Chunks run over the flattened B*R rows, so narrow layers still get
    // large GEMMs; each chunk is reduced while it is in cache.
    const at::Tensor flat = gens.reshape({B * R, gens.size(2)});
    at::Tensor flat_out = out_gens.view({B * R, N});
    const int64_t chunk = generator_chunk_rows(N, gens.element_size());
    AT_DISPATCH_FLOATING_TYPES(gens.scalar_type(), "symbolic_linear_cpu", [&] {
      for (int64_t r0 = 0; r0 < B * R; r0 += chunk) {
        const int64_t rc = std::min(chunk, B * R - r0);
        at::Tensor dst = flat_out.narrow(0, r0, rc);
        at::mm_out(dst, flat.narrow(0, r0, rc), wt);
        accumulate_flat_chunk(dst.data_ptr<scalar_t>(), r0, rc, R, N, input_rows, l2, l1.data_ptr<scalar_t>(),
                              l2 ? sq.data_ptr<scalar_t>() : nullptr);
      }
    });
  }
  at::Tensor radius = l2 ? l1.add_(sq.sqrt_()) : l1;
  return {out_center, out_gens, radius};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("symbolic_linear", &symbolic_linear_cpu); }

}  // namespace mixtrain
