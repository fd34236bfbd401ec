"""Helpers for the training loop, torch.nn.utils': ``clip_grad_norm_``.

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    opt.step()
"""
import math

import numpy as np

from tinygrad_lite import backend
from tinygrad_lite.core import Tensor


def _vector_norm(array, p):
    """||a||_p = (sum |a|^p)^(1/p) of every element, max |a| for p = inf, on the raw array."""
    xp = backend.array_module(array)
    if math.isinf(p):
        return xp.abs(array).max() if array.size else xp.zeros((), array.dtype)
    if p == 2:
        return xp.sqrt((array * array).sum())
    if p == 1:
        return xp.abs(array).sum()
    return (xp.abs(array) ** p).sum() ** (1.0 / p)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale every gradient in place so that their total norm is at most ``max_norm``; returns the
    total norm before clipping (a 0-d Tensor), as torch.nn.utils.clip_grad_norm_:

        total = || (||g_1||_p, ..., ||g_k||_p) ||_p      (the norm of all gradients as one vector)
        g_i = g_i * min(1, max_norm / (total + 1e-6))

    ``parameters``: a Tensor or an iterable of them (those without a gradient are skipped).
    ``norm_type``: p > 0, or inf for the largest |g|. ``error_if_nonfinite``: raise when the total
    is nan or inf instead of scaling by it (which gives nan and 0 gradients silently, as in torch).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad.data for p in parameters if p.grad is not None]
    norm_type, max_norm = float(norm_type), float(max_norm)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf), got {norm_type!r}")
    if not grads:
        return Tensor(0.0)
    xp, device = backend.array_module(grads[0]), backend.device_of(grads[0])
    norms = xp.stack([backend.to_device(_vector_norm(g, norm_type), device) for g in grads])
    total = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is "
                           f"non-finite, so it cannot be clipped. To disable this error and scale the "
                           f"gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    with np.errstate(all="ignore"):
        coefficient = xp.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g *= backend.to_device(coefficient, backend.device_of(g)).astype(g.dtype)
    return Tensor._wrap(total)
