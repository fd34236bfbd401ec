"""Adagrad (Duchi, Hazan and Singer, 2011) with learning-rate decay and weight decay: torch's rule."""
from __future__ import annotations

from typing import Any, Dict, Iterable

import numpy as np

from tinygrad_lite.core import Tensor

from .optimizer import Optimizer


class Adagrad(Optimizer):
    """For each parameter p with gradient g, at step t = 1, 2, ... (torch.optim.Adagrad's update; the
    sum starts at initial_accumulator_value):

        g = g + weight_decay * p
        lr_t = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g^2
        p = p - lr_t * g / (sqrt(sum) + eps)
    """
    scalar_state = ("step",)
    nonnegative = ("lr_decay", "initial_accumulator_value", "eps")

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps))

    def update(self, param: Tensor, grad: np.ndarray, group: Dict[str, Any], state: Dict[str, Any]) -> None:
        p, xp = param.data, param.array_module
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p, group["initial_accumulator_value"])
        state["step"] = step = state["step"] + 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        lr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        total = state["sum"]
        total += grad * grad
        denom = xp.sqrt(total)
        denom += group["eps"]
        p -= lr * grad / denom
