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
"""
import contextlib
import datetime
import os
import socket
import sys
import tempfile
from pathlib import Path

from tinygrad_lite.errors import TinygradLiteError
from tinygrad_lite.files import loads_json, write_json

from .checkpoint import BEST, FINAL_MODEL, LAST

LOCK, HOLDER = ".run.lock", ".run.holder"
RUN_FILES = (LAST, BEST, FINAL_MODEL, "model-meta.npz", "metrics.json", "REPORT.md")
HOLDER_MAX_BYTES = 4096
_warned_unguarded = []      # the missing-filelock line is said once per process


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
