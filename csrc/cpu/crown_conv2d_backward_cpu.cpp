// crown_conv2d_backward on the CPU: CROWN's backward step through a
// convolution, A' = conv_transpose2d(A, W) onto the layer's input size, and the
// bias term sum_{o,i,j} A[n, o, i, j] * bias[o].
//
// The SIMD kernel (common/crown_conv_simd.h) is output-stationary over a
// channels-last A; this file lists the taps that reach each output row and
// the runs of output columns that share their taps (once per call), and runs
// the sample rows in parallel.
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "checks.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// The taps of one axis: for each output coordinate y in [0, size), the pairs
// (tap u, input position i) with y = i*stride - pad + u*dil, 0 <= i < in_size.
struct AxisTaps {
  std::vector<int64_t> first, tap, pos;
};

AxisTaps axis_taps(int64_t size, int64_t in_size, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  AxisTaps t;
  t.first.push_back(0);
  for (int64_t y = 0; y < size; ++y) {
    for (int64_t u = 0; u < k; ++u) {
      const int64_t s = y + pad - u * dil;  // = i * stride
      if (s < 0 || s % stride != 0 || s / stride >= in_size) continue;
      t.tap.push_back(u);
      t.pos.push_back(s / stride);
    }
    t.first.push_back(int64_t(t.tap.size()));
  }
  return t;
}

// Runs of output columns x0, x0 + stride, ... reached by the same taps: along a
// run each tap's input column goes up by one, so a block of the run reads
// consecutive positions of A (see CrownConvRow).
struct ColumnRuns {
  std::vector<int64_t> x0, count, first, tap, j0;
};

ColumnRuns column_runs(const AxisTaps& x, int64_t width, int64_t stride) {
  ColumnRuns r;
  r.first.push_back(0);
  auto same_taps = [&](int64_t a, int64_t b) {
    if (x.first[a + 1] - x.first[a] != x.first[b + 1] - x.first[b]) return false;
    for (int64_t k = 0; k < x.first[a + 1] - x.first[a]; ++k)
      if (x.tap[x.first[a] + k] != x.tap[x.first[b] + k]) return false;
    return true;
  };
  for (int64_t phase = 0; phase < stride && phase < width; ++phase) {
    for (int64_t col = phase; col < width; col += stride) {
      if (col != phase && same_taps(col - stride, col)) {
        ++r.count.back();
        continue;
      }
      r.x0.push_back(col);
      r.count.push_back(1);
      for (int64_t k = x.first[col]; k < x.first[col + 1]; ++k) {
        r.tap.push_back(x.tap[k]);
        r.j0.push_back(x.pos[k]);
      }
      r.first.push_back(int64_t(r.tap.size()));
    }
  }
  return r;
}

std::tuple<at::Tensor, at::Tensor> crown_conv2d_backward_cpu(const at::Tensor& A, const at::Tensor& weight,
                                                             const c10::optional<at::Tensor>& bias,
                                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                                             at::IntArrayRef dilation, at::IntArrayRef input_size) {
  const ConvGeometry g = check_crown_conv_args(A, weight, bias, stride, padding, dilation, input_size);
  const int64_t N = g.batch, O = g.out_channels, C = g.channels, h = g.height, w = g.width;
  at::Tensor out = at::empty({N, C, h, w}, A.options());
  at::Tensor bias_term = at::zeros({N}, A.options());
  if (N == 0) return {out, bias_term};
  // The engine hands A channels-last (oneDNN's transposed convolutions leave
  // it so); any other layout costs one copy here.
  const at::Tensor a = A.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor wr = weight.permute({2, 3, 1, 0}).contiguous();  // [kh, kw, C, O]
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  const AxisTaps ys = axis_taps(h, g.out_h, g.kh, g.stride[0], g.padding[0], g.dilation[0]);
  const AxisTaps xs = axis_taps(w, g.out_w, g.kw, g.stride[1], g.padding[1], g.dilation[1]);
  const ColumnRuns runs = column_runs(xs, w, g.stride[1]);
  const int64_t row = O * g.out_h * g.out_w, positions = g.out_h * g.out_w;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "crown_conv2d_backward_cpu", [&] {
    CrownConvRow<scalar_t> k;
    k.weight = wr.data_ptr<scalar_t>();
    k.O = O;
    k.OW = g.out_w;
    k.C = C;
    k.kw = g.kw;
    k.height = h;
    k.width = w;
    k.sw = g.stride[1];
    k.y_first = ys.first.data();
    k.y_u = ys.tap.data();
    k.y_i = ys.pos.data();
    k.runs = int64_t(runs.x0.size());
    k.run_x0 = runs.x0.data();
    k.run_count = runs.count.data();
    k.run_first = runs.first.data();
    k.run_v = runs.tap.data();
    k.run_j0 = runs.j0.data();
    const scalar_t* ap = a.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    const scalar_t* bp = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    scalar_t* tp = bias_term.data_ptr<scalar_t>();
    at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
      std::vector<scalar_t> sums(bp ? O : 0);
      CrownConvRow<scalar_t> r = k;
      for (int64_t n = n0; n < n1; ++n) {
        r.a = ap + n * row;
        r.out = op + n * C * h * w;
        if (bp) {
          // The bias term from A's per-channel sums: a pass over the row that
          // also brings it into cache for the kernel.
          std::fill(sums.begin(), sums.end(), scalar_t(0));
          for (int64_t q = 0; q < positions; ++q)
            for (int64_t o = 0; o < O; ++o) sums[o] += r.a[q * O + o];
          scalar_t t = 0;
          for (int64_t o = 0; o < O; ++o) t += sums[o] * bp[o];
          tp[n] = t;
        }
        crown_conv_rows(r, 0, h);
      }
    });
  });
  return {out, bias_term};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_conv2d_backward", &crown_conv2d_backward_cpu); }

}  // namespace mixtrain
