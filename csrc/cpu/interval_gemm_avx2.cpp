// The CPU kernels of common/interval_gemm_simd.h compiled for AVX2 + FMA: 8 floats per register (every x86-64 server of the last decade).
// cpu/interval_gemm.cpp picks this variant's table at run time.
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma")
#define MIXTRAIN_SIMD_NS simd_avx2
#define MIXTRAIN_SIMD_BYTES 32
#include "common/interval_gemm_simd.h"
#endif
