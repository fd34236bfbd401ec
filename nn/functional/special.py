"""The error function, erf, as an op (NumPy has none): GELU's exact form needs it.

The forward is W. J. Cody's rational Chebyshev approximation (Math. Comp. 23, 1969; the netlib
``specfun/erf`` routine CALERF), good to about 1e-16 relative in float64 on the whole real line,
in plain array operations, so it runs unchanged on NumPy and CuPy and needs no SciPy:

    |x| <= 0.46875:      erf(x)  = x * P(x^2) / Q(x^2)
    0.46875 < x <= 4:    erfc(x) = exp(-x^2) * P(x) / Q(x)
    x > 4:               erfc(x) = exp(-x^2) / x * (1/sqrt(pi) + R(1/x^2) / x^2)

and erf(x) = 1 - erfc(x), erf(-x) = -erf(x), erfc(-x) = 2 - erfc(x). exp(-x^2) is taken as
exp(-s^2) * exp(-(x - s)(x + s)) with s = x rounded down to 1/16, which keeps its relative error small.
"""
import math

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Function
from tinygrad_lite.ops.dtypes import floating

_THRESH, _XBIG = 0.46875, 26.543     # branch point; erfc(x) underflows to 0 beyond XBIG
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_SQRT_1_PI = 0.56418958354775628695   # 1 / sqrt(pi)


def _erf_small(x):
    """erf(x) for |x| <= 0.46875."""
    y = x * x
    num, den = _A[4] * y, y
    for i in range(3):
        num = (num + _A[i]) * y
        den = (den + _B[i]) * y
    return x * (num + _A[3]) / (den + _B[3])


def _erfc_large(y):
    """erfc(y) for y >= 0.46875 (any y: it is clipped into each branch's range, then picked)."""
    xp = array_module(y)
    mid = xp.clip(y, _THRESH, 4.0)
    num, den = _C[8] * mid, mid
    for i in range(7):
        num = (num + _C[i]) * mid
        den = (den + _D[i]) * mid
    mid_part = (num + _C[7]) / (den + _D[7])

    tail = xp.clip(y, 4.0, _XBIG)
    inv = 1.0 / (tail * tail)
    num, den = _P[5] * inv, inv
    for i in range(4):
        num = (num + _P[i]) * inv
        den = (den + _Q[i]) * inv
    tail_part = (_SQRT_1_PI - inv * (num + _P[4]) / (den + _Q[4])) / tail

    z = xp.clip(y, 0.0, _XBIG)
    rounded = xp.floor(z * 16.0) / 16.0
    gauss = xp.exp(-rounded * rounded) * xp.exp(-(z - rounded) * (z + rounded))
    result = xp.where(y <= 4.0, mid_part, tail_part) * gauss
    return xp.where(y >= _XBIG, 0.0, result).astype(y.dtype, copy=False)


def erf_array(x):
    """erf on a raw NumPy/CuPy array (Cody's approximation; see the module docstring)."""
    xp = array_module(x)
    x = xp.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(float)
    y = xp.abs(x)
    outer = (1.0 - _erfc_large(y)) * xp.sign(x)
    return xp.where(y <= _THRESH, _erf_small(xp.clip(x, -_THRESH, _THRESH)), outer).astype(x.dtype, copy=False)


def erfc_array(x):
    """erfc = 1 - erf on a raw array, accurate in relative terms also where erf is near -1 or 1."""
    xp = array_module(x)
    x = xp.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(float)
    tail = _erfc_large(xp.abs(x))
    outer = xp.where(x > 0, tail, 2.0 - tail)
    return xp.where(xp.abs(x) <= _THRESH, 1.0 - _erf_small(xp.clip(x, -_THRESH, _THRESH)),
                    outer).astype(x.dtype, copy=False)


class ErfOp(Function):
    """y = erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt;  dx = gy * 2/sqrt(pi) * exp(-x^2)"""
    def forward(self, x): return erf_array(x)

    def backward(self, gy):
        x, = self.inputs
        return gy * (2.0 / math.sqrt(math.pi)) * (-(x * x)).exp()


def erf(x):
    """The error function of a Tensor, differentiable to any order."""
    return ErfOp()(floating(x))
