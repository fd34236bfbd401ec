"""Learning-rate schedules, stepped once per epoch (``scheduler.step()`` after each epoch), as torch's,
or after every optimiser step (WarmupCosineLR, a transformer's schedule).

| schedule          | lr after e steps (epochs, or optimiser steps for WarmupCosineLR)                     |
|-------------------|--------------------------------------------------------------------------------------|
| StepLR            | lr0 * gamma ** (e // step_size)                                                        |
| ExponentialLR     | lr0 * gamma ** e                                                                       |
| InverseTimeDecay  | lr0 / (1 + decay_rate * e)                                                             |
| WarmupCosineLR    | lr0 * (e + 1) / warmup for e < warmup,                                                 |
|                   | then lr0 * (1 + cos(pi * min(1, (e - warmup) / (total - warmup)))) / 2                 |

StepLR and ExponentialLR multiply the current lr by gamma when it is due, exactly as torch does, so
the sequences agree to the last bit.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping

from .optimizer import Optimizer


class LRScheduler:
    """Sets ``lr`` in every param group of ``optimizer``; ``last_epoch`` counts the ``step()`` calls."""

    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0

    def step(self) -> None:
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.next_lr(group["lr"], base_lr, self.last_epoch)

    def next_lr(self, current_lr: float, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def get_last_lr(self) -> List[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> Dict[str, Any]:
        """Flat, like the optimisers': ``last_epoch`` and ``base_lrs.{g}`` (the lrs live in the optimiser)."""
        out = {"last_epoch": self.last_epoch}
        out.update({f"base_lrs.{g}": lr for g, lr in enumerate(self.base_lrs)})
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore ``state_dict``'s ``last_epoch`` (an int >= 0) and ``base_lrs`` (numbers >= 0);
        anything else raises ``ValueError`` naming the key and changes nothing."""
        name = type(self).__name__
        keys = ["last_epoch"] + [f"base_lrs.{g}" for g in range(len(self.base_lrs))]
        missing = [key for key in keys if key not in state_dict]
        if missing:
            raise ValueError(f"{name}.load_state_dict: missing {missing}")
        last_epoch = _number(state_dict["last_epoch"], f"{name}: last_epoch")
        if last_epoch != int(last_epoch):
            raise ValueError(f"{name}: last_epoch must be an int >= 0, got {state_dict['last_epoch']!r}")
        base_lrs = [_number(state_dict[key], f"{name}: {key}") for key in keys[1:]]
        self.last_epoch, self.base_lrs = int(last_epoch), base_lrs


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if not isinstance(step_size, int) or step_size <= 0:
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def next_lr(self, current_lr: float, base_lr: float, epoch: int) -> float:
        return current_lr * self.gamma if epoch % self.step_size == 0 else current_lr


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float):
        self.gamma = gamma
        super().__init__(optimizer)

    def next_lr(self, current_lr: float, base_lr: float, epoch: int) -> float:
        return current_lr * self.gamma


class InverseTimeDecay(LRScheduler):
    """lr_e = lr0 / (1 + decay_rate * e) (Keras' InverseTimeDecay with decay_steps=1, staircase)."""

    def __init__(self, optimizer: Optimizer, decay_rate: float):
        if not decay_rate >= 0:
            raise ValueError(f"InverseTimeDecay: decay_rate must be >= 0, got {decay_rate!r}")
        self.decay_rate = decay_rate
        super().__init__(optimizer)

    def next_lr(self, current_lr: float, base_lr: float, epoch: int) -> float:
        return base_lr / (1 + self.decay_rate * epoch)


class WarmupCosineLR(LRScheduler):
    """A linear warm-up over ``warmup_steps`` steps, then a cosine decay to 0 at ``total_steps`` (0 after):
    lr0 * (e + 1) / warmup while e < warmup (never 0, lr0 at e = warmup - 1), then
    lr0 * (1 + cos(pi * progress)) / 2 with progress = min(1, (e - warmup) / max(1, total - warmup)).
    Stepped after every optimiser step (e counts steps), as GPTs are trained; in torch the same is a
    ``LambdaLR`` with this factor. The first step already uses e = 0."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int, total_steps: int):
        for name, value, low in (("warmup_steps", warmup_steps, 0), ("total_steps", total_steps, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"WarmupCosineLR: {name} must be an int >= {low}, got {value!r}")
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        super().__init__(optimizer)
        for group, base_lr in zip(optimizer.param_groups, self.base_lrs):
            group["lr"] = self.next_lr(group["lr"], base_lr, 0)

    def factor(self, step: int) -> float:
        """lr / lr0 after ``step`` steps (the class docstring's formula)."""
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    def next_lr(self, current_lr: float, base_lr: float, epoch: int) -> float:
        return base_lr * self.factor(epoch)


def _number(value, what):
    """``value`` (a number or a 0-d array from a file) as a float, refused unless finite and >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number >= 0, got {value!r}") from None
    if not 0 <= number < float("inf"):
        raise ValueError(f"{what} must be a number >= 0, got {value!r}")
    return number
