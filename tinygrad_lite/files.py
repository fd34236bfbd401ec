"""Atomic file writes: write beside the target, flush to disk, then rename over it.

``os.replace`` is atomic: a reader sees the old file or the new one, never half of one, and a crash
or Ctrl-C in the middle of a write leaves the previous file as it was. Every file the project writes
(models, checkpoints, reports, plots, benchmark results) goes through ``atomic_write``.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None):
    """``with atomic_write(path) as f: f.write(...)``: the file appears at ``path`` only when the
    block finishes without an exception; otherwise the temporary file is removed and ``path`` is
    untouched. The folder is created if needed; the file gets the usual permissions (umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())     # mkstemp makes files owner-only
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)


def write_bytes(path, data):
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_json(path, payload, indent=1):
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=indent)
    return Path(path)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
