"""Normalisation as functions on Tensors: ``batch_norm``, ``layer_norm`` and ``normalize``, torch's.

The shared step is one op, ``NormaliseOp``, the affine scale and shift included (as a composition
of mean, sub, mul and pow it took about 30 passes over the activations per training step; as one op
with the scale and shift as two more ops about 18; fused, about 14, and no temporaries for the sums):

    normalise(x) over axes A:     mu = mean_A(x),  var = mean_A((x - mu)^2)  (biased),
                                  x_hat = (x - mu) / sqrt(var + eps),  y = x_hat * w + b
                                  g = gy * w,  dx = (g - mean_A(g) - x_hat * mean_A(g * x_hat)) / sqrt(var + eps)
                                  dw = sum(gy * x_hat), db = sum(gy) over the axes w and b broadcast along

which the layers take as:

    batch_norm  (training):       A = every axis but the channel axis 1, w and b per channel
    batch_norm  (evaluation):     y = (x - running_mean) / sqrt(running_var + eps) * weight + bias
    layer_norm:                   A = the last len(normalized_shape) axes, w and b of that shape
    normalize:                    y = x / max(||x||_p, eps) along ``dim``

In training, ``batch_norm`` also updates the running statistics in place, as torch does:

    running_mean = momentum * mu + (1 - momentum) * running_mean
    running_var  = momentum * var * n / (n - 1) + (1 - momentum) * running_var     (unbiased var)

with n the number of values per channel (N, or N*L, or N*H*W).
"""
import math

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Function, Tensor, sum_to
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.ops.axes import normalise_axis
from tinygrad_lite.ops.elementwise import where


class NormaliseOp(Function):
    """y = x_hat * w + b,  x_hat = (x - mu) / sqrt(var + eps), mu and var (biased) over ``axes``;
    with g = gy * w:  dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps),
                      dw = gy * x_hat and db = gy, summed to w's and b's shapes (means over ``axes``).

    w and b are optional (``affine`` says which are inputs) and come shaped to broadcast against x.
    The forward keeps ``mean`` and ``var`` (axes kept, size 1) for batch norm's running statistics.
    ``backward`` is in Tensor ops and recomputes x_hat from x, so that second derivatives see it
    depend on x; ``_fast_backward`` (training) uses the x_hat and 1/sqrt(var + eps) forward kept, and
    sums by ``sum_over`` / ``dot_over`` (the statistics "fused": one pass each, no temporaries).
    """
    def __init__(self, axes, eps, affine=(False, False)):
        self.axes, self.eps, self.affine = tuple(axes), eps, affine

    def forward(self, x, *weight_bias):
        count = _count(x.shape, self.axes)
        self.mean = sum_over(x, self.axes) / count
        centred = x - self.mean
        self.var = dot_over(centred, centred, self.axes) / count
        self.inv_std = 1.0 / array_module(x).sqrt(self.var + self.eps)
        centred *= self.inv_std
        self.x_hat = centred
        weight, bias = self._affine(weight_bias)
        if weight is None and bias is None:
            return centred
        y = centred * weight if weight is not None else centred.copy()
        if bias is not None:
            y += bias
        return y

    def _affine(self, items):
        """(weight, bias) from the inputs after x, None for those this op was made without."""
        items = list(items)
        return tuple(items.pop(0) if present else None for present in self.affine)

    def backward(self, gy):
        x, axes = self.inputs[0], self.axes
        weight, bias = self._affine(self.inputs[1:])
        centred = x - x.mean(axis=axes, keepdims=True)
        inv_std = ((centred * centred).mean(axis=axes, keepdims=True) + self.eps) ** -0.5
        x_hat = centred * inv_std
        g = gy if weight is None else gy * weight
        gx = (g - g.mean(axis=axes, keepdims=True) - x_hat * (g * x_hat).mean(axis=axes, keepdims=True)) * inv_std
        return ((gx,) + ((sum_to(gy * x_hat, weight.shape),) if weight is not None else ())
                + ((sum_to(gy, bias.shape),) if bias is not None else ()))

    def _fast_backward(self, gy):
        """``backward`` on the arrays forward kept: x_hat, 1/sqrt(var + eps)."""
        gy, x_hat, axes = gy.data, self.x_hat, self.axes
        weight, bias = self._affine(t.data for t in self.inputs[1:])
        count = _count(gy.shape, axes)
        g = gy if weight is None else gy * weight
        mean_g, mean_gx = sum_over(g, axes) / count, dot_over(g, x_hat, axes) / count
        gx = x_hat * mean_gx
        gx += mean_g
        array_module(gy).subtract(g, gx, out=gx)
        gx *= self.inv_std
        grads = [gx]
        for param, part in ((weight, lambda spread: dot_over(gy, x_hat, spread)),
                            (bias, lambda spread: sum_over(gy, spread))):
            if param is not None:
                spread = tuple(range(gy.ndim - param.ndim)) + tuple(
                    gy.ndim - param.ndim + i for i, n in enumerate(param.shape) if n == 1)
                grads.append(part(spread).reshape(param.shape) if self.needs_grad[len(grads)] else None)
        return tuple(Tensor._wrap(g) if g is not None else None for g in grads)


