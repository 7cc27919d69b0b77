// Register-block sizes of the CPU interval GEMM (csrc/common/interval_gemm_simd.h), timed against each
// other in one process, single-threaded, the variants alternating: how the AVX2 block in
// csrc/cpu/interval_gemm_avx2.cpp was chosen (benchmarks/README.md, session 17). Not part of any build:
//
//   g++ -O3 -std=c++17 -Icsrc benchmarks/gemm_blocks.cpp -o /tmp/gemm_blocks
//   /tmp/gemm_blocks M K N [repeats]        e.g. /tmp/gemm_blocks 16 4096 512
//
// Prints the median time of each variant (rows M >= 4 use the MB x NB block, fewer rows 1 x FEW_NB)
// and checks every variant against a scalar loop.
#pragma GCC target("avx2,fma")
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#define MIXTRAIN_SIMD_BYTES 32
#define MIXTRAIN_SIMD_NS b2x4
#define MIXTRAIN_GEMM_MB 2
#define MIXTRAIN_GEMM_NB 4
#include "gemm_block_variant.h"
#define MIXTRAIN_SIMD_NS b2x2
#define MIXTRAIN_GEMM_MB 2
#define MIXTRAIN_GEMM_NB 2
#include "gemm_block_variant.h"
#define MIXTRAIN_SIMD_NS b1x4
#define MIXTRAIN_GEMM_MB 1
#define MIXTRAIN_GEMM_NB 4
#include "gemm_block_variant.h"
#define MIXTRAIN_SIMD_NS b4x1
#define MIXTRAIN_GEMM_MB 4
#define MIXTRAIN_GEMM_NB 1
#include "gemm_block_variant.h"

using mixtrain::IntervalGemm;
typedef void (*Cols)(const IntervalGemm<float>&, int64_t, int64_t);

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s M K N [repeats]\n", argv[0]);
    return 2;
  }
  const int64_t M = std::atoll(argv[1]), K = std::atoll(argv[2]), N = std::atoll(argv[3]);
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 31;
  std::mt19937 gen(0);
  std::normal_distribution<float> normal;
  std::vector<float> c(M * K), r(M * K), w(N * K), oc(M * N), orad(M * N);
  for (auto& x : c) x = normal(gen);
  for (auto& x : r) x = std::fabs(normal(gen));
  for (auto& x : w) x = normal(gen);
  const IntervalGemm<float> g{c.data(), r.data(), K, w.data(), nullptr, oc.data(), orad.data(), N, 1, M, K, N};
  const Cols variants[] = {&mixtrain::b2x4::interval_gemm_cols<float, 32>, &mixtrain::b2x2::interval_gemm_cols<float, 32>,
                           &mixtrain::b1x4::interval_gemm_cols<float, 32>, &mixtrain::b4x1::interval_gemm_cols<float, 32>};
  const char* names[] = {"2 x 4", "2 x 2", "1 x 4", "4 x 1"};
  constexpr int V = 4;
  std::vector<double> seconds[V];
  for (int rep = 0; rep < repeats; ++rep)
    for (int v = 0; v < V; ++v) {
      const auto t0 = std::chrono::steady_clock::now();
      variants[v](g, 0, N);
      seconds[v].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (rep == 0) {  // against a scalar loop, once per variant
        double worst = 0;
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < N; ++n) {
            double sc = 0, sr = 0;
            for (int64_t k = 0; k < K; ++k) {
              sc += double(c[m * K + k]) * w[n * K + k];
              sr += double(r[m * K + k]) * std::fabs(w[n * K + k]);
            }
            worst = std::max({worst, std::fabs(sc - oc[m * N + n]) / (1 + std::fabs(sc)),
                              std::fabs(sr - orad[m * N + n]) / (1 + sr)});
          }
        if (worst > 1e-4) {
          std::printf("%s: wrong result (relative error %g)\n", names[v], worst);
          return 1;
        }
      }
    }
  for (int v = 0; v < V; ++v) {
    std::sort(seconds[v].begin(), seconds[v].end());
    const double s = seconds[v][seconds[v].size() / 2];
    std::printf("%lld x %lld x %lld, block %s: %.3f ms (%.1f G multiply-adds/s, both products)\n", (long long)M,
                (long long)K, (long long)N, names[v], s * 1e3, 2.0 * M * K * N / s / 1e9);
  }
  return 0;
}
