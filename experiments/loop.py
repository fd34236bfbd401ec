"""The one training loop: ``EpochLoop(config, adapter).run()`` trains any framework the same way.

A *framework adapter* (``experiments.adapter.Adapter``: ``experiments.train.ScratchAdapter``,
``experiments.torch_reference.TorchAdapter``) owns the model, the optimiser and the data on its
device and offers::

    batches(epoch)      this epoch's training batches, in ``DataLoader(seed=seed).epoch_order(epoch)``
    step(batch, i)      forward, loss (cross-entropy + L2 term), backward, optimiser step -> Step
    evaluate(x, y)      (mean cross-entropy, accuracy, predicted labels as NumPy), eval mode, no grad
    schedule_step()     the learning-rate schedule's step: after each epoch, or after each optimiser
                        step for a ``per_step`` schedule (a transformer's warm-up and cosine)
    state_dict() / load_state_dict(state)   a snapshot of the weights and its restoration
    lr(), host(values), splits, n_batches    the current rate; device scalars -> NumPy; name -> (x, y)

The loop keeps the rest: the logged training loss (``history["iteration_loss"]``: at every
``log_every``-th iteration i, the mean loss of iterations i - log_every + 1 .. i), one evaluation
row per epoch on every split, early stopping (``config.early_stopping = (metric, patience)``) and the
best epoch (``config.select_best_by``), all by one rule, ``improved``. The loss is read back from the
device only every ``sync_every`` steps and at an epoch's end; a NaN or Inf loss stops training with
an error naming the first bad epoch and batch.
"""
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from tinygrad_lite.errors import TinygradLiteError

from . import optimizers
from .progress import Progress

HIGHER_IS_BETTER = {"val_acc": True, "val_loss": False, "train_acc": True, "train_loss": False}
SPLITS = ("train", "val", "test")


class NonFiniteLossError(TinygradLiteError, FloatingPointError):
    """The training loss became NaN or Inf."""


def improved(metric, value, best):
    """Whether ``value`` of ``metric`` beats ``best`` (higher accuracy, lower loss); anything beats None."""
    if best is None:
        return True
    return value > best if HIGHER_IS_BETTER[metric] else value < best


def check_config(config, sync_every=1):
    """Raise ValueError naming the field when the stopping, selection, logging or optimiser settings
    cannot work."""
    optimizers.check(config)
    if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
        raise ValueError(f"sync_every must be a positive int, got {sync_every!r}")
    metrics = ("val_loss", "val_acc")
    if config.select_best_by not in ("",) + metrics:
        raise ValueError(f"config {config.name}: select_best_by must be '', 'val_loss' or 'val_acc', "
                         f"got {config.select_best_by!r}")
    if config.early_stopping:
        if (len(config.early_stopping) != 2 or config.early_stopping[0] not in metrics
                or not isinstance(config.early_stopping[1], int) or config.early_stopping[1] < 1):
            raise ValueError(f"config {config.name}: early_stopping must be () or (metric, patience) with "
                             f"metric 'val_loss' or 'val_acc' and patience >= 1, got {config.early_stopping!r}")
    if not isinstance(config.log_every, int) or config.log_every < 1:
        raise ValueError(f"config {config.name}: log_every must be a positive int, got {config.log_every!r}")


@dataclass
class LoopState:
    """Where training is; saved in every checkpoint (``asdict``) and restored on resume."""
    epoch: int = 0                  # epochs done
    batch: int = 0                  # batches done in the current epoch
    iteration: int = 0              # optimiser steps done
    wall_time_s: float = 0.0        # training time of the sessions before this one
    finished: bool = False
    stopped_early_at: int = 0       # the epoch (1-based) after which early stopping ended training, or 0
    window: list = field(default_factory=lambda: [0.0, 0])      # loss sum and count since the last logged point
    running: list = field(default_factory=lambda: [0.0, 0, 0])  # this epoch: loss * n, correct, seen
    best: list = None               # [epoch, value] of the best ``select_best_by`` epoch so far
    early: list = None              # [best value, epochs without improvement] of ``early_stopping``
    history: dict = field(default_factory=lambda: {"iteration_loss": [], "epochs": []})
    epoch_lr: float = None          # the learning rate at the current epoch's first step (its row's "lr")


