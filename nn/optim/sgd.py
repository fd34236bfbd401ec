"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay: torch's rule."""
from __future__ import annotations

from typing import Any, Dict, Iterable

import numpy as np

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Tensor

from .optimizer import Optimizer


class SGD(Optimizer):
    """For each parameter p with gradient g (torch.optim.SGD's update, step for step):

        g = g + weight_decay * p
        b = g                                     (first step)
        b = momentum * b + (1 - dampening) * g    (later steps)
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    Without momentum the middle lines are skipped: p = p - lr * g.
    """
    nonnegative = ("momentum",)

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={momentum}, dampening={dampening}")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      nesterov=nesterov, weight_decay=weight_decay))

    def update(self, param: Tensor, grad: np.ndarray, group: Dict[str, Any], state: Dict[str, Any]) -> None:
        p = param.data
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p -= scaled(grad, group["lr"], state)


def scaled(array, factor, state):
    """factor * array, written into a buffer kept in ``state`` (not saved) so no step allocates memory."""
    out = state.get("_scratch")
    if out is None or out.shape != array.shape or out.dtype != array.dtype or type(out) is not type(array):
        out = state["_scratch"] = array.copy()
    return array_module(array).multiply(array, factor, out=out)
