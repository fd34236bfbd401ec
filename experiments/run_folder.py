"""A run folder (``<out>/<run name>/``): one run at a time, and checked writable before training.

    with claim(run_dir):        # refuses at once, in one line, when the folder cannot take the run
        ...                     # train, write metrics.json, REPORT.md

``claim`` checks, before anything is trained, that the folder exists or can be made, that a file can
be written in it, and that every file a run writes there (checkpoints, model, metrics, report) is a
file or absent, not a folder; then it takes an OS-level lock on ``.run.lock`` (``filelock``, which
uses ``flock`` / ``LockFileEx``) for the run's lifetime. The kernel drops the lock when the process
ends, however it ends, so a killed run never leaves a stale lock. A second run into the same folder
is refused with a ``RunFolderBusy`` naming the holder (its pid, host, start time and command, read
from ``.run.holder``, written only for that message). Without ``filelock`` the run goes ahead, after
one line saying that concurrent runs into one folder are not guarded and how to install it.

While a run trains, ``RunFiles`` keeps its files there: the last checkpoint after every epoch and on
a requested stop (``StopSignals``: Ctrl-C, SIGTERM; then ``TrainingInterrupted``), the best epoch's
weights; ``resume_state`` reads them back for ``--resume``.
"""
import contextlib
import datetime
import os
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path

from nn.serialization import load_arrays, save_arrays
from tinygrad_lite.errors import TinygradLiteError
from tinygrad_lite.files import loads_json, write_json

from . import checkpoint
from .checkpoint import BEST, FINAL_MODEL, LAST
from .loop import LoopState

LOCK, HOLDER = ".run.lock", ".run.holder"
RUN_FILES = (LAST, BEST, FINAL_MODEL, "model-meta.npz", "metrics.json", "REPORT.md")
HOLDER_MAX_BYTES = 4096
_warned_unguarded = []      # the missing-filelock line is said once per process


class TrainingInterrupted(TinygradLiteError, RuntimeError):
    """Training stopped on request (Ctrl-C / SIGTERM) after finishing a step; a checkpoint was saved."""

    def __init__(self, message, checkpoint=None, epoch=None, batch=None):
        super().__init__(message)
        self.checkpoint, self.epoch, self.batch = checkpoint, epoch, batch


class RunFolderBusy(TinygradLiteError, RuntimeError):
    """Another run holds the run folder's lock."""


class RunFolderUnusable(TinygradLiteError, OSError):
    """The run folder cannot be created or written, or one of its files is not a file."""


@contextlib.contextmanager
def claim(run_dir):
    """Check ``run_dir`` (see the module docstring) and hold its lock while the block runs."""
    run_dir = Path(run_dir)
    check_writable(run_dir)
    lock = _new_lock(run_dir / LOCK)
    if lock is None:
        yield run_dir
        return
    import filelock
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise RunFolderBusy(f"{run_dir} is in use by another run ({_holder(run_dir)}); wait for it to "
                            f"finish, or write this one elsewhere with another --out") from None
    try:
        write_json(run_dir / HOLDER, {"pid": os.getpid(), "host": socket.gethostname(),
                                      "started": _now(), "command": _command()})
        yield run_dir
    finally:
        with contextlib.suppress(OSError):
            (run_dir / HOLDER).unlink()
        lock.release()


def check_writable(run_dir):
    """Raise ``RunFolderUnusable`` unless ``run_dir`` exists (or is made), takes a new file, and every
    path in ``RUN_FILES`` inside it is a regular file or absent."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderUnusable(f"cannot create the run folder {run_dir} ({exc.strerror or exc}); "
                                f"choose another --out") from None
    try:
        with tempfile.TemporaryFile(dir=run_dir, prefix=".write-test."):
            pass
    except OSError as exc:
        raise RunFolderUnusable(f"cannot write in the run folder {run_dir} ({exc.strerror or exc}); "
                                f"choose another --out, or make it writable") from None
    for name in RUN_FILES:
        path = run_dir / name
        if path.exists() and not path.is_file():
            raise RunFolderUnusable(f"{path} is not a file (a run writes its {name} there); remove it, "
                                    f"or choose another --out")


def _new_lock(path):
    """A ``filelock.FileLock`` on ``path``, or None (saying so once) when filelock is not installed."""
    try:
        import filelock
    except ImportError:
        if not _warned_unguarded:
            _warned_unguarded.append(True)
            print("tinygrad-lite: filelock is not installed, so concurrent runs into one folder are not "
                  "guarded (pip install filelock, or pip install 'tinygrad_lite[run]')", file=sys.stderr)
        return None
    return filelock.FileLock(str(path))


def _holder(run_dir):
    """Who holds the lock, from the holder file (read with a bound), as words for a message."""
    try:
        with open(run_dir / HOLDER, "rb") as f:
            holder = loads_json(f.read(HOLDER_MAX_BYTES), f.name)
        return (f"pid {int(holder['pid'])} on {holder['host']}, started {holder['started']}: "
                f"{holder['command']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "its details are not recorded yet"


def _command():
    """This process's command line, as the user typed it (the module's path is not what they typed)."""
    return " ".join(["tinygrad-lite"] + sys.argv[1:])


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# ---- while the run trains: its checkpoints, a requested stop, resuming ---------------------------

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


def resume_state(config, adapter, run_dir, run_fingerprint, notes):
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
