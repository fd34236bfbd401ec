"""Cumulative sums and products along one axis (NumPy's and torch's ``cumsum`` / ``cumprod``)."""
from __future__ import annotations

from typing import Any, Optional

from ..backend import array_module
from ..core import Function, Tensor
from .axes import normalise_axis
from .elementwise import where
from .reduce import _numpy_call, in_dtype
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
    would be 0/0, so ``backward`` forms the products leaving x_k out directly: the n x n matrix of x
    with x_k replaced by 1 in row k, cumprod along each row (n times the memory: it is the one whose
    own gradient, a second derivative, is exact at the zeros; torch does the same).
    ``_fast_backward`` (every plain backward) is O(n) in time and memory, torch's other formula:
    with c_i the number of zeros among x_0 .. x_i and P_i the product of the nonzero ones, the
    product leaving x_k out is P_i / x_k while no zero is in it, P_i for the first zero itself, else 0:

        dx_k = (reversed cumsum of gy * P * [c == 0])_k / x_k     where x_k != 0 (before the first zero)
        dx_k = (reversed cumsum of gy * P * [c == 1])_k           where x_k is the first zero
        dx_k = 0                                                  after it
    """
    def __init__(self, axis): self.axis = axis
    def forward(self, x): return array_module(x).cumprod(x, axis=self.axis)

    def _fast_backward(self, gy):
        x, y, axis = self.inputs[0].data, self.output().data, self.axis
        if not bool((x == 0).any()):
            return self.backward(gy)
        xp, g = array_module(x), gy.data

        def reversed_cumsum(a):
            return xp.flip(xp.cumsum(xp.flip(a, axis), axis=axis), axis)

        zero = x == 0
        zeros_so_far = xp.cumsum(zero, axis=axis)
        nonzero_product = xp.cumprod(xp.where(zero, 1, x), axis=axis)           # P_i
        before = reversed_cumsum(g * nonzero_product * (zeros_so_far == 0)) / xp.where(zero, 1, x)
        at_first = reversed_cumsum(g * nonzero_product * (zeros_so_far == 1))
        gx = xp.where(zeros_so_far == 0, before, xp.where(zero & (zeros_so_far == 1), at_first, 0))
        return (Tensor._wrap(gx.astype(x.dtype, copy=False)),)

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
        return in_dtype(fn_class(0)(x.reshape(1)), dtype).reshape(())
    return in_dtype(fn_class(normalise_axis(axis, x.ndim, op))(x), dtype)


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
