"""Piecewise-constant and integer ops: sign, floor, ceil, round, trunc, floor division (``//``),
torch's ``div`` with a rounding mode, remainder (``%``), fmod and copysign (the bitwise operators
and the tests such as isnan: ``logical.py``).

A step function's slope is 0 wherever it is defined, so these gradients are zeros (torch's too);
remainder and fmod are x minus a step function and pass the gradient on, copysign is x times a
step function (±1). Integer and boolean tensors never carry gradients: on them these ops are plain
NumPy (or CuPy) calls.
"""
from __future__ import annotations

import numpy as np

from typing import Optional

from ..backend import array_module
from ..core import Function, Operand, Tensor
from ..errors import UnsupportedError
from .elementwise import _binary, _binary_array_module, div
from .logical import _is_exact, _raw_operands


def _zeros(gy):
    return Tensor._wrap(gy.array_module.zeros_like(gy.data))


class PiecewiseConstantOp(Function):
    """y = sign / floor / ceil / round / trunc of x (the NumPy function ``name``);  dx = 0
    (round is to the nearest even on halves, with ``decimals`` digits, as in torch)"""
    def __init__(self, name, **options): self.function, self.options = name, options
    def forward(self, x): return getattr(array_module(x), self.function)(x, **self.options)
    def backward(self, gy): return _zeros(gy)


class FloorDivideOp(Function):
    """y = floor(a / b), computed as Python's ``//`` (exact: 1 // 0.1 is 9);  da = db = 0"""
    def forward(self, a, b): return _binary_array_module(a, b).floor_divide(a, b)

    def backward(self, gy):
        zero = _zeros(gy)
        return zero, zero


class RemainderOp(Function):
    """y = a - b * floor(a / b) (Python's ``%``: the sign of b);  da = gy, db = -gy * (a // b)"""
    def forward(self, a, b): return _binary_array_module(a, b).remainder(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return gy, (-gy * floor_divide(a.detach(), b.detach()) if self.needs_grad[1] else None)


class FmodOp(Function):
    """y = a - b * trunc(a / b) (C's fmod: the sign of a);  da = gy, db = -gy * trunc(a / b)"""
    def forward(self, a, b): return _binary_array_module(a, b).fmod(a, b)

    def backward(self, gy):
        a, b = self.inputs
        return gy, (-gy * trunc(a.detach() / b.detach()) if self.needs_grad[1] else None)


class CopysignOp(Function):
    """y = |a| with the sign of b (its sign bit: -0.0 counts as negative, as in C and torch);
    da = gy * (+1 where a and b have the same sign bit, -1 where not; 0 where a = 0, torch's), db = 0"""
    def forward(self, a, b): return _binary_array_module(a, b).copysign(a, b)

    def backward(self, gy):
        a, b = self.inputs
        xp = gy.array_module
        ga = gb = None
        if self.needs_grad[0]:
            flip = xp.where(a.data == 0, 0, xp.where(xp.signbit(a.data) == xp.signbit(b.data), 1, -1))
            ga = gy * Tensor._wrap(flip.astype(gy.dtype))
        if self.needs_grad[1]:
            gb = _zeros(gy)
        return ga, gb


# ---- the functions users call ---------------------------------------------------------------------

def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of x (the gradient is 0)."""
    return PiecewiseConstantOp("sign")(x)


def floor(x: Tensor) -> Tensor:
    """The largest whole number <= x (the gradient is 0)."""
    return PiecewiseConstantOp("floor")(x)


def ceil(x: Tensor) -> Tensor:
    """The smallest whole number >= x (the gradient is 0)."""
    return PiecewiseConstantOp("ceil")(x)


def trunc(x: Tensor) -> Tensor:
    """x rounded towards 0 (the gradient is 0)."""
    return PiecewiseConstantOp("trunc")(x)


def round(x: Tensor, decimals: int = 0) -> Tensor:  # torch's name
    """x rounded to ``decimals`` digits, halves to the nearest even (as torch and NumPy)."""
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return PiecewiseConstantOp("round", decimals=int(decimals))(x)


def _integer_division(name, a, b):
    """floor_divide or remainder of integer (or boolean) operands, refusing a zero divisor as torch does
    (NumPy would give 0 with a warning)."""
    xp, (x, y) = _raw_operands(a, b, name)
    if bool((xp.asarray(y) == 0).any()):
        raise ZeroDivisionError(f"{name}: integer division by zero (the divisor has a 0)")
    return Tensor._wrap(getattr(xp, name)(x, y))


def _both_exact(a, b):
    return all(_is_exact(x) if isinstance(x, Tensor) else isinstance(x, (bool, int, np.integer)) for x in (a, b))


def floor_divide(a: Operand, b: Operand) -> Tensor:
    """a // b, rounding towards -inf (Python's and torch's ``//``); the gradient is 0."""
    return _integer_division("floor_divide", a, b) if _both_exact(a, b) else _binary(FloorDivideOp, a, b)


def remainder(a: Operand, b: Operand) -> Tensor:
    """a % b = a - b * (a // b), with the sign of b (Python's and torch's ``%``)."""
    return _integer_division("remainder", a, b) if _both_exact(a, b) else _binary(RemainderOp, a, b)


def fmod(a: Operand, b: Operand) -> Tensor:
    """a - b * trunc(a / b), with the sign of a (C's fmod, torch.fmod)."""
    return _integer_division("fmod", a, b) if _both_exact(a, b) else _binary(FmodOp, a, b)


def copysign(a: Operand, b: Operand) -> Tensor:
    """|a| with the sign of b, elementwise (torch's ``copysign``); integers give the default float dtype."""
    return _binary(CopysignOp, a, b, in_floating=True)


ROUNDING_MODES = (None, "trunc", "floor")


def divide(a: Operand, b: Operand, rounding_mode: Optional[str] = None) -> Tensor:
    """torch's ``div`` (also ``divide``): a / b, true division (``/``), or rounded: 'trunc' towards 0,
    'floor' towards -inf (``//``). Rounded, integers stay integers (exact; a zero divisor is a
    ZeroDivisionError) and the gradient is 0."""
    if rounding_mode not in ROUNDING_MODES:
        raise UnsupportedError(f"div: rounding_mode must be one of {ROUNDING_MODES}, got {rounding_mode!r}")
    if rounding_mode is None:
        return div(a, b)
    if rounding_mode == "floor":
        return floor_divide(a, b)
    if not _both_exact(a, b):
        return trunc(div(a, b))
    xp, (x, y) = _raw_operands(a, b, "div")
    if bool((xp.asarray(y) == 0).any()):
        raise ZeroDivisionError("div: integer division by zero (the divisor has a 0)")
    return Tensor._wrap(xp.floor_divide(x - xp.fmod(x, y), y))      # x - fmod(x, y) is a multiple of y
