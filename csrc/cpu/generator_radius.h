#pragma once
// Concrete radius of freshly made generator rows, accumulated chunk by chunk
// while the chunk is still in cache (the CPU form of a fused epilogue):
// input-symbol rows (row < input_rows) go to `l1` (L-inf ball) or to the sum of
// squares `sq` (L2 ball); ReLU-symbol rows always go to `l1`.
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>

namespace mixtrain {

template <typename T>
void accumulate_generator_radius(const T* rows, int64_t row0, int64_t nrows, int64_t width, int64_t input_rows,
                                 bool l2_input, T* l1, T* sq) {
  at::parallel_for(0, width, 1024, [&](int64_t n0, int64_t n1) {
    for (int64_t i = 0; i < nrows; ++i) {
      const T* row = rows + i * width;
      if (l2_input && row0 + i < input_rows) {
        for (int64_t n = n0; n < n1; ++n) sq[n] += row[n] * row[n];
      } else {
        for (int64_t n = n0; n < n1; ++n) l1[n] += std::abs(row[n]);
      }
    }
  });
}

// Rows per chunk so that a chunk of generator rows stays around 256 KiB.
inline int64_t generator_chunk_rows(int64_t width, int64_t elem_size) {
  const int64_t target = (int64_t(256) << 10) / (elem_size * (width > 0 ? width : 1));
  return target < 8 ? 8 : target;
}

}  // namespace mixtrain
