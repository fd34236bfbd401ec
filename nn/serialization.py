"""Saving and loading named arrays as ``.npz``: written atomically, read without ever unpickling.

``save_arrays`` writes to a temporary file in the target's folder and renames it over the target
(``os.replace`` is atomic), so a crash or an exception mid-save leaves the old file as it was.
``load_arrays`` reads with ``allow_pickle=False`` and turns every kind of bad file (missing,
truncated, corrupted, not an ``.npz``, holding object arrays) into one ``DataError`` naming the file.

Model checkpoints (``Module.save``), optimiser state and the experiments' checkpoints all use these
two functions; ``encode_json`` / ``decode_json`` store a JSON blob of metadata as a uint8 array.
"""
import json
import os
import zipfile

import numpy as np

from tinygrad_lite.backend import as_numpy
from tinygrad_lite.errors import DataError
from tinygrad_lite.files import atomic_write


def save_arrays(path, arrays):
    """Write ``arrays`` (a mapping name -> array-like or number) to ``path`` as an uncompressed .npz.

    The file is written exactly at ``path`` (no '.npz' is appended). Object arrays are refused, so
    that what is saved can always be loaded back with ``allow_pickle=False``.
    """
    path = os.fspath(path)
    host = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"save_arrays: every key must be a non-empty str, got {name!r}")
        value = np.asarray(as_numpy(getattr(value, "data", value)))
        if value.dtype.hasobject:
            raise TypeError(f"save_arrays: entry {name!r} is an object array ({value.dtype}); only "
                            f"numeric, bool and string arrays can be saved without pickle")
        host[name] = value
    with atomic_write(path) as f:
        np.savez(f, **host)


def load_arrays(path):
    """Read an .npz written by ``save_arrays`` (or ``np.savez``) into a dict name -> NumPy array.

    Raises ``DataError`` naming the file when it is missing, truncated, corrupted (a CRC mismatch),
    not an .npz archive, or holds pickled (object) data.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise DataError(f"{path}: not an .npz archive (it does not start with a zip header; "
                                f"first bytes {magic!r})")
            f.seek(0)
            with np.load(f, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{path}: holds pickled (object) data, which is never loaded ({exc})") from None
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, NotImplementedError) as exc:
        raise DataError(f"{path}: truncated or corrupted .npz archive ({type(exc).__name__}: {exc})") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise DataError(f"{path}: member {name!r} is not a .npy array; not a file save_arrays wrote")
    return arrays


def encode_json(obj):
    """A JSON-serialisable object as a uint8 array (UTF-8 bytes), storable in an .npz without pickle."""
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), dtype=np.uint8).copy()


def decode_json(array):
    """The object ``encode_json`` stored."""
    return json.loads(np.asarray(array, dtype=np.uint8).tobytes().decode("utf-8"))
