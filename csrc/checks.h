#pragma once
// Argument checks shared by the CPU and CUDA kernels. Every message names the
// argument, so a user sees which input is wrong.
#include <ATen/ATen.h>

#include <array>
#include <cmath>

namespace mixtrain {

inline void check_same_device_dtype(const at::Tensor& ref, const at::Tensor& t, const char* ref_name,
                                    const char* name) {
  TORCH_CHECK(t.device() == ref.device(), name, " is on ", t.device(), " but ", ref_name, " is on ", ref.device());
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), name, " has dtype ", t.scalar_type(), " but ", ref_name,
              " has dtype ", ref.scalar_type());
}

inline void check_floating(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name,
              " must be float32 or float64, got ", t.scalar_type());
}

inline void check_bias(const c10::optional<at::Tensor>& bias, const at::Tensor& weight, int64_t out_features) {
  if (!bias.has_value()) return;
  check_same_device_dtype(weight, *bias, "weight", "bias");
  TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_features, "bias must have shape [", out_features,
              "], got ", bias->sizes());
}

// center/radius (or center/gens) pairs must agree in device and dtype with the weight.
inline void check_interval_linear_args(const at::Tensor& center, const at::Tensor& radius, const at::Tensor& weight,
                                       const c10::optional<at::Tensor>& bias) {
  check_floating(center, "center");
  check_same_device_dtype(center, radius, "center", "radius");
  check_same_device_dtype(center, weight, "center", "weight");
  TORCH_CHECK(weight.dim() == 2, "weight must be 2-D [out_features, in_features], got ", weight.dim(), "-D");
  TORCH_CHECK(center.dim() >= 1, "center must have at least 1 dimension");
  TORCH_CHECK(center.sizes() == radius.sizes(), "radius must have the shape of center ", center.sizes(), ", got ",
              radius.sizes());
  TORCH_CHECK(center.size(-1) == weight.size(1), "center's last dimension (", center.size(-1),
              ") must equal weight's in_features (", weight.size(1), ")");
  check_bias(bias, weight, weight.size(0));
}

inline std::vector<int64_t> linear_out_shape(const at::Tensor& x, int64_t out_features) {
  auto shape = x.sizes().vec();
  shape.back() = out_features;
  return shape;
}

struct ConvGeometry {
  int64_t batch, channels, height, width, out_channels, kh, kw, out_h, out_w;
  int64_t stride[2], padding[2], dilation[2], groups;
};

inline ConvGeometry check_conv_args(const at::Tensor& input, const char* input_name, const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  check_floating(input, input_name);
  check_same_device_dtype(input, weight, input_name, "weight");
  TORCH_CHECK(input.dim() == 4, input_name, " must be 4-D [batch, channels, height, width], got ", input.dim(), "-D");
  TORCH_CHECK(weight.dim() == 4, "weight must be 4-D [out_channels, in_channels/groups, kh, kw], got ",
              weight.dim(), "-D");
  TORCH_CHECK(stride.size() == 2 && padding.size() == 2 && dilation.size() == 2,
              "stride, padding and dilation must have 2 entries");
  TORCH_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  ConvGeometry g;
  g.batch = input.size(0);
  g.channels = input.size(1);
  g.height = input.size(2);
  g.width = input.size(3);
  g.out_channels = weight.size(0);
  g.kh = weight.size(2);
  g.kw = weight.size(3);
  g.groups = groups;
  for (int i = 0; i < 2; ++i) {
    TORCH_CHECK(stride[i] >= 1, "stride must be >= 1, got ", stride);
    TORCH_CHECK(padding[i] >= 0, "padding must be >= 0, got ", padding);
    TORCH_CHECK(dilation[i] >= 1, "dilation must be >= 1, got ", dilation);
    g.stride[i] = stride[i];
    g.padding[i] = padding[i];
    g.dilation[i] = dilation[i];
  }
  TORCH_CHECK(g.channels % groups == 0 && g.out_channels % groups == 0, "in_channels (", g.channels,
              ") and out_channels (", g.out_channels, ") must be divisible by groups (", groups, ")");
  TORCH_CHECK(weight.size(1) * groups == g.channels, "weight expects ", weight.size(1) * groups,
              " input channels (in_channels/groups * groups) but ", input_name, " has ", g.channels);
  g.out_h = (g.height + 2 * g.padding[0] - g.dilation[0] * (g.kh - 1) - 1) / g.stride[0] + 1;
  g.out_w = (g.width + 2 * g.padding[1] - g.dilation[1] * (g.kw - 1) - 1) / g.stride[1] + 1;
  TORCH_CHECK(g.out_h > 0 && g.out_w > 0, "the kernel (", g.kh, "x", g.kw, ") does not fit the padded input (",
              g.height, "x", g.width, ")");
  check_bias(bias, weight, g.out_channels);
  return g;
}


