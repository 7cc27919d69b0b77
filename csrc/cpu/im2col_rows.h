#pragma once
// im2col with one row per output position: row l = (oh, ow) holds the input
// patch in (channel, kh, kw) order, the order of a flattened conv weight, so
// a conv becomes the row-times-weight-row product of interval_gemm_cols.
#include <cstdint>

#include "checks.h"

namespace mixtrain {

template <typename T>
void im2col_rows(const T* x, const ConvGeometry& g, T* rows) {
  const int64_t L = g.out_h * g.out_w;
  const int64_t Kt = g.channels * g.kh * g.kw;
  for (int64_t l = 0; l < L; ++l) {
    const int64_t oh = l / g.out_w, ow = l % g.out_w;
    T* row = rows + l * Kt;
    for (int64_t ch = 0; ch < g.channels; ++ch) {
      const T* plane = x + ch * g.height * g.width;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.stride[0] - g.padding[0] + i * g.dilation[0];
        const bool row_ok = ih >= 0 && ih < g.height;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.stride[1] - g.padding[1] + j * g.dilation[1];
          *row++ = (row_ok && iw >= 0 && iw < g.width) ? plane[ih * g.width + iw] : T(0);
        }
      }
    }
  }
}

}  // namespace mixtrain
