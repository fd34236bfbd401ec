"""Interruptions lose nothing: a killed training run leaves a loadable checkpoint that resumes to the
uninterrupted run's exact weights, and a killed writer never leaves a broken file.

The training runs are real processes (``python -m experiments run ...``) stopped by real signals at a
random moment: SIGINT (Ctrl-C) and SIGTERM (``kill``, a closing notebook or batch system) ask the
loop to stop after the current step and save; SIGKILL (out of memory, a power cut) gives it no
chance at all, so only the atomic checkpoint writes (temporary file + ``os.replace``) protect it.
The random moment is a uniformly drawn fraction of an epoch, printed with every failure so that a
failing case can be replayed.
"""
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from experiments.checkpoint import FINAL_MODEL, LAST, load_checkpoint
from nn.serialization import load_arrays

REPO = Path(__file__).resolve().parents[1]
RUN = "C-mlp-deep-relu-drop"          # 784-400-250-100-10 ReLU with dropout: the generator state matters
EPOCHS = 4
ARGS = ["--subset", "1280", "--epochs", str(EPOCHS), "--seed", "5", "--no-torch", "--no-progress"]
ENV = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def command(out, data_root, *extra):
    return [sys.executable, "-m", "experiments", "run", RUN, *ARGS, "--out", str(out),
            "--data", str(data_root), *extra]


def run_to_the_end(out, data_root, *extra):
    done = subprocess.run(command(out, data_root, *extra), cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return load_arrays(Path(out) / RUN / FINAL_MODEL)


@pytest.fixture(scope="module")
def uninterrupted(data_root, tmp_path_factory):
    """The final weights of the same run without any interruption: what every resume must reproduce."""
    return run_to_the_end(tmp_path_factory.mktemp("uninterrupted"), data_root)


def wait_for_line(proc, needle, deadline):
    """Read the child's stdout until a line containing ``needle``; return the time it arrived."""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            line = proc.stdout.readline()
            if needle in line:
                return time.monotonic()
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"the run never printed {needle!r} (exit status {proc.poll()}): "
                         f"{proc.stderr.read()[-2000:] if proc.poll() is not None else ''}")


