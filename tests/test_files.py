"""tinygrad_lite.files: a write either lands whole or leaves the previous file untouched, and names
the file when it fails; JSON is read with its nesting depth and size bounded."""
import errno
import json
import os
import stat
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_lite import files
from tinygrad_lite.errors import DataError
from tinygrad_lite.files import atomic_write, write_json, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.md"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.md"]


def test_the_file_gets_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    mask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "sub" / "m.json", {"a": 1})
    finally:
        os.umask(mask)
    assert path.read_text().replace("\n", "").replace(" ", "") == '{"a":1}'
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# ---- a write that fails names its file -------------------------------------------------------------

class FullDisk:
    """A file whose every write fails as on a full disk (the OS's error carries no file name); also
    used by test_download.py."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_full_disk_names_the_file_and_leaves_the_old_one(tmp_path, monkeypatch):
    target = write_text(tmp_path / "metrics.json", "old")
    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda *a, **k: FullDisk(real_fdopen(*a, **k)))
    with pytest.raises(OSError) as caught:
        write_json(target, {"a": 1})
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert str(caught.value) == f"[Errno 28] No space left on device: '{target}'"
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["metrics.json"]


# ---- JSON read with bounds ---------------------------------------------------------------------------

def _depth(value):
    """The oracle: how deeply lists and dicts nest in a parsed value (recursion is fine here: it is small)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                     max_leaves=20)


@given(value=_json)
def test_json_depth_counts_what_the_parser_would_nest(value):
    """Brackets inside strings ("[", "\\"]", "\\\\") do not count; the parsed value is the oracle."""
    text = json.dumps(value)
    assert files.json_depth(text) == _depth(value)
    assert files.loads_json(text, "x.json") == value


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, "x.json is JSON nested more than 100 levels deep; refused before parsing"),
    ('{"a": ' * 101 + "1" + "}" * 101, "x.json is JSON nested more than 100 levels deep"),
    ('{\n', "x.json is not valid JSON (Expecting property name enclosed in double quotes: line 2 column 1"),
    (b"\xff\xfe", "x.json is not UTF-8 text, so not JSON"),
    # the depth count is one pass: an unterminated string used to be rescanned from each of its quotes
    ('"' + '\\"' * 100_000, "x.json is not valid JSON (Unterminated string"),
], ids=["100,000 deep", "101 deep", "invalid", "not UTF-8", "an unterminated string of escaped quotes"])
def test_json_that_is_too_deep_or_not_json_is_one_data_error_naming_the_file(text, words):
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            files.loads_json(text, "x.json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value)
    if "deep" in words:                                # refused before parsing: no parse tree, no chunks
        assert peak < 1 << 20, peak


def test_json_100_levels_deep_is_read():
    assert files.loads_json("[" * 100 + "]" * 100, "x.json") == json.loads("[" * 100 + "]" * 100)


def test_read_json_refuses_a_file_larger_than_its_bound_unread(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"a": list(range(100))}))
    assert files.read_json(path) == {"a": list(range(100))}
    with pytest.raises(DataError, match=rf"{path} holds more than 100 bytes, more than a JSON file read "
                                        r"here may; refused unread"):
        files.read_json(path, max_bytes=100)
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        files.read_json(tmp_path / "nowhere.json")
