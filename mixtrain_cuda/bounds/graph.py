"""From an nn.Module to the engine's node list.

torch.fx traces `forward`, so nested Sequentials and custom modules whose
forward is a chain or a residual of supported layers work without
registration. Supported layers stay leaves of the trace; anything else that
is left (another nn layer, a function we have no bound for) raises an error
that names it and lists what is supported: a bound pass that silently skipped
a layer would certify a different network (the original MixTrain library did
exactly that)."""
import dataclasses
import operator

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F

from ..models.layers import Normalize
from . import layers

# Module types and the bound layer that handles each.
LEAF_LAYERS = {
    nn.Linear: layers.Linear,
    nn.Conv2d: layers.Conv2d,
    nn.ReLU: layers.ReLU,
    nn.Flatten: layers.Reshape,
    nn.BatchNorm1d: layers.BatchNorm,
    nn.BatchNorm2d: layers.BatchNorm,
    nn.AvgPool2d: layers.AvgPool2d,
    nn.Identity: layers.Identity,
    Normalize: layers.Normalize,
}
RELU_FUNCTIONS = (F.relu, torch.relu)
ADD_FUNCTIONS = (operator.add, torch.add)
# Calls whose results only feed reshape arguments (x.view(x.size(0), -1)).
SHAPE_METHODS = ("size",)

SUPPORTED = ("nn.Linear, nn.Conv2d, nn.ReLU (or F.relu / torch.relu), nn.Flatten (or flatten / view / reshape that "
             "keep the batch dimension), nn.BatchNorm1d, nn.BatchNorm2d, nn.AvgPool2d, nn.Identity, "
             "mixtrain_cuda.models.Normalize, and `+` between two tensors (residual connections)")


class UnsupportedLayerError(TypeError):
    pass


@dataclasses.dataclass
class Node:
    name: str
    layer: object          # a layers.* instance; None for the input
    inputs: list           # indices of the nodes it reads


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualname):
        # Supported layers and every other torch.nn layer are leaves (the
        # latter so that they reach the error below by name).
        return isinstance(m, tuple(LEAF_LAYERS)) or super().is_leaf_module(m, qualname)


def trace(model):
    """The model's computation as a topologically ordered list of Nodes; node 0
    is the input, the last node the output."""
    try:
        graph = _Tracer().trace(model)
    except Exception as e:  # noqa: BLE001 -- any tracing failure gets the same explanation
        raise UnsupportedLayerError(
            "BoundedModule could not trace %s.forward with torch.fx (%s: %s). The bound engine supports models whose "
            "forward is a chain or residual of: %s" % (type(model).__name__, type(e).__name__, e, SUPPORTED)) from e
    modules = dict(model.named_modules())
    nodes, index = [], {}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedLayerError("BoundedModule needs a model with exactly one input, %s.forward takes %d"
                                    % (type(model).__name__, len(placeholders)))
    output = None
    for n in graph.nodes:
        if n.op == "placeholder":
            index[n] = len(nodes)
            nodes.append(Node(n.name, None, []))
            continue
        if n.op == "output":
            output = n.args[0]
            continue
        if n.op == "get_attr":
            raise UnsupportedLayerError("%s reads the parameter %r directly in forward; only the supported layers may "
                                        "hold parameters (%s)" % (type(model).__name__, n.target, SUPPORTED))
        if n.op == "call_method" and n.target in SHAPE_METHODS:
            continue  # evaluated never: reshapes take their output shape from the clean forward
        if n.op == "call_function" and n.target is operator.getitem and _is_shape_value(n.args[0]):
            continue
        layer, tensor_args = _layer_for(n, modules)
        inputs = []
        for a in tensor_args:
            if not isinstance(a, torch.fx.Node) or a not in index:
                raise UnsupportedLayerError("%s: argument %r of %s is not the output of a supported layer"
                                            % (type(model).__name__, a, _describe(n, modules)))
            inputs.append(index[a])
        index[n] = len(nodes)
        nodes.append(Node(n.name, layer, inputs))
    if not isinstance(output, torch.fx.Node) or output not in index:
        raise UnsupportedLayerError("%s.forward must return a single tensor" % type(model).__name__)
    if index[output] != len(nodes) - 1:
        raise UnsupportedLayerError("%s.forward computes values it does not return" % type(model).__name__)
    return nodes


