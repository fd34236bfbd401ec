"""Casts, device moves and comparisons."""
import numpy as np

from ..autograd import Function
from ..backend import to_device as _move
from ..errors import ShapeError
from ..tensor import Tensor, as_tensor


class AsType(Function):
    """y = x cast to ``dtype``;  dx = gy cast back to x's dtype"""
    def __init__(self, dtype): self.dtype = np.dtype(dtype)
    def forward(self, x): return x.astype(self.dtype)
    def backward(self, gy): return gy.astype(self.inputs[0].dtype)


class ToDevice(Function):
    """y = x copied to ``device``;  dx = gy copied back"""
    def __init__(self, device): self.device = device
    def forward(self, x): return _move(x, self.device)
    def backward(self, gy): return gy.to(self.inputs[0].device)


def astype(x, dtype):
    return AsType(dtype)(x)


def to_device(x, device):
    return ToDevice(device)(x)


def compare(a, b, how):
    """Elementwise comparison (``how`` is a NumPy ufunc name such as 'less'); never differentiable."""
    b = as_tensor(b, like=a)
    try:
        return Tensor._wrap(getattr(a.xp, how)(a.data, b.data))
    except ValueError:
        raise ShapeError(f"{how}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
