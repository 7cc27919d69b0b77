// interval_conv2d on the CPU: (conv(c, W) + b, conv(r, |W|)).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "checks.h"
#include "cpu/interval_conv2d_cpu.h"
#include "cpu/interval_gemm.h"

namespace mixtrain {
namespace {

// MIXTRAIN_CPU_CONV=direct|onednn|winograd forces a path (tests and
// benchmarks/cpu_conv_paths.py run each); other values are ignored. Read on
// every call, so that a benchmark can switch paths between calls.
enum class ForcedPath { None, Direct, OneDnn, Winograd };
ForcedPath forced_cpu_conv() {
  const char* e = std::getenv("MIXTRAIN_CPU_CONV");
  if (!e) return ForcedPath::None;
  if (std::strcmp(e, "direct") == 0) return ForcedPath::Direct;
  if (std::strcmp(e, "onednn") == 0) return ForcedPath::OneDnn;
  if (std::strcmp(e, "winograd") == 0) return ForcedPath::Winograd;
  return ForcedPath::None;
}

// Where the fused kernel -- a direct convolution with output channels in SIMD
// lanes, each weight vector loaded once for both products, center and radius
// interleaved so one address serves both, no im2col -- beats two oneDNN
// convolutions plus |W|. Measured on the 2-core AVX-512 development machine
// (direct / oneDNN-pair time ratio, medians; the machine is noisy, +-10%):
//  - small layers (<= 1M MACs), where dispatch and primitive set-up dominate:
//    2-3.4x;
//  - few input channels (the 3-channel stems: oneDNN handles them poorly):
//    1.2-3x at every batch measured (1..128);
//  - up to 64 output channels and 32M MACs (the MixTrain nets at B = 1..8):
//    1.1-2.3x (B=8 32->32 4x4 s2 on 26x26 1.12x, 32->64 3x3 on 15x15 1.28x);
//  - but 128 output channels 0.5-0.9x, and larger 32..64-channel layers
//    (B >= 8, >= 75M MACs) 0.7-0.96x: those go to oneDNN.
// Since positions are blocked across rows in spans (below), the direct kernel
// measures 1.2-1.35x on the MixTrain layers at B = 8 (0.93x on a 64-channel 7x7
// stem; the model's 32-channel one: 0.91-1.04x, benchmarks/README.md)
// and 0.96-1.05x on those larger layers (B = 32, and 64->128 3x3 at B = 8):
// parity, so the rule stands.
// 1x1 convolutions (the residual nets' shortcuts) up to 4.5M MACs go direct
// whatever their width: against oneDNN's pair, 64->128 and 128->128 1x1 s2 at
// B = 8 (2-4M MACs) measured 1.23-1.46x direct and 0.77-0.81x through oneDNN;
// from 8M MACs on the two were even (0.87-1.08x against 0.77-0.95x).
// But a 1x1 convolution over at most 64 output positions in all (the
// shortcuts at B = 1) goes to oneDNN: benchmarks/cpu_conv_paths.py, both paths
// forced and alternating, gave 128->128 on 4x4 out 0.71x direct against 0.99x
// oneDNN, 64->128 and 32->64 on 8x8 out 0.89x against 0.99x and 0.96x; at
// B = 8 (128-512 positions) direct wins those same layers, 1.55-1.6x.
// The rule below is for AVX-512; AVX2 machines have their own, inside.
bool fused_conv_pays(int64_t macs, int64_t in_channels_per_group, int64_t out_channels, int64_t kernel_area,
                     int64_t positions, int64_t groups, bool strided) {
  // A forced direct or oneDNN path overrides the rule (forced_cpu_conv).
  // (=winograd on a layer the Winograd path cannot run leaves this rule to decide.)
  const ForcedPath forced = forced_cpu_conv();
  if (forced == ForcedPath::Direct) return true;
  if (forced == ForcedPath::OneDnn) return false;
  const bool avx2 = interval_simd_lanes(false) < 16;
  // (Not on AVX2: there 32->64 and 64->128 1x1 s2 over 64 positions ran
  // direct in 30 and 55 us against oneDNN's 47 and 63, and 128->128 over 16
  // positions 57 against 54 (session 17, cpu_conv_paths.py); with the weights
  // in panels (session 23) the last one 1.25x of the reference against 0.93x.)
  if (!avx2 && kernel_area == 1 && positions <= 64 && in_channels_per_group >= 32) return false;
  if (avx2) {
    // AVX2 (8 float lanes, half the register block): the rule below was measured
    // with AVX-512 and sends layers that lose here. benchmarks/cpu_conv_paths.py
    // --batches 1,8,50 on a 2-core AMD EPYC without AVX-512
    // (results/cpu-2core-avx2-conv-paths-2026-11-23.json): the direct kernel beat
    // oneDNN's pair on every layer up to 6M MACs (0.11-0.92x of its time), except
    // 3x3 and 4x4 layers with at least 64 input and output channels (1.03-2.0x);
    // from 6.5M MACs on oneDNN won all but two cases within 4% (1.05-2.3x),
    // including the one-to-three-channel stems (MNIST-large conv1 at B = 50:
    // 1.99x) that the AVX-512 rule keeps direct at any size.
    //
    // After the channels-last input (session 15,
    // results/cpu-2core-avx2-conv-paths-channels-last-2026-11-23.json) the
    // direct kernel also beat oneDNN on 16-32 input channels and at most 64
    // output ones up to 20M MACs: 16->16 3x3 at B = 8 (19M) 0.80x of its time,
    // 16->32 and 32->64 3x3 s2 (9.4M) 0.80x and 0.72x, 32->32 3x3 at B = 1
    // 0.70x, 16->32 4x4 s2 at B = 50 (20M) 0.82x; from 25M on (32->32 4x4 s2
    // at B = 8, 32->64 3x3) the two were even or oneDNN won. Not 1x1 ones:
    // 16->32 1x1 s2 at B = 50 (6.6M) took 3.7 ms direct against 0.95.
    //
    // With center and radius paired in the lanes (session 15,
    // results/cpu-2core-avx2-conv-paths-paired-2026-11-23.json, B = 8) the
    // direct kernel beat oneDNN's pair on every layer with at most 32 input and
    // 64 output channels up to 38.5M MACs (0.61-0.96x of its time: 32->32 4x4
    // s2 25.7M 0.82x, 32->64 3x3 37.7M 0.79x, the 7x7 stem 38.5M 0.96x); 64->64
    // 4x4 s2 lost (1.10x), and 64+ channel 3x3 layers were even.
    //
    // After the copies moved whole blocks of channels (session 16), 3x3 layers
    // with 64 input channels won too (session 17, cpu_conv_paths.py, direct
    // against oneDNN's pair, both forced, alternating): 64->64 on 8x8 155 / 204
    // us at B = 1 and 726 / 1007 at B = 8 (cifar_resnet.conv8, 2.4M and 19M
    // MACs), 64->64 on 16x16 at B = 1 443 / 611 (9.4M), 64->128 s2 354 / 414
    // and 1750 / 2196 (4.7M, 38M); earlier A/B runs gave the same sign. Not
    // 4x4 ones (64->64 4x4 s2: 0.9-1.15x of oneDNN's time, a draw) nor 128
    // input channels (128->128 3x3 on 8x8 or 4x4 at B = 1: 1.4-2x oneDNN's).
    //
    // Once the weights were packed in parallel, line by line (session 18: the
    // serial packing had been 40% of a B = 1 call on the 64 x 64 x 4 x 4
    // weights), those lost no more. cpu_conv_paths.py --rounds 5, direct
    // against oneDNN's pair (ref / path): 64->64 4x4 s2 on 14x14 and 16x16 at
    // B = 1 1.63x and 1.82x against 0.83x and 0.98x, at B = 8 (26M, 34M MACs)
    // 1.10x and 1.01x against 0.99x and 0.97x (an earlier run: 1.18x, 1.14x
    // against 0.98x, 1.05x); 128->128 3x3 on 4x4 at B = 1 (2.4M) 1.45x against
    // 0.98x, s2 on 8x8 1.06x against 0.97x. So every layer up to 6M MACs goes
    // direct, and 4x4 ones with up to 64 channels each way up to 40M (80M
    // since session 23, below).
    //
    // One-channel stems lose from about 512K output elements per call (session
    // 22, cpu_conv_paths.py --only conv1 --batches 8,16,32,50, ref / path):
    // MNIST-large conv1 (1->32 3x3 on 28x28) direct 1.62x and 1.18x at B = 8
    // and 16 (200K, 401K elements), 0.93x and 0.84x at B = 32 and 50 (803K,
    // 1.25M) against oneDNN's 1.00x. (Three-channel stems timed even with
    // oneDNN at 1M elements, cifar_large conv1 at B = 32, 0.97x against 0.99x,
    // and the 16-channel cifar_resnet one still won at 819K, 1.08x against
    // 1.01x: left to the MAC rule.)
    if (in_channels_per_group == 1 && groups == 1 && kernel_area > 1 &&
        positions * out_channels > (int64_t(512) << 10))
      return false;
    //
    // With the weights in panels (session 23; the paths forced and
    // alternating, ref / path; NCHW boxes from cpu_conv_paths.py --batches
    // 1,8 and 16,50, channels-last ones, what the engine passes, from a
    // scratch script): the 3x3 layers with 64-128 input and 128 output
    // channels (the ImageNet-200 ResNet's last stages) gain up to 80M MACs:
    // 128->128 s2 on 8x8 at B = 8 (19M) 1.26x against oneDNN's 0.99x (NCHW),
    // 1.29x against 0.99x (channels-last), 128->128 on 4x4 1.21x / 1.28x
    // against 1.00x, 64->128 s2 on 16x16 1.18x / 1.08x against 0.98x / 0.95x,
    // 128->128 on 8x8 (75M) 1.06x / 0.99x against 1.00x / 0.94x; beyond, a
    // draw that depends on the layout (at 118M 128->128 on 4x4: 1.17x against
    // 0.99x NCHW, 0.90x against 0.98x channels-last). 64->64 4x4 s2 on 14x14
    // (a 7x7 output, no Winograd) at B = 16 (51M): 1.24x / 1.00x against
    // 0.99x / 0.93x; at B = 50 (161M) 0.99x against 1.01x. 1x1 layers with
    // 128 input channels up to 16M MACs: 128->128 s2 on 8x8 at B = 50 (13M)
    // 1.24x / 0.92x against 0.99x / 0.89x; with 64 the layouts disagree
    // (64->128 s2 on 16x16 at B = 16, 8.4M: 1.28x / 0.80x against 0.98x /
    // 0.87x), and fewer lose from 6M (32->64 1x1 s2 on 32x32 at B = 16: 0.66x
    // NCHW, the copy of the whole input, 4x the positions read, most of the call).
    // Strided ones of those 3x3 layers win at every size measured: 128->128 s2
    // on 8x8 at B = 50 (118M) 1.22x / 1.05-1.12x against oneDNN's 1.02x /
    // 0.99-1.04x, 64->128 s2 on 16x16 at B = 50 (236M) 1.04x / 1.14-1.15x against
    // 1.00x / 1.00-1.01x (two channels-last runs).
    const bool mid = kernel_area > 1 && in_channels_per_group <= 32 && out_channels <= 64;
    // (At most 9 taps: the 3x3 layers measured; 2x2 or 1x9 ones would take it too, unmeasured.)
    const bool wide3x3 = kernel_area > 1 && kernel_area <= 9 && in_channels_per_group <= 64 && out_channels <= 128;
    const bool wide4x4 = kernel_area > 9 && kernel_area <= 16 && in_channels_per_group <= 64 && out_channels <= 64;
    const bool deep3x3 = kernel_area > 1 && kernel_area <= 9 && in_channels_per_group >= 64 &&
                         in_channels_per_group <= 128 && out_channels > 64 && out_channels <= 128;
    const bool deep1x1 = kernel_area == 1 && in_channels_per_group >= 128;
    return macs <= (int64_t(6) << 20) || (deep3x3 && strided) ||
           ((deep3x3 || wide4x4) && macs <= (int64_t(80) << 20)) ||
           (deep1x1 && macs <= (int64_t(16) << 20)) || ((mid || wide3x3) && macs <= (int64_t(40) << 20));
  }
  // Up to 32 output channels the direct kernel keeps up to 64M MACs: 32->32
  // 4x4 s2 on 28x28 (MNIST-large conv2) at B = 16, 51M MACs, 1.30x against
  // oneDNN's 1.01x; at B = 32 1.10x against 1.02x; 32->32 3x3 on 16x16 at
  // B = 16 (38M) even (benchmarks/cpu_conv_paths.py, session 10).
  return macs <= (int64_t(1) << 20) || in_channels_per_group <= 4 ||
         (out_channels <= 64 && macs <= (int64_t(32) << 20)) ||
         (out_channels <= 32 && macs <= (int64_t(64) << 20)) || (kernel_area == 1 && macs <= (int64_t(9) << 19));
}

}  // namespace

bool direct_weight_panels() {
  const char* e = std::getenv("MIXTRAIN_CPU_CONV_PANELS");
  return !(e && std::strcmp(e, "0") == 0);
}

at::Tensor pad_interleave(const at::Tensor& center, const at::Tensor& radius, const ConvGeometry& g, int64_t hp,
                          int64_t wp, bool* radius_negative) {
  std::atomic<bool> negative{false};
  at::Tensor xt = at::empty({g.batch * hp * wp * g.channels * 2}, center.options());
  AT_DISPATCH_FLOATING_TYPES(center.scalar_type(), "pad_interleave", [&] {
    // The input once more, zero-padded, channels-last, with center and radius
    // interleaved ([n, hp, wp, c, 2]): the padding copy the kernel needed
    // anyway, now also the layout that lets one address serve both products
    // and a tap's channels follow each other in memory. (Channel planes, the
    // layout before, sent every tap of a block to a new cache line: about 30
    // G multiply-adds/s on a 2-core AVX2 machine.) Any input strides.
    const int64_t C = g.channels;
    scalar_t* x = xt.data_ptr<scalar_t>();
    const scalar_t* cp = center.data_ptr<scalar_t>();
    const scalar_t* rp = radius.data_ptr<scalar_t>();
    const int64_t cs[4] = {center.stride(0), center.stride(1), center.stride(2), center.stride(3)};
    const int64_t rs[4] = {radius.stride(0), radius.stride(1), radius.stride(2), radius.stride(3)};
    at::parallel_for(0, g.batch * hp, 1, [&](int64_t p0, int64_t p1) {
      int64_t below_zero = 0;  // radii < 0 in this chunk (counted: a sum vectorizes, a branch would not)
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / hp, h = p % hp, ih = h - g.padding[0];
        scalar_t* drow = x + p * wp * C * 2;
        if (ih < 0 || ih >= g.height) {
          std::fill(drow, drow + wp * C * 2, scalar_t(0));
          continue;
        }
        std::fill(drow, drow + g.padding[1] * C * 2, scalar_t(0));
        std::fill(drow + (g.padding[1] + g.width) * C * 2, drow + wp * C * 2, scalar_t(0));
        scalar_t* din = drow + g.padding[1] * C * 2;
        if (cs[1] == 1 && rs[1] == 1 && cs[3] == C && rs[3] == C) {
          // A channels-last box (what the engine passes on the CPU): the row's
          // pixels are one contiguous run in each, interleaved in one loop that
          // the compiler vectorizes.
          const scalar_t* crow = cp + n * cs[0] + ih * cs[2];
          const scalar_t* rrow = rp + n * rs[0] + ih * rs[2];
          const int64_t len = g.width * C;
          for (int64_t i = 0; i < len; ++i) {
            din[2 * i] = crow[i];
            din[2 * i + 1] = rrow[i];
            below_zero += rrow[i] < scalar_t(0);
          }
          continue;
        }
        if (cs[1] == 1 && rs[1] == 1) {
          // Channels contiguous, pixels further apart (a 1x1 stride-2 layer's
          // view of every other column of a channels-last box): pixel by pixel.
          for (int64_t iw = 0; iw < g.width; ++iw) {
            const scalar_t* cpx = cp + n * cs[0] + ih * cs[2] + iw * cs[3];
            const scalar_t* rpx = rp + n * rs[0] + ih * rs[2] + iw * rs[3];
            scalar_t* dst = din + iw * C * 2;
            for (int64_t ch = 0; ch < C; ++ch) {
              dst[2 * ch] = cpx[ch];
              dst[2 * ch + 1] = rpx[ch];
              below_zero += rpx[ch] < scalar_t(0);
            }
          }
          continue;
        }
        // Whole blocks of eight channels first, so that each input position
        // gets one contiguous 16-element write (a cache line in float) from
        // eight input rows; then the rest channel by channel. Channel by
        // channel throughout, every store went to a new line 2 * C elements
        // on: perf put this copy at a quarter of the kernel's time on
        // 64-channel layers (session 16). The block has a fixed trip count,
        // so that the compiler unrolls it.
        const int64_t c8 = C / 8 * 8;
        for (int64_t c0 = 0; c0 < c8; c0 += 8) {
          const scalar_t* crow = cp + n * cs[0] + c0 * cs[1] + ih * cs[2];
          const scalar_t* rrow = rp + n * rs[0] + c0 * rs[1] + ih * rs[2];
          for (int64_t iw = 0; iw < g.width; ++iw) {
            scalar_t* dst = din + (iw * C + c0) * 2;
            for (int64_t ch = 0; ch < 8; ++ch) {
              dst[2 * ch] = crow[ch * cs[1] + iw * cs[3]];
              dst[2 * ch + 1] = rrow[ch * rs[1] + iw * rs[3]];
              below_zero += dst[2 * ch + 1] < scalar_t(0);
            }
          }
        }
        for (int64_t ch = c8; ch < C; ++ch) {
          const scalar_t* crow = cp + n * cs[0] + ch * cs[1] + ih * cs[2];
          const scalar_t* rrow = rp + n * rs[0] + ch * rs[1] + ih * rs[2];
          for (int64_t iw = 0; iw < g.width; ++iw) {
            din[(iw * C + ch) * 2] = crow[iw * cs[3]];
            din[(iw * C + ch) * 2 + 1] = rrow[iw * rs[3]];
            below_zero += rrow[iw * rs[3]] < scalar_t(0);
          }
        }
      }
      if (below_zero) negative.store(true, std::memory_order_relaxed);
    });
  });
  if (radius_negative) *radius_negative = negative.load();
  return xt;
}

