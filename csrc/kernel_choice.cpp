// The benchmark-only override of kernel_choice.h.
#include "kernel_choice.h"

#include <c10/util/Exception.h>

#include <atomic>

namespace mixtrain {
namespace {

std::atomic<int> choices[static_cast<int>(ChoiceOp::Count)] = {};

std::atomic<int> linear_split{0};

const char* const kOpNames[] = {"interval_linear", "interval_conv2d", "symbolic_linear", "symbolic_conv2d"};

}  // namespace

KernelChoice kernel_choice(ChoiceOp op) {
  return static_cast<KernelChoice>(choices[static_cast<int>(op)].load(std::memory_order_relaxed));
}

void set_kernel_choice(const std::string& op, const std::string& choice) {
  int index = -1;
  for (int i = 0; i < static_cast<int>(ChoiceOp::Count); ++i) {
    if (op == kOpNames[i]) index = i;
  }
  TORCH_CHECK(index >= 0, "_set_kernel_choice: op must be interval_linear, interval_conv2d, symbolic_linear or "
              "symbolic_conv2d, got '", op, "'");
  KernelChoice c;
  if (choice == "auto") {
    c = KernelChoice::Auto;
  } else if (choice == "own") {
    c = KernelChoice::Own;
  } else if (choice == "library") {
    c = KernelChoice::Library;
  } else if (choice == "packed" && index == static_cast<int>(ChoiceOp::IntervalLinear)) {
    c = KernelChoice::Packed;
  } else {
    TORCH_CHECK(false, "_set_kernel_choice: choice must be auto, own or library (or packed, for interval_linear), "
                "got '", choice, "' for ", op);
  }
  choices[index].store(static_cast<int>(c), std::memory_order_relaxed);
}

int interval_linear_split() { return linear_split.load(std::memory_order_relaxed); }

void set_interval_linear_split(int warps_per_feature) {
  const int n = warps_per_feature;
  TORCH_CHECK(n == 0 || n == 1 || n == 2 || n == 4 || n == 8,
              "_set_interval_linear_split: warps per feature must be 0 (the size rule), 1, 2, 4 or 8, got ", n);
  linear_split.store(n, std::memory_order_relaxed);
}

}  // namespace mixtrain
