"""Saving and loading named arrays as ``.npz``: written atomically, read without ever unpickling.

``save_arrays`` writes to a temporary file in the target's folder and renames it over the target
(``os.replace`` is atomic), so a crash or an exception mid-save leaves the old file as it was.
``load_arrays`` reads with ``allow_pickle=False``, checks every array's declared size before
allocating it, and turns every kind of bad file (missing, truncated, corrupted, not an ``.npz``,
holding object arrays, declaring more than it holds) into one ``DataError`` naming the file.

Model checkpoints (``Module.save``), optimiser state and the experiments' checkpoints all use these
two functions; ``encode_json`` / ``decode_json`` store a JSON blob of metadata as a uint8 array.
"""
import json
import os

import numpy as np

from tinygrad_lite.backend import as_numpy
from tinygrad_lite.files import atomic_write, loads_json
from tinygrad_lite.npz import read_npz
from tinygrad_lite.core import Tensor


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
        value = np.asarray(as_numpy(value.data if isinstance(value, Tensor) else value))   # not
        # getattr(value, "data"): a CuPy array's .data is a MemoryPointer, a NumPy array's a memoryview
        if value.dtype.hasobject:
            raise TypeError(f"save_arrays: entry {name!r} is an object array ({value.dtype}); only "
                            f"numeric, bool and string arrays can be saved without pickle")
        host[name] = value
    with atomic_write(path) as f:
        np.savez(f, **host)


def load_arrays(path, max_bytes=None, names=None):
    """Read an .npz written by ``save_arrays`` (or ``np.savez``) into a dict name -> NumPy array.

    Every array's declared size is checked against the file's real size, and their total against
    ``max_bytes`` when given, before anything is allocated (``tinygrad_lite.npz.read_npz``); ``names``
    reads only those arrays. Raises ``DataError`` naming the file when it is missing, truncated,
    corrupted (a CRC mismatch), not an .npz archive, holds pickled (object) data or declares more than
    it can hold.
    """
    return read_npz(path, max_bytes, names)


def encode_json(obj):
    """A JSON-serialisable object as a uint8 array (UTF-8 bytes), storable in an .npz without pickle."""
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), dtype=np.uint8).copy()


def decode_json(array, name="the array"):
    """The object ``encode_json`` stored; ``DataError`` naming ``name`` (say, the file) when it is not
    JSON or nests too deep (``tinygrad_lite.files.loads_json``)."""
    return loads_json(np.asarray(array, dtype=np.uint8).tobytes(), name)
