"""Normalisation as functions on Tensors: ``batch_norm``, ``layer_norm`` and ``normalize``, torch's.

The shared step is one op, ``StandardiseOp`` (as a composition of mean, sub, mul and pow it took
about 30 passes over the activations per training step, twice torch's time; as one op about 18):

    standardise(x) over axes A:   mu = mean_A(x),  var = mean_A((x - mu)^2)  (biased),
                                  x_hat = (x - mu) / sqrt(var + eps)
                                  dx = (gy - mean_A(gy) - x_hat * mean_A(gy * x_hat)) / sqrt(var + eps)

and the rest are compositions of existing ops:

    batch_norm  (training):       y = x_hat * weight + bias, A = every axis but the channel axis 1
    batch_norm  (evaluation):     y = (x - running_mean) / sqrt(running_var + eps) * weight + bias
    layer_norm:                   y = x_hat * weight + bias, A = the last len(normalized_shape) axes
    normalize:                    y = x / max(||x||_p, eps) along ``dim``

In training, ``batch_norm`` also updates the running statistics in place, as torch does:

    running_mean = momentum * mu + (1 - momentum) * running_mean
    running_var  = momentum * var * n / (n - 1) + (1 - momentum) * running_var     (unbiased var)

with n the number of values per channel (N, or N*L, or N*H*W).
"""
import math

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.ops.axes import normalise_axis
from tinygrad_lite.ops.elementwise import where


class StandardiseOp(Function):
    """x_hat = (x - mu) / sqrt(var + eps), mu and var (biased) over ``axes``;
    dx = (gy - mean(gy) - x_hat * mean(gy * x_hat)) / sqrt(var + eps), means over ``axes``.

    The forward keeps ``mean`` and ``var`` (axes kept, size 1) for batch norm's running statistics,
    and 1/sqrt(var + eps). The backward is in Tensor ops on x_hat (this op's output, so its dependence
    on x is recorded) and on 1/sqrt(var + eps) recomputed from x, so that second derivatives see it
    depend on x too; ``_fast_backward`` (training) takes the one forward kept instead.
    """
    def __init__(self, axes, eps): self.axes, self.eps = axes, eps

    def forward(self, x):
        self.mean = x.mean(axis=self.axes, keepdims=True)
        centred = x - self.mean
        self.var = (centred * centred).mean(axis=self.axes, keepdims=True)
        self.inv_std = 1.0 / array_module(x).sqrt(self.var + self.eps)
        centred *= self.inv_std
        return centred

    def backward(self, gy):
        x, axes = self.inputs[0], self.axes
        centred = x - x.mean(axis=axes, keepdims=True)
        return self._gradient(gy, ((centred * centred).mean(axis=axes, keepdims=True) + self.eps) ** -0.5)

    def _fast_backward(self, gy):
        """``backward`` with the 1/sqrt(var + eps) forward kept: no second pass over x for the variance."""
        return self._gradient(gy, Tensor._wrap(self.inv_std))

    def _gradient(self, gy, inv_std):
        x_hat, axes = self.output(), self.axes
        spread = x_hat * (gy * x_hat).mean(axis=axes, keepdims=True)
        return (gy - gy.mean(axis=axes, keepdims=True) - spread) * inv_std


def _standardise(x, axes, eps):
    """(x_hat, mu, var) over ``axes`` (see ``StandardiseOp``); mu and var are arrays with axes kept."""
    op = StandardiseOp(axes, eps)
    x_hat = op(x)
    return x_hat, op.mean, op.var


def _affine(y, weight, bias, shape):
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
        return _affine((x - mean) / (var + eps).sqrt(), weight, bias, shape)
    n = x.numel() // channels
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                         f"of shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    x_hat, mu, var = _standardise(x, axes, eps)
    if running_mean is not None:
        running_mean.data[...] = momentum * mu.reshape(channels) + (1 - momentum) * running_mean.data
    if running_var is not None:
        unbiased = var.reshape(channels) * (n / (n - 1))
        running_var.data[...] = momentum * unbiased + (1 - momentum) * running_var.data
    return _affine(x_hat, weight, bias, shape)


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
    x_hat, _, _ = _standardise(x, tuple(range(x.ndim - len(shape), x.ndim)), eps)
    return _affine(x_hat, weight, bias, shape)


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
