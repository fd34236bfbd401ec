"""Muon (Keller Jordan, 2024): momentum, then the update orthogonalised by a Newton-Schulz iteration;
for the 2-D weights of hidden layers (biases and embeddings go to AdamW). torch.optim.Muon's rule."""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as np

from tinygrad_lite.core import Tensor
from tinygrad_lite.errors import ShapeError

from .optimizer import Optimizer

ADJUST_LR = {"original": lambda rows, cols: math.sqrt(max(1.0, rows / cols)),       # Keller Jordan's
             "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols))}  # Moonshot's: AdamW's RMS


def newton_schulz(update, coefficients, steps, eps):
    """X ≈ U Vᵀ of update = U S Vᵀ, without an SVD: X = update / max(‖update‖_F, eps) (so every
    singular value is at most 1), transposed to be wide, then ``steps`` times

        A = X Xᵀ,   X = a X + (b A + c A A) X        (a, b, c) = ``coefficients``

    a quintic polynomial in X that pushes every singular value towards 1 (torch's coefficients take
    them to about 0.7 .. 1.2, which works as well as exactly 1 and needs fewer steps)."""
    a, b, c = coefficients
    tall = update.shape[0] > update.shape[1]
    x = update.T if tall else update
    x = x / max(float(np.sqrt((x * x).sum())), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x.T if tall else x


class Muon(Optimizer):
    """For each 2-D parameter p (rows x cols) with gradient g (torch.optim.Muon's step, step for step):

        m = m + (1 - momentum) * (g - m)                  (m starts at 0: torch's lerp)
        u = g + momentum * (m - g)   if nesterov   else   m
        O = newton_schulz(u)                              (U Vᵀ of u = U S Vᵀ, about)
        p = p * (1 - lr * weight_decay)                   (decoupled weight decay)
        p = p - lr * s * O,   s = sqrt(max(1, rows / cols))      (adjust_lr_fn 'original', the default)
                              s = 0.2 * sqrt(max(rows, cols))    ('match_rms_adamw')

    torch's docstring writes the momentum as m = momentum m + g and u = g + momentum m: the same u
    times 1 / (1 - momentum), which the normalisation in ``newton_schulz`` removes; the buffer kept
    (and saved) is torch's. torch iterates in bfloat16 (a GPU speed-up; NumPy has no bfloat16), this
    in the parameter's dtype: for a well-conditioned update the two agree to a few bfloat16 roundings;
    along an update's tiny singular values the iteration's slope at 0 (a = 3.4, ``ns_steps`` times)
    magnifies bfloat16's roundings, so there torch's step is the noisier one.
    """
    nonnegative = ("momentum", "eps")

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_coefficients: Tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
                 eps: float = 1e-7, ns_steps: int = 5, adjust_lr_fn: Optional[str] = None):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_coefficients=tuple(ns_coefficients), eps=eps, ns_steps=ns_steps,
                                      adjust_lr_fn="original" if adjust_lr_fn is None else adjust_lr_fn))

    def add_param_group(self, group: Dict[str, Any]) -> None:
        for p in group.get("params", ()) if isinstance(group, dict) else ():
            if isinstance(p, Tensor) and p.ndim != 2:
                raise ShapeError(f"Muon: only 2-D parameters (the weights of hidden layers) can be optimised, "
                                 f"got one of shape {p.shape}; give biases and embeddings to AdamW")
        super().add_param_group(group)

    def _check_hyperparameters(self, group):
        if group["adjust_lr_fn"] not in ADJUST_LR:
            raise ValueError(f"Muon: adjust_lr_fn must be None or one of {sorted(ADJUST_LR)}, got "
                             f"{group['adjust_lr_fn']!r}")
        super()._check_hyperparameters({**group, "adjust_lr_fn": 0})
        coefficients, steps = tuple(group["ns_coefficients"]), group["ns_steps"]
        if len(coefficients) != 3:
            raise ValueError(f"Muon: ns_coefficients must be three numbers (a, b, c), got {coefficients!r}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps < 100:
            raise ValueError(f"Muon: ns_steps must be an int in [0, 100), got {steps!r}")

    def update(self, param: Tensor, grad: np.ndarray, group: Dict[str, Any], state: Dict[str, Any]) -> None:
        p, momentum = param.data, group["momentum"]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = param.array_module.zeros_like(p)
        m = state["momentum_buffer"]
        m += (1 - momentum) * (grad - m)
        u = grad + momentum * (m - grad) if group["nesterov"] else m
        orthogonal = newton_schulz(u, group["ns_coefficients"], group["ns_steps"], group["eps"])
        p *= 1 - group["lr"] * group["weight_decay"]
        p -= (group["lr"] * ADJUST_LR[group["adjust_lr_fn"]](*p.shape)) * orthogonal
