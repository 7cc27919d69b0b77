#pragma once
// Concrete radius of freshly made generator rows, accumulated chunk by chunk
// while the chunk is still in cache (the CPU form of a fused epilogue):
// input-symbol rows (row < input_rows) go to `l1` (L-inf ball) or to the sum of
// squares `sq` (L2 ball); ReLU-symbol rows always go to `l1`.
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <vector>

namespace mixtrain {

template <typename T>
void accumulate_rows(const T* rows, int64_t row0, int64_t r_begin, int64_t r_end, int64_t n0, int64_t n1,
                     int64_t width, int64_t input_rows, bool l2_input, T* l1, T* sq) {
  for (int64_t i = r_begin; i < r_end; ++i) {
    const T* row = rows + i * width;
    if (l2_input && row0 + i < input_rows) {
      for (int64_t n = n0; n < n1; ++n) sq[n] += row[n] * row[n];
    } else {
      for (int64_t n = n0; n < n1; ++n) l1[n] += std::abs(row[n]);
    }
  }
}

template <typename T>
void accumulate_generator_radius(const T* rows, int64_t row0, int64_t nrows, int64_t width, int64_t input_rows,
                                 bool l2_input, T* l1, T* sq) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), nrows);
  if (width >= 2048 * threads || threads <= 1) {
    // Wide rows: split the columns, every thread owns its slice of the result.
    at::parallel_for(0, width, 1024, [&](int64_t n0, int64_t n1) {
      accumulate_rows(rows, row0, 0, nrows, n0, n1, width, input_rows, l2_input, l1, sq);
    });
    return;
  }
  // Narrow rows (e.g. a 100-wide layer): split the rows, sum per-thread partials.
  std::vector<T> part_l1(threads * width, T(0)), part_sq(l2_input ? threads * width : 0, T(0));
  at::parallel_for(0, threads, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      accumulate_rows(rows, row0, p * nrows / threads, (p + 1) * nrows / threads, 0, width, width, input_rows,
                      l2_input, part_l1.data() + p * width, l2_input ? part_sq.data() + p * width : nullptr);
    }
  });
  for (int64_t p = 0; p < threads; ++p)
    for (int64_t n = 0; n < width; ++n) {
      l1[n] += part_l1[p * width + n];
      if (l2_input) sq[n] += part_sq[p * width + n];
    }
}

// Radius of a chunk of rows [r0, r0 + rc) of the flattened [B * R, width]
// generators: each sample's part of the chunk goes to that sample's sums.
template <typename T>
void accumulate_flat_chunk(const T* chunk, int64_t r0, int64_t rc, int64_t R, int64_t width, int64_t input_rows,
                           bool l2_input, T* l1, T* sq) {
  for (int64_t r = r0; r < r0 + rc;) {
    const int64_t b = r / R, row = r % R;
    const int64_t take = std::min(R - row, r0 + rc - r);
    accumulate_generator_radius(chunk + (r - r0) * width, row, take, width, input_rows, l2_input, l1 + b * width,
                                l2_input ? sq + b * width : nullptr);
    r += take;
  }
}

// Rows per chunk so that a chunk of generator rows stays around 2 MiB.
inline int64_t generator_chunk_rows(int64_t width, int64_t elem_size) {
  const int64_t target = (int64_t(2) << 20) / (elem_size * (width > 0 ? width : 1));
  return target < 8 ? 8 : target;
}

}  // namespace mixtrain
