"""Determinism on the CPU: the same seed gives bit-identical weights, in one process and across processes.

Everything random is drawn from generators seeded by ``tl.manual_seed`` (weights, dropout masks)
or by the DataLoader's seed (the shuffled order), never from the global NumPy state, the time, a
Python hash or a dict/set order. The checks below compare raw bytes (SHA-256 of every parameter),
not values within a tolerance. The resume boundary of the experiments CLI is covered by
``tests/test_interruption.py`` (a real signal, then ``--resume``, against an uninterrupted run).
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if __name__ == "__main__":                       # the child process: python tests/test_determinism.py SEED
    sys.path.insert(0, str(REPO))

import nn  # noqa: E402  (after sys.path: the child runs this file)
import nn.functional as F  # noqa: E402  (after sys.path: the child runs this file)
import tinygrad_lite as tl  # noqa: E402  (after sys.path: the child runs this file)
from nn.serialization import load_arrays  # noqa: E402  (after sys.path: the child runs this file)
from tinygrad_lite.dataloader import DataLoader, TensorDataset  # noqa: E402  (after sys.path: the child runs this file)


def train_small_models(seed, steps=12):
    """A small CNN with dropout (Adam) and an MLP (SGD with momentum), trained ``steps`` steps each on
    fixed synthetic data with a shuffled loader; returns every parameter, keyed 'cnn.*' / 'mlp.*'."""
    data_rng = np.random.default_rng(1234)          # the data are the same for every seed
    x = data_rng.standard_normal((96, 1, 12, 12)).astype(np.float32)
    y = data_rng.integers(0, 10, 96)
    tl.manual_seed(seed)
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.3),
                        nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dense(8 * 2 * 2, 10))
    mlp = nn.Sequential(nn.Flatten(), nn.Dense(144, 32, init="glorot_uniform"), nn.Sigmoid(),
                        nn.Dropout(0.2), nn.Dense(32, 10, init="he_uniform"))
    state = {}
    for name, model, optimizer in (("cnn", cnn, nn.optim.Adam(cnn.parameters(), lr=1e-2)),
                                   ("mlp", mlp, nn.optim.SGD(mlp.parameters(), lr=0.1, momentum=0.9))):
        loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, seed=seed)
        step = 0
        while step < steps:
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
                if step == steps:
                    break
        state.update({f"{name}.{k}": v for k, v in model.state_dict().items()})
    return state


def digest(state):
    """SHA-256 over names, dtypes, shapes and raw bytes of every array: equal means bit-identical."""
    h = hashlib.sha256()
    for name in sorted(state):
        array = np.ascontiguousarray(state[name])
        h.update(f"{name}:{array.dtype}:{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def test_same_seed_twice_in_one_process_is_bit_identical():
    first, second = train_small_models(seed=7), train_small_models(seed=7)
    for name in first:
        assert first[name].tobytes() == second[name].tobytes(), name
    other = train_small_models(seed=8)
    assert digest(other) != digest(first), "a different seed must give different weights"


def test_same_seed_in_two_fresh_processes_is_bit_identical():
    """Two interpreters with different hash seeds (so any set or dict-of-str order would differ) and
    this process all produce the same bytes."""
    expected = digest(train_small_models(seed=7))
    digests = []
    for hash_seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, PYTHONPATH=str(REPO))
        done = subprocess.run([sys.executable, __file__, "7"], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        digests.append(done.stdout.strip().splitlines()[-1])
    assert digests == [expected, expected]


def cli_run(out, data_root):
    """``python -m experiments run`` on a small subset, in its own process; returns (weights, metrics)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    argv = [sys.executable, "-m", "experiments", "run", "C-mlp-relu-drop", "--subset", "256", "--epochs",
            "2", "--seed", "3", "--no-torch", "--no-progress", "--out", str(out), "--data", str(data_root)]
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = Path(out) / "C-mlp-relu-drop"
    return load_arrays(run_dir / "model.npz"), json.loads((run_dir / "metrics.json").read_text())


def test_the_cli_gives_bit_identical_runs_in_two_processes(data_root, tmp_path):
    """The whole replay (split, normalisation, dropout, shuffling, evaluation) through the command."""
    weights_1, metrics_1 = cli_run(tmp_path / "first", data_root)
    weights_2, metrics_2 = cli_run(tmp_path / "second", data_root)
    assert digest(weights_1) == digest(weights_2)
    assert metrics_1["history"] == metrics_2["history"]
    assert metrics_1["predictions"] == metrics_2["predictions"]


if __name__ == "__main__":
    print(digest(train_small_models(seed=int(sys.argv[1]))))
