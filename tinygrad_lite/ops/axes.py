"""The one rule for axis arguments: an int in [-ndim, ndim) names an axis, counted from the end when
negative; a tuple names several, each once. A 0-d tensor takes axis 0 and -1, as in torch.

Every op that takes an axis (``sum``, ``flip``, ``cumsum``, ``normalize``, ...) checks it here, so
each error names the op, the argument, the valid range and the value given.
"""
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import AxisError, ShapeError

Axes = Optional[Union[int, Sequence[int]]]     # an axis argument: None (every axis), an int or several


def normalise_axis(axis, ndim, op, name="axis", new_axis=False, given=None):
    """``axis`` in [-ndim, ndim) as a non-negative int (``new_axis``: a position for an inserted axis,
    in [-ndim - 1, ndim]), or a TypeError / AxisError (a ShapeError, and an IndexError as torch
    raises) naming the op, the range and the value given (``given``: the whole argument ``axis``
    came from, when that was a tuple)."""
    given = axis if given is None else given
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an int, got {given!r}")
    size = ndim + 1 if new_axis else max(ndim, 1)
    if not -size <= axis < size:
        raise AxisError(f"{op}: {name} must be an int in [{-size}, {size}) for a {ndim}-d tensor, got {given!r}")
    return int(axis) % size


def normalise_axes(axes, ndim, op, name="axis"):
    """``axes`` (None: every axis; an int; a tuple or list of ints) as a tuple of non-negative axes in
    the order given, each at most once."""
    if axes is None:
        return tuple(range(ndim))
    items = tuple(axes) if isinstance(axes, (tuple, list)) else (axes,)
    if any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in items):
        raise TypeError(f"{op}: {name} must be None, an int or a tuple of ints, got {axes!r}")
    normalised = tuple(normalise_axis(a, ndim, op, name, given=axes) for a in items)
    if len(set(normalised)) != len(normalised):
        raise ShapeError(f"{op}: {name} {axes!r} names the same axis twice")
    return normalised
