// interval_conv2d on CUDA: (conv(c, W) + b, conv(r, |W|)).
//
// Two ways (kMaxDirectTaps and kDirectMacs decide):
// - own (small convolutions: IBP on MixTrain's k sampled points, batch 1..8):
//   one direct kernel computes both products. At these sizes a cuDNN
//   convolution is a few microseconds of arithmetic wrapped in launch and
//   setup cost, and the reference pays it twice plus a kernel for |W|; here a
//   block stages its slice of W in shared memory once (|W| taken in
//   registers), and each thread reads each input tap of c and r once for kOcb
//   output channels of one position.
// - library (everything larger): cuDNN, twice, in IEEE float32
//   (cuda_utils.cuh says why TF32 is never allowed).
#include <torch/library.h>

#include "checks.h"
#include "kernel_choice.h"
#include "cuda/cuda_utils.cuh"

namespace mixtrain {
namespace {

constexpr int kOcb = 8;              // output channels per thread
constexpr int kPositions = 128;      // output positions (threads) per block
constexpr int64_t kMaxSmemBytes = 48 * 1024;
// The direct kernel runs a thread's taps one after another, so it wins with
// few taps per output and little work in all, or when the work is so small
// that launches are all there is. Measured on an H100, two runs
// (benchmarks/gpu_kernel_choices.py, benchmarks/README.md): it wins on every
// layer of up to 147 taps up to 2^28 multiply-adds (ImageNet-200's stem at
// B = 8: 38 us against cuDNN's 47-76), ties or loses at 256 taps from B = 8
// (MNIST small conv2: 57 against 51-89) and loses from 288 taps (CIFAR large
// conv3 at B = 1: 64 against 53; MNIST large conv2, 512 taps: 107 against 55).
// Under 2^21 multiply-adds it wins at any tap count (MNIST small conv2 at
// B = 1: 51 against 75-107).
constexpr int64_t kMaxDirectTaps = 160;
constexpr int64_t kDirectMacs = int64_t(1) << 28;
constexpr int64_t kTinyMacs = int64_t(1) << 21;

struct DirectArgs {
  int64_t batch, channels, height, width, out_channels, kh, kw, out_h, out_w;
  int64_t sh, sw, ph, pw, dh, dw, groups, cin_g, cout_g, oc_blocks_per_group;
};

// Block (x: kPositions output positions, y: one block of kOcb output channels
// inside one group). Shared memory holds W[oc0 .. oc0+kOcb) as [tap][kOcb],
// tap = (ic, i, j), so each thread reads its kOcb weights of a tap as one
// broadcast row.
template <typename T>
__global__ void __launch_bounds__(kPositions)
    interval_conv2d_direct_kernel(const T* __restrict__ c, const T* __restrict__ r, const T* __restrict__ w,
                                  const T* __restrict__ bias, T* __restrict__ oc, T* __restrict__ orad,
                                  DirectArgs a) {
  extern __shared__ unsigned char smem_raw[];
  T* ws = reinterpret_cast<T*>(smem_raw);
  const int64_t group = blockIdx.y / a.oc_blocks_per_group;
  const int64_t oc_in_group0 = (blockIdx.y % a.oc_blocks_per_group) * kOcb;
  const int64_t oc0 = group * a.cout_g + oc_in_group0;
  const int ocs = int(a.cout_g - oc_in_group0 < kOcb ? a.cout_g - oc_in_group0 : kOcb);
  const int64_t taps = a.cin_g * a.kh * a.kw;
  for (int64_t e = threadIdx.x; e < taps * kOcb; e += blockDim.x) {
    const int64_t tap = e / kOcb, o = e % kOcb;
    ws[e] = o < ocs ? w[(oc0 + o) * taps + tap] : T(0);
  }
  __syncthreads();

  const int64_t positions = a.batch * a.out_h * a.out_w;
  const int64_t p = int64_t(blockIdx.x) * kPositions + threadIdx.x;
  if (p >= positions) return;
  const int64_t ox = p % a.out_w, oy = (p / a.out_w) % a.out_h, n = p / (a.out_w * a.out_h);
  T ac[kOcb], ar[kOcb];
#pragma unroll
  for (int o = 0; o < kOcb; ++o) ac[o] = ar[o] = T(0);
  const int64_t y0 = oy * a.sh - a.ph, x0 = ox * a.sw - a.pw;
  const int64_t plane = a.height * a.width;
  const T* cn = c + (n * a.channels + group * a.cin_g) * plane;
  const T* rn = r + (n * a.channels + group * a.cin_g) * plane;
  int64_t tap = 0;
  for (int64_t ic = 0; ic < a.cin_g; ++ic) {
    for (int64_t i = 0; i < a.kh; ++i) {
      const int64_t y = y0 + i * a.dh;
      const bool row_in = y >= 0 && y < a.height;
      for (int64_t j = 0; j < a.kw; ++j, ++tap) {
        const int64_t x = x0 + j * a.dw;
        if (!row_in || x < 0 || x >= a.width) continue;  // zero padding adds nothing
        const int64_t at = ic * plane + y * a.width + x;
        const T cv = cn[at], rv = rn[at];
        const T* wt = ws + tap * kOcb;
#pragma unroll
        for (int o = 0; o < kOcb; ++o) {
          ac[o] += cv * wt[o];
          ar[o] += rv * cuda::abs_val(wt[o]);
        }
      }
    }
  }
  const int64_t out_plane = a.out_h * a.out_w;
  const int64_t base = (n * a.out_channels + oc0) * out_plane + oy * a.out_w + ox;
#pragma unroll
  for (int o = 0; o < kOcb; ++o) {
    if (o < ocs) {
      oc[base + o * out_plane] = ac[o] + (bias ? bias[oc0 + o] : T(0));
      orad[base + o * out_plane] = ar[o];
    }
  }
}

std::tuple<at::Tensor, at::Tensor> interval_conv2d_cuda(const at::Tensor& center, const at::Tensor& radius,
                                                        const at::Tensor& weight,
                                                        const c10::optional<at::Tensor>& bias,
                                                        at::IntArrayRef stride, at::IntArrayRef padding,
                                                        at::IntArrayRef dilation, int64_t groups) {
  const ConvGeometry g = check_interval_conv_args(center, radius, weight, bias, stride, padding, dilation, groups);
  const c10::cuda::CUDAGuard guard(center.device());
  const int64_t cin_g = g.channels / groups, cout_g = g.out_channels / groups;
  const int64_t taps = cin_g * g.kh * g.kw;
  const int64_t macs = 2 * g.batch * g.out_channels * g.out_h * g.out_w * taps;
  const int64_t smem = taps * kOcb * int64_t(center.element_size());
  const bool fits = smem <= kMaxSmemBytes;
  if (!fits || !use_own_kernel(ChoiceOp::IntervalConv2d,
                                          (taps <= kMaxDirectTaps && macs <= kDirectMacs) || macs <= kTinyMacs)) {
    at::Tensor oc = cuda::conv2d_ieee(center, weight, bias, stride, padding, dilation, groups);
    at::Tensor orad = cuda::conv2d_ieee(radius, weight.abs(), c10::nullopt, stride, padding, dilation, groups);
    return {oc.contiguous(), orad.contiguous()};
  }
  const at::Tensor c = center.contiguous(), r = radius.contiguous(), w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  at::Tensor oc = at::empty({g.batch, g.out_channels, g.out_h, g.out_w}, c.options());
  at::Tensor orad = at::empty_like(oc);
  const int64_t positions = g.batch * g.out_h * g.out_w;
  if (positions == 0 || g.out_channels == 0) return {oc, orad};
  if (taps == 0) {  // no input channels: the products are empty sums
    orad.zero_();
    return {b.defined() ? oc.copy_(b.view({1, -1, 1, 1}).expand_as(oc)) : oc.zero_(), orad};
  }
  DirectArgs a{g.batch, g.channels, g.height, g.width, g.out_channels, g.kh, g.kw, g.out_h, g.out_w,
               g.stride[0], g.stride[1], g.padding[0], g.padding[1], g.dilation[0], g.dilation[1], groups,
               cin_g, cout_g, (cout_g + kOcb - 1) / kOcb};
  const dim3 grid(static_cast<unsigned>((positions + kPositions - 1) / kPositions),
                  static_cast<unsigned>(groups * a.oc_blocks_per_group));
  TORCH_CHECK(groups * a.oc_blocks_per_group <= 65535,
              "interval_conv2d: too many output channel blocks for one launch");
  AT_DISPATCH_FLOATING_TYPES(c.scalar_type(), "interval_conv2d_cuda", [&] {
    interval_conv2d_direct_kernel<scalar_t><<<grid, kPositions, smem, at::cuda::getCurrentCUDAStream()>>>(
        c.data_ptr<scalar_t>(), r.data_ptr<scalar_t>(), w.data_ptr<scalar_t>(),
        b.defined() ? b.data_ptr<scalar_t>() : nullptr, oc.data_ptr<scalar_t>(), orad.data_ptr<scalar_t>(), a);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CUDA, m) { m.impl("interval_conv2d", &interval_conv2d_cuda); }

}  // namespace mixtrain
