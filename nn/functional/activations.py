"""Activation functions and ``linear`` (the Dense layer's one fused op), as functions on Tensors.

sigmoid, tanh, relu, softmax and log_softmax are tinygrad_lite's own ops; LeakyReLU, GELU, Softplus
and ``linear`` are defined here, each a Function with its backward in Tensor ops (so that second-order
gradients work). The other activations (silu, elu, selu, celu, hardtanh, relu6, hardsigmoid,
hardswish, mish, logsigmoid, softsign, softmin) are compositions of those ops, exact as written.
"""
import math

import numpy as np

import tinygrad_lite as tl
from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.ops.convert import check_same_device
from tinygrad_lite.ops.dtypes import floating

from .special import ErfOp, erfc_array

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ---- linear ---------------------------------------------------------------------------------------

class LinearOp(Function):
    """y = x @ w^T + b, with x (..., in), w (out, in), b (out,);
    dx = gy @ w,  dw = gy^T @ x (leading axes flattened),  db = gy summed over the leading axes.

    One op instead of three (transpose, matmul, add): this is the MLP's hot path. ``w.T`` is a view,
    never a copy; BLAS reads it transposed.
    """
    def forward(self, x, w, b=None):
        if x.ndim == 1:
            product = x @ w.T
        else:   # (w @ x^T)^T: the same numbers, but OpenBLAS runs this orientation 15-25% faster
            product = (w @ x.swapaxes(-1, -2)).swapaxes(-1, -2)     # at batch 64 (no operand to transpose)
        y = array_module(x).empty(product.shape, dtype=product.dtype)     # row-major again, in the bias's pass
        if b is None:
            y[...] = product
        else:
            array_module(x).add(product, b, out=y)
        return y

    def backward(self, gy):
        x, w = self.inputs[0], self.inputs[1]
        needs = self.needs_grad
        gx = gy @ w if needs[0] else None
        gw = gb = None
        if needs[1] or (len(needs) > 2 and needs[2]):
            gy2 = gy if gy.ndim == 2 else gy.reshape(-1, gy.shape[-1])
            if needs[1]:
                x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
                gw = gy2.T @ x2
            if len(needs) > 2 and needs[2]:
                gb = gy2.sum(axis=0)
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)

    def _fast_backward(self, gy):
        """``backward`` on the arrays: the same products and sum in the same order, so the same bits,
        without the four Tensor op calls (each through the method layer's checks) per layer and step."""
        x, w, g = self.inputs[0].data, self.inputs[1].data, gy.data
        xp, needs = array_module(g), self.needs_grad
        gx = Tensor._wrap(xp.matmul(g, w)) if needs[0] else None
        gw = gb = None
        if needs[1] or (len(needs) > 2 and needs[2]):
            g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
            if needs[1]:
                x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
                gw = Tensor._wrap(xp.matmul(g2.T, x2))
            if len(needs) > 2 and needs[2]:
                gb = Tensor._wrap(g2.sum(axis=0))
        return (gx, gw) if len(needs) == 2 else (gx, gw, gb)


