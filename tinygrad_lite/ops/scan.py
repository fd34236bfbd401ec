"""Scans along one axis: cumulative sums and products (NumPy's and torch's ``cumsum`` / ``cumprod``),
torch's running extremes ``cummax`` / ``cummin`` (values and indices) and ``logcumsumexp``."""
from __future__ import annotations

from collections import namedtuple
from typing import Any, Optional, Tuple

import numpy as np

from ..backend import array_module
from ..core import Function, Tensor
from .axes import normalise_axis
from .dtypes import floating
from .elementwise import exp, log, where
from .reduce import _numpy_call, in_dtype
from .shape import getitem
from .sorting import take_along
from .torch_names import axis_or_dim

CummaxResult = namedtuple("cummax", ["values", "indices"])       # torch.return_types.cummax, cummin
CumminResult = namedtuple("cummin", ["values", "indices"])


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
        x, axis = self.inputs[0].data, self.axis
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


def inclusive_scan(data, axis, combine):
    """y_i = combine(x_0, ..., x_i) along ``axis`` for an associative ``combine`` (a NumPy / CuPy
    ufunc such as maximum or logaddexp), in log2(n) whole-array passes: pass k combines each y_i
    with the y 2^k places back (Hillis and Steele). CuPy's ufuncs have no ``accumulate`` but these."""
    y, n, step = data.copy(), data.shape[axis], 1
    while step < n:
        later = (slice(None),) * axis + (slice(step, None),)
        earlier = (slice(None),) * axis + (slice(None, n - step),)
        y[later] = combine(y[later], y[earlier])        # the right side is computed before the write
        step *= 2
    return y


class LogcumsumexpOp(Function):
    """y_i = log(e^x_0 + ... + e^x_i) along ``axis``: an ``inclusive_scan`` of logaddexp, so nothing
    overflows or underflows however far apart the x are;  dx_j = sum_{i >= j} gy_i e^(x_j - y_i), computed in
    the log domain as torch does, the positive and negative parts of gy apart:
    dx = e^(x + rlcse(log gy⁺ - y)) - e^(x + rlcse(log gy⁻ - y)), rlcse the reversed logcumsumexp"""
    def __init__(self, axis): self.axis = axis

    def forward(self, x): return inclusive_scan(x, self.axis, array_module(x).logaddexp)

    def backward(self, gy):
        x, y, axis = self.inputs[0], self.output(), self.axis
        zero = Tensor._wrap(x.array_module.zeros((), dtype=gy.dtype))
        empty = y.data == -float("inf")                  # y_i = -inf: every x_j before is -inf, and
        y = where(empty, 0.0, y)                         # e^(x_j - y_i) is taken as 0, never -inf - -inf
        gx = zero
        for sign, part in ((1, gy), (-1, -gy)):
            positive = ~(part.data <= 0)                 # a NaN passes: it must reach the result
            if not positive.any():
                continue                                 # no such part: its term is 0 (and e^(-inf) would
            #                                              give the next order 0/0 through -inf - -inf)
            log_part = where(positive, log(where(positive, part, 1.0)), -float("inf"))   # log 0 = -inf, no slope
            spread = where(empty, -float("inf"), log_part - y)
            term = exp(x + reverse(logcumsumexp(reverse(spread, axis), axis), axis))
            gx = gx + term if sign > 0 else gx - term
        if gx is zero:                                   # gy all 0: torch's zeros of x's shape
            return Tensor._wrap(x.array_module.zeros(x.shape, dtype=gy.dtype))
        return gx


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


def logcumsumexp(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tensor:
    """log(cumsum(exp(x))) along ``axis`` (torch's ``dim``), without overflow; integers are computed
    in the default float dtype. Differentiable to any order."""
    axis = axis_or_dim("logcumsumexp", axis, dim)
    if axis is None:
        raise TypeError("logcumsumexp: give the axis (dim=), as torch requires")
    x = floating(x)
    if x.ndim == 0:
        normalise_axis(axis, 0, "logcumsumexp")
        return x
    return LogcumsumexpOp(normalise_axis(axis, x.ndim, "logcumsumexp"))(x)


def cummax(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """torch's ``cummax``: (values, indices), the largest element so far along ``axis`` and where it
    is, the latest one on ties; a NaN wins from where it stands on. The values' gradient goes to the
    element each came from."""
    return _running_extreme("cummax", x, axis, dim)


def cummin(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """torch's ``cummin``: (values, indices) of the smallest element so far (see ``cummax``)."""
    return _running_extreme("cummin", x, axis, dim)


def _running_extreme(op, x, axis, dim):
    """The index of the running extreme is the latest position whose element equals it (it is one
    at least as far out as every element before it), or holds a NaN: a running maximum of those
    positions. The values are x at those indices (``take_along``), so the gradient comes free."""
    axis = axis_or_dim(op, axis, dim)
    if axis is None:
        raise TypeError(f"{op}: give the axis (dim=), as torch requires")
    result = CummaxResult if op == "cummax" else CumminResult
    if x.ndim == 0:
        normalise_axis(axis, 0, op)
        return result(x.reshape(()), Tensor._wrap(x.array_module.zeros((), dtype=np.int64)))
    axis = normalise_axis(axis, x.ndim, op)
    xp, data = x.array_module, x.data
    extreme = inclusive_scan(data, axis, xp.maximum if op == "cummax" else xp.minimum)
    reaches = (data == extreme) | (xp.isnan(data) if data.dtype.kind == "f" else False)
    positions = xp.arange(data.shape[axis], dtype=np.int64).reshape([-1 if a == axis else 1 for a in range(data.ndim)])
    indices = inclusive_scan(xp.where(reaches, positions, 0), axis, xp.maximum)
    return result(take_along(x, indices, axis), Tensor._wrap(indices))
