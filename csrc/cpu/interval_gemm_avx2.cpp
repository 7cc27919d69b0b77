// The CPU kernels of common/interval_gemm_simd.h compiled for AVX2 + FMA: 8 floats per register (every x86-64 server of the last decade).
// cpu/interval_gemm.cpp picks this variant's table at run time.
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma")
#define MIXTRAIN_SIMD_NS simd_avx2
#define MIXTRAIN_SIMD_BYTES 32
// 2 x 2 blocks from 4 rows on (8 accumulators + 2 W + 2 |W| + 4 inputs: AVX2's
// 16 registers). The header's 2 x 4 (16 accumulators, sized for AVX-512's 32)
// spilled accumulators to the stack on every step (perf: a store and a reload
// per FMA pair). Timed single-threaded in one process, the variants
// alternating (session 17, 2-core AMD EPYC Zen 3): 2 x 2 ran 1.10-1.25x faster
// than 2 x 4 at 8-32 rows (16 x 4096 x 512 3.86 -> 3.38 ms, 32 x 2048 x 512
// 5.4 -> 4.3), 1 x 4 within 4% of 2 x 2, 3 x 2 and 4 x 1 slower. Few rows keep
// the header's 1 x 4 (FEW_NB 4 beat 2 and 3 by 1.1-1.4x at 1-3 rows).
#define MIXTRAIN_GEMM_MB 2
#define MIXTRAIN_GEMM_NB 2
#include "common/interval_gemm_simd.h"
#endif
