"""certify and the robust loss."""
import math

import torch
import torch.nn.functional as F

from mixtrain_cuda.bounds import (BoundedModule, certify, margin_spec, robust_cross_entropy, robust_loss,
                                  worst_case_logits)

from . import nets
from .test_soundness import pgd_extremes


def test_margin_spec_rows():
    y = torch.tensor([2, 0])
    C = margin_spec(y, 4)
    assert C.shape == (2, 3, 4)
    logits = torch.tensor([[0.1, 0.2, 0.9, 0.3], [1.0, 0.0, -1.0, 2.0]])
    margins = torch.einsum("bsn,bn->bs", C, logits)
    torch.testing.assert_close(margins[0], torch.tensor([0.8, 0.7, 0.6]))
    torch.testing.assert_close(margins[1], torch.tensor([1.0, 2.0, -1.0]))


def test_worst_case_logits_put_zero_at_the_label():
    lb = torch.tensor([[1.0, 2.0, 3.0]])
    z = worst_case_logits(lb, torch.tensor([1]))
    torch.testing.assert_close(z, torch.tensor([[-1.0, 0.0, -2.0, -3.0]]))


def test_certified_points_resist_attack_and_robust_loss_bounds_clean_loss():
    model = nets.make("conv", seed=11)
    x = nets.inputs("conv", 6, seed=11)
    y = model(x).argmax(1)  # label = prediction, so small eps certifies some points
    eps = 0.002
    for method in ("ibp", "symbolic", "crown-ibp", "crown"):
        ok = certify(model, x, y, eps, method)
        assert ok.dtype == torch.bool and ok.shape == (6,)
        C = margin_spec(y, 5).to(x.dtype)
        for j in range(4):
            for z in pgd_extremes(model, x, eps, math.inf, j, spec=C):
                with torch.no_grad():
                    margins = torch.einsum("bsn,bn->bs", C, model(z))
                assert (margins[ok] > 0).all()
    assert certify(model, x, y, eps, "crown").any()
    wrong = (y + 1) % 5
    assert not certify(model, x, wrong, eps, "crown").any()  # a wrong label is never certified
    loss = robust_loss(model, x, y, eps, "crown-ibp")
    assert loss >= F.cross_entropy(model(x), y) - 1e-9
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_certify_accepts_a_bounded_module():
    model = nets.make("mlp", seed=12)
    x = nets.inputs("mlp", 3, seed=12)
    y = model(x).argmax(1)
    bm = BoundedModule(model)
    assert torch.equal(certify(bm, x, y, 0.001, "crown-ibp"), certify(model, x, y, 0.001, "crown-ibp"))
    lb = BoundedModule(model).compute_bounds(x, 0.001, "crown-ibp", C=margin_spec(y, 5).to(x.dtype))[0]
    torch.testing.assert_close(robust_cross_entropy(lb, y), robust_loss(model, x, y, 0.001, "crown-ibp"))
