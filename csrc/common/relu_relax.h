#pragma once
// The three ReLU relaxations, written once for host and device.
// A neuron with pre-activation in [l, u] is
//   unstable when l < 0 < u,
//   otherwise active when l >= 0 (output = input) and dead when not (output 0).
#include "host_device.h"

namespace mixtrain {

// Interval (IBP) ReLU in center/radius form: [l, u] -> [relu(l), relu(u)].
template <typename T>
MIXTRAIN_HD void interval_relu_point(T c, T r, T& c_out, T& r_out) {
  T l = c - r, u = c + r;
  l = l < T(0) ? T(0) : l;  // written so that NaN passes through, as in clamp(min=0)
  u = u < T(0) ? T(0) : u;
  c_out = (u + l) * T(0.5);
  r_out = (u - l) * T(0.5);
}

// The gradient of interval_relu_point: with g_u = (g_c + g_r)/2 flowing to
// relu(u) and g_l = (g_c - g_r)/2 to relu(l), each passes where its argument is
// positive (torch.relu's convention: 0 at 0), and d/dc = g_u + g_l,
// d/dr = g_u - g_l. Linear in (g_c, g_r) with a symmetric matrix, so this same
// map is also its own backward (double backward).
template <typename T>
MIXTRAIN_HD void interval_relu_backward_point(T gc, T gr, T c, T r, T& gc_out, T& gr_out) {
  const T gu = c + r > T(0) ? (gc + gr) * T(0.5) : T(0);
  const T gl = c - r > T(0) ? (gc - gr) * T(0.5) : T(0);
  gc_out = gu + gl;
  gr_out = gu - gl;
}

// MixTrain's symbolic relaxation (Neurify/DeepZ). For concrete bounds
// l = c - rad, u = c + rad of an unstable neuron the slope is lam = u/(u-l) and
// the shift mu = -lam*l/2: z -> lam*z + mu, plus a fresh noise symbol with
// coefficient mu. Stable neurons: lam = 1, mu = 0 (active) or lam = 0, mu = 0
// (dead). Returns true when the neuron is unstable (it needs a new symbol).
template <typename T>
MIXTRAIN_HD bool symbolic_relax(T c, T rad, T& lam, T& mu) {
  const T l = c - rad, u = c + rad;
  // The same case order as the reference: anything not strictly unstable is
  // active iff l >= 0 (this also fixes l == u == 0, a negative radius and NaN).
  if (!(l < T(0) && u > T(0))) {
    lam = l >= T(0) ? T(1) : T(0);
    mu = T(0);
    return false;
  }
  lam = u / (u - l);
  mu = -lam * l * T(0.5);
  return true;
}

// CROWN relaxation: upper bound is the chord  y <= us * z + ui,
// lower bound y >= ls * z with ls = 1 if u >= -l else 0 (unstable neurons).
// Written with selects, not branches: on random bounds the branches
// mispredict, and the select form vectorizes on the CPU.
template <typename T>
MIXTRAIN_HD void crown_relax(T l, T u, T& us, T& ui, T& ls) {
  const bool unstable = l < T(0) && u > T(0);
  const T stable = l >= T(0) ? T(1) : T(0);  // active 1, dead (or NaN) 0
  const T chord = u / (unstable ? u - l : T(1));
  us = unstable ? chord : stable;
  ui = unstable ? -l * chord : T(0);
  ls = unstable ? (u >= -l ? T(1) : T(0)) : stable;
}

// One neuron of crown_relu_backward's gradient, given the sums over the rows
// of A that took the upper relaxation: g_slope = sum grad_A * A and g_icpt =
// sum grad_bias * A. Only the chord depends smoothly on (l, u):
//   us = u / (u - l): d/dl = u / w^2, d/du = -l / w^2;
//   ui = -l u / (u - l): d/dl = -u^2 / w^2, d/du = l^2 / w^2 (w = u - l).
// Stable neurons, and the lower slope (a step in l, u), have gradient 0.
template <typename T>
MIXTRAIN_HD void crown_relax_grad(T l, T u, T g_slope, T g_icpt, T& d_lower, T& d_upper) {
  const bool unstable = l < T(0) && u > T(0);
  const T w = unstable ? u - l : T(1);
  const T w2 = w * w;
  d_lower = unstable ? g_slope * u / w2 - g_icpt * u * u / w2 : T(0);
  d_upper = unstable ? -g_slope * l / w2 + g_icpt * l * l / w2 : T(0);
}

}  // namespace mixtrain
