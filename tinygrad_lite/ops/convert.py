"""Casts and device moves; ``as_tensor`` (a number next to a tensor) and the device check of every op
with several operands."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..backend import NUMBER_KINDS, to_device as _move, without_float_warnings
from ..core import Function, Tensor
from ..errors import DeviceError
from .dtypes import integer_scalar


class AsTypeOp(Function):
    """y = x cast to ``dtype``;  dx = gy cast back to x's dtype"""
    def __init__(self, dtype): self.dtype = np.dtype(dtype)
    def forward(self, x): return x.astype(self.dtype)
    def backward(self, gy): return gy.astype(self.inputs[0].dtype)


class ToDeviceOp(Function):
    """y = x copied to ``device``;  dx = gy copied back"""
    def __init__(self, device): self.device = device
    def forward(self, x): return _move(x, self.device)
    def backward(self, gy): return gy.to(self.inputs[0].device)


def as_tensor(value: Any, like: Optional[Tensor] = None) -> Tensor:
    """``value`` as a Tensor; a plain number takes ``like``'s dtype and device (x * 2 stays float32,
    and an integer tensor minus a Python int keeps its dtype, wrapping around as torch's: uint8 - 1
    is 255). The caller has picked ``like``'s dtype by torch's rule (``dtypes.result_type``).

    Next to a tensor a number stays a scalar, a NumPy scalar of ``like``'s dtype: NumPy computes
    with it exactly as with a 0-d array, and CuPy passes it to the kernel as an argument, where a
    0-d array would be one more allocation and host-to-device copy per ``x * 2``."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return Tensor(value)
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        if like.dtype.kind == "f" or (like.dtype.kind == "b" and isinstance(value, (bool, np.bool_))):
            return Tensor._wrap(like.dtype.type(value))
        if like.dtype.kind in "iu" and isinstance(value, (bool, int, np.bool_, np.integer)):
            return Tensor._wrap(integer_scalar(value, like.dtype))
    return Tensor(value, device=like.device)


def check_same_device(op, tensors, what="operands"):
    """Raise a ``DeviceError`` naming ``op`` when the Tensors (None entries skipped) are not all on
    one device: CuPy and NumPy would otherwise fail with an error of their own, or copy silently.
    A NumPy scalar (a number next to a tensor, see ``as_tensor``) belongs to no device."""
    devices = [t.device for t in tensors if t is not None and not isinstance(t.data, np.generic)]
    if len(set(devices)) > 1:
        raise DeviceError(f"{op}: {what} must be on one device, got {', '.join(devices)}; move them "
                          f"with .to()")


def astype(x: Tensor, dtype) -> Tensor:
    """``x`` cast to ``dtype``: differentiable to a floating dtype; to an integer or bool dtype the
    result is a plain tensor that does not require grad (rounding has no gradient), as in torch."""
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"astype: dtype must be a NumPy dtype or its name, got {dtype!r}") from None
    if dtype.kind not in NUMBER_KINDS:
        raise TypeError(f"astype: the dtype must be bool, an integer or a floating type, got {dtype}")
    if dtype.kind != "f":                  # NaN and inf to an integer: NumPy's value, without its warning
        return Tensor._wrap(without_float_warnings(x.data.astype, dtype))
    return AsTypeOp(dtype)(x)


def to_device(x: Tensor, device) -> Tensor:
    return ToDeviceOp(device)(x)
