// The benchmark-only override of kernel_choice.h.
#include "kernel_choice.h"

#include <c10/util/Exception.h>

#include <atomic>

namespace mixtrain {
namespace {

std::atomic<int> choices[static_cast<int>(ChoiceOp::Count)] = {};

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
  } else {
    TORCH_CHECK(false, "_set_kernel_choice: choice must be auto, own or library, got '", choice, "'");
  }
  choices[index].store(static_cast<int>(c), std::memory_order_relaxed);
}

}  // namespace mixtrain
