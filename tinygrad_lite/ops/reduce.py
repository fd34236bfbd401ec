"""Reductions and the softmax family. ``axis`` is None (all), an int or a tuple, as in NumPy.

This module defines ``sum``, ``max``, ``min``, ``any`` and ``all``: the builtins are not used here.
"""
from __future__ import annotations

import math
import warnings
from collections import namedtuple
from typing import Any, Optional, Tuple, Union

import numpy as np

from ..backend import array_module
from ..core import Function, Tensor
from ..errors import ShapeError
from .axes import Axes, normalise_axes, normalise_axis
from .dtypes import floating
from .elementwise import where
from .shape import broadcast_to, pad
from .torch_names import axis_and_keepdims, axis_or_dim, ddof_or_correction, keepdims_or_keepdim


def _axes(axis, ndim, op):
    """A reduction's axes, sorted (``prod`` moves them last in this order); none for a 0-d tensor,
    which takes axis 0 or -1 and stays as it is (torch)."""
    axes = normalise_axes(axis, ndim, op)      # checked for a 0-d tensor too
    return tuple(sorted(axes)) if ndim else ()


def _nonempty(x, axes, op):
    """Raise a ShapeError when ``op`` (a max, min or softmax) would reduce over an axis of size 0."""
    if 0 in [x.shape[a] for a in axes if a < x.ndim]:
        raise ShapeError(f"{op}: cannot reduce over an empty axis (axis {axes} of a tensor of shape "
                         f"{x.shape}); the result has no identity")


def _expand(gy, x_shape, axes, keepdims):
    """Undo a reduction's shape: reinsert the reduced axes (size 1), then broadcast to ``x_shape``."""
    if not keepdims:
        kept = [1 if i in axes else n for i, n in enumerate(x_shape)]
        gy = gy.reshape(*kept)
    return broadcast_to(gy, x_shape)


class SumOp(Function):
    """y = sum of x over axes;  dx = gy broadcast back to x's shape"""
    def __init__(self, axes, keepdims): self.axes, self.keepdims = axes, keepdims
    def forward(self, x): return x.sum(axis=self.axes, keepdims=self.keepdims)
    def backward(self, gy): return _expand(gy, self.inputs[0].shape, self.axes, self.keepdims)


class MeanOp(SumOp):
    """y = mean of x over axes (n elements);  dx = gy / n broadcast back"""
    def forward(self, x):
        if x.size == 0:     # the mean of nothing is 0/0 = nan, as in torch (NumPy would warn)
            shape = x.sum(axis=self.axes, keepdims=self.keepdims).shape
            return array_module(x).full(shape, float("nan"), dtype=x.dtype if x.dtype.kind == "f" else "float64")
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x_shape = self.inputs[0].shape
        n = math.prod(x_shape[a] for a in self.axes)
        if n == 0:          # x is empty, and so is its gradient (torch's answer)
            return _expand(gy, x_shape, self.axes, self.keepdims)
        return _expand(gy * (1.0 / n), x_shape, self.axes, self.keepdims)


