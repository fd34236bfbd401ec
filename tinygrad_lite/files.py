"""Files written atomically, and JSON read with bounds.

Writes: beside the target, flushed to disk, then renamed over it. ``os.replace`` is atomic: a reader
sees the old file or the new one, never half of one, and a crash or Ctrl-C in the middle of a write
leaves the previous file as it was. Every file the project writes (models, checkpoints, reports,
plots, benchmark results) goes through ``atomic_write``; an error while writing (a full disk) names
the file.

Reads: every JSON the project reads (metrics.json, checkpoint metadata, lock-holder notes) goes
through ``loads_json`` / ``read_json``, which refuse, naming the file, JSON nested deeper than
``JSON_MAX_DEPTH`` before parsing it (Python's parser, and any code walking the result, would
recurse once per level) and a file larger than its bound before reading it.
"""
import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

from .errors import DataError

JSON_MAX_DEPTH = 100            # the files written here nest under 10 levels; Python recurses ~1000 deep
JSON_MAX_BYTES = 64 << 20       # a 2-epoch run's metrics.json is 1 MB, mostly its predictions
# A JSON string (escapes included; an unterminated one runs to the end, so the scan never restarts
# inside it and stays one pass) or a bracket.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]')


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
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None:
            raise named(exc, path) from exc
        raise


def named(exc, path):
    """The ``OSError`` ``exc``, without a file name of its own (a write's "[Errno 28] No space left on
    device" has none), as the same kind of error naming ``path``."""
    if exc.errno is None:
        return OSError(f"{path}: {exc}")
    return type(exc)(exc.errno, exc.strerror, str(path))


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


def loads_json(text, name, max_depth=JSON_MAX_DEPTH):
    """The value of the JSON ``text`` (str or UTF-8 bytes), or one ``DataError`` starting with ``name``
    (the file it came from) when it is not UTF-8, not JSON, or nests deeper than ``max_depth`` arrays and
    objects; the depth is counted before parsing, so neither the parser nor the caller recurses further."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{name} is not UTF-8 text, so not JSON ({exc})") from None
    depth = json_depth(text, stop_above=max_depth)
    if depth > max_depth:
        raise DataError(f"{name} is JSON nested more than {max_depth} levels deep; refused before "
                        f"parsing (nothing this program writes nests so deep)")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise DataError(f"{name} is not valid JSON ({exc})") from None


def read_json(path, max_bytes=JSON_MAX_BYTES, max_depth=JSON_MAX_DEPTH):
    """``loads_json`` of the file at ``path``, refused unread when it holds more than ``max_bytes``.
    A file that cannot be read raises an ``OSError`` naming it."""
    with open(path, "rb") as f:
        try:
            size = os.fstat(f.fileno()).st_size
            data = f.read(max_bytes + 1) if size <= max_bytes else b""
        except OSError as exc:
            raise named(exc, path) from exc
    if max(size, len(data)) > max_bytes:
        raise DataError(f"{path} holds more than {max_bytes} bytes, more than a JSON file read here may; "
                        f"refused unread")
    return loads_json(data, path, max_depth)


def json_depth(text, stop_above=None):
    """How deeply arrays and objects nest in the JSON ``text`` (0 for a number or a string), counted
    without parsing, in one pass: brackets outside strings. Stops counting once past ``stop_above``.
    Exact for valid JSON; past the first place that is not, Python's parser stops anyway."""
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(text):
        first = text[token.start()]
        if first in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    break
        elif first in "]}":
            depth -= 1
    return deepest
