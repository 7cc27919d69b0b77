// symbolic_relu on the CPU (MixTrain's relaxation, see common/relu_relax.h):
// concretize each neuron, compute its slope and shift, scale every generator
// row by the slope and append one new row per unstable neuron, compacted per
// sample and padded to the batch maximum.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> symbolic_relu_cpu(const at::Tensor& center, const at::Tensor& gens,
                                                                 const at::Tensor& radius) {
  const auto dims = check_symbolic_relu_args(center, gens, radius);
  const int64_t B = dims[0], R = dims[1], N = dims[2];
  const at::Tensor c = center.contiguous(), g = gens.contiguous(), rad = radius.contiguous();
  at::Tensor oc = at::empty_like(c);
  at::Tensor row_index = at::empty(c.sizes(), c.options().dtype(at::kLong));
  at::Tensor lam = at::empty({B, N}, c.options()), mu = at::empty({B, N}, c.options());
  std::vector<int64_t> unstable(B, 0);

  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "symbolic_relu_cpu_relax", [&] {
    at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const scalar_t* cp = c.data_ptr<scalar_t>() + b * N;
        const scalar_t* rp = rad.data_ptr<scalar_t>() + b * N;
        scalar_t* lp = lam.data_ptr<scalar_t>() + b * N;
        scalar_t* mp = mu.data_ptr<scalar_t>() + b * N;
        scalar_t* op = oc.data_ptr<scalar_t>() + b * N;
        int64_t* ip = row_index.data_ptr<int64_t>() + b * N;
        int64_t count = 0;
        for (int64_t n = 0; n < N; ++n) {
          const bool fresh = symbolic_relax(cp[n], rp[n], lp[n], mp[n]);
          op[n] = lp[n] * cp[n] + mp[n];
          ip[n] = fresh ? R + count++ : -1;
        }
        unstable[b] = count;
      }
    });
  });
  const int64_t U = B > 0 ? *std::max_element(unstable.begin(), unstable.end()) : 0;

  auto out_shape = g.sizes().vec();
  out_shape[1] = R + U;
  at::Tensor og = at::empty(out_shape, g.options());
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "symbolic_relu_cpu_apply", [&] {
    // One task per output row: scaled old rows, then the new rows (zero except
    // for mu at the neuron that owns the row).
    at::parallel_for(0, B * (R + U), 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t b = t / (R + U), row = t % (R + U);
        scalar_t* dst = og.data_ptr<scalar_t>() + t * N;
        const scalar_t* lp = lam.data_ptr<scalar_t>() + b * N;
        if (row < R) {
          const scalar_t* src = g.data_ptr<scalar_t>() + (b * R + row) * N;
          for (int64_t n = 0; n < N; ++n) dst[n] = lp[n] * src[n];
        } else {
          const scalar_t* mp = mu.data_ptr<scalar_t>() + b * N;
          const int64_t* ip = row_index.data_ptr<int64_t>() + b * N;
          for (int64_t n = 0; n < N; ++n) dst[n] = ip[n] == row ? mp[n] : scalar_t(0);
        }
      }
    });
  });
  return {oc, og, row_index};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("symbolic_relu", &symbolic_relu_cpu); }

}  // namespace mixtrain
