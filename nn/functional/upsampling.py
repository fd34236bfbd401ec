"""Resizing an (N, C, L) or (N, C, H, W) batch as torch's ``interpolate``: nearest and (bi)linear.

Both are separable: each spatial axis is resized on its own (H, then W), as bilinear weights are
products of one weight per axis. Along one axis of input length n and output length m, output
position o reads source coordinate

    nearest          src = min(floor(o * scale), n - 1)                    scale = n / m, or 1 / scale_factor
    nearest-exact    src = min(floor((o + 0.5) * scale), n - 1)
    linear           src = scale * (o + 0.5) - 0.5, at least 0              (align_corners=False)
                     src = o * (n - 1) / (m - 1)                            (align_corners=True)
                     y[o] = (1 - λ) x[i0] + λ x[i1],  i0 = floor(src), i1 = min(i0 + 1, n - 1), λ = src - i0

computed in the arithmetic torch uses (float32 for float32 input), so the picked pixels and the
weights are torch's. Each axis is then one gather (``getitem`` with an index array) or two gathers
and a weighted sum, so the gradients (scatter-adds of the weighted upstream gradient) come free.

Integer images: nearest copies pixels, so it takes every dtype. The linear modes take uint8 only,
for 'bilinear', as torch: the weights become 16-bit integers with p fraction bits and each pass (W,
then H, as torch) rounds to uint8, y = clip((2^(p-1) + sum w·x) >> p, 0, 255) (``uint8_linear``).
Other integer dtypes are refused as torch refuses them (a float weight cast to int is 0: the old bug).

Faster, the same maps: a nearest gather at an integer scale, o // s, is a repeat (``_repeat_along``:
s stacked copies), and the linear modes' gathers and weights are one matrix product
(``_resize_by_matmul``: resizing is a linear map, a sparse (m, n) matrix of two weights per row).
"""
import math

import numpy as np

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Tensor
from tinygrad_lite.errors import ShapeError, UnsupportedError
from tinygrad_lite.ops import stack
from tinygrad_lite.ops.limits import check_elements

MODES = {"nearest": (3, 4), "nearest-exact": (3, 4), "linear": (3,), "bilinear": (4,)}


def _per_axis(value, count, name, kind):
    """``value`` (one number or a sequence of ``count``) as a tuple of ``count``."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * count
    if len(items) != count or not all(isinstance(v, kind) and not isinstance(v, bool) and v > 0 for v in items):
        raise ValueError(f"interpolate: {name} must be a positive number or {count} of them (one per "
                         f"spatial axis), got {value!r}")
    return items


def _output_sizes(x, size, scale_factor, recompute_scale_factor):
    """(output sizes, scales handed to the kernels: scale_factor, or None where the sizes decide)."""
    axes = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor, got "
                         f"size={size!r}, scale_factor={scale_factor!r}")
    if size is not None:
        sizes = _per_axis(size, axes, "size", (int, np.integer))
        _check_sizes(x, sizes)
        return sizes, (None,) * axes
    factors = tuple(float(f) for f in _per_axis(scale_factor, axes, "scale_factor", (int, float, np.number)))
    if not all(math.isfinite(f) for f in factors):
        raise ValueError(f"interpolate: scale_factor must be finite, got {scale_factor!r}")
    sizes = tuple(math.floor(n * f) for n, f in zip(x.shape[2:], factors))
    _check_sizes(x, sizes)
    if min(sizes) < 1:
        raise ShapeError(f"interpolate: scale_factor {scale_factor!r} makes the input {x.shape[2:]} "
                         f"{sizes}, an empty output")
    return sizes, (None,) * axes if recompute_scale_factor else factors


def _check_sizes(x, sizes):
    """The output, and the half-resized batch after the first axis, within ``limits.MAX_ELEMENTS``."""
    check_elements(x.shape[:2] + tuple(sizes), "interpolate", "the output")
    check_elements(x.shape[:2] + tuple(sizes[:1]) + x.shape[3:], "interpolate", "the batch resized along one axis")


def _scale(n, m, factor, compute_type):
    """torch's compute_scales_value: 1 / scale_factor when one was given, else n / m."""
    return compute_type(1.0 / factor) if factor else compute_type(n) / compute_type(m)