def interrupt_at_a_random_step(out, data_root, sig, max_fraction):
    """Start the run, measure one epoch's duration, then send ``sig`` a random fraction (at most
    ``max_fraction``) of an epoch after epoch 2 ended. Returns (exit status, stderr, where it landed)."""
    seed = random.randrange(2**32)
    fraction = random.Random(seed).uniform(0.02, max_fraction)
    proc = subprocess.Popen(command(out, data_root), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        epoch_1_done = wait_for_line(proc, f"epoch 1/{EPOCHS}", deadline)
        epoch_2_done = wait_for_line(proc, f"epoch 2/{EPOCHS}", deadline)
        time.sleep(fraction * (epoch_2_done - epoch_1_done))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    where = f"{sig.name} {fraction:.3f} of an epoch after epoch 2 (replay: random seed {seed})"
    return proc.returncode, err, where


def resumable_checkpoint(run_dir, where, at_least_epoch=2):
    """Assert the checkpoint loads, fits the run's model, and is not marked finished; return its state."""
    model_state, optimizer_state, _, meta = load_checkpoint(run_dir / LAST)
    assert not meta["state"]["finished"], where
    assert meta["state"]["epoch"] >= at_least_epoch, f"{where}: checkpoint at {meta['state']}"
    model = nn.Sequential(nn.Flatten(), nn.Dense(784, 400), nn.ReLU(), nn.Dropout(0.2), nn.Dense(400, 250),
                          nn.ReLU(), nn.Dropout(0.2), nn.Dense(250, 100), nn.ReLU(), nn.Dropout(0.2),
                          nn.Dense(100, 10))
    model.load_state_dict(model_state)          # every name and shape fits
    assert optimizer_state
    return meta["state"]


def assert_bit_identical(got, want, where):
    assert got.keys() == want.keys(), where
    for name in want:
        assert got[name].dtype == want[name].dtype and np.array_equal(got[name], want[name]), \
            f"{where}: {name} differs from the uninterrupted run"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_at_a_random_step_saves_a_checkpoint_that_resumes_exactly(sig, uninterrupted, data_root,
                                                                           tmp_path):
    status, err, where = interrupt_at_a_random_step(tmp_path, data_root, sig, max_fraction=0.9)
    assert status == 130, f"{where}: exit status {status}\n{err[-2000:]}"
    assert sig.name in err and "--resume" in err, f"{where}: {err[-2000:]}"      # says how to go on
    run_dir = tmp_path / RUN
    state = resumable_checkpoint(run_dir, where)
    assert not (run_dir / FINAL_MODEL).exists()
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")], where
    resumed = run_to_the_end(tmp_path, data_root, "--resume")
    assert_bit_identical(resumed, uninterrupted, f"{where}, stopped at {state['epoch'] + 1}/{state['batch']}")


@pytest.mark.slow
def test_sigkill_at_a_random_moment_leaves_the_last_checkpoint_intact(uninterrupted, data_root, tmp_path):
    """No handler runs on SIGKILL: whatever was being written, the checkpoint on disk is the last
    complete one, and resuming from it still reproduces the uninterrupted weights."""
    for attempt in range(3):
        # the moment is a fraction of the epoch measured under this machine's load; when the load drops,
        # the last epochs can finish before a late moment arrives: that is a missed shot, drawn again
        out = tmp_path / f"attempt-{attempt}"
        status, err, where = interrupt_at_a_random_step(out, data_root, signal.SIGKILL, max_fraction=1.5)
        if status != 0:
            break
    assert status == -signal.SIGKILL, f"{where}: exit status {status}\n{err[-2000:]}"
    run_dir = out / RUN
    # epoch 2's line is printed just before its checkpoint is written: a kill in between leaves epoch 1's
    resumable_checkpoint(run_dir, where, at_least_epoch=1)
    # a temporary file may be left behind by the kill, but never under a name that could be loaded
    assert all(not p.name.endswith(".npz") for p in run_dir.iterdir() if ".tmp" in p.name), where
    resumed = run_to_the_end(out, data_root, "--resume")
    assert_bit_identical(resumed, uninterrupted, where)


# ---- a writer killed in the middle of Module.save ------------------------------------------------

WRITER = """
import sys
sys.path.insert(0, {repo!r})
import nn, tinygrad_lite as tl
models = []
for seed in (1, 2):
    tl.manual_seed(seed)
    models.append(nn.Sequential(nn.Dense(1500, 1500), nn.Dense(1500, 10)))
print("ready", flush=True)
i = 0
while True:
    models[i % 2].save({path!r})
    i += 1
"""


# A real signal, sent by the process to itself at the start of the torch reference's training.
SIGNAL_IN_THE_TORCH_PHASE = """
import os, signal, sys
from experiments import cli, torch_reference
train_torch = torch_reference.train_torch
def signalled(*args, **kwargs):
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return train_torch(*args, **kwargs)
torch_reference.train_torch = signalled
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_during_the_torch_reference_keeps_the_scratch_run_and_says_how_to_finish(
        sig, data_root, tmp_path):
    """Ctrl-C (or SIGTERM) while the torch column trains: the finished scratch run is kept (metrics.json,
    model.npz), the message says so and gives the --resume command, which adds only the torch column and
    counts the epochs right."""
    pytest.importorskip("torch", reason="the torch reference phase needs torch")
    argv = ["run", "A-sigmoid", "--subset", "64", "--epochs", "2", "--no-progress", "--no-report",
            "--out", str(tmp_path), "--data", str(data_root)]
    stopped = subprocess.run([sys.executable, "-c", SIGNAL_IN_THE_TORCH_PHASE, sig, *argv], cwd=REPO, env=ENV,
                             capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert "stopped while training the torch reference; the scratch run is complete and kept in" in stopped.stderr
    assert f"To continue where it stopped: tinygrad-lite {' '.join(argv)} --resume" in stopped.stderr
    assert "aborted" not in stopped.stderr
    run_dir = tmp_path / "A-sigmoid"
    kept = json.loads((run_dir / "metrics.json").read_text())
    assert kept["torch"] is None and len(kept["history"]["epochs"]) == 2 and (run_dir / FINAL_MODEL).is_file()
    finished = subprocess.run([sys.executable, "-m", "experiments", *argv, "--resume"], cwd=REPO, env=ENV,
                              capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "without the torch column; adding it" in finished.stdout and "resuming at epoch" not in finished.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["torch"] is not None and metrics["history"] == kept["history"]


def test_a_writer_killed_mid_save_leaves_a_whole_model_file(tmp_path):
    """A process alternately saves two 9 MB models over one path with Module.save and is SIGKILLed at
    random moments: each time the file still loads, strictly, and holds exactly one of the two models."""
    path = tmp_path / "model.npz"
    expected = []
    for seed in (1, 2):
        tl.manual_seed(seed)
        expected.append(nn.Sequential(nn.Dense(1500, 1500), nn.Dense(1500, 10)).state_dict())
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for attempt in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER.format(repo=str(REPO), path=str(path))],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            while not path.exists():
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.4))
            proc.kill()
        finally:
            proc.wait()
            proc.stdout.close()
        loaded = nn.Sequential(nn.Dense(1500, 1500), nn.Dense(1500, 10)).load(path).state_dict()
        matches = [all(np.array_equal(loaded[k], e[k]) for k in e) for e in expected]
        assert any(matches), f"attempt {attempt} (random seed {seed}): the file holds neither model"
        leftovers = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
        assert all(name.endswith(".tmp") for name in leftovers), leftovers
