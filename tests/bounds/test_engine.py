"""The fused path against the pure-PyTorch engine path, tightness relations
between the methods, gradients, chunking and errors."""
import math

import pytest
import torch
import torch.nn as nn

from mixtrain_cuda.bounds import BoundedModule, UnsupportedLayerError, margin_spec

from . import nets

METHODS = ["ibp", "symbolic", "crown-ibp", "crown"]


@pytest.mark.parametrize("net", list(nets.NETS))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_equals_reference_engine(net, method, dtype):
    model = nets.make(net, seed=1, dtype=dtype)
    x = nets.inputs(net, 3, seed=1, dtype=dtype)
    y = torch.tensor([0, 2, 4])
    C = margin_spec(y, 5).to(dtype)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for spec in (None, C):
        got = BoundedModule(model).compute_bounds(x, 0.05, method, C=spec)
        want = BoundedModule(model, reference=True).compute_bounds(x, 0.05, method, C=spec)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, **tol)


def test_tightness_relations():
    """crown is at least as tight as crown-ibp (its intermediate bounds are
    IBP's intersected with backward ones); symbolic and crown-ibp are no
    looser than IBP in the large majority of cases (fractions printed)."""
    counts = {"crown>=crown-ibp": 0, "symbolic>=ibp": 0, "crown-ibp>=ibp": 0}
    total = 0
    for seed in range(12):
        for net in ("mlp", "conv", "residual"):
            model = nets.make(net, seed=seed)
            x = nets.inputs(net, 4, seed=seed)
            bm = BoundedModule(model)
            lb = {m: bm.compute_bounds(x, 0.02, m)[0] for m in METHODS}
            n = lb["ibp"].numel()
            total += n
            counts["crown>=crown-ibp"] += int((lb["crown"] >= lb["crown-ibp"] - 1e-9).sum())
            counts["symbolic>=ibp"] += int((lb["symbolic"] >= lb["ibp"] - 1e-9).sum())
            counts["crown-ibp>=ibp"] += int((lb["crown-ibp"] >= lb["ibp"] - 1e-9).sum())
    fractions = {k: v / total for k, v in counts.items()}
    print("tightness over %d output bounds: %s" % (total, fractions))
    assert fractions["crown>=crown-ibp"] >= 0.99
    assert fractions["symbolic>=ibp"] >= 0.9
    assert fractions["crown-ibp>=ibp"] >= 0.75


def test_symbolic_is_exact_on_a_linear_network():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 7), nn.Linear(7, 3)).double()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64) * 0.5 + 0.25
    lb, ub = BoundedModule(model).compute_bounds(x, 0.1, "symbolic")
    W = model[2].weight @ model[1].weight
    center = model(x)
    torch.testing.assert_close(ub - center, (W.abs().sum(1) * 0.1).expand(2, 3))
    torch.testing.assert_close(center - lb, (W.abs().sum(1) * 0.1).expand(2, 3))


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_every_weight(method):
    model = nets.make("residual", seed=4, dtype=torch.float32).train()
    x = nets.inputs("residual", 3, seed=4, dtype=torch.float32)
    lb, ub = BoundedModule(model).compute_bounds(x, 0.05, method)
    (ub - 0.5 * lb).sum().backward()  # the width alone would not depend on the last bias
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_symbolic_chunks_give_the_same_bounds():
    model = nets.make("conv", seed=6)
    x = nets.inputs("conv", 5, seed=6)
    whole = BoundedModule(model).compute_bounds(x, 0.05, "symbolic")
    per_sample = BoundedModule(model).symbolic_bytes_per_sample(x)
    chunked = BoundedModule(model, memory_budget=2 * per_sample).compute_bounds(x, 0.05, "symbolic")  # 2 a chunk
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b)
    with pytest.warns(UserWarning, match="one row at a time"):  # below one row: rows streamed one by one
        chunked = BoundedModule(model, memory_budget=1).compute_bounds(x, 0.05, "symbolic")
        for a, b in zip(whole, chunked):
            torch.testing.assert_close(a, b)
    crown = BoundedModule(model).compute_bounds(x, 0.05, "crown")
    crown_chunked = BoundedModule(model, memory_budget=20000).compute_bounds(x, 0.05, "crown")
    for a, b in zip(crown, crown_chunked):
        torch.testing.assert_close(a, b)


