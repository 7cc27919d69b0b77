// crown_conv2d_backward on the CPU: CROWN's backward step through a
// convolution, A' = conv_transpose2d(A, W) onto the layer's input size, and the
// bias term sum_{o,i,j} A[n, o, i, j] * bias[o].
//
// The SIMD kernel (common/crown_conv_simd.h) is output-stationary over a
// channels-last A, in two forms: narrow (vectorized along A's channels, for
// the first layer's few input channels; contiguous output) and wide (along
// the output's channels, when they are a multiple of 16; channels-last
// output, crown_conv_output_format). This file lists the taps of each phase
// and packs the weights in the form's order (once per call), pads each row of
// A with zeros (CrownConvRow says why) and runs the sample rows in parallel.
// crown_relu_conv2d_backward runs the same code with the step through the
// ReLU after the convolution done inside that padding copy
// (crown_conv2d_backward_cpu.h).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "checks.h"
#include "cpu/crown_conv2d_backward_cpu.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// One axis of the convolution: which taps u reach an output y depends only on
// its phase r = (y + pad) % stride, and tap u then reads input position
// i = (y + pad) / stride - du with du = (u * dil - r) / stride.
struct AxisPhases {
  std::vector<std::vector<std::pair<int64_t, int64_t>>> taps;  // per phase: (u, du)
  int64_t before = 0, extent = 0;  // zero positions before A's first, and the padded length
};

