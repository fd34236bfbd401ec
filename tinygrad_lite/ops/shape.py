"""Ops that move, pick or copy elements without arithmetic: their backward moves gradients back.

Broadcasting and its undo, summing back (``BroadcastToOp``, ``SumToOp``), are the engine's own ops: core.py.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from ..backend import add_rows, array_module, as_numpy, one_array_axis, scatter_add, to_device
from ..core import BroadcastToOp, Function, Tensor
from ..errors import AxisError, ShapeError, UnsupportedError
from .axes import Axes, normalise_axes, normalise_axis
from .convert import check_same_device
from .limits import check_elements
from .torch_names import axis_or_dim


def _tensor_list(tensors, op):
    """The non-empty sequence of Tensors ``tensors`` as a list, or a TypeError / ValueError saying why not."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}: tensors must be a list or tuple of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{op}: tensors must be a non-empty sequence, got an empty one")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: tensors[{i}] must be a Tensor, got {type(t).__name__}")
    return list(tensors)


def _shape_arg(shape):
    """Accept ``reshape(2, 3)`` and ``reshape((2, 3))`` alike."""
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def _new_shape(shape, op, unknown_allowed):
    """A target shape (an int, or a sequence of ints) as a tuple of Python ints; ``unknown_allowed``:
    one entry may be -1 (reshape). A TypeError or ValueError names the op and the shape otherwise."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
    if not isinstance(shape, (tuple, list)) or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                                  for n in shape):
        raise TypeError(f"{op}: shape must be ints, got {shape!r}")
    shape = tuple(int(n) for n in shape)
    lowest = -1 if unknown_allowed else 0
    if any(n < lowest for n in shape) or shape.count(-1) > 1:
        raise ValueError(f"{op}: shape must be non-negative ints{' (with at most one -1)' if unknown_allowed else ''}, "
                         f"got {shape}")
    return shape


class ReshapeOp(Function):
    """y = x viewed with a new shape;  dx = gy reshaped back"""
    def __init__(self, shape): self.shape = shape
    def forward(self, x): return x.reshape(self.shape)
    def backward(self, gy): return gy.reshape(self.inputs[0].shape)


class TransposeOp(Function):
    """y = x with its axes permuted;  dx = gy permuted by the inverse permutation"""
    def __init__(self, axes): self.axes = axes
    def forward(self, x): return x.transpose(self.axes)
    def backward(self, gy): return gy.permute(*np.argsort(self.axes).tolist())


class GetItemOp(Function):
    """y = x[index] (slices, ints, integer or boolean arrays);  dx = zeros with gy scatter-added at index"""
    def __init__(self, index): self.index = index

    def forward(self, x):
        picked = one_array_axis(self.index) if array_module(x) is np else None
        if picked:                     # rows along one axis: NumPy's take copies them in blocks, faster
            return np.take(x, picked[1], axis=picked[0])
        return x[self.index]

    def backward(self, gy): return GetItemGradOp(self.index, self.inputs[0].shape)(gy)


class GetItemGradOp(Function):
    """The scatter-add behind getitem's backward: y = zeros(shape); y[index] += g (repeats add up)."""
    def __init__(self, index, shape): self.index, self.shape = index, shape

    def forward(self, g):
        out = array_module(g).zeros(self.shape, dtype=g.dtype)
        if _is_basic(self.index):
            out[self.index] = g          # basic indices never repeat: plain assignment is enough
        elif array_module(g) is np and one_array_axis(self.index):
            add_rows(out, *one_array_axis(self.index), g)      # rows picked along one axis: faster
        else:
            scatter_add(out, self.index, g)
        return out

    def backward(self, ggx): return getitem(ggx, self.index)


class ConcatenateOp(Function):
    """y = the inputs joined along ``axis``;  each dx = its slice of gy"""
    def __init__(self, axis): self.axis = axis
    def forward(self, *xs): return array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        grads, start = [], 0
        for x in self.inputs:
            stop = start + x.shape[self.axis]
            grads.append(gy[(slice(None),) * self.axis + (slice(start, stop),)])
            start = stop
        return tuple(grads)


