"""The scratch framework in the training loop: ``train(config, data, ...)`` -> ``TrainResult``.

``ScratchAdapter`` is tinygrad_lite's side of ``experiments.loop`` (which holds the epoch loop, the
logged losses, early stopping and the best epoch): per step
``loss = cross_entropy(model(x), y) + l2_penalty(model, config.l2)``, backward, optimiser step, on
batches in ``DataLoader(seed=seed).epoch_order(epoch)`` (the torch reference replays the same order).
Evaluation runs in eval mode under ``no_grad`` and in batches (plain cross-entropy, no L2 term).

``train`` adds what only the replays need: checkpoints in ``run_dir`` (``experiments.checkpoint``)
after every epoch and on a requested stop (Ctrl-C, SIGTERM), and resuming (``resume=True``) mid-epoch:
the epoch's order is replayed and the batches already done are skipped, so on the CPU the final
weights are bit-identical to an uninterrupted run with the same seed (on CUDA too where CuPy's
generator's state is saved, see ``checkpoint.generator_state``; where a state cannot be restored, e.g.
on another GPU model, the dropout masks after a resume differ, and the run's notes say so).
``model.npz`` holds the final weights.
"""
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nn
import tinygrad_lite as tl
from nn.serialization import load_arrays, save_arrays
from tinygrad_lite import backend
from tinygrad_lite.dataloader import DataLoader, TensorDataset
from tinygrad_lite.errors import TinygradLiteError

from . import checkpoint
from .checkpoint import BEST, LAST
from .loop import EpochLoop, LoopState, Progress, Step, check_config, make_optimizer
from .models import build
from .targets import TARGETS, Classes

EVAL_BATCH = 1000
SCHEDULES = {"inverse_time": nn.optim.InverseTimeDecay, "step": nn.optim.StepLR,
             "exponential": nn.optim.ExponentialLR, "warmup_cosine": nn.optim.WarmupCosineLR}


class TrainingInterrupted(TinygradLiteError, RuntimeError):
    """Training stopped on request (Ctrl-C / SIGTERM) after finishing a step; a checkpoint was saved."""

    def __init__(self, message, checkpoint=None, epoch=None, batch=None):
        super().__init__(message)
        self.checkpoint, self.epoch, self.batch = checkpoint, epoch, batch



@dataclass
class TrainResult:
    model: object
    history: dict
    final: dict                     # epoch_used and train/val/test loss and accuracy of the final model
    predictions: dict               # split -> {"y_true": [...], "y_pred": [...]}
    wall_time_s: float
    stopped_early_at: int = 0       # the epoch (1-based) after which early stopping ended training, or 0
    notes: list = field(default_factory=list)


def evaluate(model, x, y, batch_size=EVAL_BATCH, target=Classes):
    """(mean cross-entropy, accuracy, predictions as NumPy) of ``model`` on device arrays x, y;
    ``target``: how y is scored (``experiments.targets``: a label per example by default)."""
    was_training = model.training
    model.eval()
    losses, predictions, correct = [], [], []
    try:
        with tl.no_grad():
            for i in range(0, len(x), batch_size):
                logits, labels = model(tl.Tensor(x[i:i + batch_size])), y[i:i + batch_size]
                losses.append(target.loss(nn.functional, logits, tl.Tensor(labels), reduction="sum").data)
                predictions.append(target.predicted(logits.data, labels))
                correct.append(target.correct(logits.data, labels))
    finally:
        model.train(was_training)
    xp = backend.array_module(x)
    loss = float(backend.as_numpy(xp.stack(losses).sum())) / target.scored(y)
    predicted = backend.as_numpy(xp.concatenate(predictions))
    accuracy = int(backend.as_numpy(xp.stack(correct).sum())) / len(x)
    return loss, accuracy, predicted


def scratch_model(config, input_shape, seed):
    """``config``'s model with its initial weights for ``seed`` (re-seeds ``tinygrad_lite``)."""
    tl.manual_seed(seed)
    return build(config.layers, input_shape, config.init)