namespace {
// The size of a padded copy in KB, MIXTRAIN_CPU_PAD_CHUNK_KB or 2048; <= 0
// (or not a number): the whole batch in one copy.
int64_t pad_chunk_kb() {
  const char* e = std::getenv("MIXTRAIN_CPU_PAD_CHUNK_KB");
  return e ? std::min<int64_t>(std::atoll(e), int64_t(1) << 30) : 2048;
}
}  // namespace

int64_t pad_chunk_samples(const ConvGeometry& g, int64_t hp, int64_t wp, int64_t element_size) {
  // The copy of a whole batch outgrows the caches: at B = 50 the MNIST-large
  // conv2 input (32 channels, 30x30 padded) is an 11.5 MB copy, written in
  // full before the products of its first samples read it back. Copies of
  // about 2 MB instead, measured on the 2-core AMD EPYC (Zen 3, AVX2; 512 KB
  // L2 per core), each path forced, with and without the chunks alternating
  // in one process, malloc tuned as the mixtrain command tunes it
  // (cpu_allocator.py), reference / path time, medians of 20 (session 21):
  // Winograd at B = 50, 32->32 4x4 s2 on 28x28 and 32x32 1.09x -> 1.13x and
  // 1.09x -> 1.22x, 64->64 4x4 s2 on 16x16 1.14x -> 1.15x (on 14x14, not a
  // Winograd layer, 0.92x -> 0.90x); the direct kernel 0.84x -> 0.89x, 0.86x
  // -> 0.94x on the two 32->32 layers; at B = 16 and 32 within 0.05x either way. (Without the malloc
  // tuning each whole-batch copy is also a fresh mmap, faulted in page by
  // page, and the chunks gained 1.1-1.27x on those layers.) Copies of 3.7 MB
  // (16 samples) kept about half the loss; of 0.5-0.9 MB timed as 1.8 MB.
  const int64_t kb = pad_chunk_kb();
  const int64_t per_sample = std::max<int64_t>(1, hp * wp * g.channels * 2 * element_size);
  if (kb <= 0 || g.batch <= 1) return std::max<int64_t>(1, g.batch);
  const int64_t most = std::max<int64_t>(1, std::min(g.batch, (kb << 10) / per_sample));
  // Chunks of even size (10 samples by at most 9: 5 and 5, not 9 and 1, where one thread would idle).
  const int64_t chunks = (g.batch + most - 1) / most;
  return (g.batch + chunks - 1) / chunks;
}

