"""Tensor factories with torch's names: zeros, ones, full, rand, randn, arange (and *_like)."""
import numpy as np

from . import backend
from .tensor import Tensor


def _make(array, dtype, device, requires_grad):
    return Tensor(array, dtype=dtype or backend.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def _shape(shape):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    if any(not isinstance(n, (int, np.integer)) or n < 0 for n in shape):
        raise ValueError(f"shape must be non-negative ints, got {shape}")
    return shape


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_shape(shape)), dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_shape(shape)), dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    return _make(np.full(_shape((shape,)), value), dtype, device, requires_grad)


def zeros_like(t, requires_grad=False):
    return zeros(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t, requires_grad=False):
    return ones(t.shape, dtype=t.dtype, device=t.device, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), drawn from the seeded host generator (same numbers on CPU and GPU)."""
    return _make(backend.rng().random(_shape(shape)), dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, drawn from the seeded host generator (same numbers on CPU and GPU)."""
    return _make(backend.rng().standard_normal(_shape(shape)), dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    """Like torch.arange: integers give int64, floats give the default float dtype."""
    if step == 0:
        raise ValueError(f"arange: step must not be zero, got step={step!r}")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and values.dtype.kind == "f":
        dtype = backend.get_default_dtype()
    return Tensor(values, dtype=dtype, device=device)
