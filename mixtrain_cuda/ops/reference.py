"""Pure-PyTorch versions of every fused op: the test oracle, and the explicit
(warned) fallback when the compiled kernels are missing. Each function returns
exactly what the op of the same name returns; all are differentiable by
ordinary autograd. Shapes and semantics: csrc/README.md."""
import math

import torch
import torch.nn.functional as F

from ._conv_args import output_padding


def interval_linear(center, radius, weight, bias=None):
    return F.linear(center, weight, bias), F.linear(radius, weight.abs())


def interval_conv2d(center, radius, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return (F.conv2d(center, weight, bias, stride, padding, dilation, groups),
            F.conv2d(radius, weight.abs(), None, stride, padding, dilation, groups))


def generator_radius(gens, input_rows, input_norm):
    """Concrete radius of generators [B, R, *S]: input-symbol rows summed with the
    dual norm of the input ball (L1 for L-inf, L2 for L2), the rest with L1."""
    head, tail = gens[:, :input_rows], gens[:, input_rows:]
    radius = tail.abs().sum(1)
    if math.isinf(input_norm):
        radius = radius + head.abs().sum(1)
    else:
        radius = radius + safe_sqrt(head.pow(2).sum(1))
    return radius


def safe_sqrt(t):
    """sqrt with gradient 0 (not NaN) where t == 0: an L2 norm of generators
    that are all zero there (a dead receptive field) must not poison training."""
    positive = t > 0
    return torch.where(positive, torch.where(positive, t, torch.ones_like(t)).sqrt(), torch.zeros_like(t))


def symbolic_linear(center, gens, weight, bias=None, input_rows=0, input_norm=math.inf):
    new_gens = torch.matmul(gens, weight.t())
    return F.linear(center, weight, bias), new_gens, generator_radius(new_gens, input_rows, input_norm)


def symbolic_conv2d(center, gens, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                    input_rows=0, input_norm=math.inf):
    B, R = gens.shape[:2]
    out_center = F.conv2d(center, weight, bias, stride, padding, dilation, groups)
    flat = F.conv2d(gens.reshape(B * R, *gens.shape[2:]), weight, None, stride, padding, dilation, groups)
    new_gens = flat.reshape(B, R, *out_center.shape[1:])
    return out_center, new_gens, generator_radius(new_gens, input_rows, input_norm)


def interval_relu(center, radius):
    lower, upper = (center - radius).clamp(min=0), (center + radius).clamp(min=0)
    return (upper + lower) / 2, (upper - lower) / 2


def interval_relu_backward(grad_center, grad_radius, center, radius):
    """Gradient of interval_relu with respect to (center, radius): the upper end
    relu(c + r) gets (g_c + g_r)/2 and the lower end relu(c - r) gets
    (g_c - g_r)/2, each passed where its argument is positive."""
    zero = torch.zeros((), dtype=center.dtype, device=center.device)
    g_upper = torch.where(center + radius > 0, (grad_center + grad_radius) / 2, zero)
    g_lower = torch.where(center - radius > 0, (grad_center - grad_radius) / 2, zero)
    return g_upper + g_lower, g_upper - g_lower


def symbolic_relax(center, radius):
    """(slope, shift, unstable mask) of MixTrain's ReLU relaxation."""
    lower, upper = center - radius, center + radius
    unstable = (lower < 0) & (upper > 0)
    active = lower >= 0
    safe_width = torch.where(unstable, upper - lower, torch.ones_like(upper))
    slope = torch.where(unstable, upper / safe_width, active.to(center.dtype))
    shift = torch.where(unstable, -slope * lower / 2, torch.zeros_like(center))
    return slope, shift, unstable


def symbolic_relu(center, gens, radius):
    B, R = gens.shape[:2]
    N = math.prod(center.shape[1:])
    slope, shift, unstable = symbolic_relax(center, radius)
    flat_unstable = unstable.reshape(B, N)
    count = flat_unstable.sum(1)
    U = int(count.max()) if B > 0 and flat_unstable.shape[1] > 0 else 0
    position = flat_unstable.long().cumsum(1) - 1
    row_index = torch.where(flat_unstable, R + position, torch.full_like(position, -1))
    new_rows = gens.new_zeros(B, U + 1, flat_unstable.shape[1])  # one spare row takes the stable neurons
    target = torch.where(flat_unstable, position, torch.full_like(position, U)).unsqueeze(1)
    new_rows = new_rows.scatter(1, target, shift.reshape(B, 1, N))[:, :U]
    out_gens = torch.cat([gens * slope.unsqueeze(1), new_rows.reshape(B, U, *gens.shape[2:])], 1)
    return slope * center + shift, out_gens, row_index.reshape(center.shape)


def crown_relax(lower, upper):
    """(upper slope, upper intercept, lower slope) of the CROWN relaxation."""
    unstable = (lower < 0) & (upper > 0)
    active = lower >= 0
    safe_width = torch.where(unstable, upper - lower, torch.ones_like(upper))
    up_slope = torch.where(unstable, upper / safe_width, active.to(lower.dtype))
    up_icpt = torch.where(unstable, -lower * up_slope, torch.zeros_like(lower))
    lo_slope = torch.where(unstable, (upper >= -lower).to(lower.dtype), active.to(lower.dtype))
    return up_slope, up_icpt, lo_slope


def crown_relu_backward(A, lower, upper, upper_bound):
    up_slope, up_icpt, lo_slope = (t.unsqueeze(1) for t in crown_relax(lower, upper))
    take_upper = A > 0 if upper_bound else A < 0
    new_A = A * torch.where(take_upper, up_slope, lo_slope)
    bias = torch.where(take_upper, A * up_icpt, torch.zeros_like(A)).flatten(2).sum(2)
    return new_A, bias


def crown_conv2d_backward(A, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                          input_size=None):
    """CROWN's backward step through a convolution: the transposed convolution of
    A ([N, O, OH, OW]) onto the layer's input size, and the bias term."""
    out_pad = output_padding(A, weight, stride, padding, dilation, input_size)
    back = F.conv_transpose2d(A, weight, None, stride, padding, out_pad, 1, dilation)
    bias_term = A.sum((2, 3)) @ bias if bias is not None else A.new_zeros(A.shape[0])
    return back.contiguous(), bias_term


def crown_relu_conv2d_backward(A, lower, upper, upper_bound, weight, bias=None, stride=(1, 1), padding=(0, 0),
                               dilation=(1, 1), input_size=None):
    """crown_relu_backward, then crown_conv2d_backward of its rows (A [B, S, O, OH, OW])."""
    stepped, relu_bias = crown_relu_backward(A, lower, upper, upper_bound)
    back, conv_bias = crown_conv2d_backward(stepped.flatten(0, 1), weight, bias, stride, padding, dilation, input_size)
    return back.reshape(*A.shape[:2], *back.shape[1:]), relu_bias + conv_bias.reshape(A.shape[:2])


def crown_relu_backward_grad(grad_A, grad_bias, A, lower, upper, upper_bound):
    """Gradients of crown_relu_backward's (A', bias) with respect to (A, lower,
    upper). Only the chord (upper slope and intercept) depends smoothly on l
    and u; the lower slope is a step, and stable neurons are constant."""
    up_slope, up_icpt, lo_slope = (t.unsqueeze(1) for t in crown_relax(lower, upper))
    take_upper = A > 0 if upper_bound else A < 0
    g_bias = grad_bias.reshape(*grad_bias.shape, *([1] * (A.dim() - 2)))
    d_A = grad_A * torch.where(take_upper, up_slope, lo_slope) + g_bias * torch.where(
        take_upper, up_icpt, torch.zeros_like(up_icpt))
    unstable = (lower < 0) & (upper > 0)
    l, u = lower, upper
    width = torch.where(unstable, u - l, torch.ones_like(u))
    chosen = A * take_upper
    g_slope = (grad_A * chosen).sum(1)
    g_icpt = (g_bias * chosen).sum(1)
    w2 = width * width
    d_lower = unstable * (g_slope * u / w2 - g_icpt * u * u / w2)
    d_upper = unstable * (-g_slope * l / w2 + g_icpt * l * l / w2)
    return d_A, d_lower, d_upper