namespace {

// Where the Winograd path (interval_conv2d_winograd_cpu.cpp) beats both the
// direct kernel and oneDNN. MIXTRAIN_CPU_CONV=winograd forces it wherever it
// applies (3x3 stride 1, 4x4 stride 2; elsewhere the size rule decides),
// =direct or =onednn keeps it off.
// Measured on the 2-core AVX2 machine (AMD EPYC, Zen 3; session 19): the
// three paths timed call by call in turn, 60 calls each, medians, channels-
// last boxes; best of direct and oneDNN / Winograd:
//  - 32->64 on 14x14 and 16x16 (the MNIST/CIFAR-large conv3) at B = 8, 16,
//    50: 1.14-1.15x, 1.34-1.35x, 1.38-1.39x; 32->32 on 16x16 and 32x32 at
//    B = 8 and 50: 1.08-1.21x; 64->64 on 8x8 and 16x16 at B = 8 and 50:
//    1.20-1.72x;
//  - but at B = 1 (16-64 tiles) 0.51-0.81x, but 32->32 on 32x32 (256 tiles)
//    1.04x: each call transforms every filter (16 * C * O pairs; not cached,
//    since a `p.data` write leaves the version counter alone and a cache
//    could serve stale filters), which only many tiles repay;
//  - 16 channels (16->16 on 32x32: 0.85-1.01x) and the 3-channel stems
//    (0.58-0.66x): too few channels per product to amortize the transforms;
//  - 128->128 on 8x8 0.56x, 0.90x, 1.05x at B = 1, 8, 50, on 4x4 0.62-0.76x:
//    a draw at best, left to the size rule.
// So: 32..64 input and at most 64 output channels, from 128 tiles (B x
// ceil(out_h / 2) x ceil(out_w / 2)) on (since session 23 up to 128 channels, below).
// 4x4 stride-2 layers (F(2x2, 2x2) over the four stride phases), the same
// measurement: 32->32 on 28x28 and 32x32 at B = 8 and 16 1.14-1.18x, 64->64
// on 16x16 at B = 8 and 50 1.10x and 1.23x; but 32->32 at B = 50 (2450-3200
// tiles) 0.95-0.99x, where perf put 15% of the call in the padded copy of the
// input (4x the output's pixels, memory-bound) -- so 32-channel layers up to
// 1024 tiles only, until the copy went by chunks of samples
// (pad_chunk_samples; session 21, the paths alternating, against the
// reference: 32->32 on 28x28 and 32x32 at B = 50 1.13x and 1.22x, oneDNN
// 1.05x and 1.04x; at B = 32 1.12x and 1.18x against 1.05x and 1.03x); 64->64
// on 14x14 (a 7x7 output, its last tiles half empty) 0.93x at B = 8, 1.01x
// at B = 50 (in session 21's run 0.92x, 0.90x with the chunks, against
// oneDNN's 1.04x: another phase of the machine, the same verdict) -- so even output
// sizes only; and at B = 1 (49-64 tiles) 0.35-0.87x.
// Session 23: with the filter transforms vectorized (they had been about
// 1.1 ms of every 128->128 call) the 3x3 path serves 128 channels too, from
// the same 128 tiles (cpu_conv_paths.py, NCHW, ref / path): 128->128 on 8x8
// at B = 8 1.49x against direct 1.11x, 64->64 on 8x8 at B = 8 1.79x against
// 1.38x; at B = 50 (channels-last, before that fix) 1.28x against direct
// 0.89x and oneDNN 1.00x; on 4x4 at B = 8 (32 tiles) 1.21x against 1.46x. But
// NCHW outputs of 32x32 from B = 8 stay off it: 32->32 on 32x32 at B = 8 and
// 16 1.04x and 0.89x against oneDNN's 1.08x and 1.00x (at B = 2, 4 and 1:
// 1.52x, 1.38x, 1.86x against 1.00x), the output transform's scalar stores
// channel by channel (channels-last: 1.31x at B = 8 against oneDNN's 1.00x).
// 4x4 stride-2 layers with 16 input channels (CIFAR-small conv2) from 256
// tiles: at B = 16 and 50 (256, 800 tiles) 1.87x and 1.42x against direct
// 1.75x and 1.23x (NCHW), at B = 50 1.29-1.37x against 1.10-1.12x
// (channels-last); at B = 8 (128) a draw, 2.01x against 2.20x.
// Session 24: F(4x4, 3x3) (winograd_tile: outputs a multiple of 4, from 128
// tiles of 4 x 4, NCHW from 32) also takes 16-channel layers and NCHW 32x32 outputs
// (cpu_conv_paths.py --tile-ab, ref / path, NCHW then channels-last): 16->16
// on 32x32 at B = 8 1.34-1.41x and 1.37-1.68x against direct 1.12-1.45x and
// 1.19-1.20x; 32->32 on 32x32 at B = 8 1.33x (two runs) against direct
// 0.82-0.86x and oneDNN 0.85-0.98x.
// AVX2 only: on AVX-512 both are unmeasured, so the size rule decides there
// (forcing it is safe anywhere).
bool winograd_pays(const ConvGeometry& g, bool nhwc) {
  if (!winograd_applies(g)) return false;
  const ForcedPath forced = forced_cpu_conv();
  if (forced != ForcedPath::None) return forced == ForcedPath::Winograd;
  // MIXTRAIN_CPU_WINOGRAD=0: the size rule alone, as before this path (for A/B runs of whole passes).
  if (const char* e = std::getenv("MIXTRAIN_CPU_WINOGRAD"))
    if (std::strcmp(e, "0") == 0) return false;
  const bool avx2 = interval_simd_lanes(false) == 8;
  const int64_t tiles = g.batch * ((g.out_h + 1) / 2) * ((g.out_w + 1) / 2);
  if (avx2 && g.kh == 4 && g.channels == 16 && g.out_channels <= 32 && tiles >= 256)
    return g.out_h % 2 == 0 && g.out_w % 2 == 0 && (tiles <= 1024 || pad_chunk_kb() > 0);
  // Where the rule takes F(4x4, 3x3) (and MIXTRAIN_CPU_WINOGRAD_TILE=2 does not force the small tile: the
  // rules as before it, for A/B runs; forcing 4 picks the tile where Winograd runs, not where it runs).
  // Other channel counts fall through to the F(2x2, 3x3) rule.
  if (avx2 && g.kh == 3 && winograd_tile(g, nhwc, false) == 4 && winograd_tile(g, nhwc) == 4 &&
      g.channels >= 16 && g.out_channels >= 16 && g.channels <= 128 && g.out_channels <= 128)
    return true;
  if (!avx2 || g.channels < 32 || tiles < 128) return false;
  if (g.kh == 3)
    return g.channels <= 128 && g.out_channels <= 128 && (nhwc || g.out_h * g.out_w < 1024 || g.batch < 8);
  if (g.channels > 64 || g.out_channels > 64) return false;
  // (With the chunks turned off, MIXTRAIN_CPU_PAD_CHUNK_KB <= 0, the tile limit that held for whole-batch
  // copies holds again; a size large enough for the whole batch does not restore it.)
  return g.out_h % 2 == 0 && g.out_w % 2 == 0 && (g.channels >= 64 || tiles <= 1024 || pad_chunk_kb() > 0);
}

std::tuple<at::Tensor, at::Tensor> interval_conv2d_onednn(const at::Tensor& center, const at::Tensor& radius,
                                                          const at::Tensor& weight,
                                                          const c10::optional<at::Tensor>& bias,
                                                          const ConvGeometry& g) {
  at::IntArrayRef s(g.stride, 2), p(g.padding, 2), d(g.dilation, 2);
  const at::MemoryFormat fmt = cpu_box_format(center);
  // Both inputs in the center's layout, and on a channels-last box the weights
  // too: oneDNN then runs its NHWC kernels with no reorder (measured with
  // F.conv2d, B = 16, the MNIST/CIFAR-large layers, 2-core AVX2: NHWC input
  // 0.84-0.97x of the NCHW time, NHWC input and weight 0.78-0.86x).
  const at::Tensor w = fmt == at::MemoryFormat::ChannelsLast ? weight.contiguous(fmt) : weight;
  at::Tensor oc = at::conv2d(center.contiguous(fmt), w, bias, s, p, d, g.groups);
  at::Tensor orad = at::conv2d(radius.contiguous(fmt), w.abs(), c10::nullopt, s, p, d, g.groups);
  return {with_standard_strides(oc, fmt), with_standard_strides(orad, fmt)};
}

std::tuple<at::Tensor, at::Tensor> interval_conv2d_cpu(const at::Tensor& center, const at::Tensor& radius,
                                                       const at::Tensor& weight,
                                                       const c10::optional<at::Tensor>& bias,
                                                       at::IntArrayRef stride, at::IntArrayRef padding,
                                                       at::IntArrayRef dilation, int64_t groups) {
  const ConvGeometry g = check_interval_conv_args(center, radius, weight, bias, stride, padding, dilation, groups);
  const int64_t L = g.out_h * g.out_w;
  const int64_t Kg = weight.size(1) * g.kh * g.kw;  // patch length of one group
  const int64_t Og = g.out_channels / g.groups;
  const int64_t macs = g.batch * L * g.out_channels * Kg;
  if (winograd_pays(g, cpu_box_format(center) == at::MemoryFormat::ChannelsLast))
    return interval_conv2d_winograd(center, radius, weight, bias, g);
  if (!fused_conv_pays(macs, g.channels / g.groups, g.out_channels, g.kh * g.kw, g.batch * L, g.groups,
                       g.stride[0] > 1 || g.stride[1] > 1))
    return interval_conv2d_onednn(center, radius, weight, bias, g);

  const at::Tensor w = weight.contiguous();
  const at::Tensor b = bias.has_value() ? bias->contiguous() : at::Tensor();
  // The center's layout (cpu_box_format): NCHW, or channels-last, which the
  // tile copies out whole pixel by pixel.
  const at::MemoryFormat fmt = cpu_box_format(center);
  const bool nhwc = fmt == at::MemoryFormat::ChannelsLast;
  at::Tensor oc = empty_in_format({g.batch, g.out_channels, g.out_h, g.out_w}, center.options(), fmt);
  at::Tensor orad = at::empty_like(oc);
  if (oc.numel() == 0) return {oc, orad};
  const int64_t cin_g = g.channels / g.groups, kh = g.kh, kw = g.kw;
  // A 1x1 convolution of stride s without padding reads only every s-th row
  // and column of its input: the copy below (pad_interleave) then takes just
  // those, from a strided view, and the kernel runs a 1x1 stride-1
  // convolution over them (gs; a quarter of the copy at s = 2). The output's
  // layout stays the center's (fmt above). Against the whole copy, the six
  // MixTrain 1x1 s2 layers, alternating in one process, medians of 7
  // (session 26, 2-core AMD EPYC; results/cpu-2core-avx2-conv1x1-stride2-
  // subsample-ab-2026-11-24.json): NCHW 1.04-1.22x at B = 1, 1.24-1.45x at
  // B = 8; channels-last 1.00-1.12x and 1.12-1.20x.
  const bool subsample = kh == 1 && kw == 1 && g.padding[0] == 0 && g.padding[1] == 0 &&
                         (g.stride[0] > 1 || g.stride[1] > 1);
  ConvGeometry gs = g;
  at::Tensor cin = center, rin = radius;
  if (subsample) {
    gs.height = g.out_h;
    gs.width = g.out_w;
    gs.stride[0] = gs.stride[1] = 1;
    cin = center.slice(2, 0, (g.out_h - 1) * g.stride[0] + 1, g.stride[0])
              .slice(3, 0, (g.out_w - 1) * g.stride[1] + 1, g.stride[1]);
    rin = radius.slice(2, 0, (g.out_h - 1) * g.stride[0] + 1, g.stride[0])
              .slice(3, 0, (g.out_w - 1) * g.stride[1] + 1, g.stride[1]);
  }
  const int64_t hp = gs.height + 2 * g.padding[0], wp = gs.width + 2 * g.padding[1];

  AT_DISPATCH_FLOATING_TYPES(center.scalar_type(), "interval_conv2d_cpu", [&] {
    const int64_t C = g.channels;
    // Per group, [op / lanes, taps, 2 * lanes] (panels, below; or rows [taps, op, 2]): (W, |W|) per channel, channels padded to whole
    // vectors; and the taps' offsets in x (shared by every group and row).
    const int64_t lanes = interval_simd_lanes(std::is_same<scalar_t, double>::value);
    const int64_t op = (Og + lanes - 1) / lanes * lanes;
    // A torch allocation: 64-byte aligned (a std::vector's 16 bytes split
    // every AVX-512 weight load across two cache lines). Zeroed only where
    // channels are padded to whole vectors; every other entry is written below.
    at::Tensor wk_t = op > Og ? at::zeros({g.groups * Kg * 2 * op}, center.options())
                              : at::empty({g.groups * Kg * 2 * op}, center.options());
    scalar_t* wk = wk_t.data_ptr<scalar_t>();
    std::vector<scalar_t> bp(g.groups * op * 2, 0);  // (bias, 0) per channel
    std::vector<int64_t> off(Kg);
    // Taps in (i, j, channel) order, the order of x. Packed in parallel, in
    // blocks of min(8, lanes) output channels (one 64-byte line of float pairs per tap on AVX2),
    // reading the block's 8 weight rows channel by channel (each row's line
    // then holds all of that channel's taps). The loop before -- every tap
    // reading all Og rows, Kg apart, on one thread while the other waited --
    // was about 40% of a B = 1 call on 64->64 4x4 s2 (perf, session 18).
    // In panels of `lanes` channels (the register block's two vectors),
    // [op / lanes, Kg, 2 * lanes] per group, so that a block reads its weights
    // as one sequential stream. In rows ([Kg, op, 2]) a block's 64 bytes per
    // tap were 2 * op elements apart (1 KB at 128 channels: such lines share 4
    // of L1's 64 sets, and the L2 prefetcher's streams end at every 4 KB page).
    // Panels against rows, the direct path forced, alternating in one process,
    // medians of 15 (session 23, 2-core AMD EPYC, AVX2; MIXTRAIN_CPU_CONV_PANELS
    // =0 gives the rows): 128->128 3x3 on 8x8 1.39x / 1.42x at B = 1 / 8, on
    // 4x4 1.63x / 1.57x, s2 on 8x8 at B = 8 1.51x; 64->128 3x3 s2 on 16x16
    // 1.24x / 1.21x; 64->64 4x4 s2 on 14x14 at B = 8 1.37x; 64->64 3x3 on 8x8
    // at B = 1 1.24x, on 16x16 at B = 8 1.11x; 32->32 3x3 on 32x32 and the
    // 3->32 7x7 stem at B = 8 1.05x; the small layers at B = 1 1.00-1.16x.
    const scalar_t* wsrc = w.data_ptr<scalar_t>();
    const bool panels = direct_weight_panels();
    const int64_t bw = std::min<int64_t>(8, lanes);  // a block's channels, inside one panel
    const int64_t khw = kh * kw, oblocks = (Og + bw - 1) / bw;
    at::parallel_for(0, g.groups * oblocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t bi = b0; bi < b1; ++bi) {
        const int64_t gi = bi / oblocks, o0 = bi % oblocks * bw, n = std::min<int64_t>(bw, Og - o0);
        const scalar_t* rows = wsrc + (gi * Og + o0) * Kg;
        // Tap k of channels o0.. at base + k * kstep: in either layout a block's taps are evenly spaced
        // (the offset computed once per block: per tap, its divisions cost 1.2x on 128->128 at B = 1).
        scalar_t* base = wk + gi * Kg * 2 * op + direct_weight_offset(panels, Kg, op, lanes, 0, o0);
        const int64_t kstep = direct_weight_offset(panels, Kg, op, lanes, 1, o0) -
                              direct_weight_offset(panels, Kg, op, lanes, 0, o0);
        for (int64_t ch = 0; ch < cin_g; ++ch)
          for (int64_t ij = 0; ij < khw; ++ij) {
            scalar_t* dst = base + (ij * cin_g + ch) * kstep;
            const scalar_t* src = rows + ch * khw + ij;
            for (int64_t o = 0; o < n; ++o) {
              const scalar_t v = src[o * Kg];
              dst[2 * o] = v;
              dst[2 * o + 1] = v < 0 ? -v : v;
            }
          }
      }
    });
    if (b.defined())
      for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t o = 0; o < Og; ++o) bp[2 * (gi * op + o)] = b.data_ptr<scalar_t>()[gi * Og + o];
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j)
        for (int64_t ch = 0; ch < cin_g; ++ch)
          off[(i * kw + j) * cin_g + ch] = 2 * ((i * g.dilation[0] * wp + j * g.dilation[1]) * C + ch);
    // One task per (sample, group, span of at most S = 96 output positions,
    // channel half),
    // the output flattened to [out_h * out_w] so that register blocks run
    // across rows. Smaller spans where the chunk (below) is small, so that every
    // thread gets about 4 tasks (B = 1 at 13 x 13: 8 spans of 21-22 instead of
    // 13 rows, 7 against 6 on 2 threads). Measured (2 cores, against oneDNN
    // in the same process, medians): S = 96 beat 32, 48 and 192 on every
    // MixTrain layer at B = 1 and 8 -- on the 7x7 stem at B = 8 by 6-10%.
    const int64_t positions = g.out_h * g.out_w;
    // Samples per copy of the input (pad_chunk_samples), each copy computed before the next is made.
    const int64_t chunk = pad_chunk_samples(gs, hp, wp, sizeof(scalar_t));
    int64_t want = std::max<int64_t>(1, (4 * at::get_num_threads() + chunk * g.groups - 1) /
                                            (chunk * g.groups));  // spans per sample and group
    // Layers with at least two 2-vector channel blocks (64 float channels on
    // AVX-512) split each task's channels in two halves: half of W per task
    // and twice the tasks, with spans twice as long. Against no split, forced
    // direct, alternating in one process (2 cores, AVX-512, float32): better
    // on 29 of the 32 such MixTrain cases at B = 1 and 8 (64->64 4x4 s2 at
    // B = 1 1.15x -> 1.29x of the reference, 32->64 1x1 s2 at B = 8 2.0x ->
    // 3.0x), within 0.04x on the other three (16-position layers).
    const int64_t csplit = op >= 4 * lanes ? 2 : 1;
    const int64_t half = (op / 2 + 2 * lanes - 1) / (2 * lanes) * (2 * lanes);  // channel split point
    if (csplit > 1) want = std::max<int64_t>(1, (want + 1) / 2);
    const int64_t spans = std::max<int64_t>(1, std::min<int64_t>(want, positions / 12));
    const int64_t S = std::min<int64_t>((positions + spans - 1) / spans, 96);
    const int64_t per = (positions + S - 1) / S;
    // Samples [n0, n0 + nc) at a time, once more zero-padded, channels-last, center and radius interleaved.
    for_each_padded_copy(cin, rin, gs, hp, wp, chunk, false, [&](const at::Tensor& xt, int64_t n0, int64_t nc,
                                                                 bool) {
      const scalar_t* x = xt.data_ptr<scalar_t>();
      at::parallel_for(0, nc * g.groups * per * csplit, 1, [&](int64_t t0, int64_t t1) {
        std::vector<scalar_t> tile(S * op * 2);
        for (int64_t tt = t0; tt < t1; ++tt) {
          const int64_t t = tt / csplit, part = tt % csplit;
          const int64_t ns = t / (g.groups * per), n = n0 + ns, gi = (t / per) % g.groups;  // ns: in the copy
          const int64_t j0 = (t % per) * S, cnt = std::min(S, positions - j0);
          const int64_t ob0 = part == 0 ? 0 : half, ob1 = csplit == 1 || part == 1 ? op : half;
          IntervalDirectConv<scalar_t> d{x + (ns * hp * wp * C + gi * cin_g) * 2, off.data(), Kg, wp,
                                         wk + gi * Kg * 2 * op, b.defined() ? bp.data() + gi * op * 2 : nullptr,
                                         op, gs.stride[0], gs.stride[1], g.out_w, tile.data(), ob0, ob1};
          d.ps = 2 * C;
          if (panels) d.wpanel = Kg * 2 * lanes;
          interval_direct_conv_span(d, j0, cnt);
          const int64_t oe = std::min(ob1, Og);
          if (nhwc) {
            // Channels-last output: position j's channels are contiguous, out_channels apart.
            scalar_t* dc = oc.data_ptr<scalar_t>() + (n * L + j0) * g.out_channels + gi * Og;
            scalar_t* dr = orad.data_ptr<scalar_t>() + (n * L + j0) * g.out_channels + gi * Og;
            for (int64_t j = 0; j < cnt; ++j) {
              const scalar_t* src = tile.data() + j * op * 2;
              for (int64_t o = ob0; o < oe; ++o) {
                dc[j * g.out_channels + o] = src[2 * o];
                dr[j * g.out_channels + o] = src[2 * o + 1];
              }
            }
            continue;
          }
          // The tile is [position, channel, (center, radius)]; the output NCHW,
          // where the flattened position j of channel o is at o * L + j.
          scalar_t* dc = oc.data_ptr<scalar_t>() + (n * g.out_channels + gi * Og) * L + j0;
          scalar_t* dr = orad.data_ptr<scalar_t>() + (n * g.out_channels + gi * Og) * L + j0;
          // From 64 channels on (a tile larger than L1), whole blocks of eight
          // channels: each position's read is one contiguous 16 elements of the
          // tile, written to eight sequential output rows (channel by channel,
          // every read went to a new line: perf, session 16). Smaller tiles stay
          // in L1, and there the channel loop costs less (perf, the stems).
          int64_t o = ob0;
          if (op >= 64)
            for (; o + 8 <= oe; o += 8)
              for (int64_t j = 0; j < cnt; ++j) {
                const scalar_t* src = tile.data() + (j * op + o) * 2;
                for (int64_t u = 0; u < 8; ++u) {
                  dc[(o + u) * L + j] = src[2 * u];
                  dr[(o + u) * L + j] = src[2 * u + 1];
                }
              }
          for (; o < oe; ++o)
            for (int64_t j = 0; j < cnt; ++j) {
              dc[o * L + j] = tile[(j * op + o) * 2];
              dr[o * L + j] = tile[(j * op + o) * 2 + 1];
            }
        }
      });
    });
  });
  return {oc, orad};
}

}  // namespace

TORCH_LIBRARY_IMPL(mixtrain, CPU, m) { m.impl("interval_conv2d", &interval_conv2d_cpu); }

}  // namespace mixtrain
