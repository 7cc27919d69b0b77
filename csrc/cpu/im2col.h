#pragma once
// im2col of one tile of output positions, packed for interval_conv_tile:
// dst[k, l] for k = (channel, kh, kw) -- the order of a flattened conv weight
// -- and l in [0, width) the positions l0 + l; positions past the end are 0.
#include <cstdint>

#include "checks.h"

namespace mixtrain {

constexpr int64_t kMaxConvTile = 64;

template <typename T>
void pack_patch_tile(const T* x, const ConvGeometry& g, int64_t ch0, int64_t channels, int64_t l0, int64_t width,
                     T* dst) {
  const int64_t L = g.out_h * g.out_w;
  int64_t ih0[kMaxConvTile], iw0[kMaxConvTile];
  bool live[kMaxConvTile];
  for (int64_t l = 0; l < width; ++l) {
    const int64_t pos = l0 + l;
    live[l] = pos < L;
    ih0[l] = live[l] ? (pos / g.out_w) * g.stride[0] - g.padding[0] : 0;
    iw0[l] = live[l] ? (pos % g.out_w) * g.stride[1] - g.padding[1] : 0;
  }
  for (int64_t ch = 0; ch < channels; ++ch) {
    const T* plane = x + (ch0 + ch) * g.height * g.width;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = dst + ((ch * g.kh + i) * g.kw + j) * width;
        for (int64_t l = 0; l < width; ++l) {
          const int64_t ih = ih0[l] + i * g.dilation[0], iw = iw0[l] + j * g.dilation[1];
          row[l] = (live[l] && ih >= 0 && ih < g.height && iw >= 0 && iw < g.width) ? plane[ih * g.width + iw] : T(0);
        }
      }
    }
  }
}

}  // namespace mixtrain
