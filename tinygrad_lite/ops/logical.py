"""Ops with boolean or integer results, never differentiable: the comparisons (``==``, ``<``, ...),
the bitwise operators (``& | ^ ~``, on integer and boolean tensors, and the shifts ``<< >>`` on
integer ones) and the tests isnan, isinf, isfinite and isclose. Each is a plain NumPy (or CuPy)
call on the data.
"""
from __future__ import annotations

from typing import Union

import numpy as np

from ..core import Operand, Tensor
from ..errors import ShapeError
from .convert import as_tensor
from .elementwise import _binary_operands


def compare(a: Tensor, b, how) -> Union[Tensor, bool]:
    """Elementwise comparison (``how`` is a NumPy ufunc name such as 'less'); never differentiable.
    ``t == None`` is False and ``t != None`` True, as in torch (and Python)."""
    if b is None and how in ("equal", "not_equal"):
        return how == "not_equal"
    b = as_tensor(b, like=a)
    try:
        return Tensor._wrap(getattr(a.array_module, how)(a.data, b.data))
    except ValueError:
        raise ShapeError(f"{how}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


def _is_exact(t):
    return t.dtype.kind in "biu"


def _raw_operands(a, b, op):
    """The arrays of an integer op, both in torch's result dtype (``dtypes.result_type``: int32 // 2
    is int32, int8 | an int64 0-d tensor int8); a plain int wraps into it as torch's does
    (``int32 | 0xFFFFFFFF`` is -1, where NumPy refuses the number)."""
    for x in (a, b):
        if not isinstance(x, (Tensor, bool, int, float, np.number)):
            raise TypeError(f"{op}: operands must be Tensors or numbers, got {type(x).__name__}")
    a, b = _binary_operands(a, b, op)
    return a.array_module if not isinstance(a.data, np.generic) else b.array_module, [a.data, b.data]


def _check_kinds(name, operands, kinds, what):
    """A TypeError naming the op unless every operand's dtype kind (a number's, NumPy's) is in ``kinds``."""
    for x in operands:
        if (x.dtype if isinstance(x, Tensor) else np.asarray(x).dtype).kind not in kinds:
            raise TypeError(f"{name}: operands must be {what}, got "
                            f"{x.dtype if isinstance(x, Tensor) else type(x).__name__}")


def _bitwise(name, a, b):
    _check_kinds(name, (a, b), "biu", "integer or boolean tensors (or ints)")
    xp, (x, y) = _raw_operands(a, b, name)
    return Tensor._wrap(getattr(xp, name)(x, y))


def bitwise_and(a: Operand, b: Operand) -> Tensor:
    """a & b, bit by bit (for booleans: and); integer or boolean tensors, or ints."""
    return _bitwise("bitwise_and", a, b)


def bitwise_or(a: Operand, b: Operand) -> Tensor:
    """a | b, bit by bit (for booleans: or); integer or boolean tensors, or ints."""
    return _bitwise("bitwise_or", a, b)


def bitwise_xor(a: Operand, b: Operand) -> Tensor:
    """a ^ b, bit by bit (for booleans: exclusive or); integer or boolean tensors, or ints."""
    return _bitwise("bitwise_xor", a, b)


def bitwise_left_shift(a: Operand, b: Operand) -> Tensor:
    """a << b: the bits of a moved b places up, zeros shifted in; a shift of the dtype's width or
    more (or a negative one) gives 0, as torch (in C it is undefined). Integer tensors, or ints."""
    return _shift("bitwise_left_shift", a, b)


def bitwise_right_shift(a: Operand, b: Operand) -> Tensor:
    """a >> b: the bits moved b places down, the sign bit shifted in (a // 2**b); a shift of the
    dtype's width or more (or a negative one) gives 0, or -1 for a negative a, as torch."""
    return _shift("bitwise_right_shift", a, b)


def _shift(name, a, b):
    _check_kinds(name, (a, b), "iu", "integer tensors (or ints)")
    xp, (x, count) = _raw_operands(a, b, name)
    dtype = np.result_type(x, count)
    inside = (count >= 0) & (count < 8 * dtype.itemsize)
    shifted = getattr(xp, name.removeprefix("bitwise_"))(x, xp.where(inside, count, 0))
    outside = 0 if name == "bitwise_left_shift" else xp.where(x < 0, -1, 0)
    return Tensor._wrap(xp.asarray(xp.where(inside, shifted, outside)).astype(dtype))


def bitwise_not(x: Tensor) -> Tensor:
    """~x: each bit flipped (for booleans: not)."""
    if not _is_exact(x):
        raise TypeError(f"bitwise_not: the tensor must be integer or boolean, got {x.dtype}")
    return Tensor._wrap(x.array_module.invert(x.data))


def isnan(x: Tensor) -> Tensor:
    """Where x is nan, as a boolean tensor."""
    return Tensor._wrap(x.array_module.isnan(x.data))


def isinf(x: Tensor) -> Tensor:
    """Where x is +inf or -inf, as a boolean tensor."""
    return Tensor._wrap(x.array_module.isinf(x.data))


def isfinite(x: Tensor) -> Tensor:
    """Where x is neither inf nor nan, as a boolean tensor."""
    return Tensor._wrap(x.array_module.isfinite(x.data))


def isclose(a: Operand, b: Operand, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol * |b|, elementwise (torch's and NumPy's rule); a boolean tensor."""
    a, b = _binary_operands(a, b, "isclose")
    return Tensor._wrap(a.array_module.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))