class MaxOp(Function):
    """y = max of x over axes.  Over one axis the gradient goes to the first arg-max (torch's
    ``max(dim)``); over several axes or all, it is shared evenly among tied maxima (torch's ``max()``)."""
    reduce = "max"

    def __init__(self, axes, keepdims, one_axis): self.axes, self.keepdims, self.one_axis = axes, keepdims, one_axis
    def forward(self, x): return getattr(x, self.reduce)(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        x, = self.inputs
        xp, data = x.array_module, x.data
        if self.one_axis:
            axis = self.axes[0]
            index = getattr(xp, "arg" + self.reduce)(data, axis=axis)
            positions = xp.arange(data.shape[axis]).reshape([-1 if i == axis else 1 for i in range(data.ndim)])
            mask = positions == xp.expand_dims(index, axis)
        else:
            extreme = getattr(data, self.reduce)(axis=self.axes, keepdims=True)
            mask = data == extreme
            if xp.isnan(extreme).any():     # a NaN result came from the NaNs: they share the gradient (torch)
                mask |= xp.isnan(data) & xp.isnan(extreme)
            mask = mask / mask.sum(axis=self.axes, keepdims=True)
        return _expand(gy, x.shape, self.axes, self.keepdims) * Tensor._wrap(mask.astype(x.dtype))


class MinOp(MaxOp):
    """y = min of x over axes; the gradient goes to the arg-min (see ``MaxOp``)."""
    reduce = "min"


class ProdOp(Function):
    """y = the product of x over its last axis;  dx_i = gy * prod_{j != i} x_j, computed as the
    products of the elements before i and after i (exclusive cumulative products from both ends),
    so it is exact where x has zeros (y / x_i would be 0/0 there)."""
    def forward(self, x): return x.prod(axis=-1)

    def backward(self, gy):
        x, = self.inputs
        if x.shape[-1] == 0:
            return Tensor._wrap(x.array_module.zeros(x.shape, gy.dtype))
        one_before = [(0, 0)] * (x.ndim - 1) + [(1, 0)]
        before = pad(x[..., :-1].cumprod(axis=-1), one_before, value=1.0)
        after = pad(x[..., :0:-1].cumprod(axis=-1), one_before, value=1.0)[..., ::-1]
        return gy.unsqueeze(-1) * before * after


class LogSumExpOp(Function):
    """y = m + log(sum(exp(x - m))) with m = max(x), so nothing overflows;  dx = gy * exp(x - y)"""
    def __init__(self, axes, keepdims): self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        xp = array_module(x)
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        y = m + xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True))
        return y if self.keepdims else y.squeeze(axis=self.axes)

    def backward(self, gy):
        x, = self.inputs
        y = _expand(self.output(), x.shape, self.axes, self.keepdims)
        return _expand(gy, x.shape, self.axes, self.keepdims) * (x - y).exp()


class _SoftmaxFamilyOp(Function):
    """float16 is computed in float32 both ways, as torch does: forward from x in float32, rounded
    once to float16; backward from the float16 output and gradient in float32 (the engine rounds
    the gradient to float16). In float16 alone the sums over the axis would lose digits."""
    def __init__(self, axis): self.axis = axis

    def forward(self, x):
        if x.dtype.kind == "f" and x.itemsize < 4:
            return self.forward(x.astype("float32")).astype(x.dtype)
        return self.compute(x)

    def backward(self, gy):
        y = self.output()
        if y.dtype.itemsize < 4:
            y, gy = y.astype("float32"), gy.astype("float32")
        return self.gradient(y, gy)


class SoftmaxOp(_SoftmaxFamilyOp):
    """y = exp(x - max) / sum(exp(x - max));  dx = y * (gy - sum(gy * y))"""
    def compute(self, x):
        e = array_module(x).exp(x - x.max(axis=self.axis, keepdims=True))
        return e / e.sum(axis=self.axis, keepdims=True)

    def gradient(self, y, gy): return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmaxOp(_SoftmaxFamilyOp):
    """y = x - logsumexp(x);  dx = gy - exp(y) * sum(gy)"""
    def compute(self, x): return log_softmax_array(x, self.axis)

    def gradient(self, y, gy): return gy - y.exp() * gy.sum(axis=self.axis, keepdims=True)


def log_softmax_array(x, axis, with_softmax=False):
    """x - log(sum(exp(x))) along ``axis`` of a raw array, each row's maximum subtracted first so that
    nothing overflows: the one log-softmax (``LogSoftmaxOp``, and the fused cross-entropy's forward).
    ``with_softmax``: (log-softmax, softmax), the softmax from the same exponentials, exp / sum."""
    xp = array_module(x)
    shifted = x - x.max(axis=axis, keepdims=True)
    exp = xp.exp(shifted)
    total = exp.sum(axis=axis, keepdims=True)
    shifted -= xp.log(total)
    if with_softmax:
        exp /= total
        return shifted, exp
    return shifted


def in_dtype(y, dtype):
    """``y`` in the ``dtype`` a reduction or scan was asked for: NumPy sums and multiplies small
    integers in int64 whatever the input, so int8 100 x 100 ones would sum to 10000; cast back, that is
    -56, the int8 answer NumPy's own ``sum(dtype=)`` and torch give (two's complement arithmetic
    wraps the same whether it wraps at each step or once at the end)."""
    if dtype is None or y.dtype == np.dtype(dtype):
        return y
    return Tensor._wrap(y.data.astype(dtype))