class PadOp(Function):
    """y = x with ``value`` added around it, ``pad_width`` = ((before, after), ...) per axis;  dx = the centre of gy"""
    def __init__(self, pad_width, value): self.pad_width, self.value = pad_width, value
    def forward(self, x): return array_module(x).pad(x, self.pad_width, constant_values=self.value)

    def backward(self, gy):
        return gy[tuple(slice(before, n - after) for (before, after), n in zip(self.pad_width, gy.shape))]


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice, np.integer)) for i in items)


def _plain_index(index):
    """Replace Tensors and lists inside an index by arrays, so NumPy and CuPy both accept it."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


# ---- the functions users call ---------------------------------------------------------------------

def reshape(x: Tensor, *shape: Axes) -> Tensor:
    """The same elements in a new shape: ``reshape(2, 3)`` or ``reshape((2, 3))``, one -1 inferred
    (torch's ``view`` too)."""
    shape = _new_shape(_shape_arg(shape), "reshape", unknown_allowed=True)
    try:
        return ReshapeOp(shape)(x)
    except ValueError:
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.numel()} elements) "
                         f"into shape {shape}") from None


def transpose(x: Tensor, *axes: Axes) -> Tensor:
    """No axes: reverse them (NumPy). Two axes: swap them (torch's ``transpose(dim0, dim1)``, so
    ``x.transpose(0, 1)`` swaps a matrix's axes as a torch user expects). More: a full permutation."""
    axes = _shape_arg(axes)
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    elif len(axes) == 2:
        return swapaxes(x, *axes)
    return permute(x, axes)