def test_eps_zero_gives_the_output():
    model = nets.make("residual", seed=7)
    x = nets.inputs("residual", 2, seed=7)
    for method in METHODS:
        lb, ub = BoundedModule(model).compute_bounds(x, 0.0, method)
        torch.testing.assert_close(lb, model(x).detach())
        torch.testing.assert_close(ub, model(x).detach())


def test_per_sample_eps_and_empty_batch():
    model = nets.make("mlp")
    x = nets.inputs("mlp", 3)
    eps = torch.tensor([0.0, 0.05, 0.1], dtype=x.dtype).reshape(3, 1, 1, 1)
    lb, ub = BoundedModule(model).compute_bounds(x, eps, "crown-ibp")
    torch.testing.assert_close(lb[0], model(x[:1])[0].detach())
    assert ((ub - lb)[2] > (ub - lb)[1]).all()
    lb, ub = BoundedModule(model).compute_bounds(x[:0], 0.1, "ibp")
    assert lb.shape == (0, 5) and ub.shape == (0, 5)


class _Sigmoidal(nn.Module):
    def forward(self, x):
        return torch.sigmoid(x)


@pytest.mark.parametrize("bad, match", [
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.MaxPool1d(2)), "MaxPool1d"),
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.Sigmoid()), "Sigmoid"),
    (nn.Sequential(nn.Flatten(), nn.Linear(16, 4), _Sigmoidal()), "sigmoid"),
])
def test_unsupported_layers_are_named(bad, match):
    with pytest.raises(UnsupportedLayerError, match=match) as e:
        BoundedModule(bad)
    assert "supported" in str(e.value)


def test_bad_arguments_give_clear_errors():
    model = nets.make("mlp")
    bm = BoundedModule(model)
    x = nets.inputs("mlp", 2)
    with pytest.raises(ValueError, match="eps"):
        bm.compute_bounds(x, -0.1)
    with pytest.raises(ValueError, match="NaN"):
        bm.compute_bounds(torch.full_like(x, float("nan")), 0.1)
    # check_values=False (callers that checked their data: the trainer) reads no value of x or eps ...
    lb, ub = bm.compute_bounds(torch.full_like(x, float("nan")), 0.1, check_values=False)
    assert torch.isnan(lb).all() and torch.isnan(ub).all()
    # ... but still checks what it can without them
    with pytest.raises(ValueError, match="method"):
        bm.compute_bounds(x, 0.1, "deeppoly", check_values=False)
    with pytest.raises(ValueError, match="eps"):
        bm.compute_bounds(x, -0.1, check_values=False)
    with pytest.raises(ValueError, match="method"):
        bm.compute_bounds(x, 0.1, "deeppoly")
    with pytest.raises(ValueError, match="norm"):
        bm.compute_bounds(x, 0.1, norm=1)
    with pytest.raises(ValueError, match="batch dimension"):
        bm.compute_bounds(x[0, 0, 0], 0.1)
    with pytest.raises(ValueError, match="C must be"):
        bm.compute_bounds(x, 0.1, C=torch.zeros(3, 2, 5, dtype=x.dtype))
    with pytest.raises(ValueError, match="x_min"):
        bm.compute_bounds(x, 0.1, x_min=1.0, x_max=0.0)
    with pytest.raises(RuntimeError):
        bm.compute_bounds(torch.rand(2, 1, 5, 5, dtype=x.dtype), 0.1)  # wrong input shape: the layer says so
    with pytest.raises(TypeError, match="floating"):
        bm.compute_bounds(torch.zeros(2, 1, 4, 4, dtype=torch.long), 0.1)
    for budget in (0, -5, float("nan")):
        with pytest.raises(ValueError, match="memory_budget"):
            BoundedModule(model, memory_budget=budget)


