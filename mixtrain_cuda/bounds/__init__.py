"""The bound engine: IBP, MixTrain's symbolic intervals, CROWN-IBP and CROWN
on ordinary nn.Modules, on the fused ops (mixtrain_cuda.ops)."""
from .certify import certify, margin_lower_bounds, margin_spec, robust_cross_entropy, robust_loss, worst_case_logits
from .graph import SUPPORTED, UnsupportedLayerError
from .module import METHODS, BoundedModule

__all__ = ["BoundedModule", "certify", "margin_lower_bounds", "margin_spec", "robust_cross_entropy", "robust_loss",
           "worst_case_logits", "METHODS", "SUPPORTED", "UnsupportedLayerError"]