// interval_conv2d: center and radius [B, C, H, W] of one shape.
inline ConvGeometry check_interval_conv_args(const at::Tensor& center, const at::Tensor& radius,
                                             const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                             at::IntArrayRef dilation, int64_t groups) {
  const ConvGeometry g = check_conv_args(center, "center", weight, bias, stride, padding, dilation, groups);
  check_same_device_dtype(center, radius, "center", "radius");
  TORCH_CHECK(center.sizes() == radius.sizes(), "radius must have the shape of center ", center.sizes(), ", got ",
              radius.sizes());
  return g;
}

// Symbolic ops: the noise symbols of an input ball are summed with the dual
// norm (L1 for an L-inf ball, L2 for an L2 ball); ReLU symbols always with L1.
inline void check_symbolic_norm(int64_t input_rows, double input_norm, int64_t rows) {
  TORCH_CHECK(input_rows >= 0 && input_rows <= rows, "input_rows must be in [0, ", rows, "], got ", input_rows);
  TORCH_CHECK(std::isinf(input_norm) || input_norm == 2.0, "input_norm must be inf or 2, got ", input_norm);
}

// symbolic_linear: center [B, K], gens [B, R, K], weight [N, K].
inline void check_symbolic_linear_args(const at::Tensor& center, const at::Tensor& gens, const at::Tensor& weight,
                                       const c10::optional<at::Tensor>& bias, int64_t input_rows,
                                       double input_norm) {
  check_floating(center, "center");
  check_same_device_dtype(center, gens, "center", "gens");
  check_same_device_dtype(center, weight, "center", "weight");
  TORCH_CHECK(center.dim() == 2, "center must be 2-D [batch, in_features], got ", center.dim(), "-D");
  TORCH_CHECK(gens.dim() == 3 && gens.size(0) == center.size(0) && gens.size(2) == center.size(1),
              "gens must be [batch, rows, in_features] = [", center.size(0), ", rows, ", center.size(1), "], got ",
              gens.sizes());
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == center.size(1), "weight must be [out_features, ",
              center.size(1), "], got ", weight.sizes());
  check_bias(bias, weight, weight.size(0));
  check_symbolic_norm(input_rows, input_norm, gens.size(1));
}

// symbolic_conv2d: center [B, C, H, W], gens [B, R, C, H, W].
inline ConvGeometry check_symbolic_conv_args(const at::Tensor& center, const at::Tensor& gens,
                                             const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                             at::IntArrayRef stride, at::IntArrayRef padding,
                                             at::IntArrayRef dilation, int64_t groups, int64_t input_rows,
                                             double input_norm) {
  const ConvGeometry g = check_conv_args(center, "center", weight, bias, stride, padding, dilation, groups);
  check_same_device_dtype(center, gens, "center", "gens");
  TORCH_CHECK(gens.dim() == 5 && gens.size(0) == g.batch && gens.sizes().slice(2) == center.sizes().slice(1),
              "gens must be [batch, rows, channels, height, width] matching center ", center.sizes(), ", got ",
              gens.sizes());
  check_symbolic_norm(input_rows, input_norm, gens.size(1));
  return g;
}

inline void check_interval_relu_args(const at::Tensor& center, const at::Tensor& radius) {
  check_floating(center, "center");
  check_same_device_dtype(center, radius, "center", "radius");
  TORCH_CHECK(center.sizes() == radius.sizes(), "radius must have the shape of center ", center.sizes(), ", got ",
              radius.sizes());
}