def _numpy_call(op, x, dtype, out):
    """``np.sum(t)``, ``np.mean(t)``, ``np.max(t)``, ``np.var(t)`` call these as methods with NumPy's
    ``dtype=`` (the tensor is cast first) and ``out=`` (refused: an op returns a new tensor)."""
    if out is not None:
        raise TypeError(f"{op}: out= is not supported (ops return a new tensor); use the result")
    return x if dtype is None else x.astype(dtype)


# ---- the functions users call ---------------------------------------------------------------------
# Each takes NumPy's axis= / keepdims= or torch's dim= / keepdim= (see torch_names).

def sum(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: Optional[bool] = None, dtype: Any = None, out: Any = None) -> Tensor:
    """The sum over ``axis`` (None: all axes; an int or a tuple); ``dtype``: x is cast to it first
    (torch's ``sum(dtype=)``, NumPy's too: float32 summed in float64, the gradient cast back);
    ``out``: see ``_numpy_call``."""
    x = _numpy_call("sum", x, dtype, out)
    axis, keepdims = axis_and_keepdims("sum", axis, keepdims, dim, keepdim)
    return in_dtype(SumOp(_axes(axis, x.ndim, "sum"), keepdims)(x), dtype)


def mean(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None, keepdim: Optional[bool] = None,
         dtype: Any = None, out: Any = None) -> Tensor:
    """The mean over ``axis`` (None: all axes); nan when there is nothing to average, as in torch."""
    x = floating(_numpy_call("mean", x, dtype, out))
    axis, keepdims = axis_and_keepdims("mean", axis, keepdims, dim, keepdim)
    return MeanOp(_axes(axis, x.ndim, "mean"), keepdims)(x)


