"""The contract between the training loop and a framework: ``Adapter``, and the ``Step`` it returns.

``experiments.loop.EpochLoop`` trains any object that has these members; two do
(``experiments.train.ScratchAdapter``, tinygrad_lite's, and ``experiments.torch_reference.TorchAdapter``,
the referee's), and ``tests/test_adapter.py`` checks both against this Protocol. An adapter owns the
model, the optimiser and the schedule (``experiments.optimizers``) and the data on its device.
"""
from typing import Any, Dict, Iterable, NamedTuple, Protocol, Tuple, runtime_checkable

import numpy as np


class Step(NamedTuple):
    """What ``adapter.step`` leaves on the device: the loss, the logits, the batch's correct count and size."""
    loss: Any
    logits: Any
    correct: Any
    size: int


@runtime_checkable
class Adapter(Protocol):
    """A framework's side of the training loop."""

    n_batches: int                      # training batches per epoch
    splits: Dict[str, Tuple[Any, Any]]  # "train", "val", "test" -> (x, y) on the device

    def batches(self, epoch: int) -> Iterable[Any]:
        """This epoch's training batches, in ``DataLoader(seed=seed).epoch_order(epoch)``."""

    def step(self, batch: Any, iteration: int) -> Step:
        """Forward, loss (the target's loss + the L2 term), backward, optimiser step, on one batch;
        ``iteration`` counts optimiser steps from 1."""

    def evaluate(self, x: Any, y: Any) -> Tuple[float, float, np.ndarray]:
        """(mean loss, accuracy, predictions as NumPy) on one split, in eval mode, without gradients."""

    def schedule_step(self) -> None:
        """The learning-rate schedule's step (none without a schedule): after every epoch, or after every
        optimiser step for a ``per_step`` schedule (``experiments.optimizers.SCHEDULES``)."""

    def state_dict(self) -> Dict[str, Any]:
        """A snapshot of the weights (the best epoch's are kept)."""

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a ``state_dict`` snapshot."""

    def lr(self) -> float:
        """The optimiser's current learning rate (its first param group's)."""

    def host(self, values: Any) -> np.ndarray:
        """A list of device scalars as one NumPy array (one transfer)."""
