// The CPU kernels of common/interval_gemm_simd.h compiled for the baseline instruction set of the compiler target (SSE2 on x86-64, NEON on arm64).
// cpu/interval_gemm.cpp picks this variant's table at run time.
#define MIXTRAIN_SIMD_NS simd_generic
#define MIXTRAIN_SIMD_BYTES 16
#include "common/interval_gemm_simd.h"
