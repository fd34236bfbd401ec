"""The training loop every replay uses: ``train(config, data, ...)`` -> ``TrainResult``.

One epoch: the training split in the order ``DataLoader(seed=seed).epoch_order(epoch)`` (the torch
reference replays the same order), batches of ``config.batch_size``; per step
``loss = cross_entropy(model(x), y) + l2_penalty(model, config.l2)``, backward, optimiser step. The
schedule steps once per epoch. After each epoch the model is evaluated, in eval mode under
``no_grad`` and in batches, on the training, validation and test splits (plain cross-entropy, no L2
term): these are the ``history["epochs"]`` figures. ``history["iteration_loss"]`` holds, at every
``config.log_every``-th iteration i, the mean training loss of iterations i - log_every + 1 .. i
(every epoch's length instead, when an epoch is shorter: tiny ``--subset`` runs).

Early stopping (``config.early_stopping = (metric, patience)``) ends training once the metric has not
improved for ``patience`` epochs. ``config.select_best_by`` restores, at the end, the weights of the
epoch with the best value of that metric (kept in ``checkpoint-best.npz``); otherwise the last
epoch's weights are the result.

The loss is read back from the device only every ``sync_every`` steps (and at the end of an epoch),
so a GPU never waits for the host; a NaN or Inf loss stops training with an error naming the first
bad epoch and batch.

Checkpoints (``run_dir``): ``checkpoint-last.npz`` after every epoch and on a requested stop (Ctrl-C,
SIGTERM): model, optimiser and schedule state, the dropout generator's state, the position (epoch and
batches done) and the history, with the metadata as JSON inside the .npz (never pickle). Resuming
(``resume=True``) continues mid-epoch: the epoch's order is replayed and the batches already done are
skipped, so on the CPU the final weights are bit-identical to an uninterrupted run with the same seed
(on CUDA the cuRAND states are saved as bytes, see ``backend.generator_state``; where a state cannot
be restored, e.g. on another GPU model, the dropout masks after a resume differ, and the run's notes
say so).
``model.npz`` holds the final weights.
"""
import contextlib
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import nn
import tinygrad_lite as tl
from nn.serialization import decode_json, encode_json, load_arrays, save_arrays
from tinygrad_lite import backend
from tinygrad_lite.dataloader import DataLoader
from tinygrad_lite.errors import DataError, TinygradLiteError

from . import checkpoint_meta
from .models import build

LAST, BEST, FINAL_MODEL = "checkpoint-last.npz", "checkpoint-best.npz", "model.npz"
EVAL_BATCH = 1000
CHECKPOINT_FORMAT = checkpoint_meta.FORMAT
HIGHER_IS_BETTER = {"val_acc": True, "val_loss": False, "train_acc": True, "train_loss": False}


class TrainingInterrupted(TinygradLiteError, RuntimeError):
    """Training stopped on request (Ctrl-C / SIGTERM) after finishing a step; a checkpoint was saved."""

    def __init__(self, message, checkpoint=None, epoch=None, batch=None):
        super().__init__(message)
        self.checkpoint, self.epoch, self.batch = checkpoint, epoch, batch


class NonFiniteLossError(TinygradLiteError, FloatingPointError):
    """The training loss became NaN or Inf."""


@dataclass
class TrainResult:
    model: object
    history: dict
    final: dict                     # epoch_used and train/val/test loss and accuracy of the final model
    predictions: dict               # split -> {"y_true": [...], "y_pred": [...]}
    wall_time_s: float
    stopped_early_at: int = 0       # the epoch (1-based) after which early stopping ended training, or 0
    notes: list = field(default_factory=list)


# ---- building blocks -----------------------------------------------------------------------------

def make_optimizer(config, model):
    params = list(model.parameters())
    if config.optimizer == "sgd":
        return nn.optim.SGD(params, lr=config.lr, momentum=config.momentum)
    if config.optimizer == "adam":
        return nn.optim.Adam(params, lr=config.lr)
    raise ValueError(f"config {config.name}: optimizer must be 'sgd' or 'adam', got {config.optimizer!r}")


def make_schedule(config, optimizer):
    """The per-epoch learning-rate schedule of ``config.schedule``, or None."""
    if not config.schedule:
        return None
    kind, *args = config.schedule
    makers = {"inverse_time": nn.optim.InverseTimeDecay, "step": nn.optim.StepLR,
              "exponential": nn.optim.ExponentialLR}
    if kind not in makers:
        raise ValueError(f"config {config.name}: schedule must start with one of {sorted(makers)}, "
                         f"got {config.schedule!r}")
    return makers[kind](optimizer, *args)


