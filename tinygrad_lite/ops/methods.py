"""Tensor's methods and operators: each op function of this package is also a method of ``Tensor``.

The method *is* the function (``Tensor.exp is tl.exp``), so its formula, docstring and signature are
written once, in the op's file, and ``x.exp()`` costs no extra call. ``install`` puts them on the
class when ``tinygrad_lite.ops`` is imported (``import tinygrad_lite`` does it): the engine, core.py,
then needs no import of the ops, and the ops import the engine, never the reverse.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..core import Tensor
from . import convert, elementwise, indexing, linalg, logical, reduce, rounding, scan, shape, sorting, transcendental

# Ops whose first argument is the tensor: each becomes the method of its own name.
METHODS = (
    elementwise.abs, elementwise.exp, elementwise.log, elementwise.sqrt, elementwise.tanh, elementwise.sigmoid,
    elementwise.relu, elementwise.pow, elementwise.maximum, elementwise.minimum, elementwise.clip,
    transcendental.sin, transcendental.cos, transcendental.tan, transcendental.sinh, transcendental.cosh,
    transcendental.asin, transcendental.acos, transcendental.atan, transcendental.log2, transcendental.log10,
    transcendental.log1p, transcendental.exp2, transcendental.rsqrt, transcendental.lerp, transcendental.logaddexp,
    rounding.sign, rounding.floor, rounding.ceil, rounding.round, rounding.trunc, rounding.floor_divide,
    rounding.remainder, rounding.fmod, rounding.copysign, rounding.divide, logical.bitwise_and, logical.bitwise_or,
    logical.bitwise_xor, logical.bitwise_not, logical.bitwise_left_shift, logical.bitwise_right_shift,
    logical.isnan, logical.isinf, logical.isfinite, logical.isclose,
    reduce.sum, reduce.prod, reduce.mean, reduce.max, reduce.min, reduce.argmax, reduce.argmin, reduce.var,
    reduce.std, reduce.logsumexp, reduce.softmax, reduce.log_softmax, reduce.any, reduce.all,
    scan.cumsum, scan.cumprod, scan.cummax, scan.cummin, scan.logcumsumexp, sorting.argsort, sorting.sort, sorting.topk,
    shape.reshape, shape.transpose, shape.permute, shape.swapaxes, shape.squeeze, shape.unsqueeze, shape.flatten,
    shape.broadcast_to, shape.pad,
    indexing.flip, indexing.roll, indexing.tril, indexing.triu, indexing.masked_fill, indexing.split,
    indexing.chunk, indexing.repeat, indexing.repeat_interleave, indexing.gather, indexing.scatter,
    indexing.scatter_add, indexing.scatter_reduce, indexing.diagonal, indexing.unflatten, indexing.masked_select,
    indexing.nonzero,
)

# Python's operators: x + y is add(x, y); the reflected ones (2 - x) swap the operands back.
OPERATORS = {
    "__add__": elementwise.add, "__sub__": elementwise.sub, "__mul__": elementwise.mul,
    "__truediv__": elementwise.div, "__pow__": elementwise.pow, "__matmul__": linalg.matmul,
    "__floordiv__": rounding.floor_divide, "__mod__": rounding.remainder, "__and__": logical.bitwise_and,
    "__or__": logical.bitwise_or, "__xor__": logical.bitwise_xor, "__neg__": elementwise.neg,
    "__abs__": elementwise.abs, "__invert__": logical.bitwise_not, "__getitem__": shape.getitem,
    "__lshift__": logical.bitwise_left_shift, "__rshift__": logical.bitwise_right_shift,
}
REFLECTED = {"__radd__": "__add__", "__rsub__": "__sub__", "__rmul__": "__mul__", "__rtruediv__": "__truediv__",
             "__rpow__": "__pow__", "__rmatmul__": "__matmul__", "__rfloordiv__": "__floordiv__",
             "__rmod__": "__mod__", "__rand__": "__and__", "__ror__": "__or__", "__rxor__": "__xor__",
             "__rlshift__": "__lshift__", "__rrshift__": "__rshift__"}
# Comparisons give boolean tensors, never differentiable; the value is NumPy's ufunc name.
COMPARISONS = {"__eq__": "equal", "__ne__": "not_equal", "__lt__": "less", "__le__": "less_equal",
               "__gt__": "greater", "__ge__": "greater_equal"}


# ---- the methods that are more than an op: a shortcut, or torch's other name -----------------------

def to(x: Tensor, device: str) -> Tensor:
    """This tensor on ``device`` ('cpu' or 'cuda'); itself when it is there already; differentiable,
    like torch's ``.to``."""
    device = backend.resolve_device(device)
    return x if device == x.device else convert.to_device(x, device)


def cpu(x: Tensor) -> Tensor:
    """This tensor on the host (``to('cpu')``)."""
    return to(x, "cpu")


def cuda(x: Tensor) -> Tensor:
    """This tensor on the GPU (``to('cuda')``)."""
    return to(x, "cuda")


def astype(x: Tensor, dtype: Any) -> Tensor:
    """Cast (differentiable: the gradient is cast back); itself when it has that dtype already."""
    return x if np.dtype(dtype) == x.dtype else convert.astype(x, dtype)


def float(x: Tensor) -> Tensor:  # torch's name
    """Cast to float32."""
    return astype(x, np.float32)


def double(x: Tensor) -> Tensor:
    """Cast to float64."""
    return astype(x, np.float64)


EXTRAS = {"to": to, "cpu": cpu, "cuda": cuda, "astype": astype, "float": float, "double": double,
          "div": rounding.divide, "view": shape.reshape,
          "T": property(shape.transpose, doc="The axes reversed (a matrix's transpose).")}


def _reflected(op):
    def method(x, other):
        return op(other, x)
    method.__doc__ = f"other {op.__name__} x (the operands swapped back: ``2 - x``)."
    return method


def _comparison(how):
    def method(x, other):
        return logical.compare(x, other, how)
    method.__doc__ = f"x {how.replace('_', ' ')} other, elementwise, as a boolean tensor (not differentiable)."
    return method


def install(cls):
    """Put every op on ``cls`` as a method (see the module docstring)."""
    for function in METHODS:
        setattr(cls, function.__name__, function)
    for name, attribute in {**EXTRAS, **OPERATORS}.items():
        setattr(cls, name, attribute)
    for name, forward_name in REFLECTED.items():
        setattr(cls, name, _reflected(OPERATORS[forward_name]))
    for name, how in COMPARISONS.items():
        setattr(cls, name, _comparison(how))


install(Tensor)
