// The Python module `mixtrain_cuda._C`. Importing it runs the static op
// registrations (registration.cpp, cpu/, cuda/); it also tells Python how the
// library was built.
#include <torch/extension.h>

#include "common/ieee_matmul_guard.h"
#include "cpu/interval_gemm.h"
#include "direct_calls.h"
#include "kernel_choice.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
#ifdef MIXTRAIN_WITH_CUDA
  m.attr("cuda_compiled") = true;
#else
  m.attr("cuda_compiled") = false;
#endif
  m.def("cpu_simd_level", &mixtrain::interval_gemm_simd_level,
        "SIMD variant of the CPU interval product chosen for this CPU");
  m.def("_set_kernel_choice", &mixtrain::set_kernel_choice, py::arg("op"), py::arg("choice"),
        "Benchmarks only: force an op's own kernel ('own') or its cuBLAS/cuDNN path ('library'), or 'auto'; "
        "interval_linear on the CPU also 'packed' (its packed kernel; 'own' is its dot-product kernel there)");
  m.def("_set_interval_linear_split", &mixtrain::set_interval_linear_split, py::arg("warps_per_feature"),
        "Benchmarks only: warps per output feature of interval_linear's CUDA few-row kernel (0: the size rule, which splits K only at 1-4 rows)");
  m.def(
      "_ieee_matmul_guard_probe",
      [] {
        // Tests only: the settings a CUDA kernel's library products see inside
        // IeeeMatmulGuard (common/ieee_matmul_guard.h), for
        // tests/ops/test_tf32_guard.py to check on any build; the guard
        // restores them on return.
        const char* inside;
        bool no_tf32;
        {
          const mixtrain::IeeeMatmulGuard ieee;
          inside = mixtrain::IeeeMatmulGuard::inside_precision();
          no_tf32 = at::NoTF32Guard::should_disable_tf32();
        }
        return py::make_tuple(inside, no_tf32, at::NoTF32Guard::should_disable_tf32());
      },
      "Tests only: (CUDA float32 matmul precision, NoTF32Guard active) inside the CUDA kernels' IEEE guard, "
      "and whether NoTF32Guard is still active after it");
  mixtrain::bind_direct_calls(m);
}
