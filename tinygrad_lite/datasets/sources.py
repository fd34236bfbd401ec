"""Where the data files come from, tried in order; the first copy that verifies wins.

1. the ``TINYGRAD_LITE_DATA`` environment variable: a folder holding ``mnist/`` and
   ``fashion-mnist/``;
2. the user cache, ``$XDG_CACHE_HOME/tinygrad_lite/<set>/`` or ``~/.cache/tinygrad_lite/<set>/``;
3. system folders (Debian's and Ubuntu's ``dataset-fashion-mnist`` package);
4. the public mirrors (``MIRRORS``, or ``TINYGRAD_LITE_MIRRORS``), downloaded into the cache.

``root=`` given to the loader (a folder holding ``<set>/`` or the four files directly) replaces all
four: an explicit folder is the only place looked at, and nothing is downloaded.

Every file, found or downloaded, gzipped or raw, is checked against the SHA-256 of its uncompressed
content before anyone sees an array; it is read with a bound (``idx.read_bytes``), so a small
crafted file cannot inflate to more than the published file's size. A download is written to a
temporary file in the cache folder, verified, and only then renamed into place with ``os.replace``
(atomic), so an interrupted or bad download never leaves a file that looks complete. When nothing
works, one ``DataError`` lists every place tried, why each failed, and how to put the files in place
by hand. When a copy exists on disk but fails verification and no good copy is found, that error is
a ``CorruptDataError`` whose first line names the file, the expected and actual SHA-256 and where a
good copy comes from: a corrupt file is never a reason to fall back to the bundled sample.
"""
import hashlib
import os
import re
import socket
import tempfile
import urllib.error
import warnings
from pathlib import Path

from ..errors import CorruptDataError, DataError
from .catalog import DATASETS
from .download import download
from .idx import is_gzip, read_bytes

ENV_DATA = "TINYGRAD_LITE_DATA"
ENV_MIRRORS = "TINYGRAD_LITE_MIRRORS"
DOWNLOAD_TIMEOUT = 30.0     # seconds without data before a mirror counts as failed
# Base URLs per data set, each serving "<file>.gz". Replace or extend to use other mirrors.
MIRRORS = {name: list(spec.mirrors) for name, spec in DATASETS.items()}
# Folders where operating-system packages install a set (searched after the user cache).
SYSTEM_DIRS = {name: list(spec.system_dirs) for name, spec in DATASETS.items()}


def cache_dir():
    """The user cache folder: ``$XDG_CACHE_HOME/tinygrad_lite`` or ``~/.cache/tinygrad_lite``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tinygrad_lite"


def locate(spec, root=None, download=True):
    """Find (or fetch) every file of ``spec`` and return ``{role: (source, uncompressed bytes)}``.

    ``source`` is the path or URL the verified bytes came from. Raises one ``DataError`` naming
    every place tried when any file cannot be found anywhere (a ``CorruptDataError`` when a copy
    on disk was refused). With ``root``, only that folder is searched and nothing is downloaded.
    """
    found, tried = {}, {}                   # tried: file name -> [(label, message, refused)]
    unreachable = set()                     # mirrors that failed at the network level: skip them
    folders = _folders(spec, root)
    for role, file in spec.files.items():
        attempts = tried[file.name] = []
        hit = _search_folders(spec, file, folders, attempts)
        if hit is None and root is not None:
            attempts.append(("download", "not tried (root= is the only place looked at)", False))
        elif hit is None and not download:
            attempts.append(("download", "disabled (download=False)", False))
        elif hit is None:
            hit = _download_any(spec, file, attempts, unreachable)
        if hit is not None:
            found[role] = hit
            _warn_skipped(spec, file, hit[0], attempts)
    if len(found) < len(spec.files):
        missing = [f.name for r, f in spec.files.items() if r not in found]
        corrupt = [(file, message) for role, file in spec.files.items() if role not in found
                   for label, message, refused in tried[file.name] if refused and label != "download"]
        details = _failure_message(spec, missing, tried)
        if corrupt:
            raise CorruptDataError(_corrupt_message(spec, *corrupt[0]) + "\n" + details)
        raise DataError(details)
    return found


# ---- verification -------------------------------------------------------------------------------

def verify(data, file, spec, name):
    """Check uncompressed ``data`` against ``file``'s size and SHA-256 (``name``: for messages)."""
    what = f"the {spec.title} file {file.name}"
    if len(data) != file.size:
        raise DataError(f"{name}: expected {file.size} uncompressed bytes for {what}, "
                        f"got {len(data)} (truncated or a different file)")
    digest = hashlib.sha256(data).hexdigest()
    if digest != file.sha256:
        raise DataError(f"{name}: SHA-256 mismatch for {what}: expected {file.sha256}, "
                        f"got {digest} (the file is corrupt or is a different file)")
    return data


