#pragma once
// Pieces of interval_conv2d's CPU kernel shared between its direct path
// (interval_conv2d_cpu.cpp) and its Winograd path (interval_conv2d_winograd_cpu.cpp).
#include <ATen/ATen.h>

#include <algorithm>

#include "checks.h"

namespace mixtrain {

// Center and radius once more, zero-padded, channels-last and interleaved:
// [batch, hp, wp, channels, 2], the input's pixel (h, w) at (h + padding[0],
// w + padding[1]). hp and wp may exceed the padded input (height + 2 *
// padding[0], ...): the rows and columns past it are zeros too.
// radius_negative (if given): set to whether any radius is below 0 (read
// during the copy, so the Winograd path need not read the radius again).
at::Tensor pad_interleave(const at::Tensor& center, const at::Tensor& radius, const ConvGeometry& g, int64_t hp,
                          int64_t wp, bool* radius_negative = nullptr);

// Samples per padded copy: the direct and Winograd paths copy (pad_interleave)
// and then compute this many samples at a time, so that the copy is still in
// the caches when the products read it (see the .cpp for the measurements).
// MIXTRAIN_CPU_PAD_CHUNK_KB sets the copy's size in KB (0: the whole batch in
// one copy, as before; for A/B runs).
int64_t pad_chunk_samples(const ConvGeometry& g, int64_t hp, int64_t wp, int64_t element_size);

// Whether the direct micro-kernel's weights (both paths) are packed in panels
// of one register block's channels (IntervalDirectConv::wpanel): yes, unless
// MIXTRAIN_CPU_CONV_PANELS=0 (the [taps, op, 2] rows of before, for A/B runs).
// Read on every call.
bool direct_weight_panels();

// Where the packed weights of tap k and output channel o start, in elements
// from the group's first: panels [op / lanes, taps, 2 * lanes] (wpanel = taps
// * 2 * lanes), or rows [taps, op, 2]; lanes = the SIMD width in elements
// (interval_simd_lanes), op = the output channels padded to a multiple of it.
// Channels o .. o + n of one panel (or row) follow each other, n <= lanes - o % lanes.
inline int64_t direct_weight_offset(bool panels, int64_t taps, int64_t op, int64_t lanes, int64_t k, int64_t o) {
  return panels ? (o / lanes * taps + k) * 2 * lanes + 2 * (o % lanes) : (k * op + o) * 2;
}

// The chunk loop of both paths: for each run of `chunk` samples [n0, n0 + nc),
// copies them (pad_interleave) and calls body(copy, n0, nc, radius_negative)
// before the next copy is made. radius_negative: whether any radius of these
// samples is below 0 (checked only if check_sign; false otherwise).
template <typename Body>
void for_each_padded_copy(const at::Tensor& center, const at::Tensor& radius, const ConvGeometry& g, int64_t hp,
                          int64_t wp, int64_t chunk, bool check_sign, Body&& body) {
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t nc = std::min(chunk, g.batch - n0);
    ConvGeometry gc = g;
    gc.batch = nc;
    bool radius_negative = false;
    const at::Tensor copy = pad_interleave(center.narrow(0, n0, nc), radius.narrow(0, n0, nc), gc, hp, wp,
                                           check_sign ? &radius_negative : nullptr);
    body(copy, n0, nc, radius_negative);
  }
}

// Whether the Winograd path can run this convolution: 3x3 stride 1 or 4x4
// stride 2, dilation 1, one group.
bool winograd_applies(const ConvGeometry& g);
// Outputs per tile side on a 3x3 stride-1 layer: 4 (F(4x4, 3x3)) or 2 (F(2x2, 3x3)); nhwc: channels-last outputs.
// forced: MIXTRAIN_CPU_WINOGRAD_TILE=2|4 overrides the rule (the tile the path runs); without, the rule alone.
int64_t winograd_tile(const ConvGeometry& g, bool nhwc, bool forced = true);

// interval_conv2d by Winograd's F(2x2, 3x3), or F(2x2, 2x2) over the stride
// phases (see the .cpp); outputs in the center's layout (cpu_box_format).
std::tuple<at::Tensor, at::Tensor> interval_conv2d_winograd(const at::Tensor& center, const at::Tensor& radius,
                                                            const at::Tensor& weight,
                                                            const c10::optional<at::Tensor>& bias,
                                                            const ConvGeometry& g);

}  // namespace mixtrain
