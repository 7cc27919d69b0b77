"""float64 gradcheck of every op with respect to every differentiable input,
and gradients that respect needs_input_grad."""
import pytest
import torch

import mixtrain_cuda as mc

from .cases import OPS, cases, fused, ref_call


def _differentiable_outputs(op, out):
    # symbolic_relu's row index is an integer output.
    return tuple(o for o in out if o.is_floating_point())


@pytest.mark.parametrize("op", OPS)
def test_gradcheck_every_input(op):
    for args, kwargs in cases(op, torch.float64, grad=True):
        tensors = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

        def f(*xs):
            full = list(args)
            for i, x in zip(tensors, xs):
                full[i] = x
            return _differentiable_outputs(op, fused(op)(*full, **kwargs))

        assert torch.autograd.gradcheck(f, [args[i] for i in tensors], eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("op", OPS)
def test_gradients_match_reference_autograd(op):
    """The hand-written backward equals autograd through the reference."""
    for args, kwargs in cases(op, torch.float64, grad=True):
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        outs = _differentiable_outputs(op, fused(op)(*args, **kwargs))
        weights = [torch.randn_like(o) for o in outs]
        got = torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, weights)), tensors, allow_unused=True)
        ref_outs = _differentiable_outputs(op, ref_call(op, args, kwargs))
        want = torch.autograd.grad(sum((o * w).sum() for o, w in zip(ref_outs, weights)), tensors, allow_unused=True)
        for g, w in zip(got, want):
            if w is None:
                assert g is None or torch.all(g == 0)
            else:
                torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9)


def test_interval_relu_double_backward():
    """interval_relu's backward is an op with its own autograd (it is its own
    transpose): second derivatives, as through the reference's elementwise chain."""
    (c, r), _ = cases("interval_relu", torch.float64, grad=True)[0]
    c = torch.where((c - r).abs() < 0.1, c + 0.3, c).detach().requires_grad_(True)
    c = torch.where((c + r).abs() < 0.1, c - 0.3, c).detach().requires_grad_(True)
    assert torch.autograd.gradgradcheck(mc.interval_relu, (c, r), eps=1e-6, atol=1e-5, rtol=1e-4)
    outs = mc.interval_relu(c, r)
    ref_outs = ref_call("interval_relu", (c, r), {})
    w = [torch.randn_like(o) for o in outs]
    grads = torch.autograd.grad(sum((o * v).sum() for o, v in zip(outs, w)), (c, r), create_graph=True)
    ref_grads = torch.autograd.grad(sum((o * v).sum() for o, v in zip(ref_outs, w)), (c, r), create_graph=True)
    for g, rg in zip(grads, ref_grads):
        torch.testing.assert_close(g, rg)
    # The second derivative with respect to the upstream weights w.
    w2 = [v.detach().clone().requires_grad_(True) for v in w]
    g1 = torch.autograd.grad(sum((o * v).sum() for o, v in zip(mc.interval_relu(c, r), w2)), (c, r),
                             create_graph=True)
    g2 = torch.autograd.grad(sum(g.sum() for g in g1), w2)
    w3 = [v.detach().clone().requires_grad_(True) for v in w]
    h1 = torch.autograd.grad(sum((o * v).sum() for o, v in zip(ref_call("interval_relu", (c, r), {}), w3)), (c, r),
                             create_graph=True)
    h2 = torch.autograd.grad(sum(g.sum() for g in h1), w3)
    for a, b in zip(g2, h2):
        torch.testing.assert_close(a, b)


def test_weight_gradient_without_input_gradient():
    c, r = torch.randn(3, 8, dtype=torch.float64), torch.rand(3, 8, dtype=torch.float64)
    w = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, dtype=torch.float64, requires_grad=True)
    oc, orad = mc.interval_linear(c, r, w, b)
    (oc.sum() + orad.sum()).backward()
    expected = torch.ones(3, 5, dtype=torch.float64).t() @ c + w.sign() * (torch.ones(3, 5, dtype=torch.float64).t() @ r)
    torch.testing.assert_close(w.grad, expected)
    torch.testing.assert_close(b.grad, torch.full((5,), 3.0, dtype=torch.float64))
    assert c.grad is None and r.grad is None