# ---- local folders ------------------------------------------------------------------------------

def _folders(spec, root):
    """(label, folder) pairs of sources 1-3, in search order; only ``root`` when it is given."""
    if root is not None:
        return [("root= argument", _set_folder(root, spec, "root="))]
    folders = []
    if os.environ.get(ENV_DATA):
        folders.append((f"${ENV_DATA}", _set_folder(os.environ[ENV_DATA], spec, f"${ENV_DATA}")))
    folders.append(("user cache", cache_dir() / spec.name))
    folders += [("system folder", Path(d)) for d in SYSTEM_DIRS[spec.name]]
    return folders


def _set_folder(base, spec, given_as):
    """``base/<set name>`` when that folder exists (the shared layout), else ``base`` itself.
    A ``base`` that cannot be resolved (a symbolic link loop) is an error to fix, never a reason to use
    the sample: a ``CorruptDataError`` naming ``given_as``."""
    try:
        base = Path(base).expanduser().resolve()
    except (OSError, RuntimeError) as exc:     # RuntimeError: Python < 3.13's "Symlink loop from ..."
        raise CorruptDataError(f"{given_as} {str(base)!r} cannot be used as the data folder ({exc}); point "
                               f"it at the folder holding {spec.name}/") from None
    return base / spec.name if (base / spec.name).is_dir() else base


def _copies(folder, file):
    """The copies of ``file`` present in ``folder``: raw first (no gunzip needed), then ``.gz``."""
    return [p for p in (folder / file.name, folder / f"{file.name}.gz") if p.is_file()]


def _search_folders(spec, file, folders, attempts):
    """(path, bytes) of the first copy of ``file`` in ``folders`` that verifies, else None."""
    for label, folder in folders:
        copies = _copies(folder, file)
        if not copies:
            attempts.append((label, f"{folder}: no {file.name} or {file.name}.gz", False))
        for path in copies:
            try:
                return path, verify(read_bytes(path, max_size=file.size), file, spec, str(path))
            except DataError as exc:
                attempts.append((label, str(exc), True))
    return None


# ---- downloads ----------------------------------------------------------------------------------

def mirror_urls(spec, file):
    """(base, url) per mirror of ``spec``: from ``TINYGRAD_LITE_MIRRORS`` if set, else ``MIRRORS``.

    The variable holds base URLs separated by spaces or commas, laid out like the data folder
    (``<base>/mnist/<file>.gz``); a ``{dataset}`` in a URL is replaced by the set's folder name
    instead.
    """
    env = os.environ.get(ENV_MIRRORS, "").strip()
    if env:
        bases = [b if "{dataset}" in b else b.rstrip("/") + "/{dataset}/"
                 for b in re.split(r"[\s,]+", env)]
        bases = [b.replace("{dataset}", spec.name) for b in bases]
    else:
        bases = MIRRORS[spec.name]
    return [(base, base.rstrip("/") + f"/{file.name}.gz") for base in bases]


def _download_any(spec, file, attempts, unreachable):
    """(url, bytes) from the first mirror whose download verifies, else None."""
    for base, url in mirror_urls(spec, file):
        if base in unreachable:
            attempts.append(("download", f"{url}: skipped (the server did not answer earlier)",
                             False))
            continue
        try:
            return url, _download_verified(url, spec, file)
        except (OSError, DataError) as exc:
            attempts.append(("download", _describe(url, exc), isinstance(exc, DataError)))
            if _is_unreachable(exc):
                unreachable.add(base)
    return None


