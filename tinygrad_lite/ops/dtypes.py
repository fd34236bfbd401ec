"""torch's dtype rules where NumPy's differ: the one place that says what dtype an op's result has.

NumPy (2.x) promotes an int64 array with a float32 one to float64, divides integers into float64,
and takes exp of an integer array in float64. torch keeps its default float dtype (float32) for all
of these. A student porting torch code would get float64 tensors: half the speed, other numbers. So:

1. An op that only makes sense in floating point (exp, log, sqrt, sin, ..., true division, mean,
   var, std, logsumexp) given integers or bools computes in the default float dtype
   (``tl.get_default_dtype()``): ``floating``.
2. A binary op's operands meet at torch's result type (``result_type``). Each operand has a
   category, bool < integer < floating, and a tier: a tensor with axes, a 0-d tensor, a plain
   number. The highest category wins; within it, the highest tier that has it decides; within one
   tier, the wider dtype. A plain float means the default float dtype, a plain int int64:

       int64 tensor + float32 tensor    float32   (NumPy: float64)
       int tensor * 0.5                 float32   (NumPy: float64)     the default float dtype
       float16 tensor + 1.0             float16
       float32 tensor + float64 0-d     float32   (NumPy: float64)     a 0-d tensor acts like a number
       int8 tensor + int64 0-d          int8      (NumPy: int64)
       int8 tensor + 300                int8      300 wraps to 44, as torch (NumPy: an OverflowError)
       bool tensor + 1                  int64

   ``integer_scalar`` wraps a plain int into an integer dtype the way two's complement does
   (``int32 | 0xFFFFFFFF`` is -1, as torch).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import get_default_dtype
from ..core import Tensor


def floating(x: Any) -> Any:
    """``x``, or, when it holds integers or bools, ``x`` cast to the default float dtype (rule 1).
    Anything that is not a Tensor is passed through, for the op to refuse."""
    if isinstance(x, Tensor) and x.dtype.kind != "f":
        return Tensor._wrap(x.data.astype(get_default_dtype()))
    return x


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """torch's promoteTypes: a float and an integer (or bool) give the float; otherwise NumPy's."""
    if a == b:
        return a
    if (a.kind == "f") != (b.kind == "f"):
        return a if a.kind == "f" else b
    return np.promote_types(a, b)


def _category(dtype):
    return "bif".index("i" if dtype.kind in "iu" else dtype.kind)


def _combine(higher, lower):
    """torch's combine_categories: the higher tier's dtype, unless the lower tier has a higher category."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    return promote_types(higher, lower) if _category(lower) > _category(higher) else higher


def number_dtype(value: Any) -> np.dtype:
    """The dtype a plain number stands for (rule 2): bool, int64, or the default float dtype."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(value, (float, np.floating)):
        return get_default_dtype()
    raise TypeError(f"expected a Tensor or a number, got {type(value).__name__}")


def result_type(*operands: Any) -> np.dtype:
    """The dtype torch gives a binary op on ``operands`` (Tensors and plain numbers): rule 2."""
    tiers = [None, None, None]              # tensors with axes, 0-d tensors, plain numbers
    for x in operands:
        tier, dtype = ((0 if x.ndim else 1), x.dtype) if isinstance(x, Tensor) else (2, number_dtype(x))
        tiers[tier] = dtype if tiers[tier] is None else promote_types(tiers[tier], dtype)
    return _combine(_combine(tiers[0], tiers[1]), tiers[2])


def integer_scalar(value: int, dtype: np.dtype) -> np.generic:
    """A plain int as a scalar of the integer ``dtype``, wrapped around modulo 2**bits as torch does."""
    bits = 8 * dtype.itemsize
    value = int(value) % (1 << bits)
    if dtype.kind == "i" and value >= 1 << (bits - 1):
        value -= 1 << bits
    return dtype.type(value)
