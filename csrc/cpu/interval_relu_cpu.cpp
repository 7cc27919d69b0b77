// interval_relu on the CPU: [c - r, c + r] -> [relu(c - r), relu(c + r)] in
// center/radius form, one pass.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "checks.h"
#include "common/relu_relax.h"

namespace mixtrain {
namespace {

std::tuple<at::Tensor, at::Tensor> interval_relu_cpu(const at::Tensor& center, const at::Tensor& radius) {
  check_interval_relu_args(center, radius);
  // Elementwise: any layout, as long as the four tensors share it (the center's).
  const at::MemoryFormat fmt = cpu_box_format(center);
  const at::Tensor c = center.contiguous(fmt), r = radius.contiguous(fmt);
  at::Tensor oc = empty_in_format(c.sizes(), c.options(), fmt), orad = empty_in_format(c.sizes(), c.options(), fmt);
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_relu_cpu", [&] {
    const scalar_t* cp = c.data_ptr<scalar_t>();
    const scalar_t* rp = r.data_ptr<scalar_t>();
    scalar_t* ocp = oc.data_ptr<scalar_t>();
    scalar_t* orp = orad.data_ptr<scalar_t>();
    at::parallel_for(0, c.numel(), 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) interval_relu_point(cp[i], rp[i], ocp[i], orp[i]);
    });
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("interval_relu", &interval_relu_cpu); }

}  // namespace mixtrain