def test_conv_weight_gradient_without_input_gradient():
    c, r = torch.randn(2, 3, 7, 7, dtype=torch.float64), torch.rand(2, 3, 7, 7, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    oc, orad = mc.interval_conv2d(c, r, w, None, padding=1)
    (oc.sum() + 2 * orad.sum()).backward()
    w2 = w.detach().clone().requires_grad_(True)
    rc, rr = torch.nn.functional.conv2d(c, w2, padding=1), torch.nn.functional.conv2d(r, w2.abs(), padding=1)
    (rc.sum() + 2 * rr.sum()).backward()
    torch.testing.assert_close(w.grad, w2.grad)


# The ops whose autograd is C++ (csrc/autograd/): needs_input_grad is read
# there from the edges of the tensors given (a None bias has none).
CPP_AUTOGRAD_OPS = ["interval_linear", "interval_conv2d", "interval_relu", "interval_relu_backward", "crown_relu_backward",
                    "crown_conv2d_backward", "crown_relu_conv2d_backward"]


@pytest.mark.parametrize("op", CPP_AUTOGRAD_OPS)
def test_gradients_of_every_subset_of_inputs(op):
    """Any subset of the inputs may need a gradient: those that do get the
    reference's, the others none (and a weight needing one while the input
    does not is the training case of the first layer)."""
    for args, kwargs in cases(op, torch.float64):
        tensor_at = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        for mask in range(1, 2 ** len(tensor_at)):
            full = list(args)
            wanted = []
            for bit, i in enumerate(tensor_at):
                full[i] = args[i].detach().clone().requires_grad_(bool(mask >> bit & 1))
                if mask >> bit & 1:
                    wanted.append(full[i])
            outs = fused(op)(*full, **kwargs)
            ref_outs = ref_call(op, full, kwargs)
            weights = [torch.randn_like(o) for o in outs]
            # allow_unused: interval_relu_backward's center and radius get no gradient (its masks are flat).
            got = torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, weights)), wanted, allow_unused=True)
            ref_loss = sum((o * w).sum() for o, w in zip(ref_outs, weights))
            want = torch.autograd.grad(ref_loss, wanted, allow_unused=True) if ref_loss.requires_grad \
                else [None] * len(wanted)
            for x, g, w in zip(wanted, got, want):
                g = torch.zeros_like(x) if g is None else g
                torch.testing.assert_close(g, torch.zeros_like(x) if w is None else w, rtol=1e-9, atol=1e-9)
            # Inputs that did not ask for a gradient got none.
            assert all(full[i].grad is None for i in tensor_at)


@pytest.mark.parametrize("op", ["interval_linear", "interval_conv2d", "crown_relu_backward", "crown_conv2d_backward",
                                "crown_relu_conv2d_backward"])
