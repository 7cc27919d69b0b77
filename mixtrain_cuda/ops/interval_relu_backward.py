"""interval_relu_backward: the gradient of interval_relu, in one pass."""
import torch

from . import reference
from ._extension import LOADED, call_kernel, use_kernel
from ._layout import empty_box_output


def interval_relu_backward(grad_center, grad_radius, center, radius):
    """Given the gradients ``(grad_center, grad_radius)`` of interval_relu's
    outputs, returns those of its inputs ``(center, radius)``: the upper end
    ``relu(c + r)`` receives ``(g_c + g_r)/2`` and the lower end ``relu(c - r)``
    receives ``(g_c - g_r)/2``, each where its argument is positive (torch.relu's
    convention at 0), and ``d_center = g_u + g_l``, ``d_radius = g_u - g_l``.

    interval_relu's autograd calls this; it is public for code that writes its
    own backward through an interval ReLU.
    """
    if use_kernel("interval_relu_backward", center):
        return call_kernel("interval_relu_backward", grad_center, grad_radius, center, radius)
    return reference.interval_relu_backward(grad_center, grad_radius, center, radius)


if LOADED:

    @torch.library.register_fake("mixtrain::interval_relu_backward")
    def _fake(grad_center, grad_radius, center, radius):
        torch._check(center.shape == radius.shape, lambda: "radius must have the shape of center")
        torch._check(grad_center.shape == center.shape and grad_radius.shape == center.shape,
                     lambda: "grad_center and grad_radius must have the shape of center")
        # As the kernels: the standard strides of the center's layout (box_format; contiguous on CUDA).
        return empty_box_output(center, center.shape), empty_box_output(center, center.shape)

    # Autograd: csrc/autograd/interval_relu_backward_autograd.cpp (C++, for the host cost).