inline void check_interval_relu_backward_args(const at::Tensor& grad_center, const at::Tensor& grad_radius,
                                              const at::Tensor& center, const at::Tensor& radius) {
  check_interval_relu_args(center, radius);
  check_same_device_dtype(center, grad_center, "center", "grad_center");
  check_same_device_dtype(center, grad_radius, "center", "grad_radius");
  TORCH_CHECK(grad_center.sizes() == center.sizes(), "grad_center must have the shape of center ", center.sizes(),
              ", got ", grad_center.sizes());
  TORCH_CHECK(grad_radius.sizes() == center.sizes(), "grad_radius must have the shape of center ", center.sizes(),
              ", got ", grad_radius.sizes());
}

// center/radius [B, *S], gens [B, R, *S]. Returns (B, R, prod(S)).
inline std::array<int64_t, 3> check_symbolic_relu_args(const at::Tensor& center, const at::Tensor& gens,
                                                       const at::Tensor& radius) {
  check_floating(center, "center");
  check_same_device_dtype(center, gens, "center", "gens");
  check_same_device_dtype(center, radius, "center", "radius");
  TORCH_CHECK(center.dim() >= 2, "center must be [batch, *neurons], got ", center.dim(), "-D");
  TORCH_CHECK(radius.sizes() == center.sizes(), "radius must have the shape of center ", center.sizes(), ", got ",
              radius.sizes());
  TORCH_CHECK(gens.dim() == center.dim() + 1 && gens.size(0) == center.size(0) &&
                  gens.sizes().slice(2) == center.sizes().slice(1),
              "gens must be [batch, rows, *neurons] matching center ", center.sizes(), ", got ", gens.sizes());
  return {center.size(0), gens.size(1), center.numel() / std::max<int64_t>(1, center.size(0))};
}

// A [B, S, *N], lower/upper [B, *N]. Returns (B, S, prod(N)).
inline std::array<int64_t, 3> check_crown_relu_args(const at::Tensor& A, const at::Tensor& lower,
                                                    const at::Tensor& upper) {
  check_floating(A, "A");
  check_same_device_dtype(A, lower, "A", "lower");
  check_same_device_dtype(A, upper, "A", "upper");
  TORCH_CHECK(lower.sizes() == upper.sizes(), "upper must have the shape of lower ", lower.sizes(), ", got ",
              upper.sizes());
  TORCH_CHECK(lower.dim() >= 2, "lower must be [batch, *neurons], got ", lower.dim(), "-D");
  TORCH_CHECK(A.dim() == lower.dim() + 1 && A.size(0) == lower.size(0) && A.sizes().slice(2) == lower.sizes().slice(1),
              "A must be [batch, specs, *neurons] matching lower ", lower.sizes(), ", got ", A.sizes());
  return {A.size(0), A.size(1), lower.numel() / std::max<int64_t>(1, lower.size(0))};
}

// grad_A like A, grad_bias [B, S]. Returns (B, S, prod(N)).
inline std::array<int64_t, 3> check_crown_relu_grad_args(const at::Tensor& grad_A, const at::Tensor& grad_bias,
                                                         const at::Tensor& A, const at::Tensor& lower,
                                                         const at::Tensor& upper) {
  const auto dims = check_crown_relu_args(A, lower, upper);
  check_same_device_dtype(A, grad_A, "A", "grad_A");
  check_same_device_dtype(A, grad_bias, "A", "grad_bias");
  TORCH_CHECK(grad_A.sizes() == A.sizes(), "grad_A must have the shape of A ", A.sizes(), ", got ", grad_A.sizes());
  TORCH_CHECK(grad_bias.dim() == 2 && grad_bias.size(0) == dims[0] && grad_bias.size(1) == dims[1],
              "grad_bias must be [batch, specs] = [", dims[0], ", ", dims[1], "], got ", grad_bias.sizes());
  return dims;
}

