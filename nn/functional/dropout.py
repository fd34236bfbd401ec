"""Inverted dropout: zero each element with probability p and scale the survivors by 1/(1-p),
so the expected activation is unchanged and evaluation needs no rescaling."""
import numpy as np

import tinygrad_lite as tl
from tinygrad_lite import backend
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.ops.dtypes import floating


class DropoutOp(Function):
    """y = x * m, m = keep / (1 - p) with keep in {0, 1};  dx = gy * m"""
    def __init__(self, scaled_mask): self.scaled_mask = scaled_mask
    def forward(self, x): return x * self.scaled_mask
    def backward(self, gy): return gy * Tensor._wrap(self.scaled_mask)


def dropout(x, p=0.5, training=True, mask=None):
    """Zero elements of ``x`` with probability ``p`` and scale the rest by 1/(1-p); identity when not training.

    ``mask`` (optional, for reproducing a run or checking against torch): the elements to *keep*
    (bool or 0/1, broadcastable to x's shape); it is scaled by 1/(1-p) here. Without it, a mask is
    drawn on x's device from ``tinygrad_lite.backend.rng(device)``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    if not isinstance(x, Tensor):
        raise TypeError(f"dropout: x must be a Tensor, got {type(x).__name__}")
    if not training or (p == 0.0 and mask is None):
        return x
    x = floating(x)         # integers and bools: the default float dtype (tinygrad_lite/ops/dtypes.py)
    xp, dtype = x.array_module, x.dtype
    if mask is None:
        if p == 1.0:
            keep = xp.zeros(x.shape, dtype=dtype)
        else:
            draw_dtype = dtype if dtype.itemsize >= 4 else np.dtype("float32")   # no float16 generator
            keep = backend.rng(x.device).random(x.shape, dtype=draw_dtype) >= draw_dtype.type(p)
    else:
        keep = mask.data if isinstance(mask, Tensor) else backend.to_device(mask, x.device)
        if not _broadcasts_to(keep.shape, x.shape):
            raise tl.ShapeError(f"dropout: mask of shape {keep.shape} does not broadcast to the input's "
                                f"shape {x.shape}")
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return DropoutOp(keep.astype(dtype) * dtype.type(scale))(x)


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False
