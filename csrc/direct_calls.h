#pragma once
// Binds mixtrain_cuda._C.direct: the ops called below autograd (direct_calls.cpp).
#include <pybind11/pybind11.h>

namespace mixtrain {
void bind_direct_calls(pybind11::module& m);
}
