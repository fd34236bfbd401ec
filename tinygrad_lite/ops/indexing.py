"""torch's indexing and rearranging ops, each a composition of getitem, where and reshape (so each
gradient is theirs: gy scatter-added back to the elements picked, or masked, or reshaped):
flip, roll, tril, triu, masked_fill, split, chunk, repeat, repeat_interleave, gather, diagonal,
unflatten, masked_select, scatter, scatter_add; scatter_reduce (an op of its own); one_hot and nonzero
(integer results, not differentiable).
"""
from __future__ import annotations

from typing import Any, Optional, Tuple, Union

import numpy as np

from ..backend import array_module, scatter_add as scatter_add_into, scatter_into, to_device
from ..core import Function, Tensor
from ..errors import DeviceError, ShapeError, UnsupportedError
from .axes import Axes, normalise_axes, normalise_axis
from .elementwise import where
from .limits import check_elements
from .shape import GetItemGradOp, broadcast_to, getitem, permute, reshape


def _array(x, values):
    """An index or mask array on ``x``'s device."""
    values = values.data if isinstance(values, Tensor) else values
    return values if x.array_module is not np and not isinstance(values, np.ndarray) else to_device(values, x.device)


def flip(x: Tensor, dims: Axes) -> Tensor:
    """y = x with the order of the elements reversed along each axis in ``dims``."""
    index = [slice(None)] * x.ndim
    for d in normalise_axes(dims, x.ndim, "flip", "dims"):
        index[d] = slice(None, None, -1)
    return getitem(x, tuple(index))


def roll(x: Tensor, shifts: Axes, dims: Axes = None) -> Tensor:
    """y[(i + shift) mod n] = x[i] along each axis in ``dims``; ``dims=None``: the flattened tensor
    shifted, then put back into x's shape (torch's rule)."""
    if dims is None:
        return reshape(roll(reshape(x, -1), shifts, 0), x.shape)
    dims = normalise_axes(dims, x.ndim, "roll", "dims")
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: shifts and dims must have the same length, got {len(shifts)} and {len(dims)}")
    for shift, d in zip(shifts, dims):
        n = x.shape[d]
        if n:
            source = (x.array_module.arange(n) - int(shift)) % n
            x = getitem(x, (slice(None),) * d + (source,))
    return x


def _triangle(x, diagonal, op, keep_lower):
    if x.ndim < 2:
        raise ShapeError(f"{op}: input must have at least 2 dimensions, got shape {x.shape}")
    rows, cols = x.shape[-2:]
    lower = x.array_module.tri(rows, cols, int(diagonal), dtype=bool)
    keep = lower if keep_lower else ~x.array_module.tri(rows, cols, int(diagonal) - 1, dtype=bool)
    return where(keep, x, Tensor._wrap(x.dtype.type(0)))        # zeros of x's dtype: bool stays bool


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """y = x where column - row <= diagonal (of the last two axes), else 0."""
    return _triangle(x, diagonal, "tril", True)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """y = x where column - row >= diagonal (of the last two axes), else 0."""
    return _triangle(x, diagonal, "triu", False)


def masked_fill(x: Tensor, mask: Any, value: Union[Tensor, float]) -> Tensor:
    """y = value where ``mask`` (a bool tensor broadcasting to x) holds, else x."""
    mask = _array(x, mask)
    if getattr(mask, "dtype", None) != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got dtype {getattr(mask, 'dtype', type(mask))}")
    try:
        np.broadcast_shapes(mask.shape, x.shape)
    except ValueError:
        raise ShapeError(f"masked_fill: mask of shape {mask.shape} does not broadcast to x's shape {x.shape}") from None
    if isinstance(value, Tensor) and value.ndim:
        raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
    filled = where(mask, value, x)
    return filled if filled.shape == x.shape else broadcast_to(filled, x.shape)


