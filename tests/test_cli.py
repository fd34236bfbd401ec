"""The ``tinygrad-lite`` command: the list, one-line errors with exit status 2, the sample fallback."""
import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tinygrad_lite as tl
from experiments import cli, registry
from tinygrad_lite.datasets import DATASETS

REPO = Path(__file__).resolve().parents[1]


def tinygrad_lite(argv, capsys):
    """Run the command in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main(argv)
    except SystemExit as exc:          # argparse's own exits (--help, usage errors)
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *needles):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("tinygrad-lite")
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No full data anywhere: an empty data folder and cache, no downloads."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    monkeypatch.setenv("TINYGRAD_LITE_OFFLINE", "1")
    return empty


def test_list_names_every_run_its_document_and_time(capsys):
    status, out, _ = tinygrad_lite(["list"], capsys)
    assert status == 0
    for name, config in registry.RUNS.items():
        line = next(text for text in out.splitlines() if text.split()[:1] == [name])
        assert "min" in line or " h " in line
        assert config.document in out
    for group in ("all-A", "all-B", "all-C", "all-D", "all"):
        assert any(text.split()[:1] == [group] for text in out.splitlines())


@pytest.mark.parametrize("argv, needles", [
    (["run", "A-sigmoidd"], ["unknown run 'A-sigmoidd'", "A-sigmoid"]),
    (["run", "A-sigmoid", "--epochs", "0"], ["--epochs", "0"]),
    (["run", "A-sigmoid", "--epochs", "ten"], ["--epochs", "ten"]),
    (["run", "A-sigmoid", "--subset", "-5"], ["--subset"]),
    (["run", "A-sigmoid", "--device", "tpu"], ["--device", "tpu"]),
    (["run", "A-sigmoid", "--lr", "-0.1"], ["--lr", "-0.1", "> 0"]),
    (["run", "A-sigmoid", "--lr", "nan"], ["--lr", "nan"]),
    (["run", "A-sigmoid", "--batch-size", "0"], ["--batch-size", "0"]),
    (["frobnicate"], ["frobnicate"]),
])
def test_mistakes_are_one_line_and_exit_2(argv, needles, capsys):
    assert_one_line_error(*tinygrad_lite(argv, capsys)[::2], *needles)


def test_missing_data_without_the_sample_is_one_line(no_data, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TINYGRAD_LITE_NO_SAMPLE", "1")
    status, _, err = tinygrad_lite(["run", "A-sigmoid", "--out", str(tmp_path), "--no-torch"], capsys)
    assert_one_line_error(status, err, "MNIST", "TINYGRAD_LITE_NO_SAMPLE")
    assert not (tmp_path / "A-sigmoid" / "metrics.json").exists()


def test_cuda_without_a_gpu_is_one_line(tmp_path, capsys):
    if tl.cuda_available():
        pytest.skip("a CUDA GPU is present here, so --device cuda is not an error")
    status, _, err = tinygrad_lite(["run", "A-sigmoid", "--device", "cuda", "--out", str(tmp_path)], capsys)
    assert_one_line_error(status, err, "cuda")


def test_main_command_falls_back_to_the_sample_and_says_so(no_data, tmp_path, capsys):
    status, out, err = tinygrad_lite(["run", "A-sigmoid", "--epochs", "1", "--subset", "200", "--no-torch",
                                      "--no-progress", "--no-report", "--out", str(tmp_path)], capsys)
    assert status == 0, err
    assert "SAMPLE" in err
    metrics = json.loads((tmp_path / "A-sigmoid" / "metrics.json").read_text())
    assert metrics["used_sample"] is True
    assert len(metrics["predictions"]["train"]["y_true"]) == 200
    # the sample has 3,000 training images: the 10,000-of-60,000 validation split is scaled to 500
    assert len(metrics["predictions"]["val"]["y_true"]) == 200
    assert any("500 of 3000" in note for note in metrics["notes"])
    status, out, err = tinygrad_lite(["report", "--out", str(tmp_path)], capsys)
    assert status == 0 and "A-sigmoid" in out and "sample" in out


def test_a_corrupt_data_file_is_an_error_never_replaced_by_the_sample(data_root, tmp_path, monkeypatch,
                                                                     capsys):
    """One byte flipped in $TINYGRAD_LITE_DATA/mnist/t10k-labels-idx1-ubyte: one line naming the file and
    both digests, exit 2, nothing trained; with --sample the user asks for the sample and gets it."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (folder / f"{name}.gz").symlink_to(data_root / "mnist" / f"{name}.gz")
    labels = bytearray(gzip.decompress((data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[100] ^= 0x01
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYGRAD_LITE_OFFLINE", "1")
    argv = ["run", "A-sigmoid", "--epochs", "1", "--subset", "200", "--no-torch", "--no-progress",
            "--no-report", "--out", str(tmp_path / "runs")]
    status, _, err = tinygrad_lite(argv, capsys)
    assert_one_line_error(status, err, str(folder / "t10k-labels-idx1-ubyte"), "SHA-256 mismatch",
                          DATASETS["mnist"].files["test_labels"].sha256, hashlib.sha256(labels).hexdigest(),
                          "t10k-labels-idx1-ubyte.gz from http", "--sample")
    assert "SAMPLE" not in err and not (tmp_path / "runs" / "A-sigmoid" / "metrics.json").exists()
    status, _, err = tinygrad_lite(argv + ["--sample"], capsys)
    assert status == 0, err
    assert json.loads((tmp_path / "runs" / "A-sigmoid" / "metrics.json").read_text())["used_sample"] is True


def test_an_explicit_data_folder_is_the_only_place_looked_at(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(data_root))        # good data that --data must not fall to
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _, err = tinygrad_lite(["run", "A-sigmoid", "--epochs", "1", "--subset", "200", "--no-torch",
                                    "--no-progress", "--no-report", "--data", str(empty),
                                    "--out", str(tmp_path / "runs")], capsys)
    assert_one_line_error(status, err, f"--data {empty}", "no verified copy", "only place looked at")
    assert not (tmp_path / "runs" / "A-sigmoid" / "metrics.json").exists()


def test_a_data_folder_that_is_a_symlink_loop_is_one_line(tmp_path, monkeypatch, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(loop))
    status, _, err = tinygrad_lite(["run", "A-sigmoid", "--epochs", "1", "--subset", "200", "--no-torch",
                                    "--no-progress", "--no-report", "--out", str(tmp_path / "runs")], capsys)
    assert_one_line_error(status, err, f"$TINYGRAD_LITE_DATA '{loop}' cannot be used as the data folder")
    assert not (tmp_path / "runs" / "A-sigmoid" / "metrics.json").exists()


FILE_SIZE_LIMIT = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
sys.argv = ["tinygrad-lite"] + sys.argv[1:]
runpy.run_module("experiments", run_name="__main__")
"""


def test_a_file_that_does_not_fit_on_the_disk_is_named(data_root, tmp_path):
    """A real failing write (the kernel refuses files over 64 KiB here, as a full disk would refuse any
    byte more): the one line names the file, not just "[Errno 27] File too large"."""
    done = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT, "run", "A-sigmoid", "--epochs", "1",
                           "--subset", "200", "--no-torch", "--no-progress", "--no-report",
                           "--data", str(data_root), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert done.returncode == 2, done.stderr
    run_dir = tmp_path / "A-sigmoid"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0] == (f"tinygrad-lite: error: [Errno 27] File too large: "
                                            f"'{run_dir / 'checkpoint-last.npz'}'"), done.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == [".run.lock"]      # no temporary file left


def test_resume_with_other_settings_is_refused(data_root, tmp_path, capsys):
    argv = ["run", "D-mlp-adam", "--subset", "200", "--no-torch", "--no-progress", "--no-report",
            "--out", str(tmp_path),
            "--data", str(data_root)]
    assert tinygrad_lite(argv + ["--epochs", "1"], capsys)[0] == 0
    status, _, err = tinygrad_lite(argv + ["--epochs", "2", "--resume"], capsys)
    assert_one_line_error(status, err, "epochs")


def test_lr_and_batch_size_overrides_are_used_recorded_and_flagged(data_root, tmp_path, capsys):
    """A variation of a run (here the investigation of C's slow MLPs): the run trains with the command
    line's lr and batch size, metrics.json keeps both values, and both reports flag the run."""
    status, _, err = tinygrad_lite(["run", "C-mlp-relu", "--lr", "0.004", "--batch-size", "32", "--epochs", "1",
                                    "--subset", "320", "--no-torch", "--no-progress", "--out", str(tmp_path),
                                    "--data", str(data_root)], capsys)
    assert status == 0, err
    metrics = json.loads((tmp_path / "C-mlp-relu" / "metrics.json").read_text())
    assert metrics["config"]["lr"] == 0.004 and metrics["config"]["batch_size"] == 32
    assert metrics["overrides"] == {"lr": {"document": registry.RUNS["C-mlp-relu"].lr, "used": 0.004},
                                    "batch_size": {"document": 64, "used": 32},
                                    "epochs": {"document": registry.RUNS["C-mlp-relu"].epochs, "used": 1}}
    assert "lr 0.004 from the command line" in (tmp_path / "C-mlp-relu" / "REPORT.md").read_text()
    status, out, _ = tinygrad_lite(["report", "--out", str(tmp_path)], capsys)
    assert status == 0 and "⚠ lr 0.004 instead of 0.001" in out and "⚠ batch_size 32 instead of 64" in out


def test_python_dash_m_experiments_prints_no_traceback(tmp_path):
    """The real process: an unknown name gives exit status 2 and one line, nothing else."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "experiments", "run", "nope", "--out", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "unknown run 'nope'" in done.stderr


def test_no_arguments_prints_the_help_and_succeeds(capsys):
    status, out, err = tinygrad_lite([], capsys)
    assert status == 0 and err == ""
    assert out.startswith("usage: tinygrad-lite") and "list" in out and "run" in out


def test_python_dash_m_tinygrad_lite_says_what_to_run():
    result = subprocess.run([sys.executable, "-m", "tinygrad_lite"], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == ""
    for command in ("tinygrad-lite run A-sigmoid", "docs/tutorial.md", "docs/replay_A.md"):
        assert command in result.stdout


def test_list_shows_the_expected_time_with_and_without_the_torch_reference(capsys):
    status, out, _ = tinygrad_lite(["list"], capsys)
    assert status == 0
    assert out.splitlines()[0].split() == ["expected", "with", "torch"]
    line = next(text for text in out.splitlines() if text.split()[:1] == ["A-sigmoid"])
    minutes = registry.RUNS["A-sigmoid"].minutes_cpu
    assert line.split()[1:5] == [f"~{minutes:.0f}", "min", f"~{2 * minutes:.0f}", "min"]
    assert "--no-torch" in out


def test_bench_runs_the_benchmarks_in_a_process_of_their_own(monkeypatch):
    """experiments stands below benchmarks (which import it): `bench` starts them, it never imports them."""
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv: calls.append(argv) or 3)
    assert cli.main(["bench", "--", "--quick", "--cpu"]) == 3                  # their exit status, passed on
    assert calls == [[sys.executable, "-m", "benchmarks", "--quick", "--cpu"]]
