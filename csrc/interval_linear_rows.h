#pragma once
// interval_linear's shared host side: inputs flattened to rows, and the BLAS
// form that both backends use when the product is arithmetic-bound.
#include <ATen/ATen.h>

#include <vector>

#include "checks.h"

namespace mixtrain {

struct LinearRows {
  at::Tensor c, r;                 // [M, K], contiguous
  int64_t M;
  std::vector<int64_t> out_shape;  // leading dims of the input, then N
};

inline LinearRows linear_rows(const at::Tensor& center, const at::Tensor& radius, const at::Tensor& weight) {
  const int64_t K = weight.size(1);
  // An explicit row count: reshape({-1, K}) is ambiguous when K == 0.
  const int64_t M = c10::multiply_integers(center.sizes().slice(0, center.dim() - 1));
  return {center.reshape({M, K}).contiguous(), radius.reshape({M, K}).contiguous(), M,
          linear_out_shape(center, weight.size(0))};
}

// Two GEMMs with |W| materialized once (cheap next to M*K*N work).
inline std::tuple<at::Tensor, at::Tensor> interval_linear_blas(const LinearRows& x, const at::Tensor& weight,
                                                               const c10::optional<at::Tensor>& bias) {
  const at::Tensor wt = weight.t();
  at::Tensor oc = bias.has_value() ? at::addmm(*bias, x.c, wt) : at::mm(x.c, wt);
  at::Tensor orad = at::mm(x.r, weight.abs().t());
  return {oc.view(x.out_shape), orad.view(x.out_shape)};
}

}  // namespace mixtrain