def linear(x, weight, bias=None, layer="linear"):
    """y = x @ weight^T + bias (torch's ``F.linear``): x (..., in), weight (out, in), bias (out,) or None.
    ``layer`` names the caller in errors: a name, or the layer itself (``nn.Dense`` passes itself,
    printed only when there is an error to report)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: the input must be a tinygrad_lite.Tensor, got {type(x).__name__}; "
                        f"wrap arrays with tl.Tensor(...)")
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise tl.ShapeError(f"{layer}: expected input of shape (..., {weight.shape[-1]}) to fit weight of shape "
                            f"{weight.shape}, got {tuple(x.shape)}; flatten images first (nn.Flatten())")
    check_same_device(layer, (x, weight, bias), "input, weight and bias")
    if bias is None:
        return LinearOp()(x, weight)
    if bias.shape != (weight.shape[0],):
        raise tl.ShapeError(f"{layer}: bias must have shape ({weight.shape[0]},) to match weight "
                            f"{weight.shape}, got {bias.shape}")
    return LinearOp()(x, weight, bias)


# ---- element-wise activations ---------------------------------------------------------------------

class LeakyReLUOp(Function):
    """y = x if x > 0 else slope * x;  dx = gy * (1 if x > 0 else slope)"""
    def __init__(self, slope): self.slope = slope

    def forward(self, x):
        self.positive = x > 0
        return array_module(x).where(self.positive, x, x * self.slope)

    def backward(self, gy):
        xp = gy.array_module
        return gy * Tensor._wrap(xp.where(self.positive, 1.0, self.slope).astype(gy.dtype))


class GELUOp(Function):
    """y = x * Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2 (torch's exact GELU);
    dx = gy * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2 / 2) / sqrt(2 pi).

    The forward takes Phi(x) = erfc(-x / sqrt 2) / 2, which stays accurate for very negative x.
    """
    def forward(self, x):
        return x * (0.5 * erfc_array(x * -_SQRT_HALF))

    def backward(self, gy):
        x, = self.inputs
        cdf = (ErfOp()(x * _SQRT_HALF) + 1.0) * 0.5
        pdf = (x * x * -0.5).exp() * _INV_SQRT_2PI
        return gy * (cdf + x * pdf)


class SoftplusOp(Function):
    """y = ln(1 + e^(beta x)) / beta, computed as (max(z, 0) + log1p(e^-|z|)) / beta with z = beta x, and
    y = x where z > threshold (torch's linear region);  dx = gy * sigmoid(z) (gy where z > threshold)."""
    def __init__(self, beta, threshold): self.beta, self.threshold = beta, threshold

    def forward(self, x):
        xp = array_module(x)
        z = x * x.dtype.type(self.beta)
        y = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / x.dtype.type(self.beta)
        return xp.where(z > self.threshold, x, y)

    def backward(self, gy):
        x, = self.inputs
        z = x * self.beta
        return tl.where(z.data > self.threshold, gy, gy * z.sigmoid())


def relu(x):
    """y = max(x, 0)"""
    return tl.relu(x)


def leaky_relu(x, negative_slope=0.01):
    """y = x for x > 0, negative_slope * x otherwise (torch's default slope 0.01)."""
    return LeakyReLUOp(float(negative_slope))(floating(x))


def sigmoid(x):
    """y = 1 / (1 + exp(-x))"""
    return tl.sigmoid(x)


def tanh(x):
    """y = tanh(x)"""
    return tl.tanh(x)


def gelu(x, approximate="none"):
    """GELU: exact ``x * Phi(x)`` (torch's default), or ``approximate='tanh'``:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = floating(x)         # integers and bools: the default float dtype (tinygrad_lite/ops/dtypes.py)
    if approximate == "none":
        return GELUOp()(x)
    if approximate == "tanh":
        inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
        return x * 0.5 * (inner.tanh() + 1.0)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def softmax(x, axis=-1, *, dim=None):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``axis`` or torch's ``dim`` (stable: the max is subtracted first)."""
    return tl.softmax(x, axis, dim=dim)


def log_softmax(x, axis=-1, *, dim=None):
    """y_i = x_i - log(sum_j exp(x_j)) along ``axis`` or torch's ``dim`` (stable)."""
    return tl.log_softmax(x, axis, dim=dim)


def silu(x):
    """y = x * sigmoid(x) (SiLU, also called swish)"""
    return x * tl.sigmoid(x)


swish = silu


def elu(x, alpha=1.0):
    """y = x for x > 0, alpha * (e^x - 1) otherwise (the exponential is taken of x's negative part, so
    that a large x cannot overflow in the branch that is not used)"""
    alpha = _number("elu", "alpha", alpha)
    return tl.where(x.data > 0, x, (_negative_part(x).exp() - 1.0) * alpha)


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    """y = scale * elu(x, alpha), scale = 1.0507..., alpha = 1.6732... (self-normalising; torch's constants)"""
    return elu(x, SELU_ALPHA) * SELU_SCALE


def celu(x, alpha=1.0):
    """y = x for x > 0, alpha * (e^(x / alpha) - 1) otherwise (continuously differentiable ELU)"""
    alpha = _number("celu", "alpha", alpha)
    if alpha == 0:
        raise ValueError("celu: alpha must be nonzero (it divides x), got 0")
    return tl.where(x.data > 0, x, ((_negative_part(x) * (1.0 / alpha)).exp() - 1.0) * alpha)


def softplus(x, beta=1.0, threshold=20.0):
    """y = ln(1 + e^(beta x)) / beta, and x itself where beta x > threshold (torch's defaults 1 and 20)"""
    beta = _number("softplus", "beta", beta)
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero (it divides the result), got 0")
    return SoftplusOp(beta, _number("softplus", "threshold", threshold))(floating(x))


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """y = clip(x, min_val, max_val); the slope is 1 inside, 0 outside"""
    min_val, max_val = _number("hardtanh", "min_val", min_val), _number("hardtanh", "max_val", max_val)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val must not exceed max_val, got min_val={min_val}, max_val={max_val}")
    return _clip_keeping_integers("hardtanh", x, min_val, max_val)


def relu6(x):
    """y = min(max(x, 0), 6)"""
    return _clip_keeping_integers("relu6", x, 0.0, 6.0)


def _clip_keeping_integers(name, x, low, high):
    """clip(x, low, high); on an integer x, as torch, in x's dtype with the bounds truncated toward 0
    (-0.5 -> 0, 2.5 -> 2), and refused for an unsigned x with a negative bound."""
    kind = np.dtype(x.dtype).kind if isinstance(x, tl.Tensor) else "f"
    if kind not in "iu":
        return tl.clip(x, low, high)
    low, high = int(low), int(high)
    if kind == "u" and low < 0:                  # after truncation: -0.5 is a bound of 0, as torch
        raise tl.UnsupportedError(f"{name}: an unsigned tensor ({x.dtype}) cannot be clipped to negative "
                                  f"limits, got min_val={low}, max_val={high} (torch refuses it too)")
    return tl.clip(x, low, high)


def hardsigmoid(x):
    """y = relu6(x + 3) / 6 (0 below -3, 1 above 3, linear between)"""
    return relu6(x + 3.0) / 6.0


def hardswish(x):
    """y = x * relu6(x + 3) / 6"""
    return x * relu6(x + 3.0) / 6.0


def mish(x):
    """y = x * tanh(softplus(x))"""
    x = floating(x)
    return x * SoftplusOp(1.0, float("inf"))(x).tanh()


def logsigmoid(x):
    """y = ln sigmoid(x) = -softplus(-x), stable for large |x|"""
    return -SoftplusOp(1.0, float("inf"))(-floating(x))


def softsign(x):
    """y = x / (1 + |x|)"""
    return x / (x.abs() + 1.0)


def softmin(x, axis=-1, *, dim=None):
    """y = softmax(-x) along ``axis`` or torch's ``dim``"""
    return tl.softmax(-floating(x), axis, dim=dim)     # negated in floating point: uint8 -1 is 255


def _negative_part(x):
    """x where x <= 0, else 0 (its gradient reaches x at x = 0, where ELU's slope is alpha)"""
    return tl.where(x.data > 0, 0.0, x)


def _number(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    return float(value)


def identity(x):
    """y = x (the 'linear' activation of the coursework; the gradient passes through unchanged)."""
    return x
