"""Read an ``.npz`` archive with every array's size checked before any memory is taken for it.

``np.load`` trusts each member's ``.npy`` header: a 242-byte file declaring shape (10^6, 10^6) asks
for 3.6 TiB, and a deflated member of zeros inflates as far as it declares. ``read_npz`` reads the
zip directory and every header first and refuses the archive, naming the member, unless

* every member is a ``.npy`` array of numbers, booleans or strings (never objects: no pickle);
* the bytes its header declares (shape x item size, plus the header) are exactly the entry's
  uncompressed size in the zip directory;
* the entries' stored bytes fit in the file as it is on disk (stored entries: uncompressed size
  equal to stored size; deflated ones: within deflate's largest possible expansion of them);
* all arrays together (or those asked for by name) stay within ``max_bytes``, the bound the caller
  expects (a model's size).

Only then are the arrays read, each exactly as large as its header said. ``npz_members`` lists the
arrays (name, shape, dtype) after the same checks, reading none.
"""
import contextlib
import os
import zipfile
from typing import NamedTuple

import numpy as np

from .errors import DataError

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
DEFLATE_MAX_RATIO = 1032        # deflate never expands a stored byte into more than ~1032 bytes
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def read_npz(path, max_bytes=None, names=None):
    """Every array of the ``.npz`` at ``path`` as a dict name -> NumPy array, bounded as above.

    ``names``: read only the arrays of these names (each must be there); every member is still checked,
    and ``max_bytes`` bounds what is read. Raises ``DataError`` naming the file (and the member) when it
    is missing, not an .npz, truncated or corrupted (a CRC mismatch), holds pickled data, or declares
    more than it can hold.
    """
    path = os.fspath(path)
    with _checked(path) as (archive, members):
        if names is not None:
            missing = sorted(set(names) - set(members))
            if missing:
                raise DataError(f"{path}: has no array named {missing[0]!r} (it holds {sorted(members)})")
            members = {name: members[name] for name in names}
        total = sum(member.nbytes for member in members.values())
        if max_bytes is not None and total > max_bytes:
            raise DataError(f"{path}: its arrays declare {total} bytes, more than the {max_bytes} expected "
                            f"here; refused before reading")
        arrays = {}
        for name, member in members.items():
            with archive.open(member.info) as stream:
                arrays[name] = np.lib.format.read_array(stream, allow_pickle=False)
    return arrays


def npz_members(path):
    """``{name: (shape, dtype)}`` of every array in the ``.npz`` at ``path``, checked as ``read_npz``
    checks them, without reading any array."""
    path = os.fspath(path)
    with _checked(path) as (_, members):
        return {name: (member.shape, member.dtype) for name, member in members.items()}


class _Member(NamedTuple):
    info: zipfile.ZipInfo
    shape: tuple
    dtype: np.dtype
    nbytes: int              # the .npy header and the array: the entry's uncompressed size


@contextlib.contextmanager
def _checked(path):
    """The open archive at ``path`` and its members ``{name: _Member}``, each checked; any failure,
    in here or in the ``with`` block, becomes one ``DataError`` naming the file."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
            if magic not in ZIP_MAGICS:
                raise DataError(f"{path}: not an .npz archive (it does not start with a zip header; "
                                f"first bytes {magic!r})")
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                infos = archive.infolist()
                stored = sum(info.compress_size for info in infos)
                file_size = os.fstat(f.fileno()).st_size
                if stored > file_size:
                    raise DataError(f"{path}: its zip entries claim {stored} stored bytes, more than the "
                                    f"file's {file_size}; refused before reading")
                members = {info.filename[:-len(".npy")]: _member(path, archive, info) for info in infos}
                yield archive, members
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, NotImplementedError) as exc:
        raise DataError(f"{path}: truncated or corrupted .npz archive ({type(exc).__name__}: {exc})") from None


def _member(path, archive, info):
    """Member ``info``, its declared size checked against its .npy header and its stored size."""
    name = info.filename
    if not name.endswith(".npy"):
        raise DataError(f"{path}: member {name!r} is not a .npy array; not a file save_arrays wrote")
    if info.compress_type == zipfile.ZIP_STORED:
        possible = info.compress_size
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        possible = info.compress_size * DEFLATE_MAX_RATIO + 64
    else:
        raise DataError(f"{path}: member {name!r} uses zip compression method {info.compress_type}; "
                        f"only stored and deflated .npz members are read")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in _HEADER_READERS:
            raise DataError(f"{path}: member {name!r} is .npy format {version}, expected 1.0 or 2.0")
        shape, _, dtype = _HEADER_READERS[version](member)
        header = member.tell()
    if dtype.hasobject:
        raise DataError(f"{path}: holds pickled (object) data, which is never loaded "
                        f"(member {name!r} is a {dtype} array)")
    declared = header + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared != info.file_size or declared > possible:
        raise DataError(f"{path}: member {name!r} declares shape {shape} of {dtype} ({declared} bytes), "
                        f"but its zip entry holds {min(info.file_size, possible)}; refused before "
                        f"allocating (truncated or crafted file)")
    return _Member(info, shape, dtype, declared)
