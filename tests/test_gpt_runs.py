"""The GPT runs (E-gpt-sort, E-gpt-add): the made-up tasks' data, the token-level loss and accuracy,
greedy generation against the teacher-forced answers, the per-step warm-up and cosine schedule in the
loop, resuming mid-epoch, and one run end to end (scratch and torch, metrics.json, REPORT.md and its
attention maps). Step-for-step parity with torch is in test_parity.py."""
import json
import math

import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from experiments import data as run_data
from experiments import gpt
from experiments.checkpoint import LAST
from experiments.registry import RUNS
from experiments.sequences import TASKS
from experiments.targets import IGNORE, Tokens
from experiments.run_folder import TrainingInterrupted
from experiments.train import ScratchAdapter, evaluate, train


def small(name="E-gpt-sort", **changes):
    """The run at a size a test affords: 2 blocks of width 16, a short warm-up."""
    config = RUNS[name]
    layers = ((config.layers[0][:2] + (16,) + config.layers[0][3:]), ("block", 2, 32), ("block", 2, 32),
              ("layernorm",), ("dense", 10))
    return config.with_overrides(layers=layers, schedule=("warmup_cosine", 5), batch_size=32, log_every=5,
                                 **changes)


@pytest.fixture(scope="module")
def sort_data():
    return run_data.prepare(small(), seed=0, subset=128)


def test_the_tasks_answers_and_the_shift_by_one():
    sort, add = TASKS["sort"], TASKS["add"]
    x, y = sort.examples(np.array([314159, 7]))
    np.testing.assert_array_equal(x[0], [3, 1, 4, 1, 5, 9, 1, 1, 3, 4, 5])
    np.testing.assert_array_equal(y[0], [IGNORE] * 5 + [1, 1, 3, 4, 5, 9])
    np.testing.assert_array_equal(x[1][:6], [0, 0, 0, 0, 0, 7])
    x, y = add.examples(np.array([3745, 9999]))                      # 37 + 45 = 082, 99 + 99 = 198
    np.testing.assert_array_equal(x[0], [3, 7, 4, 5, 2, 8])
    np.testing.assert_array_equal(y[0], [IGNORE] * 3 + [2, 8, 0])
    np.testing.assert_array_equal(y[1][3:], [8, 9, 1])
    assert add.show(x[0][:4], y[0][3:]) == "37 + 45 = 82" and sort.show([3, 1], [1, 3]) == "3 1 -> 1 3"
    for task in TASKS.values():
        x, y = task.examples(np.arange(50))
        assert x.shape == y.shape == (50, task.length) and x.dtype == np.int64
        scored = y != IGNORE
        np.testing.assert_array_equal(x[:, 1:][scored[:, :-1]], y[:, :-1][scored[:, :-1]])   # y is x shifted


def test_the_splits_hold_different_problems_of_the_sizes_asked():
    data = run_data.prepare(RUNS["E-gpt-add"], seed=0)
    sets = [{tuple(row) for row in x} for x in (data.x_train, data.x_val, data.x_test)]
    assert [len(s) for s in sets] == [8000, 1000, 1000]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert data.target == "tokens" and data.class_names == [str(d) for d in range(10)]
    with pytest.raises(ValueError, match="11000 problems asked, the task has only 10000 different ones"):
        run_data.prepare(RUNS["E-gpt-add"].with_overrides(split=("generated", 9000, 1000, 1000)))
    with pytest.raises(ValueError, match="normalisation must be 'none'"):
        run_data.prepare(RUNS["E-gpt-add"].with_overrides(normalisation="unit"))


def test_the_loss_is_cross_entropy_over_the_answer_tokens_and_an_answer_counts_when_all_is_right():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 5))
    y = np.array([[IGNORE, IGNORE, 1, 2], [IGNORE, IGNORE, 0, 0], [IGNORE, IGNORE, 3, 4]])
    logits[0, 2, 1] = logits[0, 3, 2] = 9.0                  # example 0: both answer tokens right
    logits[1, 2, 0] = 9.0                                    # example 1: one of two
    loss = Tokens.loss(nn.functional, tl.Tensor(logits), tl.Tensor(y)).item()
    picked = [logits[n, t] for n in range(3) for t in (2, 3)]
    labels = [y[n, t] for n in range(3) for t in (2, 3)]
    expected = np.mean([math.log(np.exp(p).sum()) - p[c] for p, c in zip(picked, labels)])
    assert loss == pytest.approx(expected, rel=1e-12)
    assert Tokens.correct(logits, y) == 1
    np.testing.assert_array_equal(Tokens.truth(y), [[1, 2], [0, 0], [3, 4]])