def current_lr(optimizer):
    return float(optimizer.param_groups[0]["lr"])


def evaluate(model, x, y, batch_size=EVAL_BATCH):
    """(mean cross-entropy, accuracy, predicted labels as NumPy) of ``model`` on device arrays x, y."""
    was_training = model.training
    model.eval()
    losses, predictions = [], []
    try:
        with tl.no_grad():
            for i in range(0, len(x), batch_size):
                logits = model(tl.Tensor(x[i:i + batch_size]))
                losses.append(nn.functional.cross_entropy(logits, tl.Tensor(y[i:i + batch_size]),
                                                          reduction="sum").data)
                predictions.append(logits.data.argmax(axis=1))
    finally:
        model.train(was_training)
    xp = backend.get_array_module(x)
    loss = float(backend.as_numpy(xp.stack(losses).sum())) / len(x)
    predicted = backend.as_numpy(xp.concatenate(predictions))
    accuracy = float((predicted == backend.as_numpy(y)).mean())
    return loss, accuracy, predicted


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


class Progress:
    """How far a run has come: one bar for the whole run (``tqdm.auto``: a widget in Jupyter, text on a
    terminal) counting the batches of every epoch, with the epoch, the running loss and accuracy and
    tqdm's estimate of the time left; and one summary line per epoch on stdout. Without tqdm the summary
    lines stay, and one line (once per process) says how to get the bar. The scratch trainer and the
    torch reference each have one."""

    said_how_to_get_bars = False

    def __init__(self, enabled, name, epochs):
        self.name, self.epochs, self.bar = name, epochs, None
        self.tqdm = None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self.tqdm = tqdm
            except ImportError:
                if not Progress.said_how_to_get_bars:
                    Progress.said_how_to_get_bars = True
                    print("(no progress bar: tqdm is not installed; pip install tqdm, or the 'run' extra, "
                          "to see one)", file=sys.stderr, flush=True)

    def start(self, epoch, total, done):
        """Epoch ``epoch`` (0-based) of ``total`` batches begins, ``done`` of them trained already."""
        if self.tqdm is None:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=total * self.epochs, initial=epoch * total + done, desc=self.name,
                                 leave=False, file=sys.stderr, dynamic_ncols=True, unit="batch",
                                 disable=None)       # None: no bar when stderr is not a terminal
        self.bar.set_description(f"{self.name} epoch {epoch + 1}/{self.epochs}", refresh=False)

    def step(self):
        if self.bar is not None:
            self.bar.update(1)

    def show(self, loss, accuracy):
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", refresh=False)

    def end(self, line):
        """An epoch ended: its summary line, printed above the bar (which runs on to the last epoch)."""
        if self.bar is not None and not self.bar.disable:
            self.bar.write(line, file=sys.stdout)
            sys.stdout.flush()
        else:
            print(line, flush=True)

    def close(self):
        """The run is over (every epoch, early stopping, an interruption): take the bar away."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ---- checkpoints ---------------------------------------------------------------------------------

def _flatten(obj, prefix, arrays):
    """A JSON skeleton of ``obj`` with every array moved into ``arrays`` (replaced by its key)."""
    if isinstance(obj, dict):
        return {"__dict__": [[str(k), _flatten(v, f"{prefix}.{k}", arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_flatten(v, f"{prefix}.{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, tl.Tensor):
        obj = obj.data
    if isinstance(obj, (bool, int, float, str)) or obj is None:
        return obj
    arrays[prefix] = np.array(backend.as_numpy(obj), copy=True)
    return {"__array__": prefix}


def _unflatten(skeleton, arrays):
    if isinstance(skeleton, dict) and "__array__" in skeleton:
        return arrays[skeleton["__array__"]]
    if isinstance(skeleton, dict):
        return {k: _unflatten(v, arrays) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [_unflatten(v, arrays) for v in skeleton]
    return skeleton


def save_checkpoint(path, model, optimizer, schedule, meta):
    arrays = {f"model.{k}": v for k, v in model.state_dict().items()}
    meta = dict(meta, format=CHECKPOINT_FORMAT,
                optimizer=_flatten(optimizer.state_dict(), "optimizer", arrays),
                schedule=None if schedule is None else _flatten(schedule.state_dict(), "schedule", arrays))
    arrays["meta"] = encode_json(meta)
    save_arrays(path, arrays)


def load_checkpoint(path):
    """(model state dict, optimiser state, schedule state, meta) from a ``save_checkpoint`` file.

    The metadata is validated against its schema first (``checkpoint_meta``): a damaged or foreign
    checkpoint raises one ``DataError`` naming the file and the field, and nothing else."""
    arrays = load_arrays(path)
    if "meta" not in arrays:
        raise DataError(f"{path}: not a training checkpoint (no 'meta' entry)")
    meta = checkpoint_meta.parse(arrays["meta"], path, arrays)
    model_state = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    optimizer_state = _unflatten(meta.pop("optimizer"), arrays)
    schedule_state = meta.pop("schedule")
    schedule_state = None if schedule_state is None else _unflatten(schedule_state, arrays)
    return model_state, optimizer_state, schedule_state, meta


def _restore(path, what, target, state_dict):
    """``target.load_state_dict(state_dict)``, its refusal (a shape, an lr of -1) naming the checkpoint."""
    try:
        target.load_state_dict(state_dict)
    except (ValueError, TypeError, KeyError) as exc:      # DataError and ShapeError are ValueErrors
        raise DataError(f"{path}: its {what} is refused: {exc}") from None


def _normalised(obj):
    return json.loads(json.dumps(obj))


def fingerprint(config, seed, subset, used_sample):
    """What must match for a checkpoint to be resumed (or a backbone's weights to be reused)."""
    return _normalised({"config": {k: v for k, v in config.to_dict().items()
                                   if k not in ("title", "reported", "choices", "minutes_cpu")},
                        "seed": seed, "subset": subset, "used_sample": used_sample})


def _differences(saved, current):
    out = []
    for key in sorted(set(saved) | set(current)):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [f"{key}.{d}" for d in _differences(a, b)]
        elif a != b:
            out.append(f"{key} (checkpoint {a!r}, now {b!r})")
    return out


# ---- the loop ------------------------------------------------------------------------------------

def _new_state():
    return {"epoch": 0, "batch": 0, "iteration": 0, "wall_time_s": 0.0, "finished": False,
            "stopped_early_at": 0, "window": [0.0, 0], "running": [0.0, 0, 0],
            "best": None, "early": None, "history": {"iteration_loss": [], "epochs": []}}


def _improved(metric, value, best):
    if best is None:
        return True
    return value > best if HIGHER_IS_BETTER[metric] else value < best


def check_config(config):
    """Raise ValueError naming the field when the stopping or selection settings cannot work."""
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


def train(config, data, *, device="cpu", seed=0, run_dir=None, resume=False, sync_every=50,
          progress=True, subset=None, grad_recorder=None, step_hook=None):
    """Train ``config``'s model on ``data`` (an ``experiments.data.RunData``); see the module docstring.

    ``step_hook(epoch, batch, iteration)`` is called after every optimiser step; a true return value
    asks for a stop, as Ctrl-C does (tests use it). ``grad_recorder`` (a ``GradientFlowRecorder``)
    records gradient norms every ``log_every`` iterations. ``subset`` only enters the checkpoint's
    fingerprint (``data`` is already cut).
    """
    if isinstance(sync_every, bool) or not isinstance(sync_every, int) or sync_every < 1:
        raise ValueError(f"sync_every must be a positive int, got {sync_every!r}")
    check_config(config)
    run_dir = None if run_dir is None else Path(run_dir)
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    device = backend.resolve_device(device)
    tl.manual_seed(seed)
    model = build(config.layers, data.input_shape, config.init).to(device)
    optimizer = make_optimizer(config, model)
    schedule = make_schedule(config, optimizer)
    loader = DataLoader(data.x_train, data.y_train, config.batch_size, shuffle=True, seed=seed,
                        device=device)
    splits = {name: (backend.to_device(x, device), backend.to_device(y, device))
              for name, x, y in (("train", data.x_train, data.y_train), ("val", data.x_val, data.y_val),
                                 ("test", data.x_test, data.y_test))}
    run_fingerprint = fingerprint(config, seed, subset, data.used_sample)
    state, notes = _new_state(), []
    best_weights = None

    last_path = None if run_dir is None else run_dir / LAST
    best_path = None if run_dir is None else run_dir / BEST
    if resume:
        if last_path is None or not last_path.is_file():
            notes.append("--resume: no checkpoint found, so training started from the beginning")
            print(f"{config.name}: --resume found no checkpoint in {run_dir}; starting from the beginning",
                  file=sys.stderr)
        else:
            model_state, optimizer_state, schedule_state, meta = load_checkpoint(last_path)
            diff = _differences(meta["fingerprint"], run_fingerprint)
            if diff:
                raise DataError(f"--resume: the checkpoint {last_path} was made with other settings: "
                                 f"{'; '.join(diff)}; use the same options, or run without --resume")
            _restore(last_path, "model weights", model, model_state)
            _restore(last_path, "optimiser state", optimizer, optimizer_state)
            if schedule is not None:
                _restore(last_path, "learning-rate schedule state", schedule, schedule_state)
            state = meta["state"]
            restored = backend.set_rng_state(device, meta["rng"])
            if not restored and any(spec[0] == "dropout" for spec in config.layers):
                notes.append(f"the dropout generator's saved state could not be restored on {device}, so the resumed "
                             "run draws other masks than an uninterrupted one would")
            if state["best"] is not None and best_path.is_file():
                best_weights = load_arrays(best_path)
            if state["finished"]:             # killed after training, before the run's files were written
                notes.append(f"--resume: the checkpoint's training had finished after epoch {state['epoch']} "
                             f"of {config.epochs}; no epoch was trained again")
                print(f"{config.name}: the checkpoint says training finished after epoch {state['epoch']} of "
                      f"{config.epochs}; writing the run's results without training more", file=sys.stderr)
            else:
                notes.append(f"resumed from {last_path.name} at epoch {state['epoch'] + 1}, batch {state['batch']}")
                print(f"{config.name}: resuming at epoch {state['epoch'] + 1}, after batch {state['batch']}",
                      file=sys.stderr)

    history = state["history"]
    log_every = min(config.log_every, len(loader))
    if log_every < config.log_every:
        notes.append(f"training loss logged every {log_every} iterations (an epoch has only {len(loader)}; "
                     f"the config says {config.log_every})")
    bar = Progress(progress, config.name, config.epochs)
    xp = backend.xp_for(device)
    pending = []           # (iteration, epoch, batch, loss array, correct array, batch size) not yet read
    session_start = time.perf_counter()

    def elapsed():
        return state["wall_time_s"] + time.perf_counter() - session_start

    def save_last():
        if last_path is None:
            return None
        meta = {"fingerprint": run_fingerprint, "state": dict(state, wall_time_s=elapsed()),
                "rng": backend.rng_state(device), "run": config.name}
        save_checkpoint(last_path, model, optimizer, schedule, meta)
        return last_path

    def sync():
        """Read the pending losses from the device (one transfer), check them, log them."""
        if not pending:
            return
        losses = backend.as_numpy(xp.stack([p[3] for p in pending])).astype(np.float64)
        correct = backend.as_numpy(xp.stack([p[4] for p in pending]))
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            iteration, epoch, batch = pending[bad[0]][:3]
            pending.clear()
            raise NonFiniteLossError(
                f"{config.name}: the training loss is {losses[bad[0]]} at epoch {epoch + 1}, batch "
                f"{batch + 1} of {len(loader)} (iteration {iteration}); the learning rate "
                f"({current_lr(optimizer):g}) may be too high for this model, or the inputs are not normalised")
        for (iteration, _, _, _, _, n), loss, hits in zip(pending, losses, correct):
            state["window"][0] += float(loss)
            state["window"][1] += 1
            state["running"][0] += float(loss) * n
            state["running"][1] += int(hits)
            state["running"][2] += n
            if iteration % log_every == 0:
                history["iteration_loss"].append([iteration, state["window"][0] / state["window"][1]])
                state["window"] = [0.0, 0]
        pending.clear()
        seen = state["running"][2]
        bar.show(state["running"][0] / seen, state["running"][1] / seen)

    def stop_now(signals):
        sync()
        path = save_last()
        where = f"epoch {state['epoch'] + 1}, after batch {state['batch']} of {len(loader)}"
        raise TrainingInterrupted(
            f"{config.name}: stopped ({signals.requested}) at {where}"
            + (f"; checkpoint saved to {path}" if path else " (no run_dir, so nothing was saved)"),
            checkpoint=path, epoch=state["epoch"] + 1, batch=state["batch"])

    model.train()
    with StopSignals() as signals, contextlib.closing(bar):
        while not state["finished"] and state["epoch"] < config.epochs:
            epoch = state["epoch"]
            lr = current_lr(optimizer)
            loader.set_epoch(epoch)
            bar.start(epoch, len(loader), state["batch"])
            for batch, (xb, yb) in enumerate(loader):
                if batch < state["batch"]:
                    continue                      # done before the interruption: replayed, skipped
                logits = model(xb)
                loss = nn.functional.cross_entropy(logits, yb)
                if config.l2:
                    loss = loss + nn.functional.l2_penalty(model, config.l2)
                optimizer.zero_grad()
                loss.backward()
                state["iteration"] += 1
                if grad_recorder is not None and (state["iteration"] % log_every == 0
                                                  or state["iteration"] == 1):
                    grad_recorder.record(model, state["iteration"])
                    grad_recorder.record_activations(model, xb, state["iteration"])
                optimizer.step()
                state["batch"] = batch + 1
                if config.log_test_loss and state["iteration"] % log_every == 0:
                    history.setdefault("iteration_test_loss", []).append(
                        [state["iteration"], evaluate(model, *splits["test"])[0]])
                pending.append((state["iteration"], epoch, batch, loss.data,
                                (logits.data.argmax(axis=1) == yb.data).sum(), len(yb)))
                if len(pending) >= sync_every:
                    sync()
                bar.step()
                if step_hook is not None and step_hook(epoch, batch, state["iteration"]):
                    signals.requested = signals.requested or "a stop requested by step_hook"
                if signals.requested and state["batch"] < len(loader):
                    stop_now(signals)
            sync()
            row = {"epoch": epoch + 1, "lr": lr}
            for split, (x, y) in splits.items():
                row[f"{split}_loss"], row[f"{split}_acc"], _ = evaluate(model, x, y)
            history["epochs"].append(row)
            bar.end(f"{config.name} epoch {epoch + 1}/{config.epochs}  lr {lr:.4g}  " + "  ".join(
                f"{s} loss {row[f'{s}_loss']:.4f} acc {row[f'{s}_acc']:.4f}" for s in splits))
            if schedule is not None:
                schedule.step()
            if config.select_best_by and _improved(config.select_best_by, row[config.select_best_by],
                                                    None if state["best"] is None else state["best"][1]):
                state["best"] = [epoch + 1, row[config.select_best_by]]
                best_weights = model.state_dict()
                if best_path is not None:
                    save_arrays(best_path, best_weights)
            if config.early_stopping:
                metric, patience = config.early_stopping
                early = state["early"]
                if early is None or _improved(metric, row[metric], early[0]):
                    state["early"] = [row[metric], 0]
                else:
                    early[1] += 1
                    if early[1] >= patience:
                        state["stopped_early_at"] = epoch + 1
                        state["finished"] = True
                        print(f"{config.name}: early stopping after epoch {epoch + 1}: {metric} has not "
                              f"improved for {patience} epochs", flush=True)
            state["epoch"], state["batch"], state["running"] = epoch + 1, 0, [0.0, 0, 0]
            if state["epoch"] >= config.epochs:
                state["finished"] = True
            save_last()
            if signals.requested and not state["finished"]:
                stop_now(signals)

    epoch_used = len(history["epochs"])
    if config.select_best_by and state["best"] is not None:
        epoch_used = state["best"][0]
        model.load_state_dict(best_weights)
    final, predictions = {"epoch_used": epoch_used}, {}
    for split, (x, y) in splits.items():
        final[f"{split}_loss"], final[f"{split}_acc"], predicted = evaluate(model, x, y)
        predictions[split] = {"y_true": backend.as_numpy(y).tolist(), "y_pred": predicted.tolist()}
    wall = elapsed()
    if run_dir is not None:
        model.save(run_dir / FINAL_MODEL)
        save_arrays(run_dir / "model-meta.npz", {"meta": encode_json({"fingerprint": run_fingerprint})})
    if state["stopped_early_at"]:
        notes.append(f"early stopping ended training after epoch {state['stopped_early_at']}")
    if config.select_best_by:
        notes.append(f"the weights of epoch {epoch_used} (best {config.select_best_by}) are the result")
    return TrainResult(model, history, final, predictions, wall, state["stopped_early_at"], notes)


def load_trained(config, input_shape, run_dir, expected_fingerprint, device="cpu"):
    """The final model of a finished run in ``run_dir`` if it was trained with the same settings, else None."""
    run_dir = Path(run_dir)
    weights, meta = run_dir / FINAL_MODEL, run_dir / "model-meta.npz"
    if not (weights.is_file() and meta.is_file()):
        return None
    try:
        saved = decode_json(load_arrays(meta)["meta"])["fingerprint"]
    except (DataError, KeyError, ValueError, TypeError):      # TypeError: metadata that is not an object
        return None
    if saved != expected_fingerprint:
        return None
    model = build(config.layers, input_shape, config.init)
    model.load(weights)
    return model.to(device)

