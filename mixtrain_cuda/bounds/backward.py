"""Backward (CROWN) bounds: linear bounds of a node in terms of the input,
pushed through the layers in reverse, then concretized over the input set."""
import torch


def backward_to_input(nodes, ops, target, A, upper):
    """Push `A` ([B, S, *shape of node target]) back to the input.
    Returns (A on the input, accumulated bias [B, S])."""
    pending = {target: A}
    bias = torch.zeros(A.shape[:2], dtype=A.dtype, device=A.device)
    for idx in range(target, 0, -1):
        A = pending.pop(idx, None)
        if A is None:
            continue  # not an ancestor of the target
        node = nodes[idx]
        A_inputs, b = node.layer.backward(ops, A, upper)
        if b is not None:
            bias = bias + b
        for i, A_i in zip(node.inputs, A_inputs):
            pending[i] = pending[i] + A_i if i in pending else A_i
    return pending.pop(0), bias


def backward_bounds(nodes, ops, inputs, target, A):
    """(lower, upper) of A @ node_target over the input set, [B, S] each."""
    lower = inputs.concretize(*backward_to_input(nodes, ops, target, A, False), upper=False)
    upper = inputs.concretize(*backward_to_input(nodes, ops, target, A, True), upper=True)
    return lower, upper


def identity_spec(batch, shape, dtype, device, start=0, stop=None):
    """Rows [start, stop) of the identity over a node's neurons, [B, S, *shape]."""
    n = 1
    for s in shape:
        n *= s
    stop = n if stop is None else stop
    eye = torch.zeros(stop - start, n, dtype=dtype, device=device)
    eye[torch.arange(stop - start, device=device), torch.arange(start, stop, device=device)] = 1
    return eye.reshape(1, stop - start, *shape).expand(batch, -1, *shape)
