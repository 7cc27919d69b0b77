// One variant of the interval GEMM for benchmarks/gemm_blocks.cpp: the caller defines
// MIXTRAIN_SIMD_NS, MIXTRAIN_GEMM_MB and MIXTRAIN_GEMM_NB; this compiles the kernels under that
// namespace and clears the macros for the next variant (the header has no include guard on purpose).
#include "common/interval_gemm_simd.h"
#undef MIXTRAIN_SIMD_NS
#undef MIXTRAIN_GEMM_MB
#undef MIXTRAIN_GEMM_NB
#undef MIXTRAIN_GEMM_FEW_NB
#undef MIXTRAIN_DIRECT_P2
#undef MIXTRAIN_DIRECT_P1