def nearest_indices(n, m, factor, exact=False):
    """The source index of each of m output positions (torch's nearest_idx / nearest_exact_idx)."""
    out = np.arange(m)
    if not exact and m == n:
        return out
    if not exact and m == 2 * n:
        return out >> 1
    scale = _scale(n, m, factor, np.float32)
    coordinate = ((out + 0.5) * np.float64(scale)).astype(np.float32) if exact else out.astype(np.float32) * scale
    return np.minimum(np.floor(coordinate).astype(np.int64), n - 1)


def linear_weights(n, m, factor, align_corners, compute_type):
    """(i0, i1, λ0, λ1) of each output position: y = λ0 x[i0] + λ1 x[i1] (torch's
    compute_indices_weights_linear, in ``compute_type``: float32 for float32 input)."""
    out = np.arange(m).astype(compute_type)
    if align_corners:
        scale = compute_type(n - 1) / compute_type(m - 1) if m > 1 else compute_type(0)
        source = scale * out
    else:
        source = np.maximum(_scale(n, m, factor, compute_type) * (out + compute_type(0.5)) - compute_type(0.5),
                            compute_type(0))
    first = source.astype(np.int64)
    lam1 = np.clip(source - first, 0, 1).astype(compute_type)
    return first, np.minimum(first + 1, n - 1), (compute_type(1) - lam1), lam1


def uint8_linear(x, axis, n, m, factor, align_corners):
    """A uint8 array resized linearly along ``axis`` (n -> m) as torch's uint8 kernel does: the two
    weights (1 - λ, λ) of each output, in float64 (one weight 1 where i0 is the last pixel), become
    integers w·2^p rounded (p the most fraction bits the largest weight fits in 15), and
    y = clip((2^(p-1) + w0·x[i0] + w1·x[i1]) >> p, 0, 255): rounded to the nearest, halves up."""
    if align_corners:
        scale = (n - 1) / (m - 1) if m > 1 else 0.0
        source = scale * np.arange(m, dtype=np.float64)
    else:
        source = np.maximum(_scale(n, m, factor, np.float64) * (np.arange(m) + 0.5) - 0.5, 0.0)
    first = np.minimum(np.floor(source).astype(np.int64), n - 1)
    lam1 = np.clip(source - first, 0.0, 1.0)
    lam0 = 1.0 - lam1
    last = first == n - 1                                  # one pixel left: its weight takes both parts
    lam0, lam1 = np.where(last, lam0 + lam1, lam0), np.where(last, 0.0, lam1)
    top = max(float(np.max(lam0, initial=0.0)), float(np.max(lam1, initial=0.0)))
    precision = 0
    while precision < 22 and int(0.5 + top * (1 << (precision + 1))) < 1 << 15:
        precision += 1
    w0, w1 = (np.floor(0.5 + lam * (1 << precision)).astype(np.int64) for lam in (lam0, lam1))
    xp = array_module(x)
    shape = (-1,) + (1,) * (x.ndim - 1 - axis)
    take = (slice(None),) * axis
    total = (x[take + (xp.asarray(first),)].astype(np.int64) * xp.asarray(w0.reshape(shape))
             + x[take + (xp.asarray(np.minimum(first + 1, n - 1)),)].astype(np.int64) * xp.asarray(w1.reshape(shape)))
    return xp.clip((total + (1 << (precision - 1))) >> precision, 0, 255).astype(np.uint8)


def _along(x, axis, index):
    """x gathered along ``axis`` at the integer array ``index`` (a differentiable getitem)."""
    return x[(slice(None),) * axis + (index,)]


