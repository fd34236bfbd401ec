"""Elementwise ops. Each docstring gives the forward formula and the gradient the backward returns.

Binary ops broadcast like NumPy; their backward returns the gradient at the broadcast shape and the
engine (``core._deliver``) sums it back to each input's shape.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..backend import array_module, device_of, to_device
from ..core import Function, Operand, Tensor
from ..errors import ShapeError
from .convert import as_tensor, astype, check_same_device
from .dtypes import floating, result_type


def _binary_operands(a, b, op):
    """Both operands as Tensors of torch's result dtype (``dtypes.result_type``: int64 + float32 is
    float32, int * 0.5 the default float dtype) on one device; a plain number becomes a scalar of
    that dtype."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    a, b = (x if isinstance(x, Tensor) or _is_number(x) else Tensor(x, device=getattr(like, "device", None))
            for x in (a, b))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.dtype != b.dtype:              # cast only where NumPy's promotion would differ from torch's
            dtype = result_type(a, b)
            if dtype != np.result_type(a.data, b.data):
                a, b = _cast(a, dtype), _cast(b, dtype)
        if type(a.data) is not type(b.data):
            check_same_device(op, (a, b))
        return a, b
    if isinstance(a, Tensor):                # a float tensor keeps its dtype next to any number
        a = a if a.dtype.kind == "f" else _cast(a, result_type(a, b))
        return a, as_tensor(b, like=a)
    b = b if b.dtype.kind == "f" else _cast(b, result_type(a, b))
    return as_tensor(a, like=b), b


def _is_number(x):
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating))


def _cast(x, dtype):
    """x in ``dtype``: itself when it has it; to a float dtype differentiably (the gradient is cast back)."""
    return x if x.dtype == dtype else astype(x, dtype)


def _binary_array_module(a, b):
    """The array module of a binary op's operands: b's when a is a scalar (``2 - x``, ``max(0, x)``)."""
    return array_module(b) if isinstance(a, np.generic) else array_module(a)


def _binary(fn_class, a, b, in_floating=False):
    """Run a broadcasting binary op, turning NumPy's broadcast error into one naming the op and shapes;
    ``in_floating``: integer operands are computed in the default float dtype (true division)."""
    op = fn_class.__name__.removesuffix("Op").lower()
    a, b = _binary_operands(a, b, op)
    if in_floating and a.dtype.kind != "f" and b.dtype.kind != "f":
        a, b = floating(a), floating(b)
    try:
        return fn_class()(a, b)
    except ValueError as exc:
        if "broadcast" not in str(exc):
            raise
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None


class AddOp(Function):
    """y = a + b;  da = gy, db = gy"""
    def forward(self, a, b): return a + b
    def backward(self, gy): return gy, gy


class SubOp(Function):
    """y = a - b;  da = gy, db = -gy"""
    def forward(self, a, b): return a - b
    def backward(self, gy): return gy, (-gy if self.needs_grad[1] else None)


class MulOp(Function):
    """y = a * b;  da = gy * b, db = gy * a"""
    def forward(self, a, b): return a * b

    def backward(self, gy):
        a, b = self.inputs
        return (gy * b if self.needs_grad[0] else None), (gy * a if self.needs_grad[1] else None)


class DivOp(Function):
    """y = a / b;  da = gy / b, db = -gy * a / b**2"""
    def forward(self, a, b): return a / b

    def backward(self, gy):
        a, b = self.inputs
        ga = gy / b if self.needs_grad[0] else None
        gb = -gy * a / (b * b) if self.needs_grad[1] else None
        return ga, gb


class NegOp(Function):
    """y = -x;  dx = -gy"""
    def forward(self, x): return -x
    def backward(self, gy): return -gy


class PowScalarOp(Function):
    """y = x ** c (c a constant);  dx = gy * c * x ** (c - 1)"""
    def __init__(self, exponent): self.exponent = exponent
    def forward(self, x): return x ** self.exponent

    def backward(self, gy):
        x, = self.inputs
        c = self.exponent
        if c == 0:
            return gy * 0       # constant output; x ** -1 would divide by zero at x = 0
        return gy * c * (x ** (c - 1)) if c != 2 else gy * 2 * x