AxisPhases axis_phases(int64_t size, int64_t in_size, int64_t k, int64_t stride, int64_t pad, int64_t dil) {
  AxisPhases a;
  a.taps.resize(stride);
  for (int64_t r = 0; r < stride; ++r)
    for (int64_t u = 0; u < k; ++u)
      if (u * dil >= r && (u * dil - r) % stride == 0) a.taps[r].push_back({u, (u * dil - r) / stride});
  // The input positions any tap reads, A's own, and each output's base position
  // (y + pad) / stride, where the kernel's pointers start.
  int64_t lo = 0, hi = in_size - 1;
  for (int64_t y = 0; y < size; ++y) {
    hi = std::max(hi, (y + pad) / stride);
    for (const auto& t : a.taps[(y + pad) % stride]) {
      const int64_t i = (y + pad) / stride - t.second;
      lo = std::min(lo, i);
      hi = std::max(hi, i);
    }
  }
  a.before = -lo;
  a.extent = hi - lo + 1;
  return a;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> crown_conv2d_backward_rows(const at::Tensor& A, const at::Tensor& weight,
                                                              const c10::optional<at::Tensor>& bias,
                                                              const ConvGeometry& g, const CrownReluStep* relu) {
  const int64_t N = g.batch, O = g.out_channels, C = g.channels, h = g.height, w = g.width;
  const int64_t OH = g.out_h, OW = g.out_w;
  const bool wide = crown_conv_output_format(C) == at::MemoryFormat::ChannelsLast;
  at::Tensor out = at::empty({N, C, h, w}, A.options().memory_format(crown_conv_output_format(C)));
  at::Tensor bias_term = at::zeros({N}, A.options());
  if (N == 0) return {out, bias_term};
  // The engine hands A channels-last (oneDNN's transposed convolutions leave
  // it so); any other layout costs one copy here.
  const at::Tensor a = A.contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor wt = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  const AxisPhases ys = axis_phases(h, OH, g.kh, g.stride[0], g.padding[0], g.dilation[0]);
  const AxisPhases xs = axis_phases(w, OW, g.kw, g.stride[1], g.padding[1], g.dilation[1]);
  const int64_t lanes = interval_simd_lanes(a.scalar_type() == at::kDouble);
  // The narrow form pads A's channels to whole vectors; the wide one broadcasts them one by one.
  const int64_t op = wide ? O : (O + lanes - 1) / lanes * lanes, wp = xs.extent, row = O * OH * OW;
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "crown_conv2d_backward_cpu", [&] {
    // Entries (tap, vector of channels) per phase pair, and the weights packed in their order.
    std::vector<int64_t> first{0}, off;
    std::vector<std::pair<int64_t, int64_t>> tap_uv;  // the wide form's taps (u, v), in entry order
    std::vector<scalar_t> packed;
    const scalar_t* W = wt.data_ptr<scalar_t>();  // [O, C, kh, kw]
    for (int64_t ry = 0; ry < g.stride[0]; ++ry)
      for (int64_t rx = 0; rx < g.stride[1]; ++rx) {
        for (const auto& [u, du] : ys.taps[ry])
          for (const auto& [v, dv] : xs.taps[rx]) {
            if (wide) {  // one entry per tap, weights packed below
              off.push_back(-(du * wp + dv) * op);
              tap_uv.push_back({u, v});
              continue;
            }
            for (int64_t o0 = 0; o0 < op; o0 += lanes) {
              off.push_back(-(du * wp + dv) * op + o0);
              for (int64_t c = 0; c < C; ++c)
                for (int64_t o = o0; o < o0 + lanes; ++o)
                  packed.push_back(o < O ? W[((o * C + c) * g.kh + u) * g.kw + v] : scalar_t(0));
            }
          }
        first.push_back(int64_t(off.size()));
      }
    // The wide form's weights, chunk-major (CrownConvRow::w): a block's loads
    // stream through one chunk's taps x O x cw, which stays in L1.
    const int64_t cw = C % (2 * lanes) == 0 ? 2 * lanes : lanes;
    // Packed in parallel over (chunk, o), each task reading its cw weight rows
    // (o, c0 .. c0 + cw), which stay in L1 over all taps. (The loop before, taps
    // outside o on one thread, re-read every row from L2 per tap: perf put it at
    // 5% of a 64->64 4x4 s2 call on 18 rows of A -- CROWN-IBP at k = 1 -- with
    // the other thread waiting on it; now 3%, shared. Session 18.)
    if (wide) {
      packed.resize(C * tap_uv.size() * O);
      const int64_t taps = int64_t(tap_uv.size()), khw = g.kh * g.kw;
      scalar_t* dst0 = packed.data();
      at::parallel_for(0, C / cw * O, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t chunk = t / O, o = t % O;
          const scalar_t* rows = W + (o * C + chunk * cw) * khw;  // [cw, kh, kw]
          for (int64_t e = 0; e < taps; ++e) {
            const int64_t uv = tap_uv[e].first * g.kw + tap_uv[e].second;
            scalar_t* dst = dst0 + ((chunk * taps + e) * O + o) * cw;
            for (int64_t c = 0; c < cw; ++c) dst[c] = rows[c * khw + uv];
          }
        }
      });
    }
    CrownConvRow<scalar_t> k;
    k.op = op;
    k.wp = wp;
    k.top = ys.before;
    k.left = xs.before;
    k.C = C;
    k.height = h;
    k.width = w;
    k.sh = g.stride[0];
    k.sw = g.stride[1];
    k.ph = g.padding[0];
    k.pw = g.padding[1];
    k.first = first.data();
    k.off = off.data();
    k.w = packed.data();
    k.wide = wide;
    k.O = O;
    k.taps = int64_t(tap_uv.size());
    k.cw = cw;
    const scalar_t* ap = a.data_ptr<scalar_t>();
    scalar_t* outp = out.data_ptr<scalar_t>();
    const scalar_t* bp = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    scalar_t* tp = bias_term.data_ptr<scalar_t>();
    // The ReLU step's (upper slope, upper intercept, lower slope) of sample s at rp + (q * samples + s) * row.
    const scalar_t* rp = relu ? relu->relax.data_ptr<scalar_t>() : nullptr;
    const int64_t samples = relu ? relu->relax.size(1) : 0;
    at::parallel_for(0, N, 1, [&](int64_t n0, int64_t n1) {
      // This thread's padded row: the zeros around A (and in the channel
      // padding) are written once; each row overwrites only A's part.
      std::vector<scalar_t> padded(ys.extent * wp * op, scalar_t(0)), sums(O);
      CrownConvRow<scalar_t> r = k;
      r.a = padded.data();
      for (int64_t n = n0; n < n1; ++n) {
        const scalar_t* src = ap + n * row;
        scalar_t total = 0;
        if (rp) {
          // The ReLU step, written straight into the padded row: A after it is
          // never stored (crown_relu_conv2d_backward). The conv's bias term
          // below then sums the stepped values, read back from the padded row.
          const scalar_t* us = rp + (n / relu->specs) * row;
          const scalar_t* ui = us + samples * row;
          const scalar_t* ls = ui + samples * row;
          for (int64_t i = 0; i < OH; ++i) {
            scalar_t* dst = padded.data() + ((i + ys.before) * wp + xs.before) * op;
            const int64_t at = i * OW * O;
            if (op == O) {
              total += crown_row(src + at, dst, us + at, ui + at, ls + at, OW * O, relu->upper_bound);
            } else {
              for (int64_t j = 0; j < OW; ++j)
                total += crown_row(src + at + j * O, dst + j * op, us + at + j * O, ui + at + j * O,
                                   ls + at + j * O, O, relu->upper_bound);
            }
          }
        } else {
          for (int64_t i = 0; i < OH; ++i) {
            scalar_t* dst = padded.data() + ((i + ys.before) * wp + xs.before) * op;
            if (op == O) {
              std::copy(src + i * OW * O, src + (i + 1) * OW * O, dst);
            } else {
              for (int64_t j = 0; j < OW; ++j)
                std::copy(src + (i * OW + j) * O, src + (i * OW + j + 1) * O, dst + j * op);
            }
          }
        }
        if (bp) {
          std::fill(sums.begin(), sums.end(), scalar_t(0));
          for (int64_t i = 0; i < OH; ++i) {
            const scalar_t* line = padded.data() + ((i + ys.before) * wp + xs.before) * op;
            for (int64_t j = 0; j < OW; ++j)
              for (int64_t o = 0; o < O; ++o) sums[o] += line[j * op + o];
          }
          for (int64_t o = 0; o < O; ++o) total += sums[o] * bp[o];
        }
        tp[n] = total;
        r.out = outp + n * C * h * w;
        crown_conv_rows(r, 0, h);
      }
    });
  });
  return {out, bias_term};
}

namespace {

std::tuple<at::Tensor, at::Tensor> crown_conv2d_backward_cpu(const at::Tensor& A, const at::Tensor& weight,
                                                             const c10::optional<at::Tensor>& bias,
                                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                                             at::IntArrayRef dilation, at::IntArrayRef input_size) {
  const ConvGeometry g = check_crown_conv_args(A, weight, bias, stride, padding, dilation, input_size);
  return crown_conv2d_backward_rows(A, weight, bias, g, nullptr);
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("crown_conv2d_backward", &crown_conv2d_backward_cpu); }

}  // namespace mixtrain
