"""Tensor factories with torch's names: zeros, ones, full, rand, randn, arange (and *_like)."""
import math

import numpy as np

from . import backend
from .tensor import Tensor


def _make(array, dtype, device, requires_grad):
    return Tensor(array, dtype=dtype or backend.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def _shape(shape, op):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"{op}: shape must be non-negative ints, got {shape}")
    if math.prod(int(n) for n in shape) > np.iinfo(np.intp).max:
        raise ValueError(f"{op}: shape {shape} has {math.prod(int(n) for n in shape):.3g} elements, more than "
                         f"an array can index ({np.iinfo(np.intp).max:.3g})")
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
    """``shape`` filled with ``value``; a bool value gives a bool tensor (as torch), other numbers
    the default float dtype unless ``dtype`` says otherwise; a complex value is a TypeError."""
    if isinstance(value, (bool, np.bool_)) and dtype is None:
        dtype = np.bool_
    return _make(np.full(_shape((shape,), "full"), value), dtype, device, requires_grad)


def zeros_like(t, requires_grad=False):
    return zeros(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    return ones(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), drawn from the seeded host generator (same numbers on CPU and GPU)."""
    return _make(backend.rng().random(_shape(shape, "rand")), _floating(dtype, "rand"), device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, drawn from the seeded host generator (same numbers on CPU and GPU)."""
    return _make(backend.rng().standard_normal(_shape(shape, "randn")), _floating(dtype, "randn"), device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    """Like torch.arange: integers give int64, floats give the default float dtype."""
    if step == 0:
        raise ValueError(f"arange: step must not be zero, got step={step!r}")
    if stop is None:            # arange(stop) and arange(stop, step=...): from 0, as NumPy and torch
        start, stop = 0, start
    values = np.arange(start, stop, step)
    if dtype is None and values.dtype.kind == "f":
        dtype = backend.get_default_dtype()
    return Tensor(values, dtype=dtype, device=device)