class ScratchAdapter:
    """tinygrad_lite's model, optimiser and data for ``experiments.loop.EpochLoop``.

    The weights are drawn with ``tl.manual_seed(seed)`` and ``config.init``; ``dtype`` (default: the
    data's) casts model and data; ``grad_recorder`` records gradient norms every ``log_every`` steps.
    """

    def __init__(self, config, data, device="cpu", seed=0, dtype=None, grad_recorder=None):
        self.config, self.device, self.grad_recorder = config, device, grad_recorder
        self.target = TARGETS[data.target]
        self.model = scratch_model(config, data.input_shape, seed).to(device)
        if dtype is not None:
            self.model = self.model.astype(dtype)
        input_dtype = dtype if data.x_train.dtype.kind == "f" else None      # token inputs stay integers
        self.loader = DataLoader(TensorDataset(data.x_train, data.y_train), config.batch_size, shuffle=True, seed=seed,
                                 device=device, dtype=input_dtype)
        self.n_batches = len(self.loader)
        self.optimizer, self.schedule = make_optimizer(config, list(self.model.parameters()), nn.optim, SCHEDULES,
                                                       self.n_batches)
        self.splits = {name: (backend.to_device(x if input_dtype is None else x.astype(input_dtype), device),
                              backend.to_device(y, device)) for name, x, y in data.splits()}
        self.array_module = backend.array_module(device=device)
        self.model.train()

    def batches(self, epoch):
        self.loader.set_epoch(epoch)
        return self.loader

    def step(self, batch, iteration):
        """One optimiser step on ``batch = (x, y)``: loss = cross_entropy(model(x), y) + l2_penalty(model,
        config.l2) (for token targets, the cross-entropy over the scored positions: ``self.target.loss``);
        zero the gradients, loss.backward(), optimizer.step(); returns ``Step(loss.data, logits.data,
        number of correct predictions, batch size)``."""
        xb, yb = batch
        logits = self.model(xb)
        loss = self.target.loss(nn.functional, logits, yb)
        if self.config.l2:
            loss = loss + nn.functional.l2_penalty(self.model, self.config.l2)
        self.optimizer.zero_grad()
        loss.backward()
        if self.grad_recorder is not None and (iteration % min(self.config.log_every, self.n_batches) == 0
                                               or iteration == 1):
            self.grad_recorder.record(self.model, iteration)
            self.grad_recorder.record_activations(self.model, xb, iteration)
        self.optimizer.step()
        return Step(loss.data, logits.data, self.target.correct(logits.data, yb.data), len(yb))

    def evaluate(self, x, y):
        return evaluate(self.model, x, y, target=self.target)

    def schedule_step(self):
        if self.schedule is not None:
            self.schedule.step()

    def state_dict(self):
        return self.model.state_dict()

    def load_state_dict(self, state):
        self.model.load_state_dict(state)

    def lr(self):
        return float(self.optimizer.param_groups[0]["lr"])

    def host(self, values):
        return backend.as_numpy(self.array_module.stack(values))


class StopSignals:
    """While active, the first Ctrl-C (SIGINT) or SIGTERM only asks training to stop after the current
    step; a second Ctrl-C interrupts at once. Handlers are installed only in the main thread."""

    def __init__(self):
        self.requested, self._previous = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        print(f"\n{self.requested}: stopping after this step and saving a checkpoint "
              "(Ctrl-C again to abort at once, without saving)", file=sys.stderr)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class RunFiles:
    """What ``train`` keeps in ``run_dir`` while the loop runs: the last checkpoint after every epoch
    and on a requested stop (Ctrl-C, SIGTERM, ``step_hook``), the best epoch's weights."""

    def __init__(self, config, adapter, run_dir, run_fingerprint, step_hook):
        self.config, self.adapter, self.run_dir, self.fingerprint = config, adapter, run_dir, run_fingerprint
        self.step_hook, self.signals = step_hook, StopSignals()

    def save_last(self, loop):
        if self.run_dir is None:
            return None
        meta = {"fingerprint": self.fingerprint, "state": loop.state_dict(),
                "rng": checkpoint.rng_state(self.adapter.device), "run": self.config.name}
        adapter = self.adapter
        checkpoint.save_checkpoint(self.run_dir / LAST, adapter.model, adapter.optimizer, adapter.schedule, meta)
        return self.run_dir / LAST

    def save_best(self, weights):
        if self.run_dir is not None:
            save_arrays(self.run_dir / BEST, weights)

    def stop_now(self, loop):
        loop.sync()
        path = self.save_last(loop)
        where = f"epoch {loop.state.epoch + 1}, after batch {loop.state.batch} of {loop.n_batches}"
        raise TrainingInterrupted(
            f"{self.config.name}: stopped ({self.signals.requested}) at {where}"
            + (f"; checkpoint saved to {path}" if path else " (no run_dir, so nothing was saved)"),
            checkpoint=path, epoch=loop.state.epoch + 1, batch=loop.state.batch)

    def after_step(self, loop):
        state = loop.state
        if self.step_hook is not None and self.step_hook(state.epoch, state.batch - 1, state.iteration):
            self.signals.requested = self.signals.requested or "a stop requested by step_hook"
        if self.signals.requested and state.batch < loop.n_batches:
            self.stop_now(loop)

    def after_epoch(self, loop):
        self.save_last(loop)
        if self.signals.requested and not loop.state.finished:
            self.stop_now(loop)


