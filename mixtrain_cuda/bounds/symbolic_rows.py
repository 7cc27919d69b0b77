"""The symbolic pass for one sample whose generators do not fit the memory
budget: its generator rows stream through the network in chunks.

Each generator row (an input coordinate, or the new symbol of an unstable
ReLU) goes through the affine layers independently of every other row. Only
the ReLUs couple them, through the concrete bounds of their input, and those
bounds are sums over rows (|g| for ReLU symbols and L-inf input symbols; g^2,
under one square root, for L2 input symbols). So a ReLU's input bounds can be
accumulated chunk by chunk, each chunk pushed from where its rows are born
(the input, or an earlier ReLU) through the relaxations already fixed. The
result is the same as the whole pass, to rounding.

Memory is one chunk's generators instead of every row's. The price is that
each ReLU re-pushes every row born before it, so layer passes grow with the
square of the depth. That is why the engine takes this path only when one
sample alone does not fit. With autograd on, each chunk runs under activation
checkpointing: its generators are recomputed in the backward pass, not kept."""
import math
import warnings

import torch
from torch.utils.checkpoint import checkpoint

from ..ops.reference import safe_sqrt, symbolic_relax
from .layers import Add, ReLU, Symbolic, SymbolicPass
from .layers.batchnorm import ChannelAffine
from .precision import ieee_float32


def streamed_symbolic(nodes, ops, center, widths, norm, C, budget, keep_graph):
    """Lower and upper bounds of one sample's outputs ([1, n_out], or [1, S] of
    C @ outputs with C [1, S, n_out]).

    center [1, *input shape] and widths [1, D] are the input symbols' center
    and per-coordinate widths (InputSet.symbolic_widths). keep_graph: autograd
    must reach the weights or the input, so chunks run under checkpointing."""
    return _Stream(nodes, ops, center, norm, budget, keep_graph).bounds(widths, C)