def permute(x: Tensor, *axes: Axes) -> Tensor:
    """Reorder the axes: ``y.shape[i] == x.shape[axes[i]]``."""
    axes = _shape_arg(axes)
    wanted = f"permute: axes must be a permutation of {tuple(range(x.ndim))}, got {axes}"
    if not all(isinstance(a, (int, np.integer)) for a in axes) or len(axes) != x.ndim:
        raise ShapeError(wanted)
    if not all(-x.ndim <= a < x.ndim for a in axes):
        raise AxisError(wanted)                                   # a dim out of range: torch's IndexError
    if len({a % x.ndim for a in axes}) != x.ndim:
        raise ShapeError(wanted)
    return TransposeOp(tuple(a % x.ndim for a in axes))(x)


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    """Axes ``axis1`` and ``axis2`` exchanged."""
    if x.ndim == 0:
        raise ShapeError(f"swapaxes: a 0-d tensor has no axes to swap, got axes {axis1} and {axis2}")
    axis1 = normalise_axis(axis1, x.ndim, "swapaxes", "axis1")
    axis2 = normalise_axis(axis2, x.ndim, "swapaxes", "axis2")
    axes = list(range(x.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return TransposeOp(tuple(axes))(x)


def squeeze(x: Tensor, axis: Axes = None, *, dim: Axes = None) -> Tensor:
    """Drop the axes of size 1 (``axis``: only those; an int or a tuple)."""
    axis = axis_or_dim("squeeze", axis, dim)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = normalise_axes(axis, x.ndim, "squeeze")
    if x.ndim == 0:
        return x
    for a in axes:
        if x.shape[a] != 1:
            raise ShapeError(f"squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: Optional[int] = None, *, dim: Optional[int] = None) -> Tensor:
    """Insert an axis of size 1 at position ``axis`` (in [-ndim - 1, ndim])."""
    axis = normalise_axis(axis_or_dim("unsqueeze", axis, dim), x.ndim, "unsqueeze", new_axis=True)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (torch's names)."""
    start = normalise_axis(start_dim, x.ndim, "flatten", "start_dim")
    end = normalise_axis(end_dim, x.ndim, "flatten", "end_dim")
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a {x.ndim}-d tensor")
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def broadcast_to(x: Tensor, shape: Axes) -> Tensor:
    """x repeated along new or size-1 axes to ``shape`` (NumPy's rules); its gradient sums them back."""
    shape = _new_shape(shape, "broadcast_to", unknown_allowed=False)
    if x.shape == shape:
        return x
    try:
        return BroadcastToOp(shape)(x)
    except ValueError:
        raise ShapeError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}") from None


def getitem(x: Tensor, index) -> Tensor:
    """x[index]. On a GPU the integer indices are checked against x's shape first (CuPy wraps an
    out-of-range index around instead of raising, so x[10] of 5 rows would read row 0 and send its
    gradient there), and host index arrays go to the device once, for forward and backward alike."""
    index = _plain_index(index)
    if x.array_module is not np:
        check_index_bounds(x.shape, index, "getitem")
        index = _index_on_device(index, x.device)
    return GetItemOp(index)(x)


def check_index_bounds(shape, index, op):
    """Raise IndexError (NumPy's words) when an int or an integer array in ``index`` lies outside
    [-n, n) for the axis of ``shape`` it indexes. Host indices are checked on the host; a device
    index array costs one device-side ``any`` (and the sync to read it)."""
    indexed = list(_indexed_axes(shape, index))
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i in items if getattr(i, "ndim", 0)]
    # as in NumPy, arrays that broadcast to nothing (one is empty, or a boolean one all False) pick nothing
    picks_nothing = any(a.size == 0 or (a.dtype.kind == "b" and not bool(a.any())) for a in arrays)
    for axis, item in indexed:
        n = shape[axis]
        if isinstance(item, (int, np.integer)):
            if not -n <= item < n:
                raise IndexError(f"{op}: index {item} is out of bounds for axis {axis} with size {n}")
            continue
        if picks_nothing or item.size == 0:
            continue
        outside = (item < -n) | (item >= n)
        if bool(outside.any()):
            bad = as_numpy(item.reshape(-1)[outside.reshape(-1).argmax()]).item()
            raise IndexError(f"{op}: index {bad} is out of bounds for axis {axis} with size {n}")


def _indexed_axes(shape, index):
    """(axis, item) for every int and integer array in ``index``, with the axis of ``shape`` it
    indexes (None adds no axis of x, Ellipsis stands for the axes no other item takes, a boolean
    array takes as many axes as it has); items past the last axis are left to the array library."""
    items = index if isinstance(index, tuple) else (index,)

    def width(item):
        if item is None or item is Ellipsis or isinstance(item, bool):
            return 0
        return item.ndim if getattr(item, "dtype", None) is not None and item.dtype.kind == "b" else 1

    axis = 0
    for item in items:
        if item is Ellipsis:
            axis += len(shape) - sum(width(i) for i in items)
            continue
        is_integer = (isinstance(item, (int, np.integer)) and not isinstance(item, bool)
                      or getattr(item, "dtype", None) is not None and item.dtype.kind in "iu")
        if is_integer and axis < len(shape):
            yield axis, item
        axis += width(item)


def _index_on_device(index, device):
    """``index`` with its host integer arrays copied to ``device`` (once, not at every use)."""
    if isinstance(index, tuple):
        return tuple(_index_on_device(i, device) for i in index)
    if isinstance(index, np.ndarray) and index.ndim:
        return to_device(index, device)
    return index


def concatenate(tensors: Sequence[Tensor], axis=0, *, dim=None) -> Tensor:
    """The tensors joined along an existing ``axis`` (torch's ``cat``)."""
    axis = axis_or_dim("concatenate", axis, dim, default=0)
    tensors = _tensor_list(tensors, "concatenate")
    if tensors[0].ndim == 0:
        raise ShapeError("concatenate: 0-d tensors cannot be concatenated; use stack")
    axis = normalise_axis(axis, tensors[0].ndim, "concatenate")
    check_same_device("concatenate", tensors, "tensors")
    try:
        return ConcatenateOp(axis)(*tensors)
    except ValueError:
        raise ShapeError(f"concatenate: shapes {[t.shape for t in tensors]} do not match except "
                         f"along axis {axis}") from None


def stack(tensors: Sequence[Tensor], axis=0, *, dim=None) -> Tensor:
    """The same-shaped tensors joined along a new ``axis``."""
    axis = axis_or_dim("stack", axis, dim, default=0)
    tensors = _tensor_list(tensors, "stack")
    axis = normalise_axis(axis, tensors[0].ndim, "stack", new_axis=True)
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis % (tensors[0].ndim + 1))


PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x: Tensor, pad_width: Any, value: Union[Tensor, float] = 0.0, mode: str = "constant") -> Tensor:
    """x surrounded by padding, ``pad_width`` as in ``numpy.pad`` (an int, (before, after) or one pair
    per axis). ``mode``: 'constant' (``value``), or torch's 'reflect' (x[1], x[0] | x | x[n-2]: the edge
    not repeated), 'replicate' (the edge repeated) and 'circular' (x wrapped around), each a getitem of
    x at an index array per axis, so the gradient is gy scatter-added back onto the elements read.
    A negative width crops that many elements from its side first (torch's rule), then the
    positive ones pad what is left."""
    if mode not in PAD_MODES:
        raise UnsupportedError(f"pad: mode must be one of {PAD_MODES}, got {mode!r}")
    width = np.asarray(pad_width)
    if width.dtype.kind not in "iu":
        raise TypeError(f"pad: pad_width must be an int, a (before, after) pair of ints or one pair "
                        f"per axis, got {pad_width!r}")
    try:
        width = np.broadcast_to(width, (x.ndim, 2))
    except ValueError:
        raise ShapeError(f"pad: pad_width {pad_width!r} does not fit a {x.ndim}-d tensor") from None
    if x.ndim == 0:
        return x                            # nothing to pad around a single number
    if (width < 0).any():
        x, width = _crop(x, width, pad_width, 1 if mode in ("reflect", "replicate") else 0), np.maximum(width, 0)
    check_elements(tuple(n + before + after for n, (before, after) in zip(x.shape, width.tolist())), "pad")
    if mode == "constant":
        return PadOp(tuple(map(tuple, width.tolist())), value)(x)
    for axis, (before, after) in enumerate(width.tolist()):
        if before or after:
            x = getitem(x, (slice(None),) * axis + (_pad_index(x.shape[axis], before, after, mode, axis),))
    return x


def _crop(x, width, pad_width, keep):
    """x with the negative widths' elements cut from their sides (a getitem: the gradient is gy put
    back), at least ``keep`` left on each axis (a mode that reads x needs one, as in torch)."""
    cut = np.minimum(width, 0).tolist()
    for axis, ((before, after), n) in enumerate(zip(cut, x.shape)):
        if n + before + after < keep and (before or after):
            raise ShapeError(f"pad: pad_width {pad_width!r} crops {-before} + {-after} elements from axis {axis} "
                             f"of length {n}; at most {n - keep} can go")
    return getitem(x, tuple(slice(-before, n + after) for (before, after), n in zip(cut, x.shape)))


def _pad_index(n, before, after, mode, axis):
    """Which element of an axis of length n each padded position reads."""
    limit = {"reflect": n - 1, "replicate": None, "circular": n}[mode]
    if limit is not None and max(before, after) > limit:
        raise ShapeError(f"pad: {mode} padding of axis {axis} (length {n}) must be at most {limit} on each "
                         f"side, got ({before}, {after})")
    position = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(position, 0, n - 1)
    if mode == "circular":
        return position % n
    return (n - 1) - np.abs((n - 1) - np.abs(position))     # reflect about 0 and about n - 1
