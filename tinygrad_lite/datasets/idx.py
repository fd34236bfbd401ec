"""Read IDX files, the format MNIST and Fashion-MNIST are published in, gzip-compressed or raw.

An IDX file is a 4-byte magic number ``00 00 <dtype code> <number of dims>``, one big-endian
``uint32`` per dimension, then the values in C order. Both data sets only use dtype code ``0x08``
(unsigned byte). Everything that can go wrong with a downloaded or copied file (cut off, gzip
damaged, wrong type, extra bytes) is caught here and reported as a ``DataError`` that names the
file, what was expected and what was found, instead of surfacing later as a reshape error or as
silently wrong pixels. Reads are bounded by the size the header declares (and, for the published
files, by their known size), so a tiny crafted file cannot make the reader allocate gigabytes.
"""
import contextlib
import gzip
import io
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UINT8_CODE = 0x08
CHUNK_BYTES = 1 << 20
_DTYPE_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32",
                0x0D: "float32", 0x0E: "float64"}


def is_gzip(data):
    """True when ``data`` starts with the gzip magic ``1f 8b`` (file names are not trusted)."""
    return data[:2] == GZIP_MAGIC


def read_bytes(path, max_size=None, name=None):
    """The uncompressed content of ``path`` (gunzipped when it is gzip data), read with a bound.

    No more is read or decompressed than the IDX header declares (plus one byte, to notice trailing
    data), and never more than ``max_size`` bytes when given (the published file's size): a small
    file that declares or inflates to gigabytes is refused before the memory is taken. ``name``
    (default: the path) is used in error messages.
    """
    path = Path(path)
    name = str(path) if name is None else name
    try:
        with open(path, "rb") as f:
            compressed = is_gzip(f.read(2))
            f.seek(0)
            if not compressed:
                return read_idx_stream(f, name, max_size, total=os.fstat(f.fileno()).st_size)
            size = os.fstat(f.fileno()).st_size
            f.seek(max(size - 4, 0))
            recorded = _gzip_recorded_size(f.read(4))
            f.seek(0)
            with _gzip_errors(name, size), gzip.GzipFile(fileobj=f) as stream:
                return read_idx_stream(stream, name, max_size, recorded=recorded)
    except DataError:
        raise
    except OSError as exc:
        raise DataError(f"{name}: cannot be read ({exc.strerror or exc})") from exc


def decompress_if_gzip(data, name, max_size=None):
    """``read_bytes`` for bytes already in memory (a download): gunzipped if gzip data, with the
    same bounds."""
    if not is_gzip(data):
        return read_idx_stream(io.BytesIO(data), name, max_size, total=len(data))
    with _gzip_errors(name, len(data)), gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        return read_idx_stream(stream, name, max_size, recorded=_gzip_recorded_size(data[-4:]))


def read_idx_stream(stream, name, max_size=None, total=None, recorded=None):
    """Read one IDX file from the binary ``stream``: the header, then at most the bytes it declares.

    A declared size above ``max_size`` is refused before any data is read, and so is data beyond
    the declared size (or beyond ``max_size`` when the header is not IDX) after one extra byte;
    ``total``, the stream's length when known, only makes that message exact. Without
    ``max_size``, a header that is not IDX is returned as it is, for ``parse_idx`` to name.
    ``recorded``: the size a gzip stream's trailer records (mod 2^32); data beyond a declared size
    that the trailer also records is corrupt gzip data (its checksum is never reached), not
    trailing bytes.
    """
    head = _read_at_most(stream, 4)
    shape = declared = None
    if _is_idx_magic(head):
        head += _read_at_most(stream, 4 * head[3])
        if len(head) == 4 + 4 * head[3]:
            shape, declared = _declared(head)
    if declared is not None and max_size is not None and declared > max_size:
        raise DataError(f"{name}: the header declares shape {shape}, so {declared} bytes, more than "
                        f"the {max_size} bytes of the published file; refused before reading it")
    limit = declared if declared is not None else max_size
    if limit is None:
        return head
    data = head + _read_at_most(stream, limit - len(head) + 1)
    if len(data) > limit:
        got = total if total is not None else f"more than {limit}"
        if declared is not None and recorded == declared % 2**32:
            raise DataError(f"{name}: the gzip data is corrupt: it inflates past the {declared} bytes that "
                            f"both its IDX header and its gzip trailer record")
        if declared is not None:
            raise _size_error(name, shape, declared, got)
        raise DataError(f"{name}: {got} bytes, larger than the {max_size}-byte published file "
                        f"(and not an IDX file); refused")
    return data


def _is_idx_magic(head):
    """True when ``head`` starts like an IDX file of unsigned bytes: ``00 00 08 <ndim > 0>``."""
    return len(head) >= 4 and head[:2] == b"\x00\x00" and head[2] == UINT8_CODE and head[3] > 0


def _read_at_most(stream, n):
    """Up to ``n`` bytes of ``stream``, read in chunks so that memory grows only with real data."""
    parts, left = [], n
    while left > 0:
        part = stream.read(min(left, CHUNK_BYTES))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _gzip_recorded_size(trailer):
    """The uncompressed size mod 2^32 that a gzip stream's last 4 bytes record (None if too short)."""
    return int.from_bytes(trailer, "little") if len(trailer) == 4 else None


@contextlib.contextmanager
def _gzip_errors(name, compressed_size):
    """Turn a cut-off or damaged gzip stream into a ``DataError`` naming the file."""
    try:
        yield
    except EOFError as exc:
        raise DataError(f"{name}: the gzip stream is truncated ({compressed_size} compressed bytes "
                        f"end before the end-of-stream marker); the file is incomplete") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{name}: the gzip data is corrupt ({exc})") from exc


def _declared(header):
    """(shape, total file size) that a complete IDX ``header`` declares."""
    ndim = header[3]
    shape = tuple(int(d) for d in np.frombuffer(header, dtype=">u4", count=ndim, offset=4))
    return shape, 4 + 4 * ndim + math.prod(shape)      # Python ints: no int64 overflow


def _size_error(name, shape, expected, got):
    what = "truncated" if isinstance(got, int) and got < expected else "has trailing bytes"
    return DataError(f"{name}: {what}: the header declares shape {shape}, so expected "
                     f"{expected} bytes, got {got}")


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
    shape, expected = _declared(data[:header])
    if len(data) != expected:
        raise _size_error(name, shape, expected, len(data))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def read_idx(path):
    """Read an IDX file (gzip or raw, detected from its first bytes) into a ``uint8`` array."""
    return parse_idx(read_bytes(path), name=str(path))