class _Stream:
    def __init__(self, nodes, ops, center, norm, budget, keep_graph):
        self.nodes, self.ops, self.center, self.norm, self.keep_graph = nodes, ops, center, norm, keep_graph
        sizes = [math.prod(n.layer.out_shape) for n in nodes[1:]]
        # Bytes per row while a chunk is pushed: when the backward recomputes a
        # chunk, every layer's generators and their gradients; otherwise about
        # three layers' generators at a time.
        per_row = center.element_size() * (2 * sum(sizes) + center[0].numel() if keep_graph else 3 * max(sizes))
        if per_row > budget:
            warnings.warn("one generator row of the symbolic pass needs %d bytes, more than the memory budget of %d; "
                          "streaming one row at a time" % (per_row, budget), stacklevel=4)
        self.chunk = max(1, budget // per_row)
        self.sources = []  # (born at node, flat positions, values, input rows?)
        self.slopes = {}  # ReLU node index -> its fixed slope [1, *shape]
        # Per-channel scales of BatchNorm / Normalize, taken now: a training-mode
        # BatchNorm forgets its batch statistics when the pass ends, before the
        # backward recomputes the chunks.
        self.scales = {i: n.layer.scale_shift()[0] for i, n in enumerate(nodes) if isinstance(n.layer, ChannelAffine)}

    def bounds(self, widths, C):
        live = (widths[0] != 0).nonzero().squeeze(1)  # a zero-width coordinate is no symbol
        self.sources.append((0, live, widths[0, live], True))
        centers = [self.center]
        center_pass = SymbolicPass(self.ops, 0, self.norm)
        for idx, node in enumerate(self.nodes[1:], start=1):
            ins = [centers[i] for i in node.inputs]
            if isinstance(node.layer, ReLU):
                radius = self.radius(node.inputs[0], None)
                slope, shift, unstable = symbolic_relax(ins[0], radius.reshape(ins[0].shape))
                self.slopes[idx] = slope
                centers.append(slope * ins[0] + shift)
                where = unstable.reshape(-1).nonzero().squeeze(1)
                self.sources.append((idx, where, shift.reshape(-1)[where], False))
            else:
                # The layer's own symbolic step with no generator rows moves the center.
                states = [Symbolic(c, c.new_zeros(1, 0, *c.shape[1:])) for c in ins]
                centers.append(node.layer.symbolic(center_pass, *states).center)
        out = centers[-1].flatten(1)
        if C is not None:
            out = torch.einsum("bsn,bn->bs", C, out)
        radius = self.radius(len(self.nodes) - 1, C)
        if C is None:  # the output's own shape, as the whole pass returns it
            return (out - radius).reshape(centers[-1].shape), (out + radius).reshape(centers[-1].shape)
        return out - radius, out + radius

    def radius(self, target, C):
        """Concrete radius ([1, numel] of node `target`, or [1, S] with C) from
        every row born before it, a chunk of rows at a time."""
        l2 = not math.isinf(self.norm)
        n = C.shape[1] if C is not None else math.prod(self.nodes[target].layer.out_shape)
        l1 = sq = self.center.new_zeros(1, n)
        for origin, positions, values, is_input in self.sources:
            if origin > target:
                continue
            for start in range(0, positions.shape[0], self.chunk):
                pos = positions[start:start + self.chunk]

                def contribution(val, pos=pos, origin=origin, is_input=is_input):
                    gens = self.push(origin, self.rows(origin, pos, val), target, is_input)
                    if gens is None:  # the rows never reach the target (another branch)
                        return val.new_zeros(())
                    gens = gens.flatten(2)
                    if C is not None:
                        gens = torch.einsum("bsn,brn->brs", C, gens)
                    return gens.pow(2).sum(1) if is_input and l2 else gens.abs().sum(1)

                val = values[start:start + self.chunk]
                part = (checkpoint(_in_ieee_float32(contribution), val, use_reentrant=False) if self.keep_graph
                        else contribution(val))
                if is_input and l2:
                    sq = sq + part
                else:
                    l1 = l1 + part
        return l1 + safe_sqrt(sq) if l2 else l1

    def rows(self, origin, positions, values):
        """Generators [1, rows, *shape of node origin]: row i is values[i] at positions[i]."""
        shape = self.nodes[origin].layer.out_shape if origin > 0 else self.center.shape[1:]
        index = (torch.arange(positions.shape[0], device=values.device), positions)
        gens = values.new_zeros(positions.shape[0], math.prod(shape)).index_put(index, values)
        return gens.reshape(1, -1, *shape)

    def push(self, origin, gens, target, is_input):
        """The generators of node `target` from rows at node `origin` (None when
        no path leads there), each ReLU between applying its fixed slope."""
        nodes, rows = self.nodes, gens.shape[1]
        sp = SymbolicPass(self.ops, rows if is_input else 0, self.norm)
        sp.total_rows = rows  # every state here has these rows and no others: nothing to pad
        states = {origin: Symbolic(gens.new_zeros(1, *gens.shape[2:]), gens)}
        last_reader = {}
        for idx in range(origin + 1, target + 1):
            for i in nodes[idx].inputs:
                last_reader[i] = idx
        for idx in range(origin + 1, target + 1):
            node = nodes[idx]
            ins = [states.get(i) for i in node.inputs]
            if all(s is None for s in ins):
                continue
            if isinstance(node.layer, ReLU):
                states[idx] = Symbolic(ins[0].center, ins[0].gens * self.slopes[idx].unsqueeze(1))
            elif idx in self.scales:
                g = ins[0].gens
                states[idx] = Symbolic(ins[0].center, g * self.scales[idx].reshape(1, 1, -1, *[1] * (g.dim() - 3)))
            elif isinstance(node.layer, Add) and None in ins:
                states[idx] = ins[0] if ins[1] is None else ins[1]  # the other branch adds nothing to these rows
            else:
                states[idx] = node.layer.symbolic(sp, *ins)
            for i in node.inputs:  # free generators no later node of this push reads
                if last_reader[i] == idx and i != target:
                    states.pop(i, None)
        s = states.get(target)
        return None if s is None else s.gens


def _in_ieee_float32(fn):
    """fn(val) in IEEE float32 on val's device: a checkpointed chunk is
    recomputed in the backward, outside compute_bounds's precision scope."""
    def run(val):
        with ieee_float32(val.device):
            return fn(val)
    return run
