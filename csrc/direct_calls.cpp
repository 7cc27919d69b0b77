// Direct entries from Python to the mixtrain ops for calls that need no
// gradient, bound into mixtrain_cuda._C (ops/_extension.py: call_kernel).
//
// Why: torch.ops.mixtrain.<op>(...) parses its Python arguments into boxed
// IValues against the schema on every call, and the Python wrapper around it
// costs more again; together about 6 us per call on the 2-core CPU, 20-30 us
// on the GPU machines' slower host, where an IBP layer's whole GPU work is a
// few microseconds and the reference's F.conv2d pays none of it (its binding
// is generated C++). These entries take typed arguments through pybind11 and
// call the op's typed handle below the autograd keys (the caller has checked
// that no input needs a gradient), so the dispatcher still picks the CPU,
// CUDA or Meta kernel, and everything else (autograd, torch.compile, tensor
// subclasses) keeps going through torch.ops.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/extension.h>

#include "direct_calls.h"

namespace mixtrain {
namespace {

using T = const at::Tensor&;
using OptT = const c10::optional<at::Tensor>&;
using Ints = at::IntArrayRef;
using Two = std::tuple<at::Tensor, at::Tensor>;
using Three = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

template <class Sig>
c10::TypedOperatorHandle<Sig> handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

// Each op's typed handle, looked up once (the op is registered when _C loads).
#define MIXTRAIN_HANDLE(var, name, Sig) static const auto var = handle<Sig>(name)

Two interval_linear(T c, T r, T w, OptT b) {
  MIXTRAIN_HANDLE(op, "mixtrain::interval_linear", Two(T, T, T, OptT));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(c, r, w, b);
}

Two interval_conv2d(T c, T r, T w, OptT b, std::vector<int64_t> stride, std::vector<int64_t> padding,
                    std::vector<int64_t> dilation, int64_t groups) {
  MIXTRAIN_HANDLE(op, "mixtrain::interval_conv2d", Two(T, T, T, OptT, Ints, Ints, Ints, int64_t));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(c, r, w, b, stride, padding, dilation, groups);
}

Three symbolic_linear(T c, T g, T w, OptT b, int64_t input_rows, double input_norm) {
  MIXTRAIN_HANDLE(op, "mixtrain::symbolic_linear", Three(T, T, T, OptT, int64_t, double));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(c, g, w, b, input_rows, input_norm);
}

Three symbolic_conv2d(T c, T g, T w, OptT b, std::vector<int64_t> stride, std::vector<int64_t> padding,
                      std::vector<int64_t> dilation, int64_t groups, int64_t input_rows, double input_norm) {
  MIXTRAIN_HANDLE(op, "mixtrain::symbolic_conv2d",
                  Three(T, T, T, OptT, Ints, Ints, Ints, int64_t, int64_t, double));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(c, g, w, b, stride, padding, dilation, groups, input_rows, input_norm);
}

Two interval_relu(T c, T r) {
  MIXTRAIN_HANDLE(op, "mixtrain::interval_relu", Two(T, T));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(c, r);
}

Two interval_relu_backward(T gc, T gr, T c, T r) {
  MIXTRAIN_HANDLE(op, "mixtrain::interval_relu_backward", Two(T, T, T, T));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(gc, gr, c, r);
}

Three symbolic_relu(T c, T g, T r) {
  MIXTRAIN_HANDLE(op, "mixtrain::symbolic_relu", Three(T, T, T));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(c, g, r);
}

Two crown_relu_backward(T A, T lower, T upper, bool upper_bound) {
  MIXTRAIN_HANDLE(op, "mixtrain::crown_relu_backward", Two(T, T, T, bool));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(A, lower, upper, upper_bound);
}

Three crown_relu_backward_grad(T gA, T gb, T A, T lower, T upper, bool upper_bound) {
  MIXTRAIN_HANDLE(op, "mixtrain::crown_relu_backward_grad", Three(T, T, T, T, T, bool));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(gA, gb, A, lower, upper, upper_bound);
}

Two crown_conv2d_backward(T A, T w, OptT b, std::vector<int64_t> stride, std::vector<int64_t> padding,
                          std::vector<int64_t> dilation, std::vector<int64_t> input_size) {
  MIXTRAIN_HANDLE(op, "mixtrain::crown_conv2d_backward", Two(T, T, OptT, Ints, Ints, Ints, Ints));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(A, w, b, stride, padding, dilation, input_size);
}

Two crown_relu_conv2d_backward(T A, T lower, T upper, bool upper_bound, T w, OptT b, std::vector<int64_t> stride,
                               std::vector<int64_t> padding, std::vector<int64_t> dilation,
                               std::vector<int64_t> input_size) {
  MIXTRAIN_HANDLE(op, "mixtrain::crown_relu_conv2d_backward", Two(T, T, T, bool, T, OptT, Ints, Ints, Ints, Ints));
  at::AutoDispatchBelowADInplaceOrView below_autograd;
  return op.call(A, lower, upper, upper_bound, w, b, stride, padding, dilation, input_size);
}

}  // namespace

void bind_direct_calls(pybind11::module& m) {
  auto d = m.def_submodule("direct", "the mixtrain ops below autograd, for calls that need no gradient");
  // The GIL is released while the op runs, as torch.ops and ATen's own
  // bindings do: a bound pass of milliseconds must not stall other Python
  // threads (data loaders). Python kernels behind the dispatcher (fake/meta,
  // dispatch modes) take it back themselves.
  using release = pybind11::call_guard<pybind11::gil_scoped_release>;
  d.def("interval_linear", &interval_linear, release());
  d.def("interval_conv2d", &interval_conv2d, release());
  d.def("symbolic_linear", &symbolic_linear, release());
  d.def("symbolic_conv2d", &symbolic_conv2d, release());
  d.def("interval_relu", &interval_relu, release());
  d.def("interval_relu_backward", &interval_relu_backward, release());
  d.def("symbolic_relu", &symbolic_relu, release());
  d.def("crown_relu_backward", &crown_relu_backward, release());
  d.def("crown_relu_backward_grad", &crown_relu_backward_grad, release());
  d.def("crown_conv2d_backward", &crown_conv2d_backward, release());
  d.def("crown_relu_conv2d_backward", &crown_relu_conv2d_backward, release());
}

}  // namespace mixtrain