def _count(shape, axes):
    count = 1
    for a in axes:
        count *= shape[a]
    return count


def _blocks(a, axes):
    """(lead, kept, trail): ``a``'s size before, within and after its one run of kept axes, when the
    summed ``axes`` are exactly the axes outside that run and ``a`` is contiguous; else None."""
    kept = [i for i in range(a.ndim) if i not in axes]
    if not a.flags.c_contiguous or not kept or kept != list(range(kept[0], kept[-1] + 1)):
        return None
    lead, mid = _count(a.shape, range(kept[0])), _count(a.shape, kept)
    return lead, mid, a.size // max(lead * mid, 1)


def sum_over(a, axes):
    """``a.sum(axis=axes, keepdims=True)`` as products with vectors of ones where the summed axes lie
    before and after one run of kept ones (layer norm's last axes, batch norm's N and H, W): BLAS
    reads the array once at full speed, where NumPy's sum over leading axes makes a pass per row."""
    blocks = _blocks(a, axes)
    keepdims = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
    if blocks is None or 0 in a.shape:
        return a.sum(axis=axes, keepdims=True)
    xp, (lead, mid, trail) = array_module(a), blocks
    rows = a.reshape(lead, mid * trail)
    rows = xp.ones(lead, dtype=a.dtype) @ rows if lead > 1 else rows[0]
    return (rows.reshape(mid, trail) @ xp.ones(trail, dtype=a.dtype)).reshape(keepdims)


def dot_over(a, b, axes):
    """(a * b).sum(axis=axes, keepdims=True) in one pass, without the product's temporary (einsum)."""
    letters = "abcdefghijklmnopqrstuvwxyz"[:a.ndim]
    kept = "".join(c for i, c in enumerate(letters) if i not in axes)
    summed = array_module(a).einsum(f"{letters},{letters}->{kept}", a, b)
    return summed.reshape(tuple(1 if i in axes else n for i, n in enumerate(a.shape)))


def _normalise(x, axes, eps, weight=None, bias=None):
    """(y, mu, var): ``NormaliseOp`` over ``axes`` with the optional affine ``weight`` and ``bias``
    (already shaped to broadcast against x); mu and var are arrays with the axes kept."""
    op = NormaliseOp(axes, eps, (weight is not None, bias is not None))
    y = op(x, *[t for t in (weight, bias) if t is not None])
    return y, op.mean, op.var


def _scale_shift(y, weight, bias, shape):
    """y * weight + bias, with weight and bias (either may be None) reshaped to broadcast as ``shape``."""
    if weight is not None:
        y = y * weight.reshape(*shape)
    if bias is not None:
        y = y + bias.reshape(*shape)
    return y


