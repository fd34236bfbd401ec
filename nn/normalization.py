"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d`` and ``LayerNorm``, torch.nn's.

Names, defaults, state-dict keys and reprs are torch's, so a torch state dict loads unchanged:
``weight`` (ones), ``bias`` (zeros), and the buffers ``running_mean`` (zeros), ``running_var``
(ones) and ``num_batches_tracked`` (an int64 0-d count). The computation lives in
``nn.functional.normalization``.
"""
import numpy as np

from tinygrad_lite import backend
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.core import Tensor

from .functional.normalization import _normalized_shape, batch_norm, layer_norm
from .module import Module, Parameter


def _filled(value, shape, dtype, device):
    dtype = np.dtype(backend.get_default_dtype() if dtype is None else dtype)
    return backend.to_device(np.full(shape, value, dtype=dtype), backend.resolve_device(device))


class _BatchNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (axis 1), with the batch's
    statistics in training and the running ones in evaluation (torch's ``_BatchNorm``).

    ``momentum``: the weight of each new batch in the running statistics; None for their plain
    cumulative average (factor 1 / num_batches_tracked). ``affine``: learn weight and (unless
    ``bias=False``) bias.
    ``track_running_stats=False``: no running statistics; every mode uses the batch's.
    """
    expected_dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=None, device=None, *, bias=True):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be a positive int, got {num_features!r}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1] or None, got {momentum!r}")
        if not eps > 0:
            raise ValueError(f"{type(self).__name__}: eps must be > 0, got {eps!r}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(_filled(1.0, num_features, dtype, device))
        else:
            self.register_parameter("weight", None)
        if self.affine and bias:
            self.bias = Parameter(_filled(0.0, num_features, dtype, device))
        else:
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(_filled(0.0, num_features, dtype, device)))
            self.register_buffer("running_var", Tensor(_filled(1.0, num_features, dtype, device)))
            self.register_buffer("num_batches_tracked",
                                 Tensor(_filled(0, (), np.int64, device)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: the input must be a tinygrad_lite.Tensor, got {type(x).__name__}")
        if x.ndim not in self.expected_dims:
            raise ShapeError(f"{self!r}: expected a {' or '.join(f'{d}-d' for d in self.expected_dims)} "
                             f"input (N, C{', ...' if max(self.expected_dims) > 2 else ''}), got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{self!r}: expected {self.num_features} channels on axis 1, got input of "
                             f"shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or self.running_mean is None
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                          factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, statistics over N (and L)."""
    expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs, statistics over N, H and W."""
    expected_dims = (4,)


class LayerNorm(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last ``len(normalized_shape)`` axes
    (torch's ``nn.LayerNorm``); weight (ones) and bias (zeros) have shape ``normalized_shape``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None,
                 device=None):
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape)
        self.eps, self.elementwise_affine = float(eps), bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(_filled(1.0, self.normalized_shape, dtype, device))
            if bias:
                self.bias = Parameter(_filled(0.0, self.normalized_shape, dtype, device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