def max(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: Optional[bool] = None, out: Any = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """The largest element over ``axis`` (None: all). With torch's ``dim=`` (one int) the answer is
    torch's too: the pair ``(values, indices)``."""
    return _max_or_min(MaxOp, _numpy_call("max", x, None, out), axis, keepdims, dim, keepdim)


def min(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: Optional[bool] = None, out: Any = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """The smallest element over ``axis`` (None: all); with ``dim=``, ``(values, indices)`` (see ``max``)."""
    return _max_or_min(MinOp, _numpy_call("min", x, None, out), axis, keepdims, dim, keepdim)


MaxResult = namedtuple("max", ["values", "indices"])     # torch.return_types.max, min
MinResult = namedtuple("min", ["values", "indices"])


def _max_or_min(fn_class, x, axis, keepdims, dim, keepdim):
    op = fn_class.reduce
    keepdims = keepdims_or_keepdim(op, keepdims, keepdim)
    if dim is not None:
        axis = axis_or_dim(op, axis, dim)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{op}: dim must be one int (torch's {op}(dim=) gives the values and their "
                            f"indices along one axis), got {dim!r}; reduce over several axes with axis=")
        result = MaxResult if op == "max" else MinResult
        return result(_max_or_min(fn_class, x, axis, keepdims, None, None),
                      (argmax if op == "max" else argmin)(x, axis, keepdims))
    axes = _axes(axis, x.ndim, op)
    _nonempty(x, axes, op)
    return fn_class(axes, keepdims, isinstance(axis, (int, np.integer)) and x.ndim > 0)(x)


def argmax(x: Tensor, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None,
           keepdim: Optional[bool] = None) -> Tensor:
    """The index of the largest element over ``axis`` (None: of the flattened tensor); not differentiable."""
    return _arg_extreme("argmax", x, *axis_and_keepdims("argmax", axis, keepdims, dim, keepdim))


def argmin(x: Tensor, axis: Optional[int] = None, keepdims: bool = False, *, dim: Optional[int] = None,
           keepdim: Optional[bool] = None) -> Tensor:
    """The index of the smallest element over ``axis`` (None: of the flattened tensor); not differentiable."""
    return _arg_extreme("argmin", x, *axis_and_keepdims("argmin", axis, keepdims, dim, keepdim))


def _arg_extreme(op, x, axis, keepdims):
    """argmax / argmin along ``axis`` (checked by the one axis rule; a 0-d tensor's is 0, as torch)."""
    if axis is not None:
        axis = normalise_axis(axis, x.ndim, op)
        if x.ndim == 0:
            return Tensor._wrap(x.array_module.zeros((), dtype=np.int64))
    return Tensor._wrap(getattr(x.data, op)(axis=axis, keepdims=keepdims))


def var(x: Tensor, axis: Axes = None, keepdims: bool = False, ddof: Optional[int] = None, *,
        correction: Optional[int] = None, dim: Axes = None, keepdim: Optional[bool] = None, dtype: Any = None,
        out: Any = None) -> Tensor:
    """Variance, mean((x - mean(x))^2) * n / (n - ddof). ``ddof`` (torch's ``correction``) defaults to
    NumPy's 0 with ``axis=`` and to torch's 1 (the unbiased estimate) with ``dim=``."""
    x = floating(_numpy_call("var", x, dtype, out))
    ddof = ddof_or_correction("var", ddof, correction)
    if ddof is None:
        ddof = 0 if dim is None else 1
    axis, keepdims = axis_and_keepdims("var", axis, keepdims, dim, keepdim)
    return _variance(x, _axes(axis, x.ndim, "var"), keepdims, ddof, "var")


def _variance(x, axes, keepdims, ddof, op):
    """sum((x - mean(x))^2) / (n - ddof) over ``axes``. With ddof >= n there is no such estimate:
    torch's answer, with its warning, is the sum divided by 0, inf (or nan where all are equal)."""
    n = math.prod(x.shape[a] for a in axes)
    # Shifted by one of its own values first (a constant, so the gradient is unchanged): a column of
    # 1e30s then has deviations of exactly 0, where its mean, a rounding off, would square to 1e46.
    first = tuple(slice(0, 1) if a in axes else slice(None) for a in range(x.ndim))
    shifted = x - Tensor._wrap(x.data[first] if first else x.data.copy())
    centred = shifted - shifted.mean(axis=axes, keepdims=True)
    squares = (centred * centred).sum(axis=axes, keepdims=keepdims)
    if n - ddof <= 0:
        warnings.warn(f"{op}: degrees of freedom n - correction = {n} - {ddof} <= 0 (correction must be smaller "
                      f"than the number of reduced elements); the result is inf or nan, as in torch",
                      UserWarning, stacklevel=3)
        with np.errstate(divide="ignore", invalid="ignore"):      # inf and nan are the answer here
            return squares / 0.0
    return squares * (1.0 / (n - ddof))


def std(x: Tensor, axis: Axes = None, keepdims: bool = False, ddof: Optional[int] = None, *,
        correction: Optional[int] = None, dim: Axes = None, keepdim: Optional[bool] = None, dtype: Any = None,
        out: Any = None) -> Tensor:
    """The standard deviation sqrt(var(x)), composed. ``correction`` (NumPy's ``ddof``) defaults to
    torch's 1 whichever spelling of the axis is used (NumPy's ``np.std`` would take 0).

    Where the variance is 0 the slope of sqrt is infinite and var's is 0 (inf * 0 = nan); the
    gradient there is 0, as in torch: the square root is taken only where var != 0."""
    x = floating(_numpy_call("std", x, dtype, out))
    ddof = ddof_or_correction("std", ddof, correction)
    axis, keepdims = axis_and_keepdims("std", axis, keepdims, dim, keepdim)
    return _root(_variance(x, _axes(axis, x.ndim, "std"), keepdims, 1 if ddof is None else ddof, "std"))


def _root(variance):
    """sqrt(variance), with the slope 0 where variance is 0 (see ``std``)."""
    spread = variance != 0
    return where(spread, where(spread, variance, 1.0).sqrt(), 0.0)


def var_mean(x: Tensor, dim: Axes = None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
             correction: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """torch's ``var_mean``: the pair (var, mean) over ``dim`` (None: all), in one pass over x for both;
    ``correction`` 1 by default (the unbiased estimate; ``unbiased=False`` is correction 0)."""
    return _spread_and_mean("var_mean", x, dim, unbiased, keepdim, correction, lambda v: v)


def std_mean(x: Tensor, dim: Axes = None, unbiased: Optional[bool] = None, keepdim: bool = False, *,
             correction: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """torch's ``std_mean``: the pair (std, mean) over ``dim`` (None: all); ``correction`` as ``var_mean``."""
    return _spread_and_mean("std_mean", x, dim, unbiased, keepdim, correction, _root)


def _spread_and_mean(op, x, dim, unbiased, keepdim, correction, finish):
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: got both unbiased={unbiased!r} and correction={correction!r}; give only one")
    ddof = correction if correction is not None else 0 if unbiased is False else 1
    x = floating(x)
    axes = _axes(dim, x.ndim, op)
    return finish(_variance(x, axes, keepdim, ddof, op)), MeanOp(axes, keepdim)(x)


def prod(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None, keepdim: Optional[bool] = None,
         dtype: Any = None, out: Any = None) -> Tensor:
    """The product over ``axis`` (None: all axes; an int or a tuple). The reduced axes are moved last
    and merged into one, which ``ProdOp`` reduces; its gradient is exact where x has zeros."""
    x = _numpy_call("prod", x, dtype, out)
    axis, keepdims = axis_and_keepdims("prod", axis, keepdims, dim, keepdim)
    axes = _axes(axis, x.ndim, "prod")
    shape = x.shape
    kept = [a for a in range(x.ndim) if a not in axes]
    if kept + list(axes) != list(range(x.ndim)):
        x = x.permute(*kept, *axes)
    kept_shape = tuple(shape[a] for a in kept)
    y = in_dtype(ProdOp()(x.reshape(*kept_shape, math.prod(shape[a] for a in axes))), dtype)
    return y.reshape(*[1 if a in axes else n for a, n in enumerate(shape)]) if keepdims else y


def any(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: Optional[bool] = None, out: Any = None) -> Tensor:
    """Whether any element over ``axis`` is nonzero, as a boolean tensor (not differentiable)."""
    x = _numpy_call("any", x, None, out)
    axis, keepdims = axis_and_keepdims("any", axis, keepdims, dim, keepdim)
    return Tensor._wrap(x.array_module.asarray(x.data.any(axis=_axes(axis, x.ndim, "any"), keepdims=keepdims)))


def all(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
        keepdim: Optional[bool] = None, out: Any = None) -> Tensor:
    """Whether every element over ``axis`` is nonzero, as a boolean tensor (not differentiable)."""
    x = _numpy_call("all", x, None, out)
    axis, keepdims = axis_and_keepdims("all", axis, keepdims, dim, keepdim)
    return Tensor._wrap(x.array_module.asarray(x.data.all(axis=_axes(axis, x.ndim, "all"), keepdims=keepdims)))


def logsumexp(x: Tensor, axis: Axes = None, keepdims: bool = False, *, dim: Axes = None,
              keepdim: Optional[bool] = None) -> Tensor:
    """log(sum(exp(x))) over ``axis`` (None: all), computed without overflow."""
    axis, keepdims = axis_and_keepdims("logsumexp", axis, keepdims, dim, keepdim)
    axes = _axes(axis, x.ndim, "logsumexp")
    _nonempty(x, axes, "logsumexp")
    return LogSumExpOp(axes, keepdims)(floating(x))


def softmax(x: Tensor, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis`` (default the last)."""
    axes = _axes(axis_or_dim("softmax", axis, dim, default=-1), x.ndim, "softmax")
    _nonempty(x, axes, "softmax")
    return SoftmaxOp(axes)(floating(x))


def log_softmax(x: Tensor, axis: int = -1, *, dim: Optional[int] = None) -> Tensor:
    """x - logsumexp(x) along ``axis`` (default the last)."""
    axes = _axes(axis_or_dim("log_softmax", axis, dim, default=-1), x.ndim, "log_softmax")
    _nonempty(x, axes, "log_softmax")
    return LogSoftmaxOp(axes)(floating(x))