def test_double_backward(op):
    """The C++ backwards are built from differentiable ops (and crown_relu_backward_grad,
    differentiable itself): second derivatives (gradient penalties, Hessian-vector
    products) work as through the reference. (interval_relu's: test_interval_relu_double_backward.)"""
    for args, kwargs in cases(op, torch.float64, grad=True)[:2]:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        n = len(tensors)

        def f(*xs):
            full, it = [], iter(xs)
            for a in args:
                full.append(next(it) if isinstance(a, torch.Tensor) else a)
            return fused(op)(*full, **kwargs)

        # float64 second differences of sign(W) are flat away from W = 0.
        assert torch.autograd.gradgradcheck(f, tensors[:n], eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("op", CPP_AUTOGRAD_OPS)
def test_compiled_backward_matches_eager(op):
    """torch.compile traces the C++ autograd (AOTAutograd runs its backward on
    fake tensors): the compiled gradients equal the eager ones."""
    torch._dynamo.reset()
    args, kwargs = cases(op, torch.float32, grad=True)[0]
    tensors = [a for a in args if isinstance(a, torch.Tensor)]

    def loss(*xs):
        full, it = [], iter(xs)
        for a in args:
            full.append(next(it) if isinstance(a, torch.Tensor) else a)
        return sum((o * o).sum() for o in fused(op)(*full, **kwargs))

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    got = torch.autograd.grad(compiled(*tensors), tensors, allow_unused=True)
    want = torch.autograd.grad(loss(*tensors), tensors, allow_unused=True)
    assert any(w is not None for w in want)
    for x, g, w in zip(tensors, got, want):
        zero = torch.zeros_like(x)
        torch.testing.assert_close(zero if g is None else g, zero if w is None else w)


# The arguments of each C++-autograd op that carry the batch dimension first.
BATCH_ARGS = {"interval_linear": (0, 1), "interval_conv2d": (0, 1), "interval_relu": (0, 1),
              "interval_relu_backward": (0, 1, 2, 3), "crown_relu_backward": (0, 1, 2),
              "crown_conv2d_backward": (0,), "crown_relu_conv2d_backward": (0, 1, 2)}


@pytest.mark.parametrize("op", CPP_AUTOGRAD_OPS)
def test_compiled_backward_keeps_the_batch_dynamic(op):
    """Under torch.compile the C++ backwards read sizes as SymInts: a batch
    marked dynamic stays dynamic through the backward (a plain sizes() in C++
    would fix it: mark_dynamic would then raise), and a second batch size runs
    the same graph (MixTrain's k varies) with eager's gradients."""
    torch._dynamo.reset()
    args, kwargs = cases(op, torch.float32)[0]
    tensor_at = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]

    def loss(*xs):
        full = list(args)
        for i, x in zip(tensor_at, xs):
            full[i] = x
        return sum((o * o).sum() for o in fused(op)(*full, **kwargs))

    compiled = torch.compile(loss, backend="aot_eager")
    for repeat in (1, 2):  # the case's batch, then twice it
        xs = [torch.cat([args[i]] * repeat) if i in BATCH_ARGS[op] else args[i] for i in tensor_at]
        xs = [x.detach().clone().requires_grad_(True) for x in xs]
        if repeat == 1:
            for i, x in zip(tensor_at, xs):
                if i in BATCH_ARGS[op]:
                    torch._dynamo.mark_dynamic(x, 0)
        # The second batch size must reuse the first graph.
        with torch.compiler.set_stance("default" if repeat == 1 else "fail_on_recompile"):
            got = torch.autograd.grad(compiled(*xs), xs, allow_unused=True)
        want = torch.autograd.grad(loss(*xs), xs, allow_unused=True)
        for x, g, w in zip(xs, got, want):
            zero = torch.zeros_like(x)
            torch.testing.assert_close(zero if g is None else g, zero if w is None else w)


@pytest.mark.parametrize("op", ["interval_linear", "symbolic_linear", "crown_relu_backward"])
def test_forward_mode_ad_raises_instead_of_dropping_the_tangent(op):
    """No op has a jvp: a dual input must raise, not come out without its tangent."""
    import torch.autograd.forward_ad as fwAD
    args, kwargs = cases(op, torch.float64)[0]
    with fwAD.dual_level():
        dual = fwAD.make_dual(args[0], torch.ones_like(args[0]))
        with pytest.raises(NotImplementedError, match="forward-mode"):
            fused(op)(dual, *args[1:], **kwargs)
        # The reference is plain PyTorch and carries the tangent.
        out = ref_call(op, (dual, *args[1:]), kwargs)[0]
        assert fwAD.unpack_dual(out).tangent is not None
    fused(op)(*args, **kwargs)  # outside the level: as before
