"""tinygrad_lite.files: a write either lands whole or leaves the previous file untouched."""
import os
import stat

import pytest

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
