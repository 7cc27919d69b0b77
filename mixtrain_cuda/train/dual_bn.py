"""Dual BatchNorm (Xie & Yuille 2020, "Intriguing properties of adversarial
training at scale"; AdvProp): the clean pass and the bound pass see different
input distributions (points vs. interval midpoints of k sampled points), so
mixing their statistics in one BatchNorm serves neither. Each BatchNorm keeps a
second set of running statistics (`stats`) and optionally of affine parameters
(`affine`) for the bound pass.

The layers stay plain nn.BatchNorm modules (so the bound engine and every
other tool sees ordinary models): the robust branch lives in extra
buffers/parameters named robust_*, and `use_branch(model, "robust")` swaps
them in for the duration of a with-block. Checkpoints hold both branches.
"""
import contextlib

import torch.nn as nn

BRANCHES = ("clean", "robust")
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_PARAMS = ("weight", "bias")


def _bns(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def convert_dual_bn(model, affine=False):
    """Adds the robust branch to every BatchNorm of `model` (in place; returns
    it). affine=True: separate weight and bias too, else shared."""
    bns = _bns(model)
    if not bns:
        raise ValueError("dual BatchNorm asked for, but %s has no BatchNorm layer" % type(model).__name__)
    for m in bns:
        if hasattr(m, "robust_running_mean"):
            continue
        for name in _BUFFERS:
            t = getattr(m, name)
            m.register_buffer("robust_" + name, None if t is None else t.detach().clone())
        if affine and m.affine:
            for name in _PARAMS:
                m.register_parameter("robust_" + name, nn.Parameter(getattr(m, name).detach().clone()))
    return model


def has_dual_bn(model):
    return any(hasattr(m, "robust_running_mean") for m in _bns(model))


def _swap(m):
    for name in _BUFFERS:
        m._buffers[name], m._buffers["robust_" + name] = m._buffers["robust_" + name], m._buffers[name]
    if "robust_weight" in m._parameters:
        for name in _PARAMS:
            m._parameters[name], m._parameters["robust_" + name] = m._parameters["robust_" + name], m._parameters[name]


@contextlib.contextmanager
def use_branch(model, branch):
    """Within the block, every dual BatchNorm of `model` runs its `branch`
    ("clean" is the default state, "robust" the bound pass's). A no-op for
    models without dual BatchNorm."""
    if branch not in BRANCHES:
        raise ValueError("branch must be one of %s, got %r" % (BRANCHES, branch))
    bns = [m for m in _bns(model) if hasattr(m, "robust_running_mean")] if branch == "robust" else []
    for m in bns:
        _swap(m)
    try:
        yield model
    finally:
        for m in bns:
            _swap(m)


def select_branch(model, branch):
    """Makes `branch` the model's permanent state (a deployed copy that runs
    the branch it was certified with); returns the model."""
    if branch not in BRANCHES:
        raise ValueError("branch must be one of %s, got %r" % (BRANCHES, branch))
    if branch == "robust":
        for m in _bns(model):
            if hasattr(m, "robust_running_mean"):
                _swap(m)
    return model
