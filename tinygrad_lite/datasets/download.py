"""Fetch one URL into an open file: a time-out, a progress bar, and no silent short reads.

This module only moves bytes. Deciding where they go and whether they are right (verification
before anything enters the cache, the atomic rename) is the job of ``sources``.
"""
import contextlib
import http.client
import sys
import urllib.request

from ..errors import DataError
from ..files import named

USER_AGENT = "tinygrad_lite-datasets"
CHUNK_BYTES = 1 << 16


def download(url, out, timeout, desc=None, max_bytes=None):
    """Stream ``url`` into the binary file object ``out`` and return the number of bytes written.

    Raises ``OSError`` for network failures, HTTP error statuses (``urllib.error.HTTPError``),
    time-outs (``timeout`` seconds without data) and failed writes (naming ``out``'s file), and
    ``DataError`` when the server sends fewer bytes than its ``Content-Length`` announced (a dropped
    connection looks like a short file) or, given ``max_bytes``, announces or sends more than that
    (stopped as soon as it does).
    """
    print(f"tinygrad_lite: downloading {url}", file=sys.stderr)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = _content_length(response)
        if max_bytes is not None and total is not None and total > max_bytes:
            raise DataError(f"{url}: the server announces {total} bytes, more than the {max_bytes} "
                            f"this file can take; refused")
        received = 0
        with _progress_bar(total, desc) as advance:
            while chunk := _read_chunk(response, url):
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise DataError(f"{url}: the server sent more than the {max_bytes} bytes this "
                                    f"file can take; stopped")
                try:
                    out.write(chunk)
                except OSError as exc:          # a full disk: say which file, not just "[Errno 28]"
                    raise named(exc, getattr(out, "name", "the download's file")) from exc
                advance(len(chunk))
    if total is not None and received != total:
        raise DataError(f"{url}: the connection ended after {received} of {total} bytes")
    return received


def _content_length(response):
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _read_chunk(response, url):
    try:
        return response.read(CHUNK_BYTES)
    except http.client.HTTPException as exc:   # IncompleteRead and friends are not OSErrors
        raise DataError(f"{url}: the transfer broke off ({exc!r})") from exc


@contextlib.contextmanager
def _progress_bar(total, desc):
    """Yield a function ``advance(n_bytes)``: a tqdm bar when tqdm is installed, else a no-op.

    ``disable=None`` lets tqdm hide the bar when stderr is not a terminal (CI logs, pytest).
    """
    try:
        from tqdm import tqdm
    except ImportError:
        yield lambda n: None
        return
    with tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
              disable=None, leave=False) as bar:
        yield bar.update
