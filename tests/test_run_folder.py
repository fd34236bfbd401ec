"""The run folder: one run at a time, and refused before training when it cannot take the run."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from experiments import cli, run_folder
from experiments.registry import RUNS
from experiments.run_folder import RunFolderUnusable
from experiments.runner import Overrides, RunOptions, run
from nn.serialization import decode_json, load_arrays

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--epochs", "1", "--subset", "200", "--no-torch", "--no-progress", "--no-report"]


def never_trains(*step):
    pytest.fail(f"training started (step {step}) although the run folder cannot take the run")


def _can_write(folder):
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


@pytest.fixture
def make_read_only():
    """``make_read_only(folder)`` creates ``folder`` so that no one can write in it: mode 555, or, for
    root (whom modes do not stop), ``chattr +i``; undone at the end of the test."""
    made = []

    def make(folder):
        folder.mkdir(parents=True)
        folder.chmod(0o555)
        made.append(folder)
        if _can_write(folder):
            folder.chmod(0o755)
            if not (shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)],
                                                              capture_output=True).returncode == 0):
                pytest.skip("running as root, where mode 555 does not stop writes, and chattr +i is "
                            "not allowed here (no CAP_LINUX_IMMUTABLE): no folder can be made read-only")
        assert not _can_write(folder)
        return folder
    yield make
    for folder in made:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def test_a_second_run_into_the_same_folder_is_refused_naming_the_holder(data_root, tmp_path):
    """Two runs into one --out at once, other seeds: the second exits 2 in one line naming the first
    (this process), and the folder holds the first run's files only; once it ends the folder is free."""
    second = ["run", "A-sigmoid", "--seed", "1", *QUICK, "--out", str(tmp_path), "--data", str(data_root)]
    outcome = []

    def start_the_second_run(epoch, batch, iteration):
        if not outcome:
            outcome.append(subprocess.run([sys.executable, "-m", "experiments", *second], cwd=REPO,
                                          capture_output=True, text=True, timeout=120))

    run(RUNS["A-sigmoid"], RunOptions(overrides=Overrides(epochs=1), subset=200, torch=False, progress=False,
                                      report=False, out=str(tmp_path), root=str(data_root), seed=0,
                                      step_hook=start_the_second_run))
    refused = outcome[0]
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"{tmp_path / 'A-sigmoid'} is in use by another run (pid {os.getpid()} on " in lines[0]
    run_dir = tmp_path / "A-sigmoid"
    assert json.loads((run_dir / "metrics.json").read_text())["seed"] == 0
    assert decode_json(load_arrays(run_dir / "model-meta.npz")["meta"])["fingerprint"]["seed"] == 0
    assert not (run_dir / run_folder.HOLDER).exists()
    assert cli.main(second) == 0                                     # the lock went with the first run
    assert json.loads((run_dir / "metrics.json").read_text())["seed"] == 1


def test_without_filelock_a_run_still_works_and_says_it_is_unguarded(data_root, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setitem(sys.modules, "filelock", None)              # import filelock -> ImportError
    monkeypatch.setattr(run_folder, "_warned_unguarded", [])
    argv = ["run", "A-sigmoid", *QUICK, "--out", str(tmp_path), "--data", str(data_root)]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0
    said = [line for line in capsys.readouterr().err.splitlines()
            if line.startswith("tinygrad-lite:") and "filelock" in line]
    assert said == ["tinygrad-lite: filelock is not installed, so concurrent runs into one folder are not "
                    "guarded (pip install filelock, or pip install 'tinygrad_lite[run]')"]
    assert (tmp_path / "A-sigmoid" / "metrics.json").is_file()


@pytest.mark.parametrize("read_only, words", [("out", "cannot create the run folder"),
                                             ("out/A-sigmoid", "cannot write in the run folder")])
def test_a_read_only_run_folder_is_refused_before_training(make_read_only, read_only, words, data_root,
                                                           tmp_path, capsys):
    """--out read-only (or the run's own folder): refused in one line before any work, not after an epoch."""
    make_read_only(tmp_path / read_only)
    out, run_dir = tmp_path / "out", tmp_path / "out" / "A-sigmoid"
    with pytest.raises(RunFolderUnusable, match=words) as info:
        run(RUNS["A-sigmoid"], RunOptions(overrides=Overrides(epochs=1), subset=200, torch=False, progress=False,
                                          report=False, out=str(out), root=str(data_root), step_hook=never_trains))
    assert str(run_dir) in str(info.value) and "--out" in str(info.value)
    status = cli.main(["run", "A-sigmoid", *QUICK, "--out", str(out), "--data", str(data_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and words in err[0] and str(run_dir) in err[0], err


def test_a_checkpoint_path_that_is_a_folder_is_refused_before_training(data_root, tmp_path, capsys):
    """--resume where checkpoint-last.npz is a directory: refused at once, not after an epoch's work."""
    checkpoint = tmp_path / "A-sigmoid" / "checkpoint-last.npz"
    checkpoint.mkdir(parents=True)
    with pytest.raises(RunFolderUnusable, match="checkpoint-last.npz is not a file") as info:
        run(RUNS["A-sigmoid"], RunOptions(overrides=Overrides(epochs=1), subset=200, torch=False, progress=False,
                                          report=False, out=str(tmp_path), root=str(data_root), resume=True,
                                          step_hook=never_trains))
    assert str(checkpoint) in str(info.value)
    status = cli.main(["run", "A-sigmoid", *QUICK, "--resume", "--out", str(tmp_path), "--data",
                       str(data_root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and f"{checkpoint} is not a file" in err[0], err