def _resume(config, adapter, run_dir, run_fingerprint, notes):
    """(LoopState or None, best weights or None) from ``run_dir``'s last checkpoint, saying so in ``notes``."""
    last_path = None if run_dir is None else run_dir / LAST
    if last_path is None or not last_path.is_file():
        notes.append("--resume: no checkpoint found, so training started from the beginning")
        print(f"{config.name}: --resume found no checkpoint in {run_dir}; starting from the beginning",
              file=sys.stderr)
        return None, None
    meta, restored = checkpoint.resume(last_path, run_fingerprint, adapter.model, adapter.optimizer,
                                       adapter.schedule, adapter.device)
    state = LoopState(**meta["state"])
    if not restored and any(spec[0] == "dropout" for spec in config.layers):
        notes.append(f"the dropout generator's saved state could not be restored on {adapter.device}, so the "
                     "resumed run draws other masks than an uninterrupted one would")
    best = (load_arrays(run_dir / BEST, max_bytes=adapter.model.max_state_bytes())
            if state.best is not None and (run_dir / BEST).is_file() else None)
    if state.finished:             # killed after training, before the run's files were written
        notes.append(f"--resume: the checkpoint's training had finished after epoch {state.epoch} "
                     f"of {config.epochs}; no epoch was trained again")
        print(f"{config.name}: the checkpoint says training finished after epoch {state.epoch} of "
              f"{config.epochs}; writing the run's results without training more", file=sys.stderr)
    else:
        notes.append(f"resumed from {last_path.name} at epoch {state.epoch + 1}, batch {state.batch}")
        print(f"{config.name}: resuming at epoch {state.epoch + 1}, after batch {state.batch}", file=sys.stderr)
    return state, best


def train(config, data, *, device="cpu", seed=0, run_dir=None, resume=False, sync_every=50,
          progress=True, subset=None, grad_recorder=None, step_hook=None):
    """Train ``config``'s model on ``data`` (an ``experiments.data.RunData``); see the module docstring.

    ``step_hook(epoch, batch, iteration)`` is called after every optimiser step; a true return value
    asks for a stop, as Ctrl-C does (tests use it). ``grad_recorder`` (a ``GradientFlowRecorder``)
    records gradient norms every ``log_every`` iterations. ``subset`` only enters the checkpoint's
    fingerprint (``data`` is already cut).
    """
    check_config(config, sync_every)
    run_dir = None if run_dir is None else Path(run_dir)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    device = backend.resolve_device(device)
    adapter = ScratchAdapter(config, data, device, seed, grad_recorder=grad_recorder)
    run_fingerprint = checkpoint.fingerprint(config, seed, subset, data.used_sample)
    notes = []
    state, best_weights = _resume(config, adapter, run_dir, run_fingerprint, notes) if resume else (None, None)
    run = RunFiles(config, adapter, run_dir, run_fingerprint, step_hook)
    loop = EpochLoop(config, adapter, state=state, sync_every=sync_every, after_step=run.after_step,
                     after_epoch=run.after_epoch, on_best=run.save_best,
                     progress=Progress(config.name, config.epochs, bar=progress))
    loop.best_weights = best_weights
    if loop.log_every < config.log_every:
        notes.append(f"training loss logged every {loop.log_every} iterations (an epoch has only "
                     f"{loop.n_batches}; the config says {config.log_every})")
    with run.signals:
        loop.run()
    final, predicted = loop.finish()
    predictions = {split: {"y_true": adapter.target.truth(backend.as_numpy(y)).tolist(),
                           "y_pred": predicted[split].tolist()}
                   for split, (x, y) in adapter.splits.items()}
    wall = loop.elapsed()
    if run_dir is not None:
        checkpoint.save_final(run_dir, adapter.model, run_fingerprint)
    if loop.state.stopped_early_at:
        notes.append(f"early stopping ended training after epoch {loop.state.stopped_early_at}")
    if config.select_best_by:
        notes.append(f"the weights of epoch {final['epoch_used']} (best {config.select_best_by}) are the result")
    return TrainResult(adapter.model, loop.state.history, final, predictions, wall,
                       loop.state.stopped_early_at, notes)


def load_trained(config, input_shape, run_dir, expected_fingerprint, device="cpu"):
    """The final model of a finished run in ``run_dir`` if it was trained with the same settings, else None."""
    weights = checkpoint.final_weights(run_dir, expected_fingerprint)
    if weights is None:
        return None
    model = build(config.layers, input_shape, config.init)
    model.load(weights)
    return model.to(device)
