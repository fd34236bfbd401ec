"""Sorting: argsort, sort and topk along one axis, with torch's names and results.

The indices come from a stable sort (an unstable sort may order ties either way; torch's ``stable=True``
is this order), descending ones too: ties keep their original order. The values are x picked at
those indices by ``getitem``, so their gradient goes to the picked elements (scattered back).
"""
from __future__ import annotations

from collections import namedtuple
from typing import Optional, Tuple

import numpy as np

from ..backend import array_module
from ..core import Tensor
from ..errors import ShapeError
from .axes import normalise_axis
from .shape import getitem
from .torch_names import axis_or_dim

SortResult = namedtuple("sort", ["values", "indices"])       # torch.return_types.sort, topk
TopkResult = namedtuple("topk", ["values", "indices"])


def _stable_order(data, axis, descending):
    """The indices that sort ``data`` along ``axis``, ties in their original order either way: a
    descending sort is an ascending one of the reversed array, read backwards (NaN comes first, as torch)."""
    xp = array_module(data)
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    reversed_order = xp.argsort(xp.flip(data, axis), axis=axis, kind="stable")
    return data.shape[axis] - 1 - xp.flip(reversed_order, axis)


def take_along(x, indices, axis):
    """x[indices] along ``axis``, every other axis kept (NumPy's take_along_axis), differentiable."""
    xp = x.array_module
    index = tuple(indices if i == axis else xp.arange(n).reshape([-1 if j == i else 1 for j in range(indices.ndim)])
                  for i, n in enumerate(indices.shape))
    return getitem(x, index)


def _axis(op, x, axis, dim):
    return normalise_axis(axis_or_dim(op, axis, dim, default=-1), x.ndim, op)


def argsort(x: Tensor, axis: int = -1, descending: bool = False, stable: bool = False, *,
            dim: Optional[int] = None) -> Tensor:
    """The indices that sort x along ``axis`` (default the last); not differentiable. Always stable."""
    axis = _axis("argsort", x, axis, dim)
    if x.ndim == 0:
        return Tensor._wrap(x.array_module.zeros((), dtype=np.int64))
    return Tensor._wrap(_stable_order(x.data, axis, descending))


def sort(x: Tensor, axis: int = -1, descending: bool = False, stable: bool = False, *,
         dim: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """``(values, indices)`` of x sorted along ``axis`` (default the last), as torch's ``sort``;
    the values' gradient goes back to where each came from."""
    axis = _axis("sort", x, axis, dim)
    indices = argsort(x, axis, descending, stable)
    if x.ndim == 0:
        return SortResult(x.reshape(()), indices)
    return SortResult(take_along(x, indices.data, axis), indices)


def topk(x: Tensor, k: int, axis: int = -1, largest: bool = True, sorted: bool = True,  # torch's
         *, dim: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along ``axis``,
    largest first, as torch's ``topk``; the gradient goes to the picked elements. Always sorted."""
    axis = _axis("topk", x, axis, dim)
    n = x.shape[axis] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ShapeError(f"topk: k must be an int in [0, {n}] (the size of axis {axis}), got {k!r}")
    if x.ndim == 0:         # one element: k = 1 gives it back (torch), k = 0 nothing
        values, indices = topk(x.reshape(1), k, 0, largest, sorted)
        return TopkResult(values.reshape(()), indices.reshape(())) if k else TopkResult(values, indices)
    order = _stable_order(x.data, axis, descending=largest)
    indices = order[(slice(None),) * axis + (slice(0, int(k)),)]
    return TopkResult(take_along(x, indices, axis), Tensor._wrap(indices))
