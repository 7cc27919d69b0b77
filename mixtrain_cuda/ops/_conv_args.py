"""Normalization of conv arguments (int or pair) and the conv backward both
convolution ops share."""
import torch


def pair(value, name):
    if isinstance(value, int):
        return [value, value]
    value = list(value)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise ValueError("%s must be an int or a pair of ints, got %r" % (name, value))
    return value


def conv_out_hw(h, w, weight, stride, padding, dilation):
    kh, kw = weight.shape[2], weight.shape[3]
    return ((h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1,
            (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1)


def conv_backward(grad_out, inp, weight, stride, padding, dilation, groups, mask, with_bias=False):
    """(grad_input, grad_weight, grad_bias) of conv2d, entries None where mask is False."""
    bias_sizes = [weight.shape[0]] if with_bias else None
    return torch.ops.aten.convolution_backward(grad_out, inp, weight, bias_sizes, stride, padding, dilation, False,
                                               [0, 0], groups, mask)


def output_padding(A, weight, stride, padding, dilation, input_size):
    """conv_transpose2d's output_padding that maps A ([N, O, OH, OW]) back onto
    input_size: the input rows and columns a strided convolution never reads."""
    return [input_size[d] - ((A.shape[2 + d] - 1) * stride[d] - 2 * padding[d]
                             + dilation[d] * (weight.shape[2 + d] - 1) + 1) for d in (0, 1)]
