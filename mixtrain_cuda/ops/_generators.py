"""Backward of the generator radius shared by symbolic_linear and symbolic_conv2d."""
import math

import torch


def radius_grad_on_gens(new_gens, grad_radius, input_rows, input_norm):
    """d(radius)/d(new_gens) times grad_radius, shaped like new_gens [B, R, *S]."""
    g = grad_radius.unsqueeze(1)
    if math.isinf(input_norm) or input_rows == 0:
        return g * new_gens.sign()
    head, tail = new_gens[:, :input_rows], new_gens[:, input_rows:]
    norm = head.pow(2).sum(1, keepdim=True).sqrt()
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    d_head = torch.where(norm > 0, head / safe, torch.zeros_like(head))
    return torch.cat([g * d_head, g * tail.sign()], 1)
