"""Cumulative sums and products along one axis (NumPy's and torch's ``cumsum`` / ``cumprod``)."""
from __future__ import annotations

from typing import Any, Optional

from ..backend import array_module
from ..core import Function, Tensor
from .axes import normalise_axis
from .elementwise import where
from .reduce import _numpy_call
from .shape import getitem
from .torch_names import axis_or_dim


def reverse(x, axis):
    """x with its elements along ``axis`` in the opposite order (a getitem with a step of -1)."""
    return getitem(x, (slice(None),) * axis + (slice(None, None, -1),))


class CumsumOp(Function):
    """y_i = x_0 + ... + x_i along ``axis``;  dx_i = gy_i + ... + gy_last (the reversed cumsum of gy)"""
    def __init__(self, axis): self.axis = axis
    def forward(self, x): return array_module(x).cumsum(x, axis=self.axis)
    def backward(self, gy): return reverse(cumsum(reverse(gy, self.axis), self.axis), self.axis)


class CumprodOp(Function):
    """y_i = x_0 * ... * x_i along ``axis``;  dx_k = sum_{i >= k} gy_i * prod_{j <= i, j != k} x_j.

    Without zeros in x that is (reversed cumsum of gy * y)_k / x_k. Where x has a zero the division
    would be 0/0, so the products leaving x_k out are formed directly: the n x n matrix of x with
    x_k replaced by 1 in row k, cumprod along each row (n times the memory, only then)."""
    def __init__(self, axis): self.axis = axis
    def forward(self, x): return array_module(x).cumprod(x, axis=self.axis)

    def backward(self, gy):
        x, axis = self.inputs[0], self.axis
        if not bool((x.data == 0).any()):
            return reverse(cumsum(reverse(gy * self.output(), axis), axis), axis) / x
        last = x.ndim - 1
        x, gy = x.swapaxes(axis, last), gy.swapaxes(axis, last)
        n, xp = x.shape[-1], x.array_module
        left_out = where(Tensor._wrap(xp.eye(n, dtype=bool)), 1.0, x.unsqueeze(-2))    # row k: x with x_k = 1
        later = Tensor._wrap(xp.triu(xp.ones((n, n), dtype=gy.dtype)))                 # [i >= k]
        return (left_out.cumprod(axis=-1) * gy.unsqueeze(-2) * later).sum(axis=-1).swapaxes(axis, last)


def _scan(fn_class, op, x, axis, dim, dtype, out):
    """Run a scan along one axis; axis None (and no dim) scans the flattened tensor, as NumPy does."""
    x = _numpy_call(op, x, dtype, out)
    axis = axis_or_dim(op, axis, dim)
    if axis is None:
        x, axis = x.reshape(-1), 0
    elif x.ndim == 0:
        normalise_axis(axis, 0, op)
        return fn_class(0)(x.reshape(1)).reshape(())
    return fn_class(normalise_axis(axis, x.ndim, op))(x)


def cumsum(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None, dtype: Any = None,
           out: Any = None) -> Tensor:
    """The running sum along ``axis`` (torch's ``dim``; None: of the flattened tensor);
    ``dtype``: x is cast to it first (torch's and NumPy's)."""
    return _scan(CumsumOp, "cumsum", x, axis, dim, dtype, out)


def cumprod(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None, dtype: Any = None,
            out: Any = None) -> Tensor:
    """The running product along ``axis`` (torch's ``dim``; None: of the flattened tensor);
    ``dtype``: x is cast to it first (torch's and NumPy's)."""
    return _scan(CumprodOp, "cumprod", x, axis, dim, dtype, out)
