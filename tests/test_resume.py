"""Stopping and resuming, early stopping, and best-model restoration in ``experiments.train``.

The oracle for resuming is an uninterrupted run with the same seed: on the CPU its final weights
must be bit-identical, whether the stop comes mid-epoch or at an epoch boundary, with dropout
(the generator's state), Adam (its moments and step count) and a schedule in play.
"""
import json
import os
import signal
import threading

import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from experiments import cli, data as run_data
from experiments.config import RunConfig, mlp
from experiments.checkpoint import (BEST, FINAL_MODEL, LAST, OPTIMIZER_BUFFERS, load_checkpoint,
                                    max_checkpoint_bytes)
from experiments.run_folder import TrainingInterrupted
from experiments.train import train
from nn.serialization import load_arrays, save_arrays
from tinygrad_lite.errors import DataError

SUBSET = 300


def small_config(**changes):
    """A 784-32-10 ReLU MLP with dropout, Adam and a step schedule: every piece of state a resume needs."""
    base = RunConfig(name="resume-test", document="test", title="resume test", dataset="mnist",
                     layers=mlp([784, 32, 10], "relu", dropout=0.2), epochs=3, batch_size=32,
                     optimizer="adam", lr=0.002, schedule=("step", 1, 0.5), split=("first_last", 10000),
                     normalisation="zscore", log_every=4)
    return base.with_overrides(**changes)