class PowOp(Function):
    """y = a ** b;  da = gy * b * a ** (b - 1), db = gy * y * log(a)

    At the points where those formulas give 0 * inf, torch's limits: da = 0 where b = 0 (y is the
    constant 1), db = 0 where a = 0 and b >= 0 (y is 0, or 1 at b = 0, on both sides of b).
    """
    def forward(self, a, b): return a ** b

    def backward(self, gy):
        a, b = self.inputs
        ga = gb = None
        if self.needs_grad[0]:
            # b * a^(b-1) first, as torch: at a = 0 and a subnormal b, gy * b would underflow to 0 and 0 * inf is NaN
            ga = _zero_where(b.data == 0, gy * (b * a ** (b - 1)))
        if self.needs_grad[1]:
            gb = _zero_where((a.data == 0) & (b.data >= 0), gy * self.output() * log(a))
        return ga, gb


def _zero_where(mask, g):
    """``g`` with zeros where ``mask`` holds; ``g`` itself (no extra op) where it holds nowhere."""
    if not mask.any():
        return g
    return where(Tensor._wrap(mask), Tensor._wrap(g.array_module.zeros((), dtype=g.dtype)), g)


class ExpOp(Function):
    """y = e^x;  dx = gy * y"""
    def forward(self, x): return array_module(x).exp(x)
    def backward(self, gy): return gy * self.output()


class LogOp(Function):
    """y = ln x;  dx = gy / x"""
    def forward(self, x): return array_module(x).log(x)
    def backward(self, gy): return gy / self.inputs[0]


class SqrtOp(Function):
    """y = sqrt(x);  dx = gy / (2 y)"""
    def forward(self, x): return array_module(x).sqrt(x)
    def backward(self, gy): return gy / (2 * self.output())


