"""The download path, end to end, against a real HTTP server on loopback serving the shared data.

Each test gets a fresh, empty cache (``XDG_CACHE_HOME`` in a temporary folder) and a server whose
behaviour it chooses: serve the files as they are, a corrupted or truncated payload, a dropped
connection, an error status, or no answer in time. What must hold: a good download lands in the
cache and is not fetched again; every bad one is refused and leaves nothing behind.
"""
import gzip
import re
import socket
import sys
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tinygrad_lite.datasets import DATASETS, load_mnist
from tinygrad_lite.datasets import sources
from tests.test_files import FullDisk
from tinygrad_lite.errors import DataError

MNIST_FILES = [f.name for f in DATASETS["mnist"].files.values()]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# ---- the server ---------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    """Serves ``server.root`` as the mirrors do, bent by ``server.mode`` (see ``_payload``)."""

    def do_GET(self):
        self.server.requests.append(self.path)
        mode = self.server.mode
        if mode in ("404", "500"):
            self.send_error(int(mode))
            return
        if mode == "slow":
            time.sleep(1.0)
        path = self.server.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        body = _payload(path, mode)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if mode == "cut" else body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Stay quiet when a client hangs up on purpose (the time-out test), report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@lru_cache(maxsize=None)
def _payload(path, mode):
    """The bytes to send for ``path``: as stored, or damaged the way ``mode`` says."""
    data = path.read_bytes()
    if mode == "corrupt":       # well-formed, one byte off (sent uncompressed, as some mirrors do)
        raw = bytearray(gzip.decompress(data))
        raw[-1] ^= 0x01
        return bytes(raw)
    if mode == "garbled":       # gzip data damaged in transit
        return data[:100] + bytes(b ^ 0xFF for b in data[100:110]) + data[110:]
    if mode == "truncate":      # a complete response of a truncated file
        return data[: len(data) // 2]
    return data


@pytest.fixture(scope="module")
def server(data_root):
    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.root, httpd.mode, httpd.requests = data_root, "ok", []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mirror(server, tmp_path, monkeypatch):
    """The loopback server as the only mirror, an empty cache, and no other data anywhere."""
    server.mode, server.requests[:] = "ok", []
    monkeypatch.delenv("TINYGRAD_LITE_DATA", raising=False)
    monkeypatch.delenv("TINYGRAD_LITE_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    for name in DATASETS:
        monkeypatch.setitem(sources.MIRRORS, name, [f"{url}/{name}/"])
        monkeypatch.setitem(sources.SYSTEM_DIRS, name, [])
    server.url = url
    return server


def _cache_files(tmp_path):
    """Every file under the temporary cache, temporary files included."""
    return sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("*") if p.is_file())


# ---- good downloads -----------------------------------------------------------------------------

def test_good_download_lands_in_the_cache_and_is_not_fetched_again(mirror, tmp_path, monkeypatch):
    monkeypatch.setitem(sources.MIRRORS, "mnist", [])     # use the environment variable instead
    monkeypatch.setenv("TINYGRAD_LITE_MIRRORS", f"http://127.0.0.1:9/nothing, {mirror.url}")
    monkeypatch.setattr(sources, "DOWNLOAD_TIMEOUT", 5.0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert sorted(mirror.requests) == sorted(f"/mnist/{f}.gz" for f in MNIST_FILES)
    assert _cache_files(tmp_path) == sorted(Path("cache/tinygrad_lite/mnist") / f"{f}.gz"
                                            for f in MNIST_FILES)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS and len(y_test) == 10000

    again = load_mnist()                                   # second load: from the cache
    assert len(mirror.requests) == 4
    np.testing.assert_array_equal(again[0][1], y_train)


def test_a_failing_mirror_falls_back_to_the_next(mirror, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)        # and no progress bar: tqdm is optional
    monkeypatch.setitem(sources.MIRRORS, "mnist", [f"{mirror.url}/missing/", f"{mirror.url}/mnist/"])
    load_mnist()
    assert len(mirror.requests) == 8                       # 4 misses, then 4 hits
    assert len(_cache_files(tmp_path)) == 4


def test_a_corrupt_cached_file_is_replaced(mirror, tmp_path, data_root):
    folder = tmp_path / "cache" / "tinygrad_lite" / "mnist"
    folder.mkdir(parents=True)
    for name in MNIST_FILES[:3]:
        (folder / f"{name}.gz").write_bytes((data_root / "mnist" / f"{name}.gz").read_bytes())
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01")   # a raw, broken copy
    with pytest.warns(UserWarning, match="t10k-labels-idx1-ubyte: used http.*refused"):
        load_mnist()
    assert mirror.requests == ["/mnist/t10k-labels-idx1-ubyte.gz"]
    assert not (folder / "t10k-labels-idx1-ubyte").exists()
    load_mnist(download=False)                             # and now the cache is whole


def test_mirror_urls_from_the_environment(monkeypatch):
    spec, file = DATASETS["fashion-mnist"], DATASETS["fashion-mnist"].files["test_labels"]
    monkeypatch.setenv("TINYGRAD_LITE_MIRRORS", "http://a/data http://b/{dataset}-gz/,http://c/")
    assert [url for _, url in sources.mirror_urls(spec, file)] == [
        "http://a/data/fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "http://b/fashion-mnist-gz/t10k-labels-idx1-ubyte.gz",
        "http://c/fashion-mnist/t10k-labels-idx1-ubyte.gz"]
    monkeypatch.delenv("TINYGRAD_LITE_MIRRORS")
    assert sources.mirror_urls(spec, file)[0][1] == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz")


# ---- bad downloads: refused, and nothing left behind --------------------------------------------

@pytest.mark.parametrize("mode, reason", [
    ("corrupt", "SHA-256 mismatch"),
    ("garbled", "gzip data is corrupt"),
    ("truncate", "gzip stream is truncated"),
    ("cut", r"the connection ended after \d+ of \d+ bytes"),
    ("500", "HTTP 500"),
    ("404", "HTTP 404"),
])
def test_bad_download_is_refused_and_leaves_nothing(mirror, tmp_path, mode, reason):
    mirror.mode = mode
    with pytest.raises(DataError, match=reason) as info:
        load_mnist()
    message = str(info.value)
    for name in MNIST_FILES:                               # every file tried and reported
        assert f"{mirror.url}/mnist/{name}.gz: " in message
    assert len(mirror.requests) == 4
    assert _cache_files(tmp_path) == []                    # no data, no temporary files
    assert not (tmp_path / "cache" / "tinygrad_lite").exists()


def test_a_full_disk_while_downloading_names_the_file(mirror, tmp_path, monkeypatch):
    def open_on_a_full_disk(path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        return FullDisk(f) if "w" in mode else f
    monkeypatch.setattr(sources, "open", open_on_a_full_disk, raising=False)
    with pytest.raises(DataError) as info:
        load_mnist()
    folder = tmp_path / "cache" / "tinygrad_lite" / "mnist"
    for name in MNIST_FILES:
        assert re.search(rf"{re.escape(mirror.url)}/mnist/{name}.gz: \[Errno 28\] No space left on device: "
                         rf"'{re.escape(str(folder))}/\.{name}\.\w+\.part'", str(info.value)), str(info.value)
    assert _cache_files(tmp_path) == []


def test_a_silent_server_times_out(mirror, tmp_path, monkeypatch):
    mirror.mode = "slow"
    monkeypatch.setattr(sources, "DOWNLOAD_TIMEOUT", 0.2)
    with pytest.raises(DataError, match="timed out") as info:
        load_mnist()
    assert "skipped (the server did not answer earlier)" in str(info.value)
    assert len(mirror.requests) == 1                       # not asked again for the other files
    assert _cache_files(tmp_path) == []


def test_an_unreachable_mirror_is_reported(mirror, tmp_path, monkeypatch):
    with socket.socket() as s:                             # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(sources.MIRRORS, "mnist", [f"http://127.0.0.1:{port}/mnist/"])
    with pytest.raises(DataError, match="refused") as info:
        load_mnist()
    assert str(info.value).count("skipped (the server did not answer earlier)") == 3
    assert "To supply the files by hand" in str(info.value)
    assert _cache_files(tmp_path) == []