@pytest.fixture(scope="module")
def mnist_subset(data_root):
    return run_data.prepare(small_config(), seed=0, subset=SUBSET, root=data_root)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def assert_bit_identical(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


def train_quietly(config, data, **kwargs):
    return train(config, data, seed=3, progress=False, **kwargs)


@pytest.mark.parametrize("stop_at", [15, 10])      # 10 batches per epoch: mid-epoch 2, and epoch 1's end
def test_resume_gives_the_uninterrupted_weights(mnist_subset, tmp_path, stop_at):
    config = small_config()
    reference = train_quietly(config, mnist_subset)
    with pytest.raises(TrainingInterrupted) as stopped:
        train_quietly(config, mnist_subset, run_dir=tmp_path,
                      step_hook=lambda epoch, batch, iteration: iteration == stop_at)
    assert stopped.value.checkpoint == tmp_path / LAST
    _, _, _, meta = load_checkpoint(tmp_path / LAST)
    assert meta["state"]["iteration"] == stop_at and not meta["state"]["finished"]
    resumed = train_quietly(config, mnist_subset, run_dir=tmp_path, resume=True)
    assert_bit_identical(weights(reference.model), weights(resumed.model))
    assert resumed.history == reference.history
    assert resumed.final == reference.final


def test_ctrl_c_stops_after_the_step_and_resumes(mnist_subset, tmp_path):
    """A real SIGINT: the handler lets the step finish, saves, and the resume matches."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be installed from the main thread, and this test runs elsewhere")
    config = small_config(epochs=2)
    reference = train_quietly(config, mnist_subset)

    def press_ctrl_c(epoch, batch, iteration):
        if iteration == 7:
            os.kill(os.getpid(), signal.SIGINT)

    handler_before = signal.getsignal(signal.SIGINT)       # SIG_IGN when pytest runs in a background job
    with pytest.raises(TrainingInterrupted, match="SIGINT"):
        train_quietly(config, mnist_subset, run_dir=tmp_path, step_hook=press_ctrl_c)
    assert signal.getsignal(signal.SIGINT) is handler_before                  # the handler was put back
    resumed = train_quietly(config, mnist_subset, run_dir=tmp_path, resume=True)
    assert_bit_identical(weights(reference.model), weights(resumed.model))


def test_cli_resume_writes_the_same_model(data_root, tmp_path, capsys, monkeypatch):
    """Through the command: a stopped `run`, then `run --resume`, against one uninterrupted `run`."""
    from experiments import runner
    argv = ["run", "C-mlp-relu-drop", "--epochs", "2", "--subset", str(SUBSET), "--no-torch",
            "--no-progress", "--no-report", "--data", str(data_root)]
    assert cli.main(argv + ["--out", str(tmp_path / "once")]) == 0
    real_run = runner.run
    monkeypatch.setattr(runner, "run", lambda config, options: real_run(
        config, runner.RunOptions(**{**options.__dict__, "step_hook": lambda e, b, i: i == 7})))
    assert cli.main(argv + ["--out", str(tmp_path / "twice")]) == 130
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(runner, "run", real_run)
    assert cli.main(argv + ["--out", str(tmp_path / "twice"), "--resume"]) == 0
    once = load_arrays(tmp_path / "once" / "C-mlp-relu-drop" / FINAL_MODEL)
    twice = load_arrays(tmp_path / "twice" / "C-mlp-relu-drop" / FINAL_MODEL)
    assert_bit_identical(once, twice)
    metrics = [json.loads((tmp_path / d / "C-mlp-relu-drop" / "metrics.json").read_text()) for d in ("once", "twice")]
    assert metrics[0]["history"] == metrics[1]["history"]


def test_resuming_a_run_whose_training_had_finished_counts_its_epochs_right(data_root, tmp_path, capsys):
    """A run killed after its last epoch's checkpoint but before metrics.json (say, in the torch phase):
    --resume says the training is done, not "resuming at epoch 3" of 2, and trains no epoch more."""
    argv = ["run", "C-mlp-relu-drop", "--epochs", "2", "--subset", str(SUBSET), "--no-torch",
            "--no-progress", "--no-report", "--data", str(data_root), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    run_dir = tmp_path / "C-mlp-relu-drop"
    first = json.loads((run_dir / "metrics.json").read_text())
    (run_dir / "metrics.json").unlink()
    capsys.readouterr()
    assert cli.main(argv + ["--resume"]) == 0
    err = capsys.readouterr().err
    assert "resuming at epoch 3" not in err
    assert "C-mlp-relu-drop: the checkpoint says training finished after epoch 2 of 2" in err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["history"] == first["history"] and len(metrics["history"]["epochs"]) == 2
    assert not any("at epoch 3" in note for note in metrics["notes"])


def test_resume_adds_the_torch_column_to_a_run_finished_without_it(data_root, tmp_path, capsys):
    """`run --no-torch`, then `run --resume`: only torch trains, and its column is the one a run with
    torch from the start gets; the scratch figures stay as they were."""
    pytest.importorskip("torch", reason="the torch column needs torch (pip install torch==2.13.0)")
    argv = ["run", "B-mlp", "--epochs", "1", "--subset", str(SUBSET), "--no-progress", "--no-report",
            "--data", str(data_root)]
    assert cli.main(argv + ["--out", str(tmp_path / "together")]) == 0
    assert cli.main(argv + ["--out", str(tmp_path / "later"), "--no-torch"]) == 0
    path = tmp_path / "later" / "B-mlp" / "metrics.json"
    without = json.loads(path.read_text())
    assert without["torch"] is None
    assert cli.main(argv + ["--out", str(tmp_path / "later"), "--resume"]) == 0
    assert "adding it" in capsys.readouterr().out
    added = json.loads(path.read_text())
    together = json.loads((tmp_path / "together" / "B-mlp" / "metrics.json").read_text())
    for key in ("final", "history"):
        assert added["torch"][key] == together["torch"][key]
    scratch_side = [{k: v for k, v in m.items() if k != "torch"} for m in (without, added)]
    assert scratch_side[0] == scratch_side[1]
    assert cli.main(argv + ["--out", str(tmp_path / "later"), "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().out


@pytest.mark.parametrize("content, words", [
    ("{\n", "is not valid JSON (Expecting property name enclosed in double quotes: line 2 column 1"),
    ('{"final": ' + "[" * 100_000 + "]" * 100_000 + "}", "is JSON nested more than 100 levels deep; refused"),
], ids=["invalid", "nested 100,000 deep"])
def test_a_broken_metrics_json_is_named_by_resume_and_replaced_by_a_new_run(content, words, data_root,
                                                                           tmp_path, capsys):
    """--resume reads a finished run's metrics.json: one line naming it (it used to be "error: Expecting
    value ..." without the file, or a RecursionError traceback); a run without --resume replaces it."""
    argv = ["run", "C-mlp-relu-drop", "--epochs", "1", "--subset", str(SUBSET), "--no-torch",
            "--no-progress", "--no-report", "--data", str(data_root), "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    path = tmp_path / "C-mlp-relu-drop" / "metrics.json"
    path.write_text(content)
    capsys.readouterr()
    assert cli.main(argv + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tinygrad-lite: error: {path} {words}") and err.count("\n") == 1, err
    assert cli.main(argv) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert json.loads(path.read_text())["run"] == "C-mlp-relu-drop"


def test_a_best_checkpoint_past_the_models_size_is_refused_unread(mnist_subset, tmp_path):
    """checkpoint-best.npz holds the model's weights: --resume reads it within the model's size."""
    config = small_config(select_best_by="val_loss")
    with pytest.raises(TrainingInterrupted):
        train_quietly(config, mnist_subset, run_dir=tmp_path,
                      step_hook=lambda epoch, batch, iteration: iteration == 15)
    weights = load_arrays(tmp_path / BEST)
    save_arrays(tmp_path / BEST, {**weights, "extra": np.zeros(1 << 20)})    # 8 MiB: the model is 100 KB
    with pytest.raises(DataError, match=rf"^{tmp_path / BEST}: its arrays declare \d+ bytes, more than the "
                                        rf"{weights_bound(weights)} expected here; refused before reading"):
        train_quietly(config, mnist_subset, run_dir=tmp_path, resume=True)


def weights_bound(weights):
    """What a model of ``weights`` reads within: 8 bytes a value, 1 MiB of headers (max_state_bytes)."""
    return 8 * sum(w.size for w in weights.values()) + (1 << 20)


OPTIMIZERS = {     # each optimiser with the options that make it keep the most state
    "SGD": lambda params: nn.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
    "Adam": lambda params: nn.optim.Adam(params, weight_decay=0.1),
    "AdamW": lambda params: nn.optim.AdamW(params),
    "RMSprop": lambda params: nn.optim.RMSprop(params, momentum=0.9, centered=True, weight_decay=0.1),
    "Adagrad": lambda params: nn.optim.Adagrad(params, lr_decay=0.1, weight_decay=0.1),
    "Muon": lambda params: nn.optim.Muon([p for p in params if p.ndim == 2]),     # 2-D weights only
}


def test_no_optimiser_keeps_more_buffers_than_a_resume_reads_within():
    """A resume refuses a checkpoint declaring more than the model's state and OPTIMIZER_BUFFERS arrays
    like it (plus the metadata): every optimiser, at its fullest, keeps at most that many a parameter."""
    every = {name for name, value in vars(nn.optim).items() if isinstance(value, type)
             and issubclass(value, nn.optim.Optimizer) and value is not nn.optim.Optimizer}
    assert set(OPTIMIZERS) == every, "a new optimiser needs a row here (and maybe a larger OPTIMIZER_BUFFERS)"
    for name, make in OPTIMIZERS.items():
        model = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 2))
        optimizer = make(model.parameters())
        for _ in range(2):
            model(tl.Tensor(np.ones((5, 3), np.float32))).sum().backward()
            optimizer.step()
        shapes = [p.shape for p in model.parameters()]
        buffers = [[key for key, value in optimizer.state_dict().items() if key.startswith(f"state.{i}.")
                    and np.shape(value) == shape] for i, shape in enumerate(shapes)]
        assert max(map(len, buffers)) <= OPTIMIZER_BUFFERS, (name, buffers)
        assert max_checkpoint_bytes(model) >= 8 * (1 + OPTIMIZER_BUFFERS) * sum(np.prod(s) for s in shapes)


def test_early_stopping_waits_patience_epochs(mnist_subset):
    """lr 0 keeps the weights, so the validation loss never improves after epoch 1: with patience 2
    training ends after epoch 3 of 10."""
    config = small_config(lr=0.0, schedule=(), layers=mlp([784, 32, 10], "relu"), epochs=10,
                          early_stopping=("val_loss", 2))
    result = train_quietly(config, mnist_subset)
    assert result.stopped_early_at == 3
    assert [row["epoch"] for row in result.history["epochs"]] == [1, 2, 3]
    assert len({row["val_loss"] for row in result.history["epochs"]}) == 1


def test_early_stopping_on_accuracy_counts_only_real_improvements(mnist_subset):
    config = small_config(epochs=8, early_stopping=("val_acc", 1), optimizer="sgd", lr=0.05, schedule=())
    rows = train_quietly(config, mnist_subset).history["epochs"]
    accuracies = [row["val_acc"] for row in rows]
    # it stopped at the first epoch that did not beat every earlier one (or ran all 8)
    first_miss = next((i for i in range(1, 8) if accuracies[i] <= max(accuracies[:i])), None)
    assert len(rows) == (8 if first_miss is None else first_miss + 1)


def test_the_best_epoch_is_restored(mnist_subset, tmp_path):
    """The lr grows 30x each epoch, so later epochs overshoot: the restored model is the best
    validation-loss epoch's, not the last one's."""
    config = small_config(optimizer="sgd", lr=0.03, schedule=("exponential", 30.0),
                          layers=mlp([784, 32, 10], "relu"), epochs=3, select_best_by="val_loss")
    result = train_quietly(config, mnist_subset, run_dir=tmp_path)
    losses = [row["val_loss"] for row in result.history["epochs"]]
    best = int(np.argmin(losses)) + 1
    assert best < 3, f"the schedule was meant to make the last epoch worse: {losses}"
    assert result.final["epoch_used"] == best
    assert result.final["val_loss"] == pytest.approx(losses[best - 1], rel=1e-6)
    assert_bit_identical(load_arrays(tmp_path / BEST), weights(result.model))
    last_epoch = {k[len("model."):]: v for k, v in load_arrays(tmp_path / LAST).items() if k.startswith("model.")}
    assert any(not np.array_equal(last_epoch[k], v) for k, v in weights(result.model).items())


def test_a_nan_loss_names_the_epoch_and_batch(mnist_subset):
    config = small_config(optimizer="sgd", lr=1e30, schedule=(), layers=mlp([784, 32, 10], "relu"))
    with np.errstate(over="ignore", invalid="ignore"), \
            pytest.raises(FloatingPointError, match=r"at epoch 1, batch \d+ of \d+ \(iteration \d+\)"):
        train_quietly(config, mnist_subset, sync_every=3)


def test_generator_state_of_a_cupy_shaped_generator_survives_json_and_restores_its_draws():
    from experiments.checkpoint import generator_state, set_generator_state
    from nn.serialization import decode_json, encode_json

    from fake_cupy import Generator
    generator = Generator(seed=1)
    assert callable(generator.bit_generator.state)          # CuPy's is a method, not NumPy's dict
    generator.random(5)
    state = decode_json(encode_json(generator_state(generator)))   # into a checkpoint and back
    expected = generator.random((3, 4))
    other = Generator(seed=2)
    assert set_generator_state(other, state)
    np.testing.assert_array_equal(other.random((3, 4)), expected)
    assert not set_generator_state(Generator(seed=2, size=128), state)   # another GPU's size
    assert not set_generator_state(np.random.default_rng(0), state)
    assert not set_generator_state(other, None)


def test_resume_with_a_cupy_shaped_dropout_generator_gives_the_uninterrupted_weights(
        mnist_subset, tmp_path, monkeypatch):
    """The checkpoint path a CUDA run takes: the generator's state must go into the JSON metadata
    (CuPy's bound method once made the first save raise TypeError) and come back bit for bit."""
    from tinygrad_lite import backend

    from fake_cupy import Generator
    monkeypatch.setattr(backend, "rng", lambda device="cpu": backend._generators.setdefault(
        device, Generator(backend._seed)))
    config = small_config(epochs=2)
    reference = train_quietly(config, mnist_subset)
    with pytest.raises(TrainingInterrupted):
        train_quietly(config, mnist_subset, run_dir=tmp_path,
                      step_hook=lambda epoch, batch, iteration: iteration == 13)
    _, _, _, meta = load_checkpoint(tmp_path / LAST)
    assert meta["rng"]["cuda_bit_generator"] == "XORWOW"
    resumed = train_quietly(config, mnist_subset, run_dir=tmp_path, resume=True)
    assert not any("could not be restored" in note for note in resumed.notes)
    assert_bit_identical(weights(reference.model), weights(resumed.model))
