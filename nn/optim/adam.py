"""Adam (Kingma and Ba, 2015) with L2 weight decay and bias correction, and AdamW (Loshchilov and
Hutter, 2019) with decoupled weight decay: torch's rules."""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Tuple

import numpy as np

from tinygrad_lite.core import Tensor

from .optimizer import Optimizer


class Adam(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ... (torch.optim.Adam's update):

        g = g + weight_decay * p
        m = m + (1 - beta1) * (g - m)             (= beta1 m + (1 - beta1) g; m, v start at 0)
        v = beta2 * v + (1 - beta2) * g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    scalar_state = ("step",)
    nonnegative = ("eps",)
    decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        betas = tuple(group["betas"])
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas must be two numbers in [0, 1), got {group['betas']!r}")

    def update(self, param: Tensor, grad: np.ndarray, group: Dict[str, Any], state: Dict[str, Any]) -> None:
        p = param.data
        xp = param.array_module
        beta1, beta2 = group["betas"]
        if group["weight_decay"] and self.decoupled_weight_decay:
            p *= 1 - group["lr"] * group["weight_decay"]
        elif group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        state["step"] = step = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]

        change = grad - m
        change *= 1 - beta1
        m += change
        v *= beta2
        square = grad * grad
        square *= 1 - beta2
        v += square

        denom = xp.sqrt(v)
        denom /= math.sqrt(1 - beta2 ** step)
        denom += group["eps"]
        update = m / denom
        update *= group["lr"] / (1 - beta1 ** step)
        p -= update


class AdamW(Adam):
    """Adam with the weight decay taken out of the gradient (torch.optim.AdamW's update):

        p = p * (1 - lr * weight_decay)           (first, with p's value before this step)
        then Adam's update of m, v and p with the plain gradient g.
    """
    decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
