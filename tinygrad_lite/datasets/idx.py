"""Read IDX files, the format MNIST and Fashion-MNIST are published in, gzip-compressed or raw.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <number of dims>``, one big-endian
``uint32`` per dimension, then the values in C order. Both data sets only use dtype code ``0x08``
(unsigned byte). Everything that can go wrong with a downloaded or copied file (cut off, gzip
damaged, wrong type, extra bytes) is caught here and reported as a ``DataError`` that names the
file, what was expected and what was found, instead of surfacing later as a reshape error or as
silently wrong pixels.
"""
import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UINT8_CODE = 0x08
_DTYPE_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32",
                0x0D: "float32", 0x0E: "float64"}


def is_gzip(data):
    """True when ``data`` starts with the gzip magic ``1f 8b`` (file names are not trusted)."""
    return data[:2] == GZIP_MAGIC


def read_bytes(path):
    """The uncompressed content of ``path``: gunzipped when it is gzip data, as is otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return decompress_if_gzip(data, str(path))


def decompress_if_gzip(data, name):
    """Gunzip ``data`` if it is gzip data; a cut-off or damaged stream is a ``DataError``."""
    if not is_gzip(data):
        return data
    try:
        return gzip.decompress(data)
    except EOFError as exc:
        raise DataError(f"{name}: the gzip stream is truncated ({len(data)} compressed bytes "
                        f"end before the end-of-stream marker); the file is incomplete") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{name}: the gzip data is corrupt ({exc})") from exc


def parse_idx(data, name="<bytes>"):
    """Turn the uncompressed bytes of an IDX file into a ``uint8`` array of the shape it declares.

    ``name`` is only used in error messages. The byte count must match the header exactly: a short
    file is truncated, a long one is not the file we think it is.
    """
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file: expected at least a 4-byte header, "
                        f"got {len(data)} bytes")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or ndim == 0:
        raise DataError(f"{name}: not an IDX file: expected magic 0x000008NN, "
                        f"got 0x{data[:4].hex()}")
    if code != UINT8_CODE:
        found = _DTYPE_NAMES.get(code, "unknown type")
        raise DataError(f"{name}: wrong IDX data type: expected code 0x08 (uint8), "
                        f"got 0x{code:02x} ({found})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header: expected {header} bytes for "
                        f"{ndim} dimensions, got {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(f"{name}: {what}: the header declares shape {shape}, so expected "
                        f"{expected} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path):
    """Read an IDX file (gzip or raw, detected from its first bytes) into a ``uint8`` array."""
    return parse_idx(read_bytes(path), name=str(path))
