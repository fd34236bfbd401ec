"""Progress a student can trust: one tqdm.auto bar for the whole run (every batch of every epoch), the
epoch lines printed above it, the torch reference's own bar, and one line saying how to get bars
when tqdm is missing."""
import builtins
import io
import sys

import pytest

from experiments.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal(capsys, monkeypatch):
    """A terminal's stderr, and bars drawn on it (tqdm draws no bar where stderr is not a terminal)."""
    auto = pytest.importorskip("tqdm.auto", reason="tqdm is not installed (the bars are optional)")
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)

    class Drawn(auto.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "disable": False})
    monkeypatch.setattr(auto, "tqdm", Drawn)
    return screen


def test_one_bar_counts_every_batch_of_the_whole_run(terminal, capsys):
    progress = Progress("A-x", 3, bar=True)
    for epoch in range(3):
        progress.start(epoch, 4, 0)
        bar = progress.bar
        for _ in range(4):
            progress.step()
        progress.end(f"A-x epoch {epoch + 1}/3")
        assert progress.bar is bar, "the same bar runs on into the next epoch"
        assert bar.n == 4 * (epoch + 1)
    assert bar.total == 12 and bar.n == 12
    assert bar.desc.startswith("A-x epoch 3/3")
    progress.close()
    assert progress.bar is None
    out, err = capsys.readouterr()
    assert "12/12" in terminal.getvalue() + err
    assert out.splitlines() == ["A-x epoch 1/3", "A-x epoch 2/3", "A-x epoch 3/3"]


def test_a_resumed_run_starts_its_bar_where_it_stopped(terminal):
    progress = Progress("A-x", 3, bar=True)
    progress.start(1, 10, 4)                          # epoch 2, batch 4 of 10 already trained
    assert (progress.bar.n, progress.bar.total) == (14, 30)
    progress.close()


def test_without_tqdm_one_line_says_how_to_get_bars(monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError("No module named 'tqdm'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.setattr(Progress, "said_how_to_get_bars", False)
    for _ in range(2):
        progress = Progress("A-x", 1, bar=True)
        progress.start(0, 3, 0)
        progress.end("A-x epoch 1/1")
    out, err = capsys.readouterr()
    assert err.count("pip install tqdm") == 1
    assert out.splitlines() == ["A-x epoch 1/1", "A-x epoch 1/1"]


def test_the_torch_reference_has_its_bar_too(terminal, monkeypatch):
    pytest.importorskip("torch", reason="torch is not installed")
    import numpy as np
    from experiments.data import RunData
    from experiments.registry import RUNS
    from experiments.torch_reference import train_torch
    bars = []
    real = Progress.start

    def start(self, epoch, total, done):
        real(self, epoch, total, done)
        bars.append((self.name, self.bar.total))
    monkeypatch.setattr(Progress, "start", start)
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 784), dtype=np.float32), rng.integers(0, 10, 64)
    data = RunData(x, y, x[:16], y[:16], x[:16], y[:16], [str(i) for i in range(10)])
    config = RUNS["B-mlp"].with_overrides(epochs=2, batch_size=32)
    train_torch(config, data, progress=True)
    assert bars == [("B-mlp [torch]", 4), ("B-mlp [torch]", 4)]


def test_a_run_into_a_folder_with_a_finished_run_says_it_replaces_it(tmp_path, capsys):
    import json
    from experiments.registry import RUNS
    from experiments.runner import say_what_is_replaced
    say_what_is_replaced(RUNS["B-mlp"], tmp_path)                 # nothing there: nothing said
    assert capsys.readouterr().err == ""
    (tmp_path / "metrics.json").write_text(json.dumps({"final": {"test_acc": 0.8432}}))
    say_what_is_replaced(RUNS["B-mlp"], tmp_path)
    err = capsys.readouterr().err
    assert f"B-mlp: replacing the earlier finished run in {tmp_path} (test accuracy 84.32 %)" in err
    assert "--out" in err and "--resume" in err
