"""Backward (CROWN) bounds: linear bounds of a node in terms of the input,
pushed through the layers in reverse, then concretized over the input set."""
import torch


def backward_to_input(nodes, ops, target, A, upper, seen=None, bias=None):
    """Push `A` ([B, S, *shape of node target]) back to the input.
    Returns (A on the input, accumulated bias [B, S], starting from `bias`).
    seen(idx, A), if given, gets the coefficients on each node's output on the
    way (branch and bound scores ReLU neurons by them)."""
    pending = {target: A}
    if bias is None:
        bias = torch.zeros(A.shape[:2], dtype=A.dtype, device=A.device)
    consumers = None
    for idx in range(target, 0, -1):
        A = pending.pop(idx, None)
        if A is None:
            continue  # not an ancestor of the target
        node = nodes[idx]
        if seen is not None:
            seen(idx, A)
        step = None
        if seen is None and len(node.inputs) == 1:
            # A layer with a `backward_with` (Conv2d) may take this node's step and its own as one op
            # (a ReLU after a convolution: layers/conv.py), when this node is its only reader: then no
            # other path adds to the A on its output, and the loop skips it (nothing pending there).
            below = nodes[node.inputs[0]]
            fuse = getattr(below.layer, "backward_with", None)
            if fuse is not None:
                if consumers is None:
                    consumers = _readers(nodes)
                if consumers[node.inputs[0]] == 1:
                    step = fuse(ops, A, node.layer, upper)
                    if step is not None:
                        node = below
        A_inputs, b = step if step is not None else node.layer.backward(ops, A, upper)
        if b is not None:
            bias = bias + b
        for i, A_i in zip(node.inputs, A_inputs):
            pending[i] = pending[i] + A_i if i in pending else A_i
    return pending.pop(0), bias


def _readers(nodes):
    """How many nodes read each node's output."""
    count = [0] * len(nodes)
    for node in nodes:
        for i in node.inputs:
            count[i] += 1
    return count


def backward_bounds(nodes, ops, inputs, target, A, stacked=True, bound_upper=True, bias=None):
    """(lower, upper) of A @ node_target (+ bias, [B, S]) over the input set,
    [B, S] each; (lower, None) without bound_upper: one pass of A alone.

    stacked: one backward pass serves both: the lower bound of A y is minus the upper
    bound of (-A) y, because every step is linear in A except the ReLU's, and
    there the relaxation a coefficient takes depends only on its sign (CROWN's
    lower slope depends on l and u, not on A): for -A, the upper pass picks
    exactly the sides the lower pass would for A, with the values negated (a
    negation is exact in floating point; only a product over 2S rows may round
    differently from one over S, far below float32's bound error). So
    [-A; A] goes back once: half the layer calls (conv_transpose2d dominated
    CROWN-IBP on MNIST at a few points, 190 us per call at batch 1), one larger
    product each. It holds twice the rows at once: memory plans count both.
    Under autograd the engine passes stacked=False, two passes: autograd's
    backward through the stacked pass measured 1.3-1.9x slower (CROWN-IBP
    forward+backward at batch 64: mnist_small 626 -> 840 points/s, mnist_large
    42 -> 79, separate against stacked)."""
    if not bound_upper:
        return inputs.concretize(*backward_to_input(nodes, ops, target, A, False, bias=bias), upper=False), None
    if not stacked:
        lower = inputs.concretize(*backward_to_input(nodes, ops, target, A, False, bias=bias), upper=False)
        upper = inputs.concretize(*backward_to_input(nodes, ops, target, A, True, bias=bias), upper=True)
        return lower, upper
    S = A.shape[1]
    both = torch.cat([-bias, bias], 1) if bias is not None else None
    upper = inputs.concretize(*backward_to_input(nodes, ops, target, torch.cat([-A, A], 1), True, bias=both),
                              upper=True)
    return -upper[:, :S], upper[:, S:]


def one_hot_bounds(nodes, ops, inputs, target, neurons, stacked=True):
    """backward_bounds of one-hot rows at node `target` (row s of sample b
    selects neuron neurons[b, s] of the flattened node): the bounds of single
    neurons, as CROWN's intermediate bounds need. Where the node's layer has
    backward_one_hot (Linear, Conv2d) the pass starts one node lower, from the
    rows of the layer's own matrix: the first step would otherwise multiply an
    identity as large as the layer's output. On mnist_small that step was a
    third of a `crown` pass (411 of 1117 ms at 8 points, 2-core CPU)."""
    node = nodes[target]
    if len(node.inputs) == 1:
        first = node.layer.backward_one_hot(neurons)
        if first is not None:
            (A,), bias = first
            return backward_bounds(nodes, ops, inputs, node.inputs[0], A, stacked, bias=bias)
    B, S = neurons.shape
    shape = node.layer.out_shape
    n = 1
    for s in shape:
        n *= s
    A = inputs.x.new_zeros(B, S, n)
    A.scatter_(2, neurons[:, :, None], 1)
    return backward_bounds(nodes, ops, inputs, target, A.reshape(B, S, *shape), stacked)


def identity_spec(batch, shape, dtype, device, start=0, stop=None):
    """Rows [start, stop) of the identity over a node's neurons, [B, S, *shape]."""
    n = 1
    for s in shape:
        n *= s
    stop = n if stop is None else stop
    eye = torch.zeros(stop - start, n, dtype=dtype, device=device)
    eye[torch.arange(stop - start, device=device), torch.arange(start, stop, device=device)] = 1
    return eye.reshape(1, stop - start, *shape).expand(batch, -1, *shape)
