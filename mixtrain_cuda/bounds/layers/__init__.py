"""One bound layer per supported layer kind (see base.py for the interface)."""
from .add import Add
from .avgpool import AvgPool2d
from . import windowed
from .base import Box, DiagonalSymbolic, Layer, Symbolic, SymbolicPass
from .batchnorm import BatchNorm, Normalize
from .conv import Conv2d
from .linear import Linear
from .relu import ReLU
from .reshape import Identity, Reshape

__all__ = ["Add", "AvgPool2d", "BatchNorm", "Box", "Conv2d", "DiagonalSymbolic", "Identity", "Layer", "Linear",
           "Normalize", "ReLU", "Reshape", "Symbolic", "SymbolicPass"]