def _download_verified(url, spec, file):
    """Download ``url`` into a temporary file in the cache, verify it, then rename it into place."""
    folder = cache_dir() / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{file.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with open(tmp, "wb") as out:            # opened by name: a write error names the file
            download(url, out, DOWNLOAD_TIMEOUT, desc=file.name, max_bytes=max_download_bytes(file))
        data = verify(read_bytes(tmp, max_size=file.size, name=url), file, spec, url)
        with open(tmp, "rb") as f:
            compressed = is_gzip(f.read(2))
        final = folder / (file.name + (".gz" if compressed else ""))
        for stale in _copies(folder, file):   # copies that failed verification, or we'd not be here
            stale.unlink()
        os.replace(tmp, final)
        return data
    finally:
        tmp.unlink(missing_ok=True)
        _remove_empty_dirs(folder, stop=cache_dir().parent)


def max_download_bytes(file):
    """The most bytes a mirror may send for ``file``: its size, plus what gzip adds when the data
    does not compress (5 bytes per 64 KiB block, header and trailer)."""
    return file.size + file.size // 1000 + 4096


def _remove_empty_dirs(folder, stop):
    """Remove ``folder`` and its parents up to ``stop`` while they are empty (a failed download)."""
    while folder != stop:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _is_unreachable(exc):
    """True for failures of the server as a whole (no answer, time-out), not of one file."""
    if isinstance(exc, urllib.error.HTTPError):
        return False
    return isinstance(exc, (urllib.error.URLError, socket.timeout, ConnectionError))


def _describe(url, exc):
    if isinstance(exc, DataError):
        message = str(exc)
        return message if message.startswith(url) else f"{url}: {message}"
    if isinstance(exc, urllib.error.HTTPError):
        return f"{url}: HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{url}: {exc.reason}"
    if isinstance(exc, socket.timeout):
        return f"{url}: timed out after {DOWNLOAD_TIMEOUT:g} s"
    if isinstance(exc, OSError) and exc.filename is not None:     # writing it here failed (a full disk)
        return f"{url}: {exc}"
    return f"{url}: {exc!r}"


# ---- messages -----------------------------------------------------------------------------------

def _warn_skipped(spec, file, source, attempts):
    """Warn when copies that exist were refused before ``source`` verified: the user should know."""
    refused = [message for _, message, was_refused in attempts if was_refused]
    if refused:
        warnings.warn(f"{spec.title} {file.name}: used {source}; refused copies that failed "
                      "verification:\n  " + "\n  ".join(refused), stacklevel=4)


def _corrupt_message(spec, file, refusal):
    """One line: the refused copy of ``file`` (path, expected and actual digest) and where a good
    one comes from."""
    urls = " or ".join(url for _, url in mirror_urls(spec, file)[:2])
    return (f"{refusal}; this copy is not the published file, so it is not used (nor the bundled "
            f"sample instead): replace it with {file.name}.gz from {urls}")


def _failure_message(spec, missing, tried):
    lines = [f"Could not load {spec.title}: no verified copy of {', '.join(missing)}.",
             "Places tried, in order:"]
    for name in missing:
        lines.append(f"  {name}:")
        lines += [f"    - {label}: {message}" for label, message, _ in tried[name]]
    mirrors = "\n".join(f"    {base}" for base, _ in mirror_urls(spec, spec.files["train_images"]))
    lines += [
        "To supply the files by hand, download "
        + ", ".join(f"{f.name}.gz" for f in spec.files.values()) + " from one of",
        mirrors,
        f"  and put them (gzipped or not) in {cache_dir() / spec.name}/,",
        f"  or in <folder>/{spec.name}/ and set {ENV_DATA}=<folder>, or pass root=<folder>.",
        "  Each file is checked against the SHA-256 of its uncompressed content "
        "(tinygrad_lite/datasets/catalog.py).",
    ]
    return "\n".join(lines)