def split(x: Tensor, split_size_or_sections: Axes, dim: int = 0) -> Tuple[Tensor, ...]:
    """Pieces of x along ``dim``: each of size ``split_size`` (the last one smaller), or of the sizes
    in the list ``sections`` (which must add up to the axis's length)."""
    dim = normalise_axis(dim, x.ndim, "split", "dim")
    n = x.shape[dim]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise ValueError(f"split: split_size must be a positive int, got {size}")
        sizes = [min(size, n - start) for start in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} must be non-negative and add up to the length {n} "
                             f"of dim {dim}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, (slice(None),) * dim + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> Tuple[Tensor, ...]:
    """x split into ``chunks`` pieces of ceil(n / chunks) along ``dim`` (fewer when n is small, as torch)."""
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = x.shape[normalise_axis(dim, x.ndim, "chunk", "dim")]
    return split(x, max(-(-n // int(chunks)), 1), dim)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """torch's ``repeat`` (NumPy's ``tile``): x copied sizes[i] times along axis i (leading new axes
    when more sizes than axes), as one broadcast of x between size-1 axes and a reshape."""
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in sizes):
        raise ValueError(f"repeat: sizes must be {x.ndim} or more non-negative ints (one per axis), got {sizes}")
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: sizes must be {x.ndim} or more non-negative ints (one per axis), got {sizes}")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    check_elements(tuple(int(r) * n for r, n in zip(sizes, shape)), "repeat")
    interleaved = reshape(x, tuple(v for n in shape for v in (1, n)))
    wide = broadcast_to(interleaved, tuple(v for r, n in zip(sizes, shape) for v in (int(r), n)))
    return reshape(wide, tuple(int(r) * n for r, n in zip(sizes, shape)))


def repeat_interleave(x: Tensor, repeats: Any, dim: Optional[int] = None) -> Tensor:
    """Each element repeated ``repeats`` times (an int, or one count per element) along ``dim``
    (None: of the flattened tensor)."""
    if dim is None:
        x, dim = reshape(x, -1), 0
    dim = normalise_axis(dim, x.ndim, "repeat_interleave", "dim")
    counts = repeats.numpy() if isinstance(repeats, Tensor) else np.asarray(repeats)
    if counts.dtype.kind not in "iu" or (counts < 0).any() or counts.ndim > 1 or \
            (counts.ndim == 1 and len(counts) != x.shape[dim]):
        raise ValueError(f"repeat_interleave: repeats must be a non-negative int or one per element of dim "
                         f"{dim} ({x.shape[dim]}), got {repeats!r}")
    length = int(counts.sum()) if counts.ndim else int(counts) * x.shape[dim]
    check_elements(x.shape[:dim] + (length,) + x.shape[dim + 1:], "repeat_interleave")
    source = np.repeat(np.arange(x.shape[dim]), counts)
    return getitem(x, (slice(None),) * dim + (source,))


def _index_grid(x, dim, index, op, src_shape=None):
    """The advanced index that puts ``index`` along ``dim`` and each element's own position along the
    other axes: the shared rule of ``gather`` (read at it) and ``scatter`` / ``scatter_add`` (write there)."""
    dim = normalise_axis(dim, x.ndim, op, "dim")
    index = _array(x, index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"{op}: index must hold integers, got dtype {index.dtype}")
    if index.ndim != x.ndim or any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != dim):
        raise ShapeError(f"{op}: index of shape {index.shape} does not fit x of shape {x.shape} along dim {dim} "
                         f"(same number of axes, no other axis longer than x's)")
    if src_shape is not None and (len(src_shape) != index.ndim or any(i > n for i, n in zip(index.shape, src_shape))):
        raise ShapeError(f"{op}: src of shape {tuple(src_shape)} must have index's number of axes and no axis "
                         f"shorter than index's {index.shape}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= x.shape[dim]):
        raise IndexError(f"{op}: index values must lie in [0, {x.shape[dim]}) for dim {dim}, got "
                         f"[{int(index.min())}, {int(index.max())}]")
    grid = list(x.array_module.ogrid[tuple(slice(n) for n in index.shape)]) if index.ndim else []
    grid[dim] = index
    return tuple(grid), index


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """torch's ``gather``: y[i][j][k] = x[index[i][j][k]][j][k] for dim = 0 (likewise for other dims);
    ``index`` has x's number of axes and no axis longer than x's (except along ``dim``)."""
    return getitem(x, _index_grid(x, dim, index, "gather")[0])


def _source(x, src, index, op):
    """src cut to index's shape (torch reads only that corner), or a number broadcast to it. A src
    tensor must have x's dtype, as torch requires (float32 into float16 would be rounded silently)."""
    if not isinstance(src, Tensor):
        return Tensor._wrap(x.array_module.full(index.shape, src, dtype=x.dtype))
    if src.device != x.device:
        raise DeviceError(f"{op}: src is on {src.device}, x on {x.device}")
    if src.dtype != x.dtype:
        raise TypeError(f"{op}: src has dtype {src.dtype} but x has {x.dtype}; they must be the same (as in "
                        f"torch): cast one with .astype()")
    return getitem(src, tuple(slice(n) for n in index.shape))


def scatter_add(x: Tensor, dim: int, index: Any, src: Union[Tensor, float]) -> Tensor:
    """torch's ``scatter_add``: y = x, then y[index[i][j]][j] += src[i][j] for dim = 0 (repeats add up);
    gx = gy, gsrc = gather(gy, dim, index)."""
    grid, index = _index_grid(x, dim, index, "scatter_add", getattr(src, "shape", None))
    return x + GetItemGradOp(grid, x.shape)(_source(x, src, index, "scatter_add"))


def scatter(x: Tensor, dim: int, index: Any, src: Union[Tensor, float]) -> Tensor:
    """torch's ``scatter``: y = x, then y[index[i][j]][j] = src[i][j] for dim = 0 (``src`` a tensor or a
    number); gx = gy where nothing was written, gsrc = gather(gy, dim, index). An index that writes one
    position twice is refused (torch leaves which write wins undefined)."""
    grid, index = _index_grid(x, dim, index, "scatter", getattr(src, "shape", None))
    written = x.array_module.zeros(x.shape, dtype=np.int64)
    scatter_add_into(written, grid, x.array_module.ones(index.shape, dtype=np.int64))
    if index.size and int(written.max()) > 1:
        raise ValueError(f"scatter: index writes some positions of dim {dim} more than once; torch leaves the "
                         f"result undefined there (use scatter_add to add them up)")
    return where(Tensor._wrap(written > 0), GetItemGradOp(grid, x.shape)(_source(x, src, index, "scatter")), x)


class ScatterReduceOp(Function):
    """y = x with each src element reduced into y[grid] (torch's ``scatter_reduce``): 'sum', 'prod',
    'mean', 'amax' or 'amin' of x's element (``include_self``) and the src elements sent there;
    positions no src element reaches keep x. With n the number of elements reduced at a position
    (c src elements, plus x's when included), the gradient of each of them is gy times

        sum    1                        mean   1 / n
        prod   the product of the others: P / e without zeros, P (of the nonzero ones) for the
               only zero, else 0, as ``ProdOp``
        amax / amin   1 / (how many equal y), 0 for the others (torch's even split of ties, where
                      x's element is counted even when ``include_self`` leaves it out)

    x's gradient is gy where no src element arrived; the src's is read at ``grid`` (a gather)."""
    IDENTITY = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}
    UFUNC = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum", "amin": "minimum"}

    def __init__(self, grid, reduce, include_self):
        self.grid, self.reduce, self.include_self = grid, reduce, include_self

    def forward(self, x, src):
        xp, out = array_module(x), x.copy()
        self.count = xp.zeros(x.shape, dtype=np.int64)                 # src elements per position
        scatter_add_into(self.count, self.grid, xp.ones(src.shape, dtype=np.int64))
        reached = self.count > 0
        if not self.include_self:
            out[reached] = _identity(self.IDENTITY[self.reduce], x.dtype)
        scatter_into(out, self.grid, src, self.UFUNC[self.reduce])
        if self.reduce == "mean":
            total = xp.maximum(self.count + self.include_self, 1).astype(x.dtype)
            out = out / total if x.dtype.kind == "f" else out // total     # integers: torch's floor
        return out

    def backward(self, gy):
        x, src = self.inputs
        xp, grid, reduce = gy.array_module, self.grid, self.reduce
        reached = self.count > 0
        kept = Tensor._wrap(~reached)
        if reduce == "sum":
            share_x, share_src = (gy if self.include_self else gy * kept), getitem(gy, grid)
        elif reduce == "mean":
            total = Tensor._wrap(xp.maximum(self.count + self.include_self, 1).astype(gy.dtype))
            share_x = gy / total if self.include_self else gy * kept
            share_src = getitem(gy / total, grid)
        elif reduce == "prod":
            share_x, share_src = self._product_of_the_others(gy, x, src, kept)
        else:
            y = self.output().data
            wins_src, wins_x = src.data == y[grid], x.data == y
            ties = wins_x.astype(np.int64)          # x's element counted even when not included: torch's split
            scatter_add_into(ties, grid, wins_src.astype(np.int64))
            split = gy / Tensor._wrap(xp.maximum(ties, 1).astype(gy.dtype))
            share_x = where(reached, split * Tensor._wrap(wins_x & self.include_self), gy)
            share_src = getitem(split, grid) * Tensor._wrap(wins_src)
        return (share_x if self.needs_grad[0] else None), (share_src if self.needs_grad[1] else None)

    def _product_of_the_others(self, gy, x, src, kept):
        """gy times the product of the other elements reduced with each one (see the docstring): P,
        the product of the nonzero ones (this op again, so second derivatives come free), and z, how
        many are zero, decide."""
        grid = self.grid
        nonzero_x, nonzero_src = where(x.data == 0, 1.0, x), where(src.data == 0, 1.0, src)
        product = ScatterReduceOp(grid, "prod", self.include_self)(nonzero_x, nonzero_src)
        zeros = ((x.data == 0) & self.include_self).astype(np.int64)
        scatter_add_into(zeros, grid, (src.data == 0).astype(np.int64))

        def others(e, e_is_zero, z, p):
            return where(e_is_zero, where(z == 1, p, 0.0), where(z == 0, p / where(e_is_zero, 1.0, e), 0.0))
        share_x = where(Tensor._wrap(self.count > 0), gy * others(x, x.data == 0, zeros, product), gy) \
            if self.include_self else gy * kept
        share_src = getitem(gy, grid) * others(src, src.data == 0, zeros[grid], getitem(product, grid))
        return share_x, share_src


def _identity(value, dtype):
    """The reduction's starting value in ``dtype`` (for integers, +-inf is the dtype's extreme)."""
    if dtype.kind in "iu" and np.isinf(value):
        info = np.iinfo(dtype)
        return info.min if value < 0 else info.max
    return dtype.type(value)


SCATTER_REDUCTIONS = tuple(ScatterReduceOp.IDENTITY)


def scatter_reduce(x: Tensor, dim: int, index: Any, src: Union[Tensor, float], reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """torch's ``scatter_reduce``: y = x, then each src[i][j] (dim = 0) reduced into y[index[i][j]][j]
    by ``reduce``, 'sum', 'prod', 'mean', 'amax' or 'amin', with x's own element taking part
    (``include_self``) or not; gradients as ``ScatterReduceOp`` says."""
    if reduce not in SCATTER_REDUCTIONS:
        raise UnsupportedError(f"scatter_reduce: reduce must be one of {SCATTER_REDUCTIONS}, got {reduce!r}")
    grid, index = _index_grid(x, dim, index, "scatter_reduce", getattr(src, "shape", None))
    return ScatterReduceOp(grid, reduce, bool(include_self))(x, _source(x, src, index, "scatter_reduce"))


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal x[..., i, i + offset] of the axes dim1 and dim2, as a new last axis (torch's order)."""
    dim1, dim2 = normalise_axis(dim1, x.ndim, "diagonal", "dim1"), normalise_axis(dim2, x.ndim, "diagonal", "dim2")
    if dim1 == dim2:
        raise ValueError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rest = tuple(d for d in range(x.ndim) if d not in (dim1, dim2))
    moved = permute(x, *rest, dim1, dim2)
    rows, cols = x.shape[dim1], x.shape[dim2]
    length = max(min(rows - max(-offset, 0), cols - max(offset, 0)), 0)
    steps = x.array_module.arange(length)
    return getitem(moved, (Ellipsis, steps + max(-offset, 0), steps + max(offset, 0)))


def unflatten(x: Tensor, dim: int, sizes: Any) -> Tensor:
    """Axis ``dim`` split into axes of ``sizes`` (one may be -1)."""
    dim = normalise_axis(dim, x.ndim, "unflatten", "dim")
    return reshape(x, x.shape[:dim] + tuple(sizes) + x.shape[dim + 1:])


def masked_select(x: Tensor, mask: Any) -> Tensor:
    """The elements of x where ``mask`` (broadcasting to x) holds, as a 1-D tensor in row-major order."""
    mask = _array(x, mask)
    if getattr(mask, "dtype", None) != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got dtype {getattr(mask, 'dtype', type(mask))}")
    shape = np.broadcast_shapes(mask.shape, x.shape)
    if shape != x.shape:
        x = broadcast_to(x, shape)
    return getitem(x, x.array_module.broadcast_to(mask, shape))


def one_hot(labels: Any, num_classes=-1) -> Tensor:
    """int64 tensor of labels.shape + (num_classes,), 1 at each label (num_classes -1: max label + 1)."""
    raw = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if raw.dtype.kind not in "iu":
        raise TypeError(f"one_hot: labels must be integers, got dtype {raw.dtype}")
    classes = int(raw.max()) + 1 if num_classes == -1 and raw.size else int(num_classes)
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) >= classes):
        raise ValueError(f"one_hot: labels must lie in [0, num_classes={classes}), got [{int(raw.min())}, "
                         f"{int(raw.max())}]")
    return Tensor._wrap(one_hot_array(raw, classes, np.int64))


def one_hot_array(labels, classes, dtype):
    """A raw array of integer ``labels`` (in [0, classes), unchecked) as rows of ``dtype`` zeros with a
    one at each label, shape labels.shape + (classes,): the one one-hot (``one_hot``, the losses)."""
    return (labels[..., None] == array_module(labels).arange(classes)).astype(dtype)


def nonzero(x: Tensor, as_tuple: bool = False) -> Union[Tensor, Tuple[Tensor, ...]]:
    """The indices of the nonzero elements: an int64 (count, ndim) tensor, or one index tensor per
    axis with ``as_tuple`` (not differentiable); a 0-d tensor as torch: (1, 0) or (0, 0)."""
    if x.ndim == 0:     # torch: a match with no coordinates, shape (1, 0), or none, (0, 0); as_tuple: [0] or []
        count = 1 if bool(x.data) else 0
        xp = x.array_module
        return (Tensor._wrap(xp.zeros(count, np.int64)),) if as_tuple else Tensor._wrap(xp.zeros((count, 0), np.int64))
    found = x.array_module.nonzero(x.data)
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64)) for i in found)
    xp = x.array_module
    return Tensor._wrap(xp.stack(found, axis=-1).astype(np.int64) if found else xp.zeros((0, 0), np.int64))
