#pragma once
// Where an op has two implementations -- a kernel of ours, or a product handed
// to cuBLAS/cuDNN -- "auto" takes the size rule written beside the op (each
// rule is decided by a benchmark, see benchmarks/README.md). Benchmarks force
// one side or the other to time both in the same run:
//   mixtrain_cuda._C._set_kernel_choice("interval_conv2d", "own" | "library" | "auto")
// ("packed" as well for interval_linear: the CPU's packed kernel).
// Nothing else sets it; the choice never changes a result beyond float rounding.
#include <string>

namespace mixtrain {

// Packed: interval_linear on the CPU only, its packed kernel (Own is its
// dot-product kernel there); elsewhere it counts as Own.
enum class KernelChoice { Auto = 0, Own = 1, Library = 2, Packed = 3 };
enum class ChoiceOp { IntervalLinear = 0, IntervalConv2d = 1, SymbolicLinear = 2, SymbolicConv2d = 3, Count = 4 };

KernelChoice kernel_choice(ChoiceOp op);
void set_kernel_choice(const std::string& op, const std::string& choice);

// The rule's answer unless a benchmark forced a side.
inline bool use_own_kernel(ChoiceOp op, bool rule) {
  const KernelChoice c = kernel_choice(op);
  return c == KernelChoice::Auto ? rule : c != KernelChoice::Library;
}

// Benchmarks only: the warps per output feature of interval_linear's CUDA
// few-row kernel (its split of K; 0 = the size rule, which splits only at 1-4
// rows; forced, the 8- and 16-row tiles split too). Set by
// mixtrain_cuda._C._set_interval_linear_split(n), n in {0, 1, 2, 4, 8}.
int interval_linear_split();
void set_interval_linear_split(int warps_per_feature);

}  // namespace mixtrain
