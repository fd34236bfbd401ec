"""Smooth elementwise functions beyond exp and log: trigonometric, hyperbolic, logarithms in base 2
and 10, and the compositions torch names (exp2, rsqrt, lerp, logaddexp).

Each Function's docstring gives the forward formula and the gradient; each backward is written in
Tensor ops, so second derivatives come free.
"""
from __future__ import annotations

import math

from ..backend import array_module
from ..core import Function, Operand, Tensor
from .dtypes import floating
from .elementwise import _binary_operands, abs, maximum, pow, sqrt, where


class SinOp(Function):
    """y = sin x;  dx = gy * cos x"""
    def forward(self, x): return array_module(x).sin(x)
    def backward(self, gy): return gy * cos(self.inputs[0])


class CosOp(Function):
    """y = cos x;  dx = -gy * sin x"""
    def forward(self, x): return array_module(x).cos(x)
    def backward(self, gy): return -gy * sin(self.inputs[0])


class TanOp(Function):
    """y = tan x;  dx = gy * (1 + y^2)"""
    def forward(self, x): return array_module(x).tan(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 + y * y)


class SinhOp(Function):
    """y = sinh x;  dx = gy * cosh x"""
    def forward(self, x): return array_module(x).sinh(x)
    def backward(self, gy): return gy * cosh(self.inputs[0])


class CoshOp(Function):
    """y = cosh x;  dx = gy * sinh x"""
    def forward(self, x): return array_module(x).cosh(x)
    def backward(self, gy): return gy * sinh(self.inputs[0])


class AsinOp(Function):
    """y = asin x;  dx = gy / sqrt(1 - x^2)"""
    def forward(self, x): return array_module(x).arcsin(x)

    def backward(self, gy):
        x, = self.inputs
        return gy / sqrt(1 - x * x)


class AcosOp(Function):
    """y = acos x;  dx = -gy / sqrt(1 - x^2)"""
    def forward(self, x): return array_module(x).arccos(x)

    def backward(self, gy):
        x, = self.inputs
        return -gy / sqrt(1 - x * x)


class AtanOp(Function):
    """y = atan x;  dx = gy / (1 + x^2)"""
    def forward(self, x): return array_module(x).arctan(x)

    def backward(self, gy):
        x, = self.inputs
        return gy / (1 + x * x)


class Log2Op(Function):
    """y = log2 x;  dx = gy / (x ln 2)"""
    def forward(self, x): return array_module(x).log2(x)
    def backward(self, gy): return gy / (self.inputs[0] * math.log(2.0))


class Log10Op(Function):
    """y = log10 x;  dx = gy / (x ln 10)"""
    def forward(self, x): return array_module(x).log10(x)
    def backward(self, gy): return gy / (self.inputs[0] * math.log(10.0))


class Log1pOp(Function):
    """y = ln(1 + x), exact for tiny x (where 1 + x rounds to 1);  dx = gy / (1 + x)"""
    def forward(self, x): return array_module(x).log1p(x)
    def backward(self, gy): return gy / (1 + self.inputs[0])


# ---- the functions users call ---------------------------------------------------------------------

def sin(x: Tensor) -> Tensor: return SinOp()(floating(x))
def cos(x: Tensor) -> Tensor: return CosOp()(floating(x))
def tan(x: Tensor) -> Tensor: return TanOp()(floating(x))
def sinh(x: Tensor) -> Tensor: return SinhOp()(floating(x))
def cosh(x: Tensor) -> Tensor: return CoshOp()(floating(x))
def asin(x: Tensor) -> Tensor: return AsinOp()(floating(x))
def acos(x: Tensor) -> Tensor: return AcosOp()(floating(x))
def atan(x: Tensor) -> Tensor: return AtanOp()(floating(x))
def log2(x: Tensor) -> Tensor: return Log2Op()(floating(x))
def log10(x: Tensor) -> Tensor: return Log10Op()(floating(x))
def log1p(x: Tensor) -> Tensor: return Log1pOp()(floating(x))


# The one-line functions above are documented by their op's docstring: the formula and its gradient.
for _function, _op in ((sin, SinOp), (cos, CosOp), (tan, TanOp), (sinh, SinhOp), (cosh, CoshOp), (asin, AsinOp),
                       (acos, AcosOp), (atan, AtanOp), (log2, Log2Op), (log10, Log10Op), (log1p, Log1pOp)):
    _function.__doc__ = _op.__doc__


def exp2(x: Tensor) -> Tensor:
    """2^x, as ``2.0 ** x`` (pow with a constant base: dx = gy * y * ln 2)."""
    return pow(2.0, x)


def rsqrt(x: Tensor) -> Tensor:
    """1 / sqrt(x), composed of sqrt and div."""
    return 1.0 / sqrt(x)


def lerp(start: Tensor, end: Operand, weight: Operand) -> Tensor:
    """start + weight * (end - start), composed; ``weight`` a number or a tensor (broadcasting).
    Gradients: d start = 1 - weight, d end = weight, d weight = end - start."""
    start, end = _binary_operands(start, end, "lerp")
    return start + weight * (end - start)


def logaddexp(a: Operand, b: Operand) -> Tensor:
    """ln(e^a + e^b) = max(a, b) + log1p(e^-|a - b|), composed, so nothing overflows.

    The gradient is sigmoid(a - b) for a (half each on ties, through maximum's and abs's rules).
    Where a == b (two equal infinities included) the difference is taken as 0, so
    logaddexp(-inf, -inf) is -inf as in torch, not nan.
    """
    a, b = _binary_operands(a, b, "logaddexp")
    difference = where(a == b, 0.0, a - b)
    return maximum(a, b) + log1p((-abs(difference)).exp())