def _check_tensor(x, name, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a tinygrad_lite.Tensor, got {type(x).__name__}")


def _check_per_channel(tensor, name, channels, op):
    if tensor is None:
        return
    _check_tensor(tensor, name, op)
    if tensor.shape != (channels,):
        raise ShapeError(f"{op}: {name} must have shape ({channels},) (one value per channel of the "
                         f"input), got {tensor.shape}")


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):
    """Batch normalisation of x (N, C, ...) per channel (axis 1), torch's ``F.batch_norm``.

    ``training``: normalise with the batch's mean and biased variance, and update ``running_mean``
    and ``running_var`` in place when they are given (see the module docstring). Otherwise
    normalise with ``running_mean`` and ``running_var`` (which must then be given).
    ``weight`` and ``bias`` (C,) are the affine scale and shift, or None.
    """
    _check_tensor(x, "input", "batch_norm")
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must have shape (N, C, ...), at least 2-d, got {x.shape}")
    channels = x.shape[1]
    for name, tensor in (("running_mean", running_mean), ("running_var", running_var),
                         ("weight", weight), ("bias", bias)):
        _check_per_channel(tensor, name, channels, "batch_norm")
    shape = (1, channels) + (1,) * (x.ndim - 2)
    if not training:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var must be given when training=False")
        mean, var = running_mean.detach().reshape(*shape), running_var.detach().reshape(*shape)
        return _scale_shift((x - mean) / (var + eps).sqrt(), weight, bias, shape)
    n = x.numel() // channels
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                         f"of shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    y, mu, var = _normalise(x, axes, eps, *[None if t is None else t.reshape(*shape) for t in (weight, bias)])
    if running_mean is not None:
        running_mean.data[...] = momentum * mu.reshape(channels) + (1 - momentum) * running_mean.data
    if running_var is not None:
        unbiased = var.reshape(channels) * (n / (n - 1))
        running_var.data[...] = momentum * unbiased + (1 - momentum) * running_var.data
    return y


def _normalized_shape(normalized_shape):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape):
        raise ValueError(f"layer_norm: normalized_shape must be a positive int or a tuple of them, got "
                         f"{normalized_shape!r}")
    return shape


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the last ``len(normalized_shape)`` axes, torch's ``F.layer_norm``;
    ``weight`` and ``bias`` have shape ``normalized_shape`` (or are None)."""
    _check_tensor(x, "input", "layer_norm")
    shape = _normalized_shape(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape or x.ndim < len(shape):
        raise ShapeError(f"layer_norm: the input's last axes must be normalized_shape {shape}, got input "
                         f"of shape {x.shape}")
    for name, tensor in (("weight", weight), ("bias", bias)):
        if tensor is not None:
            _check_tensor(tensor, name, "layer_norm")
            if tensor.shape != shape:
                raise ShapeError(f"layer_norm: {name} must have normalized_shape {shape}, got {tensor.shape}")
    y, _, _ = _normalise(x, tuple(range(x.ndim - len(shape), x.ndim)), eps, weight, bias)
    return y


def normalize(x, p=2.0, dim=1, eps=1e-12):
    """x / max(||x||_p, eps) along ``dim``, torch's ``F.normalize``, for every p torch takes:
    ||x||_p = (sum |x|^p)^(1/p); max |x| for p = inf, min |x| for p = -inf (the gradient shared
    evenly among ties, as torch's); the number of nonzero elements for p = 0 (no gradient).

    Where a slope is infinite torch takes it as 0, so do we: the norm of a zero vector (p > 0),
    |x|^p at x = 0 for p < 1, and a negative p's norm of a vector holding a 0 (which is 0 itself).
    """
    _check_tensor(x, "input", "normalize")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or math.isnan(p):
        raise ValueError(f"normalize: p must be a number (or math.inf), got {p!r}")
    dim = normalise_axis(dim, x.ndim, "normalize", "dim")
    magnitude = x.abs()
    if p == 0:
        norm = Tensor._wrap((x.data != 0).sum(axis=dim, keepdims=True).astype(x.dtype))
    elif math.isinf(p):
        norm = (magnitude.max if p > 0 else magnitude.min)(axis=(dim,), keepdims=True)
    elif p >= 1:
        total = (magnitude if p == 1 else magnitude ** p).sum(axis=dim, keepdims=True)
        if p == 1:
            norm = total
        else:                           # where twice: (0)^(1/p) has an infinite slope; torch's is 0
            positive = total > 0
            safe = where(positive, total, 1.0)
            norm = where(positive, safe ** (1.0 / p) if p != 2 else safe.sqrt(), 0.0)
    else:                               # p < 1: |x|^p has an infinite slope at 0, taken as 0
        nonzero = magnitude.data != 0
        powered = where(nonzero, where(nonzero, magnitude, 1.0) ** p, 0.0)
        total = powered.sum(axis=dim, keepdims=True)
        vanishes = (total.data == 0) if p > 0 else ~nonzero.all(axis=dim, keepdims=True)
        norm = where(vanishes, 0.0, where(vanishes, 1.0, total) ** (1.0 / p))
    return x / norm.clip(min=eps)
