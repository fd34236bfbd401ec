"""A run's optimiser and learning-rate schedule, in both frameworks, from two tables.

``OPTIMIZERS`` maps ``RunConfig.optimizer`` to its ``nn.optim`` class and torch's twin of it. Every
keyword of the ``nn.optim`` class but ``params`` and ``lr`` is an option a run may set in
``RunConfig.optimizer_options`` (SGD: momentum, dampening, nesterov, weight_decay; Adam and AdamW:
betas, eps, weight_decay; ...); what a run leaves out keeps the ``nn.optim`` class's default. Both
sides are built from the same row with the same resolved options, passed by name, so torch never
falls back on a default of its own::

    RunConfig(..., optimizer="sgd", lr=0.05, optimizer_options={"momentum": 0.9, "nesterov": True})
    -> nn.optim.SGD(params, lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0)
    -> torch.optim.SGD(twin_params, lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.0)

``SCHEDULES`` maps the first item of ``RunConfig.schedule`` to its ``nn.optim`` schedule and torch's
twin; the tuple's other items are the schedule's arguments (``("step", 10, 0.5)``: StepLR, step_size
10, gamma 0.5). A schedule stepped after every optimiser step (``per_step``) also gets the run's
number of steps, epochs * batches per epoch, as its last argument.

A new optimiser or schedule is one row here; torch is never imported here (the torch columns get
the ``torch`` module from the torch reference).
"""
import inspect
import math
from typing import Callable, NamedTuple

import nn


class OptimizerKind(NamedTuple):
    scratch: type        # the nn.optim class: (params, lr, **options)
    torch: Callable      # torch -> torch's class of the same rule, called the same way


class ScheduleKind(NamedTuple):
    scratch: Callable    # (optimiser, *args) -> an nn.optim schedule
    torch: Callable      # (torch, optimiser, *args) -> torch's schedule of the same rule
    per_step: bool       # stepped after every optimiser step (else after every epoch)


OPTIMIZERS = {
    "sgd": OptimizerKind(nn.optim.SGD, lambda torch: torch.optim.SGD),
    "adam": OptimizerKind(nn.optim.Adam, lambda torch: torch.optim.Adam),
    "adamw": OptimizerKind(nn.optim.AdamW, lambda torch: torch.optim.AdamW),
    "rmsprop": OptimizerKind(nn.optim.RMSprop, lambda torch: torch.optim.RMSprop),
    "adagrad": OptimizerKind(nn.optim.Adagrad, lambda torch: torch.optim.Adagrad),
    "muon": OptimizerKind(nn.optim.Muon, lambda torch: torch.optim.Muon),      # 2-D weights only (no biases)
}


def _torch_inverse_time(torch, optimizer, decay_rate):
    """nn.optim.InverseTimeDecay in torch: lr0 / (1 + decay_rate * epoch), as a LambdaLR."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 / (1.0 + decay_rate * epoch))


def _torch_warmup_cosine(torch, optimizer, warmup, total):
    """nn.optim.WarmupCosineLR's factor, written again for torch (the referee keeps its own copy)."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


SCHEDULES = {
    "inverse_time": ScheduleKind(nn.optim.InverseTimeDecay, _torch_inverse_time, per_step=False),
    "step": ScheduleKind(nn.optim.StepLR, lambda torch, *args: torch.optim.lr_scheduler.StepLR(*args),
                         per_step=False),
    "exponential": ScheduleKind(nn.optim.ExponentialLR,
                                lambda torch, *args: torch.optim.lr_scheduler.ExponentialLR(*args), per_step=False),
    "warmup_cosine": ScheduleKind(nn.optim.WarmupCosineLR, _torch_warmup_cosine, per_step=True),
}


def option_names(optimizer):
    """The options of ``OPTIMIZERS[optimizer]`` with their defaults: the ``nn.optim`` class's keywords."""
    parameters = inspect.signature(OPTIMIZERS[optimizer].scratch).parameters.values()
    return {p.name: p.default for p in parameters if p.name not in ("params", "lr")}


def check(config):
    """Raise ValueError naming the field when ``config``'s optimiser, its options or its schedule
    are not in the tables."""
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"config {config.name}: optimizer must be one of {sorted(OPTIMIZERS)}, got "
                         f"{config.optimizer!r}")
    if not isinstance(config.optimizer_options, dict):
        raise ValueError(f"config {config.name}: optimizer_options must be a dict of option -> value, got "
                         f"{config.optimizer_options!r}")
    known = option_names(config.optimizer)
    unknown = sorted(set(config.optimizer_options) - set(known))
    if unknown:
        where = "RunConfig.lr" if "lr" in unknown else f"one of {sorted(known)}"
        raise ValueError(f"config {config.name}: optimizer_options {unknown} are not options of "
                         f"{config.optimizer!r}; expected {where}")
    if config.schedule and config.schedule[0] not in SCHEDULES:
        raise ValueError(f"config {config.name}: schedule must start with one of {sorted(SCHEDULES)}, "
                         f"got {config.schedule!r}")


def options(config):
    """Every option of ``config``'s optimiser: the ``nn.optim`` defaults, overlaid with ``optimizer_options``."""
    check(config)
    return {**option_names(config.optimizer), **config.optimizer_options}


def build_optimizer(config, params, torch=None):
    """``config``'s optimiser over ``params``: ``nn.optim``'s, or with ``torch`` (the module) torch's twin."""
    resolved = options(config)                  # checks the row and the options first
    kind = OPTIMIZERS[config.optimizer]
    maker = kind.scratch if torch is None else kind.torch(torch)
    return maker(params, lr=config.lr, **resolved)


def per_step(config):
    """Whether ``config``'s schedule steps after every optimiser step (else after every epoch)."""
    return bool(config.schedule) and SCHEDULES[config.schedule[0]].per_step


def build_schedule(config, optimizer, batches_per_epoch, torch=None):
    """``config``'s schedule on ``optimizer`` (``nn.optim``'s, or with ``torch`` torch's), or None."""
    if not config.schedule:
        return None
    check(config)
    kind, *args = config.schedule
    row = SCHEDULES[kind]
    if row.per_step:
        args.append(config.epochs * batches_per_epoch)
    return row.scratch(optimizer, *args) if torch is None else row.torch(torch, optimizer, *args)
