"""BoundedModule: bounds of an ordinary nn.Module over an input ball."""
import math

import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from . import _ops
from .backward import backward_bounds, identity_spec, one_hot_bounds
from .graph import trace
from .inputs import InputSet, parse_norm
from .layers import BatchNorm, Box, Conv2d, Identity, Linear, ReLU, Reshape, SymbolicPass, windowed
from .layers.batchnorm import ChannelAffine
from .precision import ieee_float32
from .symbolic_rows import streamed_symbolic

METHODS = ("ibp", "symbolic", "crown-ibp", "crown")
BN_STATS = ("clean", "midpoint")


def default_memory_budget(device):
    """Bytes a bound pass may plan for: half the free GPU memory, or 2 GiB on the CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return 2 << 30


class BoundedModule(nn.Module):
    """Wraps `model` (not copied: bounds always use its current weights).

    reference=True runs the pure-PyTorch twins of the fused ops (the tests'
    oracle). bn_stats picks the statistics of BatchNorm layers in training
    mode: "clean" (the clean batch: `clean_batch` given to compute_bounds, or x
    itself) or "midpoint" (the center of the incoming bounds). memory_budget
    (bytes; default: half the free GPU memory, 2 GiB on the CPU) caps the
    symbolic pass and CROWN's intermediate bounds, which run in chunks that fit
    (the symbolic pass: chunks of the batch, or chunks of one sample's
    generator rows when that sample alone does not fit).
    update_running_stats: training-mode BatchNorm layers fold the statistics a
    bound pass used into their running statistics (momentum as the layer's),
    as their forward would; dual BatchNorm's robust branch learns its running
    statistics this way.
    """

    # The symbolic pass keeps the input symbols diagonal until the first
    # convolution or linear layer (layers.DiagonalSymbolic); False makes the
    # dense one-hot rows up front, as before (the tests compare the two).
    diagonal_inputs = True
    # Convolutions and ReLUs keep generator rows as windows where that pays
    # (layers.windowed); False: dense rows throughout (the tests compare the two).
    windowed_rows = True

    def __init__(self, model, reference=False, bn_stats="clean", memory_budget=None, update_running_stats=False):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError("BoundedModule wraps an nn.Module, got %s" % type(model).__name__)
        if bn_stats not in BN_STATS:
            raise ValueError("bn_stats must be one of %s, got %r" % (BN_STATS, bn_stats))
        self.model = model
        self.nodes = trace(model)
        self.ops = _ops.reference if reference else _ops.fused
        self.bn_stats = bn_stats
        if memory_budget is not None and not 1 <= memory_budget < math.inf:
            raise ValueError("memory_budget must be a number of bytes >= 1, got %r" % (memory_budget,))
        self.memory_budget = memory_budget
        self.update_running_stats = update_running_stats
        self._shapes_for = None  # the per-sample input shape the layers' recorded shapes are for
        # {node index: (lower, upper)}, [B, *shape] each: boxes of those nodes are
        # intersected with these in IBP and CROWN passes. Branch and bound
        # (bab.py) sets them, for one pass, to a domain's ReLU splits and the
        # bounds its parent domain proved.
        self._clips = None

    def forward(self, x):
        return self.model(x)

    # ---- the public entry point

    def compute_bounds(self, x, eps, method="ibp", norm=math.inf, C=None, x_min=0.0, x_max=1.0, clean_batch=None,
                       bound_upper=True, check_values=True):
        """Lower and upper bounds of the model's outputs (or of C @ outputs) for
        every input within `eps` of x (in `norm`), clamped to [x_min, x_max].

        x: [B, *input shape]; eps: float >= 0 or a tensor broadcastable to x;
        method: "ibp", "symbolic", "crown-ibp" or "crown"; norm: inf or 2;
        C: [B, n_spec, n_out] specification (e.g. margins z_y - z_j), folded into
        the last linear layer. Returns (lb, ub), [B, n_out] or [B, n_spec].
        Differentiable with respect to the model's parameters.

        bound_upper=False returns (lb, None): for callers that need only the
        lower bound (certification and the robust loss, on margins). The
        backward methods then skip the upper bound's pass, about half their
        work; lb is the same either way (as auto_LiRPA's bound_upper).

        check_values=False skips the checks that read the values of x and of a
        tensor eps (NaN, negative or infinite entries): on a GPU each is a wait
        for the device, which keeps the host from queueing the next training
        step while this one runs. For callers that checked their data once
        (the trainer checks its datasets when it loads them); shapes, dtypes
        and the method are checked either way.
        """
        norm = parse_norm(norm)
        self._check(x, eps, method, C, x_min, x_max, check_values)
        if x.shape[0] == 0:
            n = C.shape[1] if C is not None else None
            lb, ub = self._empty_bounds(x, n)
        else:
            with ieee_float32(x.device):  # TF32 would make the bounds unsound (precision.py)
                lb, ub = self._bounds(x, eps, method, norm, C, x_min, x_max, clean_batch, bool(bound_upper))
        return lb, (ub if bound_upper else None)

    def _bounds(self, x, eps, method, norm, C, x_min, x_max, clean_batch, bound_upper):
        inputs = InputSet(x, eps, norm, x_min, x_max)
        self._prepare(x, clean_batch, inputs)
        try:
            if method == "ibp":
                return self._ibp(inputs, C)
            if method == "symbolic":
                return self._symbolic(inputs, C)
            return self._crown(inputs, C, intermediate=method, bound_upper=bound_upper)
        finally:
            for node in self.nodes[1:]:
                if isinstance(node.layer, BatchNorm):
                    if self.update_running_stats:
                        node.layer.update_running_stats()
                    node.layer.stats = None
                if isinstance(node.layer, ReLU):
                    node.layer.pre_box = None

    # ---- checks and per-call preparation

    def _check(self, x, eps, method, C, x_min, x_max, check_values=True):
        if method not in METHODS:
            raise ValueError("method must be one of %s, got %r" % (", ".join(METHODS), method))
        if not torch.is_tensor(x) or not x.is_floating_point():
            raise TypeError("x must be a floating-point tensor, got %s" % (x.dtype if torch.is_tensor(x) else type(x)))
        if x.dim() < 2:
            raise ValueError("x must have a batch dimension: [B, *input shape], got shape %s" % tuple(x.shape))
        if check_values and torch.isnan(x).any():
            raise ValueError("x contains NaN")
        if torch.is_tensor(eps):
            bad = check_values and bool(torch.isnan(eps).any() or (eps < 0).any() or torch.isinf(eps).any())
        else:
            bad = not (math.isfinite(float(eps)) and float(eps) >= 0)  # no tensor for a number: 30 us at k = 1
        if bad:
            raise ValueError("eps must be finite and >= 0, got %s" % (eps if not torch.is_tensor(eps) else "a tensor "
                                                                      "with negative, NaN or infinite entries"))
        if torch.is_tensor(eps):
            try:
                torch.broadcast_shapes(eps.shape, x.shape)
            except RuntimeError:
                raise ValueError("eps of shape %s does not broadcast to x of shape %s"
                                 % (tuple(eps.shape), tuple(x.shape))) from None
        if not x_min <= x_max:
            raise ValueError("x_min (%s) must be <= x_max (%s)" % (x_min, x_max))
        if C is not None:
            if not torch.is_tensor(C) or C.dim() != 3 or C.shape[0] != x.shape[0]:
                raise ValueError("C must be [B, n_spec, n_out] with B = %d, got %s"
                                 % (x.shape[0], tuple(C.shape) if torch.is_tensor(C) else type(C).__name__))

    def _prepare(self, x, clean_batch, inputs):
        """Per-sample shapes of every node (one clean forward), and the batch
        statistics of training-mode BatchNorm layers."""
        bns = [n.layer for n in self.nodes[1:] if isinstance(n.layer, BatchNorm)]
        for bn in bns:
            bn.stats = None
        live_bn = [bn for bn in bns if bn.uses_batch_stats()]
        if live_bn and self.bn_stats == "clean":
            probe = x if clean_batch is None else clean_batch
            self._clean_forward(probe, record_shapes=True)  # records the statistics, with their graph
        else:
            # The shapes depend on the per-sample input shape only: recorded once
            # per shape (at k = 1 on MNIST-small the clean forward was half of an
            # IBP call: oneDNN's convolutions at batch 1 take 90 us each).
            if self._shapes_for != tuple(x.shape[1:]):
                with torch.no_grad():
                    self._clean_forward(x[:1], record_shapes=True)
            for bn in bns:
                bn.stats = None
            if live_bn:  # midpoint: an IBP pass where each BatchNorm takes the center's statistics
                self._ibp_pass(inputs, midpoint_stats=True)

    def _clean_forward(self, x, record_shapes):
        if record_shapes:
            self._shapes_for = None  # until every layer has them
        values = [x]
        for node in self.nodes[1:]:
            args = [values[i] for i in node.inputs]
            if record_shapes:
                node.layer.in_shapes = [tuple(a.shape[1:]) for a in args]
            out = node.layer.forward(*args)
            if record_shapes:
                node.layer.out_shape = tuple(out.shape[1:])
            values.append(out)
        if record_shapes:
            self._shapes_for = tuple(x.shape[1:])
        return values[-1]

    def _empty_bounds(self, x, n_spec):
        with torch.no_grad():
            n_out = self.model(torch.zeros(1, *x.shape[1:], dtype=x.dtype, device=x.device)).shape[1]
        shape = (0, n_spec if n_spec is not None else n_out)
        return x.new_zeros(shape), x.new_zeros(shape)

    # ---- IBP

    def _ibp_pass(self, inputs, midpoint_stats=False, until=None):
        """Boxes of every node up to `until` (default: all); ReLUs remember their input box."""
        boxes = [inputs.box()]
        last = len(self.nodes) if until is None else until + 1
        for idx, node in enumerate(self.nodes[1:last], start=1):
            args = [boxes[i] for i in node.inputs]
            if midpoint_stats and isinstance(node.layer, BatchNorm) and node.layer.uses_batch_stats():
                node.layer.stats = node.layer.batch_stats(args[0].center)
            if isinstance(node.layer, ReLU):
                node.layer.pre_box = args[0]
            boxes.append(self._clip(idx, node.layer.ibp(self.ops, *args)))
        return boxes

    def _clip(self, idx, box):
        """box intersected with self._clips[idx], if set. An empty intersection
        (lower > upper somewhere) stays so: branch and bound reads it as a domain
        that holds no input. But only a crossing beyond rounding: a neuron whose
        value is constant on a domain (every input it reads is a ReLU split
        inactive, say) has lower == upper, and two such bounds computed by
        different passes cross by an ulp. Read as empty, that made branch and
        bound "prove" a domain holding a real counterexample (found by PGD on a
        trained MNIST-large net: 4 of 32 points). Crossings within CLIP_TOL
        are put back in order instead, which holds the value either way."""
        if not self._clips or idx not in self._clips:
            return box
        lo, hi = self._clips[idx]
        lower, upper = torch.maximum(box.lower, lo), torch.minimum(box.upper, hi)
        near = (lower > upper) & (lower - upper <= CLIP_TOL * (1 + lower.abs() + upper.abs()))
        if bool(near.any()):
            lower, upper = torch.where(near, upper, lower), torch.where(near, lower, upper)
        return Box((upper + lower) / 2, (upper - lower) / 2)

    def _ibp(self, inputs, C):
        last = self.nodes[-1]
        if C is not None and isinstance(last.layer, Linear):
            boxes = self._ibp_pass(inputs, until=len(self.nodes) - 2)
            box = last.layer.ibp_spec(self.ops, boxes[last.inputs[0]], C)
        else:
            box = self._ibp_pass(inputs)[-1]
            if C is not None:
                box = _spec_box(box, C)
        return box.lower, box.upper

    # ---- CROWN-IBP and CROWN

    def _crown(self, inputs, C, intermediate, bound_upper=True):
        """Backward bounds of the output; ReLU input bounds from IBP
        (crown-ibp) or from backward passes of their own (crown). Without
        bound_upper, (lb, None)."""
        if intermediate == "crown":
            self._crown_intermediate(inputs)
        else:
            self._ibp_pass(inputs)
        target = len(self.nodes) - 1
        out_shape = self.nodes[target].layer.out_shape
        B = inputs.x.shape[0]
        if C is None:
            A = identity_spec(B, out_shape, inputs.x.dtype, inputs.x.device)
        else:
            A = C.to(inputs.x.dtype).reshape(B, C.shape[1], *out_shape)
        stacked = not self._keeps_graph(inputs.x)  # see backward_bounds
        chunk = self._cpu_backward_chunk(inputs.x, A.shape[1] * (2 if stacked and bound_upper else 1))
        if chunk >= B:
            return backward_bounds(self.nodes, self.ops, inputs, target, A, stacked, bound_upper)
        relus = [n.layer for n in self.nodes[1:] if isinstance(n.layer, ReLU)]
        full = [r.pre_box for r in relus]
        lo, up = [], []
        try:
            for start in range(0, B, chunk):
                rows = slice(start, start + chunk)
                for r, box in zip(relus, full):
                    r.pre_box = Box(box.center[rows], box.radius[rows]) if box is not None else None
                l, u = backward_bounds(self.nodes, self.ops, _input_part(inputs, rows), target, A[rows], stacked,
                                       bound_upper)
                lo.append(l)
                up.append(u)
        finally:
            for r, box in zip(relus, full):
                r.pre_box = box
        return torch.cat(lo), (torch.cat(up) if bound_upper else None)

    def _cpu_backward_chunk(self, x, rows):
        """Samples per backward pass of the output's bounds. On the CPU, in
        chunks whose A (`rows` per sample, at the widest node) stays under
        CPU_BACKWARD_CHUNK_BYTES: the transposed convolutions lose throughput
        on large A (CROWN-IBP on mnist_large: 268 points/s at 16 points, 165
        at 50 in one call). Elsewhere the whole batch at once."""
        if x.device.type != "cpu":
            return x.shape[0]
        widest = max(_numel(n.layer.out_shape) for n in self.nodes[1:])
        per_sample = rows * widest * x.element_size()
        return max(1, min(x.shape[0], CPU_BACKWARD_CHUNK_BYTES // max(1, per_sample)))

    def _crown_intermediate(self, inputs):
        """Forward over the nodes keeping boxes; the input of each ReLU that has
        a ReLU before it gets backward bounds for its unstable neurons (in chunks
        of neurons that fit the memory budget), intersected with its IBP box."""
        relu_inputs = {n.inputs[0] for n in self.nodes[1:] if isinstance(n.layer, ReLU)}
        boxes = [inputs.box()]
        seen_relu = False
        budget = self._budget(inputs.x)
        B = inputs.x.shape[0]
        elem = inputs.x.element_size()
        widest = max(_numel(n.layer.out_shape) for n in self.nodes[1:])
        keep_graph = self._keeps_graph(inputs.x)
        # Bytes per row of A (one neuron whose bounds are wanted): a few copies
        # alive at the widest node; under autograd, also A at every node, which
        # the backward needs (each chunk is then checkpointed, so that only one
        # chunk's are alive at a time: without, MNIST large at B = 4 took the
        # whole 80 GB of an H100).
        # Without autograd twice that: a row's lower and upper bounds go back
        # together (backward.backward_bounds).
        graph_bytes = 2 * sum(_numel(n.layer.out_shape) for n in self.nodes[1:]) if keep_graph else 0
        per_row = (1 if keep_graph else 2) * B * elem * (4 * widest + graph_bytes)
        for idx, node in enumerate(self.nodes[1:], start=1):
            args = [boxes[i] for i in node.inputs]
            if isinstance(node.layer, ReLU):
                node.layer.pre_box = args[0]
            box = self._clip(idx, node.layer.ibp(self.ops, *args))
            if idx in relu_inputs and seen_relu:
                box = self._crown_tighten(idx, box, inputs, budget, per_row, keep_graph)
            if isinstance(node.layer, ReLU):
                seen_relu = True
            boxes.append(box)

    def _crown_tighten(self, idx, box, inputs, budget, per_row, keep_graph):
        """The box of node idx (a ReLU's input) intersected with backward bounds,
        for each sample's neurons that the box leaves unstable.

        A stable neuron's ReLU is exact (identity or zero) whatever its bounds,
        so its backward bounds would change no relaxation, yet cost a backward
        pass each (later auto_LiRPA releases skip them as well, with their
        "sparse intermediate bounds"; 0.3, which the tests use, does not). What
        is lost: a stable neuron keeps its looser IBP box, so later IBP boxes,
        which are intersected with later backward bounds, can be looser where
        IBP beats CROWN. Against auto_LiRPA, which bounds every neuron
        (tests/bounds/test_auto_lirpa.py): equal on sequential nets; on random
        residual nets single bounds moved by up to 2.5% of the mean width,
        either way, the mean width by at most 0.3%.
        Each sample gets its own rows (padded to the batch's most): on a trained
        MNIST large, about 1% of a layer is unstable per sample but 12-17% in
        the union over 32 samples."""
        B = inputs.x.shape[0]
        shape = self.nodes[idx].layer.out_shape
        n = _numel(shape)
        lower, upper = box.lower.reshape(B, n), box.upper.reshape(B, n)
        unstable = (lower < 0) & (upper > 0)
        count = unstable.sum(1)
        most = int(count.max()) if B else 0
        if most == 0:
            return box
        # Each sample's unstable neurons first (a stable sort keeps them in
        # order), then fillers whose bounds are computed and dropped.
        which = torch.sort(unstable.to(torch.int8), dim=1, descending=True, stable=True).indices[:, :most]
        valid = torch.arange(most, device=which.device) < count[:, None]
        rows = max(1, min(most, budget // max(1, per_row)))
        lo, up = [], []
        for start in range(0, most, rows):
            def chunk(sel=which[:, start:start + rows]):
                return one_hot_bounds(self.nodes, self.ops, inputs, idx, sel, not keep_graph)
            # One chunk needs no checkpoint: it fits with its graph.
            l, u = self._checkpointed(chunk, inputs.x.device) if keep_graph and rows < most else chunk()
            lo.append(l)
            up.append(u)
        old_l, old_u = lower.gather(1, which), upper.gather(1, which)
        new_l = torch.where(valid, torch.maximum(torch.cat(lo, 1), old_l), old_l)
        new_u = torch.where(valid, torch.minimum(torch.cat(up, 1), old_u), old_u)
        # scatter (out of place) keeps the result differentiable; fillers write
        # back their own box.
        lower = lower.scatter(1, which, new_l).reshape(B, *shape)
        upper = upper.scatter(1, which, new_u).reshape(B, *shape)
        return Box((upper + lower) / 2, (upper - lower) / 2)

    # ---- symbolic intervals

    def _symbolic(self, inputs, C):
        """MixTrain's symbolic pass, over chunks of the batch that fit the budget.
        A sample that alone does not fit streams its generator rows through the
        network in chunks (symbolic_rows.py): same bounds, more layer passes."""
        B = inputs.x.shape[0]
        budget = self._budget(inputs.x)
        per_sample = self._symbolic_bytes_per_sample(inputs.x)
        if per_sample > budget:
            # The worst case (every ReLU neuron unstable) does not fit: plan with
            # the unstable counts of a (cheap) IBP pass instead, so that streaming,
            # which costs more layer passes, runs only where it is needed.
            per_sample = self._symbolic_bytes_per_sample(inputs.x, self._unstable_counts(inputs))
        chunk = max(1, min(B, budget // max(1, per_sample)))
        if per_sample > budget:
            step = self._symbolic_streamed
        elif chunk >= B:
            return self._symbolic_chunk(inputs, C, slice(None))
        elif self._keeps_graph(inputs.x):
            # Autograd would keep every chunk's generators until the backward,
            # so chunks alone would not bound memory: each runs under activation
            # checkpointing and is recomputed, one at a time, in the backward.
            step = self._checkpointed_chunk
        else:
            step = self._symbolic_chunk
        lo, up = [], []
        for start in range(0, B, chunk):
            l, u = step(inputs, C, slice(start, start + chunk))
            lo.append(l)
            up.append(u)
        return torch.cat(lo), torch.cat(up)

    def _checkpointed_chunk(self, inputs, C, rows):
        return self._checkpointed(lambda: self._symbolic_chunk(inputs, C, rows), inputs.x.device)

    def _checkpointed(self, fn, device):
        """fn() under activation checkpointing: its intermediates are not kept
        but recomputed, one call at a time, in the backward. The recomputation
        runs after compute_bounds has ended, so it gets back the layer state of
        now (training-mode BatchNorm's batch statistics, the ReLUs'
        pre-activation bounds), and IEEE float32: it must compute the same bits
        (the same unstable ReLUs, so the same generator rows), or autograd
        refuses the recomputed tensors."""
        state = [(n.layer, name, getattr(n.layer, name)) for n in self.nodes[1:]
                 for name in (("stats",) if isinstance(n.layer, BatchNorm) else
                              ("pre_box",) if isinstance(n.layer, ReLU) else ())]

        def run():
            before = [getattr(layer, name) for layer, name, _ in state]
            for layer, name, value in state:
                setattr(layer, name, value)
            try:
                with ieee_float32(device):
                    return fn()
            finally:
                for (layer, name, _), value in zip(state, before):
                    setattr(layer, name, value)
        return checkpoint(run, use_reentrant=False)

    def _symbolic_streamed(self, inputs, C, rows):
        part = _input_part(inputs, rows)
        center, widths = part.symbolic_widths()
        spec = C[rows].to(center.dtype) if C is not None else None
        return streamed_symbolic(self.nodes, self.ops, center, widths, part.norm, spec, self._budget(part.x),
                                 self._keeps_graph(part.x))

    def _symbolic_chunk(self, inputs, C, rows):
        part = _input_part(inputs, rows)
        state, input_rows = part.symbolic(diagonal=self.diagonal_inputs)
        sp = SymbolicPass(self.ops, input_rows, part.norm, windowed=self.windowed_rows and self.diagonal_inputs)
        states = [state]
        last_use = _last_use(self.nodes)
        for idx, node in enumerate(self.nodes[1:], start=1):
            states.append(node.layer.symbolic(sp, *[states[i] for i in node.inputs]))
            for i in node.inputs:
                if last_use[i] == idx:
                    states[i] = None  # free generators nobody reads again
        out = states[-1]
        center, gens = out.center, out.gens
        if C is not None:
            spec = C[rows].to(center.dtype)
            center = torch.einsum("bsn,bn->bs", spec, center.flatten(1))
            gens = torch.einsum("bsn,brn->brs", spec, gens.flatten(2))
            radius = sp.ops.generator_radius(gens, input_rows, part.norm)
        else:
            radius = sp.radius(out)
        return center - radius, center + radius

    def symbolic_bytes_per_sample(self, x, eps=None, norm=math.inf, x_min=0.0, x_max=1.0, clean_batch=None):
        """The memory one sample of x may need in a symbolic pass run as autograd
        is now: with every ReLU neuron counted unstable (eps None), or, given
        eps, from the unstable counts of an IBP pass (the plan the pass uses when
        the worst case exceeds the budget). A sample over the budget streams its
        generator rows in chunks; under it, samples go in chunks that fit."""
        if eps is None:
            with torch.no_grad():
                self._clean_forward(x[:1], record_shapes=True)
            counts = None
        else:
            inputs = InputSet(x, eps, parse_norm(norm), x_min, x_max)
            self._prepare(x, clean_batch, inputs)
            counts = self._unstable_counts(inputs)
        for node in self.nodes[1:]:
            if isinstance(node.layer, BatchNorm):
                node.layer.stats = None  # recorded here; each pass takes its own
            if isinstance(node.layer, ReLU):
                node.layer.pre_box = None
        return self._symbolic_bytes_per_sample(x, counts)

    def _symbolic_bytes_per_sample(self, x, unstable=None):
        """The generator bytes of one sample, each earlier ReLU adding a row per
        unstable neuron: all its neurons, or `unstable[node index]`. With
        autograd every layer's generators stay alive, and the ops' backward
        needs about as much again (measured peak fwd+bwd, random MNIST/CIFAR
        small nets: 1.35-1.5x the one-copy sum); without, about three layers'."""
        rows = x[0].numel()
        per_row = self._symbolic_row_numel(x.device)
        sizes = []
        for idx, node in enumerate(self.nodes[1:], start=1):
            if isinstance(node.layer, ReLU):
                rows += _numel(node.layer.out_shape) if unstable is None else unstable[idx]
            kept, made, windows = per_row[idx]
            # Windowed steps hold working copies of their rows besides the result (the rows sorted by offset
            # and the product before it is put back in order; the slopes gathered under the windows): a
            # review measured peaks up to 1.24x a one-copy plan under autograd, so windows count twice.
            sizes.append(rows * ((2 if windows else 1) * kept + made) * x.element_size())
        return 2 * sum(sizes) if self._keeps_graph(x) else 3 * max(sizes)

    def _symbolic_row_numel(self, device):
        """Per node: (elements of one generator row of its output, elements of
        one dense row of its input that it makes from windowed rows, whether
        its output rows are windows). Rows stay
        windowed (layers.windowed) by the rules the layers follow: from a
        convolution where `conv2d_pays`, through ReLUs, flattens and
        BatchNorm on the same map, into a linear layer after a flatten; any
        other layer reading windowed rows makes the dense ones first."""
        DIAGONAL = "diagonal"
        state = {0: DIAGONAL if self.diagonal_inputs else None}  # None: dense; (window, map): windowed
        on = self.windowed_rows and self.diagonal_inputs
        out = {}
        for idx, node in enumerate(self.nodes[1:], start=1):
            layer = node.layer
            n = _numel(layer.out_shape)
            s = state[node.inputs[0]] if len(node.inputs) == 1 else None
            in_shape = layer.in_shapes[0]
            new = None
            if s == DIAGONAL and isinstance(layer, (ChannelAffine, Reshape, Identity)):
                new = DIAGONAL
            elif on and isinstance(layer, Conv2d) and len(in_shape) == 3 and \
                    (s == DIAGONAL or (s is not None and s[1] == tuple(in_shape))):
                window = (1, 1) if s == DIAGONAL else s[0]
                if windowed.conv2d_pays(window, layer.module, layer.out_shape[1:], device):
                    m = layer.module
                    new = (tuple(windowed.out_window(m.kernel_size[d], m.stride[d], window[d],
                                                     layer.out_shape[1 + d])[0] for d in (0, 1)),
                           tuple(layer.out_shape))
            elif isinstance(s, tuple) and (isinstance(layer, (ReLU, Reshape, Identity)) or (
                    isinstance(layer, ChannelAffine) and s[1] == tuple(in_shape))):
                new = s
            state[idx] = new
            kept = n if not isinstance(new, tuple) else new[1][0] * new[0][0] * new[0][1]
            reads_windows = any(isinstance(state[i], tuple) for i in node.inputs)
            made = 0
            if reads_windows and not isinstance(new, tuple) and not (isinstance(layer, Linear) and len(in_shape) == 1):
                made = sum(_numel(self.nodes[i].layer.out_shape) for i in node.inputs if isinstance(state[i], tuple))
            out[idx] = (kept, made, isinstance(new, tuple))
        return out

    def _unstable_counts(self, inputs):
        """Per ReLU node: the most unstable neurons of any sample under IBP, with
        a quarter more (the symbolic bounds are usually tighter than IBP's, not
        always), capped at the layer's size. A plan for memory, not a bound."""
        with torch.no_grad():
            self._ibp_pass(inputs)
        counts = {}
        for idx, node in enumerate(self.nodes[1:], start=1):
            if isinstance(node.layer, ReLU):
                lower, upper = node.layer.pre_bounds
                most = int(((lower < 0) & (upper > 0)).flatten(1).sum(1).max())
                counts[idx] = min(_numel(node.layer.out_shape), math.ceil(1.25 * most))
        return counts

    def _keeps_graph(self, x):
        """Autograd keeps every layer's generators when anything upstream needs a
        gradient: the weights (training) or x itself (the interval attack)."""
        return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.model.parameters()))

    def _budget(self, x):
        return int(self.memory_budget) if self.memory_budget is not None else default_memory_budget(x.device)


# Bounds crossing by at most this (relative, with an absolute floor of the same) are rounding, not an
# empty domain (BoundedModule._clip). float32 bounds of a deep net carry rounding of about 1e-6 of the
# magnitudes summed into them; 1e-4 leaves room, and a branch and bound only prunes a little less.
CLIP_TOL = 1e-4

# See BoundedModule._cpu_backward_chunk (measured on the 2-core development machine).
CPU_BACKWARD_CHUNK_BYTES = 32 << 20


def _input_part(inputs, rows):
    """The InputSet of the samples `rows` (a slice) of `inputs`."""
    part = InputSet.__new__(InputSet)
    part.x, part.norm = inputs.x[rows], inputs.norm
    part.eps = inputs.eps.expand_as(inputs.x)[rows] if inputs.eps.dim() > 0 else inputs.eps
    part.lower, part.upper = inputs.lower[rows], inputs.upper[rows]
    return part


def _spec_box(box, C):
    """C @ y over a box: C c -/+ |C| r."""
    C = C.to(box.center.dtype)
    c, r = box.center.flatten(1).unsqueeze(2), box.radius.flatten(1).unsqueeze(2)
    return Box(torch.bmm(C, c).squeeze(2), torch.bmm(C.abs(), r).squeeze(2))


def _numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def _last_use(nodes):
    last = {}
    for idx, node in enumerate(nodes):
        for i in node.inputs:
            last[i] = idx
    return last