class AbsOp(Function):
    """y = |x|;  dx = gy * sign(x)  (0 at x = 0, as in torch)"""
    def forward(self, x): return array_module(x).abs(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * Tensor._wrap(x.array_module.sign(x.data))


class TanhOp(Function):
    """y = tanh x;  dx = gy * (1 - y^2)"""
    def forward(self, x): return array_module(x).tanh(x)

    def backward(self, gy):
        y = self.output()
        return gy * (1 - y * y)


class SigmoidOp(Function):
    """y = 1 / (1 + e^-x), as torch computes it;  dx = gy * y * (1 - y)

    For very negative x (below about -88 in float32) e^-x overflows to inf and y is exactly 0, the
    IEEE answer torch gives too; that overflow is expected, so its warning is silenced.
    """
    def forward(self, x):
        xp = array_module(x)
        if x.itemsize < 4:            # float16's e^-x overflows already at x < -11: go through float32
            return self.forward(x.astype("float32")).astype(x.dtype)
        y = xp.negative(x, out=xp.empty_like(x))                  # out=: a 0-d input stays an array
        with np.errstate(over="ignore"):
            xp.exp(y, out=y)
        y += 1
        return xp.reciprocal(y, out=y)

    def backward(self, gy):
        y = self.output()
        return gy * y * (1 - y)


class ReLUOp(Function):
    """y = max(x, 0);  dx = gy * [x > 0]"""
    def forward(self, x): return array_module(x).maximum(x, 0)

    def backward(self, gy):
        x, = self.inputs
        return gy * Tensor._wrap(x.data > 0)


class MaximumOp(Function):
    """y = max(a, b);  the gradient goes to the larger input, split in half on ties, and to both
    where either is NaN (y is NaN and neither loses; torch's rule)"""
    pick, loses = "maximum", "less"

    def forward(self, a, b): return getattr(_binary_array_module(a, b), self.pick)(a, b)

    def backward(self, gy):
        a, b = self.inputs
        xp = _binary_array_module(a.data, b.data)
        loses = getattr(xp, self.loses)
        tie = a.data == b.data

        def share(x, other):
            return Tensor._wrap(xp.where(tie, 0.5, xp.where(loses(x, other), 0.0, 1.0)).astype(gy.dtype))
        return gy * share(a.data, b.data), gy * share(b.data, a.data)


class MinimumOp(MaximumOp):
    """y = min(a, b);  the gradient goes to the smaller input, split in half on ties, to both at a NaN"""
    pick, loses = "minimum", "greater"


class ClipOp(Function):
    """y = min(max(x, low), high);  dx = gy * [low <= x <= high]"""
    def __init__(self, low, high): self.low, self.high = low, high
    def forward(self, x): return array_module(x).clip(x, self.low, self.high)

    def backward(self, gy):
        x, = self.inputs
        inside = x.data == x.data   # all True, then narrowed by each bound that is set
        if self.low is not None:
            inside = inside & (x.data >= self.low)
        if self.high is not None:
            inside = inside & (x.data <= self.high)
        return gy * Tensor._wrap(inside)


class WhereOp(Function):
    """y = cond ? a : b;  da = gy * cond, db = gy * (not cond)"""
    def __init__(self, condition): self.condition = condition
    def forward(self, a, b): return _binary_array_module(a, b).where(self.condition, a, b)

    def backward(self, gy):
        cond = Tensor._wrap(self.condition)
        zero = gy * 0
        return where(cond, gy, zero), where(cond, zero, gy)


# ---- the functions users call ---------------------------------------------------------------------

def add(a: Operand, b: Operand) -> Tensor: return _binary(AddOp, a, b)
def sub(a: Operand, b: Operand) -> Tensor: return _binary(SubOp, a, b)
def mul(a: Operand, b: Operand) -> Tensor: return _binary(MulOp, a, b)
def div(a: Operand, b: Operand) -> Tensor: return _binary(DivOp, a, b, in_floating=True)
def neg(x: Tensor) -> Tensor: return NegOp()(x)
def exp(x: Tensor) -> Tensor: return ExpOp()(floating(x))
def log(x: Tensor) -> Tensor: return LogOp()(floating(x))
def sqrt(x: Tensor) -> Tensor: return SqrtOp()(floating(x))
def abs(x: Tensor) -> Tensor: return AbsOp()(x)  # torch's name; the forward uses xp.abs
def tanh(x: Tensor) -> Tensor: return TanhOp()(floating(x))
def sigmoid(x: Tensor) -> Tensor: return SigmoidOp()(floating(x))
def relu(x: Tensor) -> Tensor: return ReLUOp()(x)
def maximum(a: Operand, b: Operand) -> Tensor: return _binary(MaximumOp, a, b)
def minimum(a: Operand, b: Operand) -> Tensor: return _binary(MinimumOp, a, b)


# The one-line functions above are documented by their op's docstring: the formula and its gradient.
for _function, _op in ((add, AddOp), (sub, SubOp), (mul, MulOp), (div, DivOp), (neg, NegOp), (exp, ExpOp),
                       (log, LogOp), (sqrt, SqrtOp), (abs, AbsOp), (tanh, TanhOp), (sigmoid, SigmoidOp),
                       (relu, ReLUOp), (maximum, MaximumOp), (minimum, MinimumOp)):
    _function.__doc__ = _op.__doc__


def pow(x: Operand, exponent: Operand) -> Tensor:
    """x ** exponent, for a constant or a tensor exponent (and a constant base: 2 ** x)."""
    if isinstance(exponent, Tensor) or not isinstance(x, Tensor):
        return _binary(PowOp, x, exponent)
    if x.dtype.kind != "f" and _is_number(exponent):     # int ** 0.5: the default float dtype
        x = _cast(x, result_type(x, exponent))
    if x.dtype == np.bool_ and isinstance(exponent, (bool, np.bool_)):    # torch: bool ** bool stays bool
        return _cast(PowScalarOp(exponent)(x), np.bool_)                 # (NumPy's is int8)
    return PowScalarOp(exponent)(x)


def clip(x: Tensor, min: Optional[float] = None, max: Optional[float] = None) -> Tensor:  # numpy's names
    """Clamp to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float, np.number))):
            raise TypeError(f"clip: {name} must be a number or None, got {bound!r}")
    if x.dtype.kind != "f" and any(isinstance(v, (float, np.floating)) for v in (min, max)):
        x = floating(x)                     # an integer tensor clipped at 0.5: the default float dtype
    return ClipOp(min, max)(x)


def where(condition, a, b) -> Tensor:
    """Pick from ``a`` where ``condition`` holds, else from ``b`` (condition is not differentiated,
    and is moved to the operands' device: CuPy refuses a NumPy condition)."""
    if isinstance(condition, Tensor):
        condition = condition.data
    if getattr(condition, "dtype", None) != np.bool_ or not hasattr(condition, "shape"):
        raise TypeError(f"where: condition must be a bool Tensor or array (a comparison such as x > 0), "
                        f"got {type(condition).__name__}"
                        f"{' of dtype ' + str(condition.dtype) if hasattr(condition, 'dtype') else ''}")
    a, b = _binary_operands(a, b, "where")
    device = a.device if not isinstance(a.data, np.generic) else b.device
    if device_of(condition) != device:
        condition = to_device(condition, device)
    try:
        return WhereOp(condition)(a, b)
    except ValueError:
        raise ShapeError(f"where: the shapes of condition {getattr(condition, 'shape', ())}, a {a.shape} "
                         f"and b {b.shape} cannot be broadcast together") from None
