"""``scripts/gpu_check.sh``, the one prepared GPU check: here, without a GPU, it must stop at stage 0
with one line (else every CUDA test would skip and the check would pass), and its CPU dry run
(``--device cpu``) must run the replay and benchmark stages end to end and write their files."""
import json
import os
import subprocess

import pytest

import tinygrad_lite as tl
from conftest import REPO


def gpu_check(tmp_path, *args, stages=None, timeout=600):
    env = dict(os.environ, OUT=str(tmp_path), PYTHONPATH=str(REPO))
    if stages is not None:
        env["STAGES"] = stages
    return subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_without_a_gpu_it_stops_at_stage_0_with_one_line(tmp_path):
    if tl.cuda_available():
        pytest.skip("a CUDA GPU is present here, so stage 0 passes")
    done = gpu_check(tmp_path)
    assert done.returncode == 1
    line, = done.stderr.strip().splitlines()
    assert line.startswith("gpu_check: stage 0 failed: device 'cuda' needs ") and "device='cpu'" in line
    result = json.loads((tmp_path / "stage0.json").read_text())
    assert result["ok"] is False and result["status"] == "done"
    assert not (tmp_path / "stage1.json").exists()              # nothing after stage 0 ran
    assert (tmp_path / "stages.txt").read_text().startswith("stage 0: rc 1")


def test_bad_arguments_are_one_line(tmp_path):
    for args, stages, message in (((), "7", "no stage '7'"), (("--device", "tpu"), None, "must be cuda or cpu"),
                                  (("--fast",), None, "unknown argument '--fast'")):
        done = gpu_check(tmp_path, *args, stages=stages)
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_cpu_dry_run_runs_the_replay_and_benchmark_stages_end_to_end(tmp_path, data_root):
    done = gpu_check(tmp_path, "--device", "cpu", stages="0 2 3")
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line.split(":")[0] for line in (tmp_path / "stages.txt").read_text().splitlines()] == \
        ["stage 0", "stage 2", "stage 3"]
    assert json.loads((tmp_path / "stage0.json").read_text())["skipped"].startswith("--device cpu")
    replays = json.loads((tmp_path / "stage2.json").read_text())
    assert replays["ok"] and replays["status"] == "done" and len(replays["runs"]) == 2
    for name, run in replays["runs"].items():
        assert run["stopped"]["interrupted_at"] > 0, name              # it was stopped mid-run ...
        assert any("resumed from" in note for note in run["resumed"]["notes"]), name   # ... and resumed
        assert run["resumed_bit_identical"], name                       # on the CPU: to the last bit
        assert run["train_acc_device_minus_cpu"] == 0.0, name          # the CPU stands in for the GPU
    bench = json.loads((tmp_path / "stage3.json").read_text())
    assert bench["ok"] and any(path.endswith("RESULTS-gpu-tiny.md") for path in bench["files"])
    text = (tmp_path / "benchmarks" / "RESULTS-gpu-tiny.md").read_text()
    assert "| mlp-relu |" in text and ("not available" in text) != tl.cuda_available()