class EpochLoop:
    """Train ``adapter`` for ``config.epochs`` epochs (see the module docstring).

    ``after_step(loop)`` runs after every optimiser step and ``after_epoch(loop)`` after every epoch
    (the scratch trainer's checkpoints and Ctrl-C); ``on_best(weights)`` gets each new best epoch's
    weights. ``state`` continues a resumed run.
    """

    def __init__(self, config, adapter, *, state=None, sync_every=50, progress=None,
                 after_step=None, after_epoch=None, on_best=None):
        check_config(config, sync_every)
        self.config, self.adapter, self.sync_every = config, adapter, sync_every
        self.state = state or LoopState()
        self.n_batches = adapter.n_batches
        self.log_every = min(config.log_every, self.n_batches)
        self.progress = progress or Progress(config.name, config.epochs)
        self.after_step, self.after_epoch, self.on_best = after_step, after_epoch, on_best
        self.per_iteration = optimizers.per_step(config)
        self.best_weights, self.pending = None, []     # pending: (iteration, epoch, batch, Step) not yet read
        self.session_start = time.perf_counter()

    def elapsed(self):
        return self.state.wall_time_s + time.perf_counter() - self.session_start

    def state_dict(self):
        return asdict(self.state) | {"wall_time_s": self.elapsed()}

    def run(self):
        try:
            while not self.state.finished and self.state.epoch < self.config.epochs:
                self.run_epoch()
        finally:
            self.progress.close()
        return self

    def run_epoch(self):
        state, adapter, epoch = self.state, self.adapter, self.state.epoch
        if state.batch == 0 or state.epoch_lr is None:      # a resume mid-epoch keeps the epoch's first
            state.epoch_lr = adapter.lr()                   # (a schedule may step within the epoch)
        lr = state.epoch_lr
        self.progress.start(epoch, self.n_batches, state.batch)
        for batch, data in enumerate(adapter.batches(epoch)):
            if batch < state.batch:
                continue                      # done before the interruption: replayed, skipped
            state.iteration += 1
            step = adapter.step(data, state.iteration)
            if self.per_iteration:
                adapter.schedule_step()
            state.batch = batch + 1
            if self.config.log_test_loss and state.iteration % self.log_every == 0:
                state.history.setdefault("iteration_test_loss", []).append(
                    [state.iteration, adapter.evaluate(*adapter.splits["test"])[0]])
            self.pending.append((state.iteration, epoch, batch, step))
            if len(self.pending) >= self.sync_every:
                self.sync()
            self.progress.step()
            if self.after_step is not None:
                self.after_step(self)
        self.sync()
        row = {"epoch": epoch + 1, "lr": lr}
        for split in SPLITS:
            row[f"{split}_loss"], row[f"{split}_acc"], _ = adapter.evaluate(*adapter.splits[split])
        state.history["epochs"].append(row)
        self.progress.end(f"{self.progress.name} epoch {epoch + 1}/{self.config.epochs}  lr {lr:.4g}  "
                          + "  ".join(f"{s} loss {row[f'{s}_loss']:.4f} acc {row[f'{s}_acc']:.4f}"
                                      for s in SPLITS))
        if not self.per_iteration:
            adapter.schedule_step()
        self.judge(row)
        state.epoch, state.batch, state.running = epoch + 1, 0, [0.0, 0, 0]
        state.finished = state.finished or state.epoch >= self.config.epochs
        if self.after_epoch is not None:
            self.after_epoch(self)

    def judge(self, row):
        """The best epoch so far and the early-stopping count, after epoch ``row["epoch"]``."""
        config, state = self.config, self.state
        if config.select_best_by and improved(config.select_best_by, row[config.select_best_by],
                                              None if state.best is None else state.best[1]):
            state.best = [row["epoch"], row[config.select_best_by]]
            self.best_weights = self.adapter.state_dict()
            if self.on_best is not None:
                self.on_best(self.best_weights)
        if config.early_stopping:
            metric, patience = config.early_stopping
            if state.early is None or improved(metric, row[metric], state.early[0]):
                state.early = [row[metric], 0]
            else:
                state.early[1] += 1
                if state.early[1] >= patience:
                    state.stopped_early_at, state.finished = row["epoch"], True
                    self.progress.say(f"{self.progress.name}: early stopping after epoch {row['epoch']}: "
                                      f"{metric} has not improved for {patience} epochs")

    def sync(self):
        """Read the pending losses from the device (one transfer), check them, log them."""
        if not self.pending:
            return
        pending, self.pending, state = self.pending, [], self.state
        losses = self.adapter.host([p[3].loss for p in pending]).astype(np.float64)
        correct = self.adapter.host([p[3].correct for p in pending])
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            iteration, epoch, batch, _ = pending[bad[0]]
            raise NonFiniteLossError(
                f"{self.progress.name}: the training loss is {losses[bad[0]]} at epoch {epoch + 1}, batch "
                f"{batch + 1} of {self.n_batches} (iteration {iteration}); the learning rate "
                f"({self.adapter.lr():g}) may be too high for this model, or the inputs are not normalised")
        for (iteration, _, _, step), loss, hits in zip(pending, losses, correct):
            state.window[0] += float(loss)
            state.window[1] += 1
            state.running[0] += float(loss) * step.size
            state.running[1] += int(hits)
            state.running[2] += step.size
            if iteration % self.log_every == 0:
                state.history["iteration_loss"].append([iteration, state.window[0] / state.window[1]])
                state.window = [0.0, 0]
        self.progress.show(state.running[0] / state.running[2], state.running[1] / state.running[2])

    def finish(self):
        """Restore the best epoch's weights (``select_best_by``) and evaluate the result on every split:
        ``(final, predicted)`` with final = {"epoch_used", "<split>_loss", "<split>_acc"}."""
        epoch_used = len(self.state.history["epochs"])
        if self.config.select_best_by and self.state.best is not None:
            epoch_used = self.state.best[0]
            self.adapter.load_state_dict(self.best_weights)
        final, predicted = {"epoch_used": epoch_used}, {}
        for split in SPLITS:
            final[f"{split}_loss"], final[f"{split}_acc"], predicted[split] = \
                self.adapter.evaluate(*self.adapter.splits[split])
        return final, predicted