// crown_conv2d_backward: A [N, out_channels, OH, OW], weight [out_channels,
// in_channels, kh, kw] (groups 1), input_size (h, w): the layer's input, whose
// convolution has A's spatial size. Returns the geometry, with batch = N and
// height/width = input_size.
inline ConvGeometry check_crown_conv_args(const at::Tensor& A, const at::Tensor& weight,
                                          const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                          at::IntArrayRef padding, at::IntArrayRef dilation,
                                          at::IntArrayRef input_size) {
  check_floating(A, "A");
  check_same_device_dtype(A, weight, "A", "weight");
  TORCH_CHECK(A.dim() == 4, "A must be 4-D [rows, out_channels, out_height, out_width], got ", A.dim(), "-D");
  TORCH_CHECK(weight.dim() == 4, "weight must be 4-D [out_channels, in_channels, kh, kw], got ", weight.dim(), "-D");
  TORCH_CHECK(weight.size(0) == A.size(1), "A has ", A.size(1), " channels but weight has ", weight.size(0),
              " out_channels");
  TORCH_CHECK(input_size.size() == 2 && input_size[0] >= 1 && input_size[1] >= 1,
              "input_size must be 2 positive ints (height, width), got ", input_size);
  // check_conv_args on an empty stand-in for the layer input: the same checks and messages as every conv op.
  const at::Tensor probe = at::empty({0, weight.size(1), input_size[0], input_size[1]}, A.options());
  ConvGeometry g = check_conv_args(probe, "input", weight, bias, stride, padding, dilation, 1);
  TORCH_CHECK(g.out_h == A.size(2) && g.out_w == A.size(3), "a convolution of a ", input_size[0], "x",
              input_size[1], " input with these arguments has a ", g.out_h, "x", g.out_w, " output, but A is ",
              A.size(2), "x", A.size(3));
  g.batch = A.size(0);
  return g;
}

// crown_relu_conv2d_backward: A [B, S, out_channels, OH, OW], lower/upper [B,
// out_channels, OH, OW] (the pre-activation bounds of the ReLU that follows
// the convolution), the rest as crown_conv2d_backward. Returns the geometry
// of the B * S rows.
inline ConvGeometry check_crown_relu_conv_args(const at::Tensor& A, const at::Tensor& lower, const at::Tensor& upper,
                                               const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                                               at::IntArrayRef stride, at::IntArrayRef padding,
                                               at::IntArrayRef dilation, at::IntArrayRef input_size) {
  TORCH_CHECK(A.dim() == 5, "A must be 5-D [batch, specs, out_channels, out_height, out_width], got ", A.dim(), "-D");
  check_crown_relu_args(A, lower, upper);
  return check_crown_conv_args(A.flatten(0, 1), weight, bias, stride, padding, dilation, input_size);
}

// crown_conv2d_backward's output layout: channels-last when in_channels is a
// multiple of 16 (the CPU kernel's wide form, vectorized along them), else
// contiguous. Every backend and the fake kernel follow it
// (mixtrain_cuda/ops/crown_conv2d_backward.py: _output_format).
inline at::MemoryFormat crown_conv_output_format(int64_t in_channels) {
  return in_channels > 0 && in_channels % 16 == 0 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
}

// The layout of a box's outputs on the CPU (interval_conv2d, interval_relu,
// interval_relu_backward): the center's, by torch's own rule
// (suggest_memory_format: channels-last in, channels-last out, as F.conv2d and
// elementwise ops do). oneDNN's convolutions take 0.78-0.86x the time on
// channels-last tensors and weights (B = 16, 2-core AVX2), and the direct kernel then copies whole pixels. The
// CUDA kernels return contiguous outputs. The fake kernels follow both
// (mixtrain_cuda/ops/_layout.py: box_format, the same rule in Python).
inline at::MemoryFormat cpu_box_format(const at::Tensor& center) {
  return center.dim() == 4 ? center.suggest_memory_format() : at::MemoryFormat::Contiguous;
}

// A new tensor of `sizes` with the standard strides of `fmt`: what the fake
// kernels make. (empty_like would copy the input's strides, which differ on
// dimensions of size 1 or on empty tensors.)
inline at::Tensor empty_in_format(at::IntArrayRef sizes, const at::TensorOptions& options, at::MemoryFormat fmt) {
  return at::empty(sizes, options.memory_format(fmt));
}

// t (dense in fmt, or not) with the standard strides of fmt: t itself when it
// has them, else a copy. Library calls (oneDNN) may return other strides on
// dimensions of size 1 (one output channel, a 1x1 output), where the next op's
// layout rule would then read them differently from the fake kernel's.
inline at::Tensor with_standard_strides(const at::Tensor& t, at::MemoryFormat fmt) {
  at::Tensor out = empty_in_format(t.sizes(), t.options(), fmt);
  if (out.strides() == t.strides()) return t;
  out.copy_(t);
  return out;
}

}  // namespace mixtrain
