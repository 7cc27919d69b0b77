#pragma once
// Torch-free helpers shared by the CPU (.cpp) and CUDA (.cu) kernels. Headers in
// common/ must not include torch or CUDA-only headers: the CPU build compiles
// them with a plain C++ compiler.
#if defined(__CUDACC__)
#define MIXTRAIN_HD __host__ __device__ __forceinline__
#else
#define MIXTRAIN_HD inline
#endif