def _is_shape_value(arg):
    return isinstance(arg, torch.fx.Node) and arg.op == "call_method" and arg.target in SHAPE_METHODS


def _describe(n, modules):
    if n.op == "call_module":
        return "layer %r (%s)" % (n.target, type(modules[n.target]).__name__)
    if n.op == "call_function":
        return "function %s" % getattr(n.target, "__name__", n.target)
    return "method Tensor.%s" % n.target


def _layer_for(n, modules):
    """(bound layer, tensor arguments) of one fx node."""
    if n.op == "call_module":
        m = modules[n.target]
        cls = LEAF_LAYERS.get(type(m))
        if cls is None:
            raise UnsupportedLayerError("layer %r (%s) has no bound; supported: %s" % (n.target, type(m).__name__,
                                                                                        SUPPORTED))
        if cls is layers.Reshape:  # nn.Flatten
            if m.start_dim == 0:
                raise UnsupportedLayerError("layer %r: Flatten(start_dim=0) merges the batch" % n.target)
            return cls(n.target, m, m.start_dim, m.end_dim), [n.args[0]]
        return cls(n.target, m), [n.args[0]]
    if n.op == "call_function":
        if n.target in RELU_FUNCTIONS:
            return layers.ReLU(n.name, None), [n.args[0]]
        if n.target in ADD_FUNCTIONS:
            if len(n.args) != 2 or n.kwargs or not all(isinstance(a, torch.fx.Node) for a in n.args):
                raise UnsupportedLayerError("%s: only `a + b` of two layer outputs is supported (no constants, no "
                                            "alpha)" % _describe(n, modules))
            return layers.Add(n.name, None), list(n.args)
        if n.target is torch.flatten:
            return layers.Reshape(n.name, None, *_flatten_dims(n, modules)), [n.args[0]]
        if n.target is torch.reshape:
            _check_batch_reshape(n, list(n.args[1]) if len(n.args) > 1 else [], modules)
            return layers.Reshape(n.name, None), [n.args[0]]
    if n.op == "call_method" and n.target == "flatten":
        return layers.Reshape(n.name, None, *_flatten_dims(n, modules)), [n.args[0]]
    if n.op == "call_method" and n.target in ("view", "reshape"):
        shape = list(n.args[1]) if len(n.args) == 2 and isinstance(n.args[1], (tuple, list)) else list(n.args[1:])
        _check_batch_reshape(n, shape, modules)
        return layers.Reshape(n.name, None), [n.args[0]]
    if n.op == "call_method" and n.target == "relu":
        return layers.ReLU(n.name, None), [n.args[0]]
    raise UnsupportedLayerError("%s has no bound; supported: %s" % (_describe(n, {}) if n.op != "call_module" else
                                                                    n.target, SUPPORTED))


def _flatten_dims(n, modules):
    start = n.args[1] if len(n.args) > 1 else n.kwargs.get("start_dim", 0)
    end = n.args[2] if len(n.args) > 2 else n.kwargs.get("end_dim", -1)
    if not isinstance(start, int) or not isinstance(end, int) or start == 0:
        raise UnsupportedLayerError("%s: only flatten(x, start_dim >= 1) has a bound (the batch stays)"
                                    % _describe(n, modules))
    return start, end


def _check_batch_reshape(n, shape, modules):
    """view/reshape to [B, -1] (B a literal or x.size(0)) keeps the batch; other
    reshapes might mix samples, which no bound here supports."""
    ok = len(shape) == 2 and shape[1] == -1 and (isinstance(shape[0], int) or _is_size0(shape[0]))
    if not ok:
        raise UnsupportedLayerError("%s: only view/reshape to (batch, -1) has a bound" % _describe(n, modules))


def _is_size0(arg):
    if not isinstance(arg, torch.fx.Node):
        return False
    if arg.op == "call_method" and arg.target == "size" and arg.args[1:] == (0,):
        return True
    return arg.op == "call_function" and arg.target is operator.getitem and _is_shape_value(arg.args[0]) \
        and arg.args[1] == 0
