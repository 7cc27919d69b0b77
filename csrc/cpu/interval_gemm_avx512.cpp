// The CPU kernels of common/interval_gemm_simd.h compiled for AVX-512: 16 floats per register (Sapphire Rapids, Zen 4 and newer).
// cpu/interval_gemm.cpp picks this variant's table at run time.
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#define MIXTRAIN_SIMD_NS simd_avx512
#define MIXTRAIN_SIMD_BYTES 64
// 32 registers: larger direct-convolution blocks than the header default
// (12 x 2 accumulators + 2 weight vectors + 1 broadcast; not measured since the
// (center, radius) pairing of session 15, which halved a vector's channels).
#define MIXTRAIN_DIRECT_P2 12
// CROWN's convolution step: 24 accumulators of 32 registers.
#define MIXTRAIN_CROWN_CONV_ACC 24
#include "common/interval_gemm_simd.h"
#endif