def test_update_running_stats_matches_batchnorm_forward():
    """At eps = 0 the interval midpoints are the clean activations, so the
    statistics a bound pass folds in must be exactly those of nn.BatchNorm's own
    training forward (same momentum, unbiased running variance)."""
    import copy
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    twin = copy.deepcopy(model).train()
    model.train()
    x = torch.rand(5, 2, 6, 6)
    bm = BoundedModule(model, bn_stats="midpoint", update_running_stats=True)
    for _ in range(2):
        bm.compute_bounds(x, 0.0, "ibp")
        twin(x)
    bn, ref = model[1], twin[1]
    assert int(bn.num_batches_tracked) == int(ref.num_batches_tracked) == 2
    torch.testing.assert_close(bn.running_mean, ref.running_mean)
    torch.testing.assert_close(bn.running_var, ref.running_var)
    plain = copy.deepcopy(twin)
    BoundedModule(plain).compute_bounds(x, 0.0, "ibp")  # off by default: running statistics untouched
    torch.testing.assert_close(plain[1].running_mean, ref.running_mean)


@pytest.mark.parametrize("name", ["conv", "batchnorm"])
def test_crown_chunks_under_autograd_give_the_same_gradients(name):
    """Under autograd, CROWN's intermediate chunks are checkpointed (else every
    chunk's A matrices stay alive until the backward); the recomputation gets
    the layer state of the pass back (ReLU pre-activation bounds, training-mode
    BatchNorm statistics), so bounds and gradients equal the unchunked pass's."""
    model = nets.make(name, seed=6)
    if name == "batchnorm":
        model.train()
    x = nets.inputs(name, 3, seed=6)
    results = []
    for budget in (None, 600_000):  # a few neurons per chunk
        model.zero_grad()
        lb, ub = BoundedModule(model, memory_budget=budget).compute_bounds(x, 0.05, "crown")
        (ub - 0.5 * lb).sum().backward()
        results.append([lb.detach(), ub.detach()] + [p.grad.clone() for p in model.parameters()])
    for whole, chunked in zip(*results):
        torch.testing.assert_close(chunked, whole, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", ["mlp", "conv", "residual"])
def test_crown_bounds_of_a_sample_do_not_depend_on_its_batch(name):
    """CROWN gives each sample backward rows for its own unstable neurons,
    padded to the batch's most; the padding rows are computed and dropped. So a
    sample's bounds are the same alone as in a batch whose samples have other
    unstable sets (mixed eps makes them differ widely)."""
    model = nets.make(name, seed=3)
    x = nets.inputs(name, 4, seed=3)
    eps = torch.tensor([0.0, 0.01, 0.05, 0.2], dtype=x.dtype).reshape(4, *[1] * (x.dim() - 1))
    bm = BoundedModule(model)
    lb, ub = bm.compute_bounds(x, eps, "crown")
    for i in range(4):
        lb_i, ub_i = bm.compute_bounds(x[i:i + 1], eps[i:i + 1], "crown")
        torch.testing.assert_close(lb_i[0], lb[i], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(ub_i[0], ub[i], rtol=1e-9, atol=1e-11)
    assert (ub - lb)[0].abs().max() < 1e-9 < (ub - lb)[3].min()  # eps 0: a point; eps 0.2: wide


@pytest.mark.parametrize("method", ["ibp", "crown-ibp", "symbolic", "crown"])
def test_recorded_shapes_follow_the_input_shape(method, monkeypatch):
    """The layers' per-sample shapes are recorded by one clean forward per input
    shape, not per call; a new spatial size records them again."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3, stride=2)).eval()
    bm = BoundedModule(model)
    calls = []
    real = bm._clean_forward
    monkeypatch.setattr(bm, "_clean_forward", lambda *a, **k: calls.append(a[0].shape) or real(*a, **k))
    for hw in (8, 8, 11, 8):
        x = torch.rand(2, 1, hw, hw)
        got = bm.compute_bounds(x, 0.05, method)
        want = BoundedModule(model).compute_bounds(x, 0.05, method)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            torch.testing.assert_close(g, w)
    assert [tuple(s[2:]) for s in calls] == [(8, 8), (11, 11), (8, 8)]


@pytest.mark.parametrize("method", ["crown-ibp", "crown"])
def test_output_backward_in_batch_chunks_gives_the_same_bounds(method, monkeypatch):
    """On the CPU the output's backward pass runs in chunks of samples (module
    CPU_BACKWARD_CHUNK_BYTES); chunks of one sample give the same bounds and
    gradients as the whole batch at once."""
    from mixtrain_cuda.bounds import module as engine
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    x = torch.rand(5, 1, 10, 10)
    C = margin_spec(torch.tensor([0, 3, 5, 7, 9]), 10)
    results = []
    for budget in (1 << 40, 1):
        monkeypatch.setattr(engine, "CPU_BACKWARD_CHUNK_BYTES", budget)
        model.zero_grad()
        lb, ub = BoundedModule(model).compute_bounds(x, 0.05, method, C=C)
        (lb.sum() - 0.5 * ub.sum()).backward()
        with torch.no_grad():  # the stacked pass of both bounds (backward.backward_bounds)
            nl, nu = BoundedModule(model).compute_bounds(x, 0.05, method, C=C)
        results.append((lb.detach(), ub.detach(), [p.grad.clone() for p in model.parameters()], nl, nu))
    (l1, u1, g1, n1, m1), (l2, u2, g2, n2, m2) = results
    torch.testing.assert_close(l1, l2)
    torch.testing.assert_close(u1, u2)
    torch.testing.assert_close(n1, n2)
    torch.testing.assert_close(m1, m2)
    torch.testing.assert_close(n1, l1, rtol=1e-5, atol=1e-5)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("method", ["crown-ibp", "crown"])
@pytest.mark.parametrize("spec", [False, True])
def test_stacked_backward_pass_equals_two_passes(method, spec):
    """Without autograd one backward pass of [-A; A] gives both bounds
    (backward.backward_bounds); under autograd the engine runs the two passes.
    The two must agree: the lower bound of A y is minus the upper bound of -A y.
    The network has a one-channel first layer (the product-and-fold transposed
    convolution, used without autograd only) and a residual block."""
    model = nets.make("residual", seed=1, dtype=torch.float32)
    x = nets.inputs("residual", 4, seed=1, dtype=torch.float32)
    C = margin_spec(torch.tensor([1, 2, 3, 4]), 5) if spec else None
    bm = BoundedModule(model.eval())
    with torch.no_grad():
        stacked = bm.compute_bounds(x, 0.05, method, C=C)
    separate = bm.compute_bounds(x, 0.05, method, C=C)  # the parameters require grad: two passes
    assert separate[0].requires_grad
    for a, b in zip(stacked, separate):
        torch.testing.assert_close(a, b.detach(), rtol=1e-5, atol=1e-5)
    assert (stacked[1] - stacked[0]).min() > 1e-4


@pytest.mark.parametrize("name", ["conv", "residual", "batchnorm", "strided"])
def test_ibp_boxes_run_channels_last_on_the_cpu(name):
    """On the CPU the fused engine turns a box channels-last at the first
    convolution (bounds/_ops.py), and the convolutions, ReLUs, residual sums
    and batch norms after it keep it so; the reference engine stays NCHW, and
    so does a pass that builds an autograd graph (training)."""
    from mixtrain_cuda.bounds.layers.conv import Conv2d

    model = nets.make(name, seed=0, dtype=torch.float64).eval()
    x = nets.inputs(name, 3, seed=0, dtype=torch.float64)
    for reference, grad in ((False, False), (True, False), (False, True)):
        nchw = reference or grad
        bm = BoundedModule(model, reference=reference)
        boxes = {}
        original = {}
        for node in bm.nodes[1:]:
            layer = node.layer
            original[layer] = layer.ibp

            def recorded(ops, *args, _layer=layer):
                out = original[_layer](ops, *args)
                boxes[_layer] = out
                return out
            layer.ibp = recorded
        with torch.set_grad_enabled(grad):
            bm.compute_bounds(x, 0.05, "ibp")
        seen_conv, checked = False, set()
        for node in bm.nodes[1:]:
            layer, box = node.layer, boxes.get(node.layer)
            seen_conv |= isinstance(layer, Conv2d)
            if box is None or box.center.dim() != 4 or not seen_conv or box.center.shape[1] == 1:
                continue
            cl = box.center.is_contiguous(memory_format=torch.channels_last) and not box.center.is_contiguous()
            assert cl != nchw, (reference, grad, layer.name, box.center.stride())
            checked.add(type(layer).__name__)
        assert "Conv2d" in checked and "ReLU" in checked, checked
        assert name != "residual" or "Add" in checked, checked
        assert name != "batchnorm" or "BatchNorm" in checked, checked


@pytest.mark.parametrize("name", ["conv", "residual", "batchnorm", "strided"])
def test_crown_backward_runs_channels_last_on_the_cpu(name):
    """On the CPU a transposed convolution turns A channels-last (oneDNN's
    native layout) and ReLU.backward keeps it so (layers/conv.py, relu.py).
    Each step on a channels-last A equals the same step computed on a
    contiguous NCHW A, and leaves A channels-last, but for the convolutions
    onto few channels, whose kernel takes either layout and returns NCHW.
    (16-channel strided layers run the kernel's wide form, channels-last too.)"""
    import torch.nn.functional as F

    from mixtrain_cuda.bounds import _ops
    from mixtrain_cuda.bounds.inputs import InputSet
    from mixtrain_cuda.bounds.layers.conv import Conv2d
    from mixtrain_cuda.bounds.layers.relu import ReLU

    model = nets.make(name, seed=0, dtype=torch.float64).eval()
    x = nets.inputs(name, 3, seed=0, dtype=torch.float64)
    bm = BoundedModule(model)
    gen = torch.Generator().manual_seed(0)
    checked = {Conv2d: 0, ReLU: 0}
    wide_kernel_steps = 0
    with torch.no_grad():
        bm.compute_bounds(x, 0.05, "crown-ibp")  # records the layers' shapes
        bm._ibp_pass(InputSet(x, 0.05, math.inf, 0.0, 1.0))  # sets the ReLUs' pre_box, as in a CROWN-IBP pass
        for node in bm.nodes[1:]:
            layer = node.layer
            if type(layer) not in checked or len(layer.out_shape) != 3 or layer.out_shape[0] == 1:
                continue
            A = torch.randn(3, 5, *layer.out_shape, generator=gen, dtype=torch.float64)
            A_cl = A.reshape(15, *layer.out_shape).contiguous(memory_format=torch.channels_last).reshape(A.shape)
            assert not A_cl.is_contiguous()
            for upper, A_in in ((False, A_cl), (True, A_cl), (True, A)):
                (got,), bias = layer.backward(bm.ops, A_in, upper)
                if isinstance(layer, ReLU):
                    want, want_bias = _ops.reference.crown_relu_backward(A, *layer.pre_bounds, upper)
                    torch.testing.assert_close(bias, want_bias)
                else:
                    m = layer.module
                    c, h, w = layer.in_shapes[0]
                    # The transposed convolution is the convolution's adjoint: autograd's vector-Jacobian product.
                    z = torch.zeros(15, c, h, w, dtype=A.dtype, requires_grad=True)
                    with torch.enable_grad():
                        y = F.conv2d(z, m.weight.detach(), None, m.stride, m.padding, m.dilation, m.groups)
                        (want,) = torch.autograd.grad(y, z, A.reshape(y.shape))
                    want = want.reshape(3, 5, c, h, w)
                torch.testing.assert_close(got, want)
                # crown_conv2d_backward's kernel returns NCHW for few input channels (a first layer).
                kernel = isinstance(layer, Conv2d) and bm.ops.crown_conv_kernel_pays(A_in, layer.module)
                if kernel and layer.module.in_channels % 16:
                    assert got.is_contiguous()
                elif isinstance(layer, Conv2d) or A_in is A_cl:
                    assert got.permute(0, 1, 3, 4, 2).is_contiguous(), "A left channels-last layout"
                wide_kernel_steps += int(kernel and layer.module.in_channels % 16 == 0)
            checked[type(layer)] += 1
    assert checked[Conv2d] and checked[ReLU]
    # "strided": its 16-channel strided layers take the kernel's wide form (channels-last output).
    assert (wide_kernel_steps > 0) == (name == "strided")


@pytest.mark.parametrize("method", ["ibp", "symbolic", "crown-ibp", "crown"])
@pytest.mark.parametrize("grad", [False, True])
def test_bound_upper_false_gives_the_same_lower_bound(method, grad):
    """bound_upper=False returns (lb, None), lb equal to the one computed with
    the upper bound, with and without autograd (the stacked pass and the
    separate passes), with batch chunks of the CPU backward, and differentiable."""
    import mixtrain_cuda.bounds.module as module

    model = nets.make("residual", seed=2, dtype=torch.float64).eval()
    x = nets.inputs("residual", 3, seed=2, dtype=torch.float64)
    C = margin_spec(torch.tensor([0, 1, 2]), 5).to(torch.float64)
    # Batch chunks (1 byte: one sample per chunk) only change the backward methods' output pass.
    chunks = (module.CPU_BACKWARD_CHUNK_BYTES, 1) if method.startswith("crown") else (module.CPU_BACKWARD_CHUNK_BYTES,)
    for engine in (BoundedModule(model), BoundedModule(model, reference=True)):
        for chunk_bytes in chunks:
            old, module.CPU_BACKWARD_CHUNK_BYTES = module.CPU_BACKWARD_CHUNK_BYTES, chunk_bytes
            try:
                with torch.set_grad_enabled(grad):
                    both = engine.compute_bounds(x, 0.05, method, C=C)
                    lb, ub = engine.compute_bounds(x, 0.05, method, C=C, bound_upper=False)
            finally:
                module.CPU_BACKWARD_CHUNK_BYTES = old
            assert ub is None
            torch.testing.assert_close(lb, both[0], rtol=1e-10, atol=1e-10)
            assert lb.requires_grad == grad
    if grad:
        lb.sum().backward()
        assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("conv", [
    dict(cin=1, cout=4, k=3, stride=1, padding=1, dilation=1, size=7),
    dict(cin=3, cout=5, k=4, stride=2, padding=1, dilation=1, size=9),    # a row/column the conv never reads
    dict(cin=2, cout=3, k=3, stride=2, padding=0, dilation=2, size=11),
    dict(cin=16, cout=4, k=(3, 2), stride=(1, 2), padding=(2, 0), dilation=1, size=8),
])
def test_backward_one_hot_equals_backward_of_the_one_hot_matrix(conv):
    """CROWN's intermediate bounds start from one-hot rows; Conv2d and Linear
    build their first step directly (layers' backward_one_hot). It equals
    backward() of the dense one-hot A, values, bias and weight gradients, on any
    layout it picks."""
    from mixtrain_cuda.bounds import _ops
    from mixtrain_cuda.bounds.layers.conv import Conv2d
    from mixtrain_cuda.bounds.layers.linear import Linear

    torch.manual_seed(0)
    m = nn.Conv2d(conv["cin"], conv["cout"], conv["k"], conv["stride"], conv["padding"], conv["dilation"],
                  dtype=torch.float64)
    lin = nn.Linear(7, 5, dtype=torch.float64)
    x = torch.randn(1, conv["cin"], conv["size"], conv["size"], dtype=torch.float64)
    for layer, out, in_shape in ((Conv2d("conv", m), m(x), x.shape[1:]), (Linear("fc", lin), lin(x[0, 0, 0, :7]),
                                                                         (7,))):
        layer.in_shapes, layer.out_shape = [tuple(in_shape)], tuple(out.shape[1:] if out.dim() == 4 else out.shape)
        n = out[0].numel() if out.dim() == 4 else out.numel()
        neurons = torch.randint(0, n, (2, 6))  # 2 samples x 6 rows
        dense = torch.zeros(2, 6, n, dtype=torch.float64).scatter_(2, neurons[:, :, None], 1)
        dense = dense.reshape(2, 6, *layer.out_shape)
        (got,), got_bias = layer.backward_one_hot(neurons)
        (want,), want_bias = layer.backward(_ops.reference, dense, True)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
        torch.testing.assert_close(got_bias, want_bias)
        w = torch.randn_like(want)
        g_got = torch.autograd.grad((got * w).sum() + got_bias.sum(), layer.module.weight)
        g_want = torch.autograd.grad((want * w).sum() + want_bias.sum(), layer.module.weight)
        torch.testing.assert_close(g_got, g_want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_backward_product_equals_a_times_w(dtype):
    """CROWN's step through a Linear computes A @ W, on the CPU with few rows as
    (W^T A^T)^T (layers/linear.py): the same numbers for 0, few and many rows
    (either side of FEW_ROWS), 2-D to 4-D A, with its gradients."""
    from mixtrain_cuda.bounds.layers import linear
    torch.manual_seed(0)
    W = torch.randn(7, 13, dtype=dtype)
    for shape in [(0, 3, 7), (1, 9, 7), (2, 9, 7), (5, 7), (3, 2, 4, 7), (linear.FEW_ROWS + 1, 7)]:
        A = torch.randn(*shape, dtype=dtype, requires_grad=True)
        got = linear._times_weight(A, W)
        want = torch.matmul(A, W)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want)
        if A.numel():
            g = torch.randn_like(want)
            torch.testing.assert_close(torch.autograd.grad(got, A, g)[0], torch.autograd.grad(want, A, g)[0])


class _ConvReadTwice(nn.Module):
    """relu(conv(x)) + conv(x): the convolution's output has two readers."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        y = self.conv(x)
        return torch.relu(y) + y


@pytest.mark.parametrize("method", ["crown-ibp", "crown"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_relu_and_conv_steps_fuse_where_they_can(method, dtype, monkeypatch):
    """On the CPU, CROWN's steps through a ReLU and the convolution before it
    run as one op (crown_relu_conv2d_backward, layers/conv.py: backward_with)
    where the convolution's output has no other reader, and the bounds are
    those of the two steps in turn; a convolution read twice keeps its own
    step."""
    import types

    from mixtrain_cuda.bounds import _ops

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 16, 4, 2, 1), nn.ReLU(),
                          _ConvReadTwice(16), nn.Flatten(), nn.Linear(16 * 4 * 4, 12), nn.ReLU(),
                          nn.Linear(12, 5)).to(dtype).eval()
    x = torch.rand(3, 3, 8, 8, dtype=dtype)
    C = margin_spec(torch.tensor([0, 3, 4]), 5).to(dtype)
    unfused = types.SimpleNamespace(**{k: v for k, v in vars(_ops.fused).items()
                                       if k != "crown_relu_conv2d_backward"})
    fused_weights = []
    op = _ops.fused.crown_relu_conv2d_backward

    def counted(A, lower, upper, weight, *args):
        fused_weights.append(weight)
        return op(A, lower, upper, weight, *args)

    monkeypatch.setattr(_ops.fused, "crown_relu_conv2d_backward", counted)
    bm, two_steps = BoundedModule(model), BoundedModule(model)
    two_steps.ops = unfused
    with torch.no_grad():
        got = bm.compute_bounds(x, 0.05, method, C=C)
        want = two_steps.compute_bounds(x, 0.05, method, C=C)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=tol, atol=tol * max(1.0, w.abs().max().item()))
    seen = {id(w) for w in fused_weights}
    assert id(model[0].weight) in seen and id(model[2].weight) in seen
    assert id(model[4].conv.weight) not in seen
