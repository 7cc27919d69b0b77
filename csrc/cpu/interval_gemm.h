#pragma once
// Run-time choice of the fastest compiled SIMD variant of the fused interval
// product (common/interval_gemm_simd.h) for this CPU.
#include <cstdint>

#include "common/interval_gemm_args.h"

namespace mixtrain {

// Computes all M rows against W rows [n0, n1) (the unit of parallel work).
void interval_gemm_cols(const IntervalGemm<float>& g, int64_t n0, int64_t n1);
void interval_gemm_cols(const IntervalGemm<double>& g, int64_t n0, int64_t n1);

// The packed form (common/packed_gemm_simd.h), for tens of rows: output
// channels [n0, n1) of rows [m0, m1), n0 a multiple of packed_gemm_panel();
// pack: PACKED_KC * PACKED_NC * 2 elements owned by the calling thread.
void packed_gemm_cols(const PackedGemm<float>& g, int64_t n0, int64_t n1, int64_t m0, int64_t m1, float* pack);
void packed_gemm_cols(const PackedGemm<double>& g, int64_t n0, int64_t n1, int64_t m0, int64_t m1, double* pack);
int64_t packed_gemm_panel(bool is_double);

// Convolution form: output positions [j0, j0 + n) (of out_h * out_w) of a
// direct convolution.
void interval_direct_conv_span(const IntervalDirectConv<float>& d, int64_t j0, int64_t n);
void interval_direct_conv_span(const IntervalDirectConv<double>& d, int64_t j0, int64_t n);
// SIMD lanes of T in the variant in use (the channel padding of the packed weight).
int64_t interval_simd_lanes(bool is_double);

// CROWN's ReLU step on one row of A; returns the row's intercept sum.
float crown_row(const float* a, float* out, const float* s_up, const float* i_up, const float* s_lo, int64_t n,
                bool upper_bound);
double crown_row(const double* a, double* out, const double* s_up, const double* i_up, const double* s_lo,
                 int64_t n, bool upper_bound);

// The CROWN relaxation of n neurons: upper slope, upper intercept, lower slope.
void crown_relax_row(const float* l, const float* u, float* us, float* ui, float* ls, int64_t n);
void crown_relax_row(const double* l, const double* u, double* us, double* ui, double* ls, int64_t n);

// CROWN's backward step through a convolution: output rows [y0, y1) of one
// sample row (common/crown_conv_simd.h).
void crown_conv_rows(const CrownConvRow<float>& g, int64_t y0, int64_t y1);
void crown_conv_rows(const CrownConvRow<double>& g, int64_t y0, int64_t y1);

// Winograd F(2x2, 3x3) transforms (common/winograd_simd.h): one 4 x 4 input
// patch of n paired elements to its 16 values (at v + xi * vs), and one
// tile's 16 products (at m + xi * ms) to its 2 x 2 outputs, stored unpaired
// (center of output q, channel o at dc[q][o * cs], radius at dr[q][o * cs];
// dc[q] == nullptr skips q; nonneg_r clamps the radius at 0).
void wino_input_tile(const float* x, int64_t row, int64_t px, int64_t n, float* v, int64_t vs);
void wino_input_tile(const double* x, int64_t row, int64_t px, int64_t n, double* v, int64_t vs);
void wino_output_tile(const float* m, int64_t ms, int64_t n, const float* bias, float* const* dc, float* const* dr,
                      int64_t O, int64_t cs, bool nonneg_r);
void wino_output_tile(const double* m, int64_t ms, int64_t n, const double* bias, double* const* dc, double* const* dr,
                      int64_t O, int64_t cs, bool nonneg_r);
// The same for F(2x2, 2x2) (3 x 3 patches, 9 values; the stride-2 4x4 path).
void wino22_input_tile(const float* x, int64_t row, int64_t px, int64_t n, float* v, int64_t vs);
void wino22_input_tile(const double* x, int64_t row, int64_t px, int64_t n, double* v, int64_t vs);
void wino22_output_tile(const float* m, int64_t ms, int64_t n, const float* bias, float* const* dc, float* const* dr,
                        int64_t O, int64_t cs, bool nonneg_r);
void wino22_output_tile(const double* m, int64_t ms, int64_t n, const double* bias, double* const* dc,
                        double* const* dr, int64_t O, int64_t cs, bool nonneg_r);
// The same for F(4x4, 3x3) (6 x 6 patches, 36 values, 4 x 4 outputs: q = 4 * row + column).
void wino43_input_tile(const float* x, int64_t row, int64_t px, int64_t n, float* v, int64_t vs);
void wino43_input_tile(const double* x, int64_t row, int64_t px, int64_t n, double* v, int64_t vs);
void wino43_output_tile(const float* m, int64_t ms, int64_t n, const float* bias, float* const* dc, float* const* dr,
                        int64_t O, int64_t cs, bool nonneg_r);
void wino43_output_tile(const double* m, int64_t ms, int64_t n, const double* bias, double* const* dc,
                        double* const* dr, int64_t O, int64_t cs, bool nonneg_r);

// "avx512", "avx2" or "generic": the variant interval_gemm_cols uses here.
const char* interval_gemm_simd_level();

}  // namespace mixtrain
