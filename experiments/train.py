"""The scratch framework in the training loop: ``train(config, data, ...)`` -> ``TrainResult``.

``ScratchAdapter`` is tinygrad_lite's side of ``experiments.loop`` (which holds the epoch loop, the
logged losses, early stopping and the best epoch): per step
``loss = cross_entropy(model(x), y) + l2_penalty(model, config.l2)``, backward, optimiser step, on
batches in ``DataLoader(seed=seed).epoch_order(epoch)`` (the torch reference replays the same order).
Evaluation runs in eval mode under ``no_grad`` and in batches (plain cross-entropy, no L2 term).

``train`` adds what only the replays need (``experiments.run_folder.RunFiles``): checkpoints in
``run_dir`` after every epoch and on a requested stop (Ctrl-C, SIGTERM), and resuming
(``resume=True``) mid-epoch: the epoch's order is replayed and the batches already done are skipped,
so on the CPU the final weights are bit-identical to an uninterrupted run with the same seed (on CUDA
too where CuPy's generator's state is saved, see ``checkpoint.generator_state``; where a state cannot
be restored, e.g. on another GPU model, the dropout masks after a resume differ, and the run's notes
say so).
``model.npz`` holds the final weights.
"""
from dataclasses import dataclass, field
from pathlib import Path

import nn
import tinygrad_lite as tl
from tinygrad_lite import backend
from tinygrad_lite.dataloader import DataLoader, TensorDataset

from . import checkpoint
from .adapter import Step
from .loop import EpochLoop, check_config
from .models import build
from .optimizers import build_optimizer, build_schedule
from .progress import Progress
from .run_folder import RunFiles, resume_state
from .targets import TARGETS, Classes

EVAL_BATCH = 1000


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
    """tinygrad_lite's model, optimiser and data for ``experiments.loop.EpochLoop`` (an
    ``experiments.adapter.Adapter``).

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
        self.optimizer = build_optimizer(config, list(self.model.parameters()))
        self.schedule = build_schedule(config, self.optimizer, self.n_batches)
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
    state, best_weights = resume_state(config, adapter, run_dir, run_fingerprint, notes) if resume else (None, None)
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