def _repeat_along(x, axis, repeats):
    """x with each element along ``axis`` repeated ``repeats`` times in place (``np.repeat``): the
    gather at index o // repeats, as ``repeats`` copies stacked along a new axis and merged into
    ``axis`` (its gradient adds up ``repeats`` slices instead of scatter-adding element by element)."""
    merged = x.shape[:axis] + (x.shape[axis] * repeats,) + x.shape[axis + 1:]
    return stack([x] * repeats, axis=axis + 1).reshape(merged)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize ``input`` (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor`` (output size
    floor(n * factor)), torch's names and defaults: ``mode`` 'nearest' (default), 'nearest-exact',
    'linear' (3-D) or 'bilinear' (4-D); ``align_corners`` (linear modes only, default False) maps
    the corner pixels' centres onto each other. Formulas in the module docstring."""
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"interpolate: input must be a Tensor, got {type(x).__name__}")
    if mode not in MODES:
        raise UnsupportedError(f"interpolate: mode must be one of {sorted(MODES)}, got {mode!r}")
    if x.ndim not in MODES[mode]:
        wanted = " or ".join(f"{d}-D" for d in MODES[mode])
        raise UnsupportedError(f"interpolate: mode {mode!r} needs a {wanted} input (N, C, ...), got a "
                               f"{x.ndim}-D input of shape {x.shape}")
    if x.dtype.kind != "f" and not mode.startswith("nearest") and (x.dtype != np.uint8 or mode != "bilinear"):
        raise UnsupportedError(f"interpolate: mode {mode!r} is not implemented for dtype {x.dtype} (as in "
                               f"torch: of the integer dtypes only uint8 images, with 'bilinear'); cast "
                               f"the input to a floating dtype first")
    if align_corners is not None and mode.startswith("nearest"):
        raise ValueError(f"interpolate: align_corners can only be set with the linear modes, got "
                         f"mode={mode!r} (as torch)")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported")
    sizes, factors = _output_sizes(x, size, scale_factor, recompute_scale_factor)
    if x.dtype == np.uint8 and mode == "bilinear":       # torch's order: W first, then H; no gradient
        data = x.data
        for axis in (3, 2):
            if data.shape[axis] != sizes[axis - 2]:
                data = uint8_linear(data, axis, data.shape[axis], sizes[axis - 2], factors[axis - 2],
                                    bool(align_corners))
        return Tensor._wrap(data)
    compute_type = np.float64 if x.dtype == np.float64 else np.float32
    finite = None                                             # checked once, when a linear axis needs it
    for axis, (n, m, factor) in enumerate(zip(x.shape[2:], sizes, factors), start=2):
        if mode.startswith("nearest"):
            index = nearest_indices(n, m, factor, exact=mode == "nearest-exact")
            repeats = m // n
            if m == repeats * n and np.array_equal(index, np.arange(m) // repeats):
                x = _repeat_along(x, axis, repeats)       # the same gather, as a broadcast: faster
            else:
                x = _along(x, axis, index)
            continue
        first, second, lam0, lam1 = linear_weights(n, m, factor, bool(align_corners), compute_type)
        if finite is None:
            finite = bool(x.array_module.isfinite(x.data).all())
        if finite:
            x = _resize_by_matmul(x, axis, first, second, lam0, lam1)
            continue
        shape = (-1,) + (1,) * (x.ndim - 1 - axis)            # the weights broadcast along ``axis``
        lam0, lam1 = (Tensor(lam.reshape(shape), dtype=x.dtype, device=x.device) for lam in (lam0, lam1))
        x = _along(x, axis, first) * lam0 + _along(x, axis, second) * lam1
    return x


def _resize_by_matmul(x, axis, first, second, lam0, lam1):
    """The two gathers and the weighted sum along ``axis`` as one product with the (m, n)
    interpolation matrix A, A[o, first[o]] = lam0[o] and A[o, second[o]] += lam1[o] (``axis`` moved
    last for the product, then back): the same weights, summed by BLAS (its rounding), many times
    faster than gathers whose gradients scatter-add. Finite inputs only: a product would spread an
    inf's 0 * inf = NaN over the whole row."""
    matrix = np.zeros((len(first), x.shape[axis]), dtype=x.dtype)
    np.add.at(matrix, (np.arange(len(first)), first), lam0)
    np.add.at(matrix, (np.arange(len(first)), second), lam1)
    return linear_map_along(x, axis, matrix)


def linear_map_along(x, axis, matrix):
    """y = the (m, n) ``matrix`` applied along ``axis`` of x (length n -> m): y[..., o, ...] =
    sum_i matrix[o, i] x[..., i, ...], as one product with ``axis`` moved last (differentiable:
    a matmul between two swaps of axes)."""
    transposed = Tensor(np.ascontiguousarray(matrix.T), dtype=x.dtype, device=x.device)
    last = x.ndim - 1
    if axis == last:
        return x @ transposed
    return (x.swapaxes(axis, last) @ transposed).swapaxes(axis, last)
