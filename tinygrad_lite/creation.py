"""Tensor factories with torch's names: zeros, ones, full, empty, eye, arange, linspace; the random
rand, randn, randint, normal, uniform, randperm; and the *_like forms (zeros_like ... randn_like).

Random numbers are drawn from the seeded host generator (``backend.rng()``, seeded by
``manual_seed``) and then moved, so a seed gives the same numbers on the CPU and on a GPU."""
import math

import numpy as np

from . import backend
from .core import Tensor
from .errors import UnsupportedError
from .ops.dtypes import number_dtype
from .ops.limits import check_elements


def _make(array, dtype, device, requires_grad):
    return Tensor(array, dtype=dtype or backend.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def _shape(shape, op):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"{op}: shape must be non-negative ints, got {shape}")
    check_elements(shape, op, "the tensor")
    return shape


def _floating(dtype, op):
    """The dtype random numbers are drawn in: a floating one (torch refuses integers too)."""
    dtype = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{op}: dtype must be a floating type (random draws are real numbers), got {dtype}")
    return dtype


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_shape(shape, "zeros")), dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_shape(shape, "ones")), dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    """``shape`` filled with ``value``, its dtype inferred from the value as torch does unless
    ``dtype`` says otherwise: a bool gives bool, an int int64, a float the default float dtype; a
    complex value is a TypeError."""
    if dtype is None and isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        dtype = number_dtype(value)
    return _make(np.full(_shape((shape,), "full"), value), dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    """A tensor of ``shape`` whose values are not to be relied on (torch leaves them uninitialised;
    here they are zeros, so a run stays reproducible)."""
    return _make(np.zeros(_shape(shape, "empty")), dtype, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity matrix (m defaults to n)."""
    for name, value in (("n", n), ("m", n if m is None else m)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"eye: {name} must be a non-negative int, got {value!r}")
    check_elements((n, n if m is None else m), "eye", "the matrix")
    return _make(np.eye(n, n if m is None else m), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced numbers from ``start`` to ``end`` (both included), as torch computes
    them: start + i * step for the first half, end - (steps - 1 - i) * step for the second."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative int, got {steps!r}")
    if dtype is not None and np.dtype(dtype).kind == "b":
        raise UnsupportedError("linspace: dtype bool is not supported (as in torch: evenly spaced "
                               "numbers are not truth values); use a number dtype, then compare")
    check_elements((steps,), "linspace", "the tensor")
    i = np.arange(steps, dtype=np.float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    values = np.where(i < steps // 2, start + i * step, end - (steps - 1 - i) * step) if steps > 1 else \
        np.full(steps, start, dtype=np.float64)
    return _make(values, dtype, device, requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    """Zeros with ``t``'s shape, and its dtype and device unless given."""
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    """Ones with ``t``'s shape, and its dtype and device unless given."""
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    """``fill_value`` in ``t``'s shape, and its dtype and device unless given."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False):
    """``rand`` in ``t``'s shape, dtype and device (unless given)."""
    return rand(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False):
    """``randn`` in ``t``'s shape, dtype and device (unless given)."""
    return randn(t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), drawn from the seeded host generator (same numbers on CPU and GPU)."""
    return _make(backend.rng().random(_shape(shape, "rand")), _floating(dtype, "rand"), device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, drawn from the seeded host generator (same numbers on CPU and GPU)."""
    return _make(backend.rng().standard_normal(_shape(shape, "randn")), _floating(dtype, "randn"), device,
                 requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    """Like torch.arange: integers give int64, floats give the default float dtype."""
    if step == 0:
        raise ValueError(f"arange: step must not be zero, got step={step!r}")
    if stop is None:            # arange(stop) and arange(stop, step=...): from 0, as NumPy and torch
        start, stop = 0, start
    count = (stop - start) / step
    if math.isfinite(count):            # inf or nan: NumPy's own ValueError says so
        check_elements(max(math.ceil(count), 0), "arange", "the tensor")
    values = np.arange(start, stop, step)
    if dtype is None and values.dtype.kind == "f":
        dtype = backend.get_default_dtype()
    return Tensor(values, dtype=dtype, device=device)


def randint(low, high=None, size=None, dtype=None, device=None):
    """Integers drawn uniformly from [low, high), int64 unless ``dtype`` says otherwise; torch's two
    forms: ``randint(high, size)`` and ``randint(low, high, size)``."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint: size is required, as in torch: randint(high, size) or randint(low, high, size)")
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"randint: {name} must be an int, got {value!r}")
    if high <= low:
        raise ValueError(f"randint: high must be larger than low, got low={low}, high={high}")
    dtype = np.dtype(dtype or np.int64)
    exact = _exact_range(dtype)
    if exact is not None and not (exact[0] <= low and high - 1 <= exact[1]):
        raise ValueError(f"randint: [low, high) = [{low}, {high}) does not fit dtype {dtype}, which holds "
                         f"the integers {exact[0]} .. {exact[1]} exactly (torch refuses it too)")
    size = _shape((size,), "randint")
    return Tensor(backend.rng().integers(low, high, size), dtype=dtype, device=device)


def _exact_range(dtype):
    """The integers ``dtype`` holds every one of, (lowest, highest); None for a non-number dtype."""
    if dtype.kind == "b":
        return 0, 1
    if dtype.kind in "iu":
        return int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    if dtype.kind == "f":
        top = 2 ** (np.finfo(dtype).nmant + 1)       # 2**24 for float32: past it, odd numbers are lost
        return -top, top
    return None


def normal(mean=0.0, std=1.0, size=None, dtype=None, device=None, requires_grad=False):
    """mean + std * (standard normal draws): the draws of ``randn`` (one seed, the same numbers).
    ``mean`` and ``std`` are numbers (then ``size`` gives the shape) or tensors (their broadcast shape)."""
    arrays = [v.numpy() if isinstance(v, Tensor) else np.asarray(v, dtype=np.float64) for v in (mean, std)]
    if (arrays[1] < 0).any():
        raise ValueError(f"normal: std must be >= 0, got {std!r}")
    shape = _shape((size,), "normal") if size is not None else np.broadcast_shapes(*(a.shape for a in arrays))
    like = next((v for v in (mean, std) if isinstance(v, Tensor)), None)
    dtype = _floating(dtype if dtype is not None or like is None else like.dtype, "normal")
    device = device if device is not None or like is None else like.device
    draws = backend.rng().standard_normal(shape)
    return _make(arrays[0] + arrays[1] * draws, dtype, device, requires_grad)


def uniform(low=0.0, high=1.0, size=None, dtype=None, device=None, requires_grad=False):
    """Numbers drawn uniformly from [low, high): low + (high - low) * (the draws of ``rand``).
    NumPy's name and arguments (torch has the in-place ``Tensor.uniform_`` instead)."""
    if not high >= low:
        raise ValueError(f"uniform: high must be >= low, got low={low!r}, high={high!r}")
    draws = backend.rng().random(_shape(() if size is None else (size,), "uniform"))
    return _make(low + (high - low) * draws, _floating(dtype, "uniform"), device, requires_grad)


def randperm(n, dtype=None, device=None):
    """A random permutation of 0, ..., n - 1 (int64 unless ``dtype`` says otherwise)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    check_elements((int(n),), "randperm", "the permutation")
    return Tensor(backend.rng().permutation(int(n)), dtype=dtype or np.int64, device=device)