def test_generation_answers_as_the_teacher_forced_arg_max_says(sort_data):
    """Greedy generation and the teacher-forced arg-max agree up to and including the first wrong token,
    so 'every answer token right' is the share of problems generation solves (evaluate's accuracy)."""
    result = train(small(epochs=1), sort_data, progress=False)
    task, x, y = TASKS["sort"], sort_data.x_test, sort_data.y_test
    _, accuracy, forced = evaluate(result.model, x, y, target=Tokens)
    generated = gpt.generate(result.model, x[:, :task.prompt_length], task.answer_length)
    truth = Tokens.truth(y)
    for f, g, t in zip(forced, generated, truth):
        wrong = np.flatnonzero(f != t)
        upto = wrong[0] + 1 if wrong.size else len(t)
        np.testing.assert_array_equal(f[:upto], g[:upto])
    assert accuracy == np.mean((generated == truth).all(axis=1))
    assert 0 < (forced == truth).mean() < 1                   # some tokens right, some wrong: a real check


def test_the_warm_up_and_cosine_step_after_every_optimiser_step(sort_data):
    config = small(epochs=2)
    adapter = ScratchAdapter(config, sort_data)
    result = train(config, sort_data, progress=False)
    lrs = [row["lr"] for row in result.history["epochs"]]
    steps = adapter.n_batches                                  # 128 / 32 = 4 per epoch, 8 in all
    schedule = nn.optim.WarmupCosineLR(nn.optim.SGD([nn.Parameter(np.ones(1))], lr=config.lr), 5, 2 * steps)
    assert lrs == [config.lr * schedule.factor(0), config.lr * schedule.factor(steps)]


def test_a_resumed_gpt_run_ends_with_the_uninterrupted_weights(sort_data, tmp_path):
    config = small(epochs=2)
    reference = train(config, sort_data, seed=1, progress=False)
    with pytest.raises(TrainingInterrupted):
        train(config, sort_data, seed=1, progress=False, run_dir=tmp_path,
              step_hook=lambda epoch, batch, iteration: iteration == 6)      # mid-epoch 2, mid-schedule
    assert (tmp_path / LAST).is_file()
    resumed = train(config, sort_data, seed=1, progress=False, run_dir=tmp_path, resume=True)
    for name, value in reference.model.state_dict().items():
        assert np.array_equal(value, resumed.model.state_dict()[name]), name
    assert resumed.history == reference.history


def test_the_attention_maps_are_each_head_s_softmax_rows(sort_data):
    tl.manual_seed(0)
    from experiments.models import build
    model = build(small().layers, sort_data.input_shape)
    maps = gpt.attention_maps(model, sort_data.x_test[0])
    assert len(maps) == 2 and maps[0].shape == (2, 11, 11)
    for weights in maps:
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
        assert not np.triu(weights, k=1).any()                 # causal: nothing after the position


@pytest.mark.slow          # a few seconds: both frameworks, then the report's pictures
def test_a_gpt_run_end_to_end_with_its_answers_and_attention_in_the_report(tmp_path):
    pytest.importorskip("torch", reason="the torch column: pip install '.[dev]'")
    from experiments.runner import Overrides, RunOptions, run
    run_dir = run(RUNS["E-gpt-sort"], RunOptions(overrides=Overrides(epochs=1), subset=64, out=str(tmp_path),
                                                 progress=False))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["torch"]["final"]["train_loss"] == pytest.approx(metrics["final"]["train_loss"], rel=1e-4)
    sequence = metrics["sequence"]
    assert sequence["task"] == "sort" and len(sequence["samples"]) >= 8
    assert sequence["generated_test_acc"] == metrics["final"]["test_acc"]
    assert np.array(sequence["attention"]["blocks"]).shape == (2, 4, 11, 11)
    assert np.array(metrics["predictions"]["test"]["y_pred"]).shape == (64, 6)
    report = (run_dir / "REPORT.md").read_text()
    assert "## Sampled answers" in report and sequence["samples"][0]["problem"] in report
    assert "![Attention maps](attention.png)" in report and "Per-class" not in report
    assert "subset of 64 training problems" in report or "subset of 64 problems" in report
    assert (run_dir / "attention.png").read_bytes()[:4] == b"\x89PNG"
