"""RMSprop (Hinton's lecture 6e), with momentum and the centred variant: torch's rule."""
from __future__ import annotations

from typing import Any, Dict, Iterable

import numpy as np

from tinygrad_lite.core import Tensor

from .optimizer import Optimizer


class RMSprop(Optimizer):
    """For each parameter p with gradient g (torch.optim.RMSprop's update, step for step; s, a, b
    start at 0):

        g = g + weight_decay * p
        s = alpha * s + (1 - alpha) * g^2                 (square_avg)
        a = a + (1 - alpha) * (g - a)                     (grad_avg, centered only)
        d = sqrt(s - a^2) + eps  if centered  else  sqrt(s) + eps
        b = momentum * b + g / d;  p = p - lr * b         (momentum > 0)
        p = p - lr * g / d                                (momentum = 0)
    """
    scalar_state = ("step",)
    nonnegative = ("alpha", "eps", "momentum")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered))

    def update(self, param: Tensor, grad: np.ndarray, group: Dict[str, Any], state: Dict[str, Any]) -> None:
        p, xp = param.data, param.array_module
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            denom = xp.sqrt(square_avg - grad_avg * grad_avg)
        else:
            denom = xp.sqrt(square_avg)
        denom += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / denom
            p -= group["lr"] * buf
        else:
            p -= group["lr"] * grad / denom
