"""Scratch vs PyTorch, step for step, on real MNIST / Fashion-MNIST batches.

Same starting weights, same batches (the seeded DataLoader's order), same dropout masks: in float64
every step's loss must equal torch's to 1e-9 relative and the parameters after 100 steps to 1e-8;
in float32 the losses stay within 1e-4. With batch norm the running statistics (buffers in the state
dict) must agree as the parameters do, and so must the accuracies they give in evaluation. Each
training set here is small enough that 100 steps cross an epoch boundary, so the second epoch's
shuffle and the learning-rate schedule are exercised too.
"""
import json

import numpy as np
import pytest

from experiments.config import RunConfig
from experiments.data import RunData

torch = pytest.importorskip("torch", reason="torch is the reference these tests compare against: pip install '.[dev]'")
from experiments.parity import compare  # noqa: E402  (after importorskip: needs torch)
from experiments.torch_reference import train_torch  # noqa: E402  (after importorskip: needs torch)

STEPS = 100
# Whole trajectories, not one operation: each step's rounding (u = 1.1e-16 in float64, 6e-8 in float32,
# summed in each library's order) is carried into the next steps by the training dynamics, so no bound
# follows from the arithmetic alone. The limits sit far above what any summation order gives after 100
# steps of these small networks (float64: 1e-9 is ~10^7 u; float32: 1e-4 is ~1700 u; every config here
# stays below 3e-6), and far below what one different step, batch or mask does (1e-2 and more).
TOLERANCE = {"float64": {"loss_rel": 1e-9, "param_abs": 1e-8}, "float32": {"loss_rel": 1e-4, "param_abs": 1e-3}}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def raw_sets(data_root):
    from tinygrad_lite import datasets
    return {name: datasets.load_dataset(name, data_root, download=False) for name in ("mnist", "fashion-mnist")}


def small_data(raw_sets, dataset, n_train, flat, n_eval=200, offset=0):
    """Real images: ``n_train`` training rows (from ``offset``), ``n_eval`` validation and test rows, /255."""
    (x, y), (x_test, y_test) = raw_sets[dataset]
    shape = (784,) if flat else (1, 28, 28)

    def prep(images):
        return (images.astype(np.float32) / np.float32(255)).reshape((len(images),) + shape)
    train = slice(offset, offset + n_train)
    val = slice(50000, 50000 + n_eval)
    return RunData(prep(x[train]), y[train].astype(np.int64), prep(x[val]), y[val].astype(np.int64),
                   prep(x_test[:n_eval]), y_test[:n_eval].astype(np.int64), [str(i) for i in range(10)])


def config(name, layers, **fields):
    return RunConfig(name=name, document="test", title=name, dataset=fields.pop("dataset", "mnist"),
                     layers=layers, epochs=fields.pop("epochs", 2), **fields)


MLP = [
    config("mlp-sigmoid-sgd", (("flatten",), ("dense", 32), ("sigmoid",), ("dense", 16), ("sigmoid",),
                               ("dense", 10)), lr=0.5, batch_size=16, init="glorot_uniform"),
    config("mlp-tanh-sgd-momentum-l2", (("flatten",), ("dense", 32), ("tanh",), ("dense", 10)),
           lr=0.05, optimizer_options={"momentum": 0.9}, l2=1e-3, batch_size=16, dataset="fashion-mnist",
           schedule=("inverse_time", 0.5)),
    config("mlp-relu-adam-l2-dropout", (("flatten",), ("dense", 32), ("relu",), ("dropout", 0.2),
                                        ("dense", 16), ("relu",), ("dense", 10)),
           optimizer="adam", lr=2e-3, l2=1e-4, batch_size=16, dataset="fashion-mnist"),
    config("mlp-gelu-leaky-adam", (("flatten",), ("dense", 24), ("gelu",), ("dense", 16), ("leaky_relu", 0.1),
                                   ("dense", 10)), optimizer="adam", lr=1e-3, batch_size=16),
]
CNN = [
    config("cnn-max-3x3-pad", (("conv", 4, 3, 1, 1), ("relu",), ("maxpool", 2), ("conv", 6, 3, 1, 1), ("relu",),
                               ("maxpool", 2), ("flatten",), ("dense", 10)),
           lr=0.05, optimizer_options={"momentum": 0.9}, batch_size=8, l2=1e-4),
    config("cnn-avg-5x5-stride2-2x2", (("conv", 4, 5, 2, 2), ("tanh",), ("avgpool", 2), ("conv", 6, 2, 1, 1),
                                       ("relu",), ("avgpool", 2), ("flatten",), ("dense", 16), ("relu",),
                                       ("dense", 10)),
           optimizer="adam", lr=2e-3, batch_size=8, dataset="fashion-mnist"),
    config("cnn-gap-2x2-and-lenet-5x5", (("conv", 6, 5, 1, 0), ("relu",), ("avgpool", 2), ("conv", 8, 2, 1, 1),
                                         ("relu",), ("gap",), ("flatten",), ("dense", 10)),
           optimizer="adam", lr=1e-2, batch_size=8, l2=1e-3, init="he_uniform"),
    config("cnn-batchnorm-adamw", (("conv", 4, 3, 1, 1, False), ("batchnorm",), ("relu",), ("maxpool", 2),
                                   ("conv", 6, 3, 1, 1, False), ("batchnorm",), ("relu",), ("maxpool", 2),
                                   ("flatten",), ("dense", 16, False), ("batchnorm",), ("relu",), ("dense", 10)),
           optimizer="adamw", lr=2e-3, batch_size=8, dataset="fashion-mnist"),
]


def n_train_for(cfg):
    """Enough rows for 100 steps to cover a bit more than one epoch."""
    return 64 * cfg.batch_size


def assert_parity(result, dtype):
    tol = TOLERANCE[dtype]
    assert result["steps"] == STEPS and result["epochs_completed"] >= 1
    scratch, ref = np.array(result["scratch_loss"]), np.array(result["torch_loss"])
    assert np.all(np.isfinite(scratch))
    # the losses must move, or agreeing would prove little
    assert scratch[-10:].mean() < 0.98 * scratch[:10].mean(), f"no learning: {scratch[:3]} ... {scratch[-3:]}"
    rel = np.abs(scratch - ref) / np.abs(ref)
    worst = int(rel.argmax())
    assert rel[worst] <= tol["loss_rel"], (f"step {worst + 1}: scratch loss {scratch[worst]!r}, torch "
                                           f"{ref[worst]!r}, relative difference {rel[worst]:.3g}")
    bad = {k: v for k, v in result["param_diff"].items() if not v <= tol["param_abs"]}
    assert not bad, f"parameters differ after {STEPS} steps: {bad}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", MLP, ids=lambda c: c.name)
def test_mlp_trains_step_for_step_like_torch(raw_sets, cfg, dtype):
    data = small_data(raw_sets, cfg.dataset, n_train_for(cfg), flat=True)
    result = compare(cfg, data, steps=STEPS, dtype=dtype, seed=3)
    assert_parity(result, dtype)
    final = result["final"]
    assert abs(final["scratch_test_acc"] - final["torch_test_acc"]) <= (0 if dtype == "float64" else 0.01)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cfg", CNN, ids=lambda c: c.name)
def test_cnn_trains_step_for_step_like_torch(raw_sets, cfg, dtype):
    data = small_data(raw_sets, cfg.dataset, n_train_for(cfg), flat=False, n_eval=100)
    result = compare(cfg, data, steps=STEPS, dtype=dtype, seed=5)
    assert_parity(result, dtype)
    if any(spec[0] == "batchnorm" for spec in cfg.layers):
        assert {"1.running_mean", "1.running_var", "1.num_batches_tracked"} <= set(result["param_diff"])
        assert result["param_diff"]["1.num_batches_tracked"] == 0
        if dtype == "float64":
            final = result["final"]
            assert (final["scratch_val_acc"], final["scratch_test_acc"]) == (final["torch_val_acc"],
                                                                             final["torch_test_acc"])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_gpt_trains_step_for_step_like_torch_s_own_modules(dtype):
    """E-gpt-sort's GPT (torch's twin: torch's Embedding and TransformerEncoderLayer) for 30 AdamW steps
    through the warm-up and the cosine, on 320 sorting problems (five batches an epoch): in float64 the
    losses agree to 1e-12 relative, a few roundings of the one-step sums."""
    from experiments.data import prepare
    from experiments.registry import RUNS
    cfg = RUNS["E-gpt-sort"].with_overrides(epochs=6, schedule=("warmup_cosine", 5))
    result = compare(cfg, prepare(cfg, subset=320), steps=30, dtype=dtype, seed=2, evaluate=False)
    scratch, ref = np.array(result["scratch_loss"]), np.array(result["torch_loss"])
    assert scratch[-3:].mean() < 0.8 * scratch[:3].mean()
    rel = np.abs(scratch - ref) / np.abs(ref)
    assert rel.max() <= (1e-12 if dtype == "float64" else TOLERANCE[dtype]["loss_rel"]), rel.max()
    assert result["max_param_diff"] <= (1e-10 if dtype == "float64" else TOLERANCE[dtype]["param_abs"])
    assert result["initial_output_diff"] <= (1e-12 if dtype == "float64" else 1e-5)


def test_dropout_masks_are_shared_and_change_every_step(raw_sets):
    import copy

    import tinygrad_lite as tl
    from experiments.parity import twins
    data = small_data(raw_sets, "fashion-mnist", 16, flat=True)
    scratch, twin = twins(MLP[2], data, seed=0, dtype="float64")
    x = data.x_train.astype(np.float64)
    outputs, masks = [], []
    for _ in range(2):
        masks.append(copy.deepcopy(tl.backend.rng("cpu")).random((16, 32)) >= 0.2)   # the next draw
        ours = scratch.model(tl.Tensor(x)).numpy()
        theirs = twin.model(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
        outputs.append(ours)
    assert 0.6 < masks[0].mean() < 0.95                    # about 1 - p kept
    assert (masks[0] != masks[1]).any() and not np.allclose(outputs[0], outputs[1])
    twin.model[3] = torch.nn.Dropout(0.2)                 # torch's own mask: a different output
    assert not np.allclose(twin.model(torch.from_numpy(x)).detach().numpy(), outputs[1])


def test_parity_schedule_and_epoch_accuracies_match(raw_sets):
    cfg = MLP[1].with_overrides(epochs=2)
    data = small_data(raw_sets, cfg.dataset, 160, flat=True)
    result = compare(cfg, data, epochs=2, dtype="float64", seed=1)
    assert result["steps"] == 20 and [row["epoch"] for row in result["epochs"]] == [1, 2]
    for row in result["epochs"]:
        assert row["scratch_val_acc"] == row["torch_val_acc"]
        assert abs(row["scratch_test_loss"] - row["torch_test_loss"]) <= 1e-10 * row["torch_test_loss"]


def test_parity_command_writes_table_json_and_plot(data_root, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the parity plot needs matplotlib")
    from experiments.cli import main
    status = main(["parity", "B-mlp", "--steps", "12", "--subset", "300", "--out", str(tmp_path),
                   "--data", str(data_root)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "scratch loss" in out and "largest parameter difference" in out
    saved = json.loads((tmp_path / "B-mlp" / "parity.json").read_text())
    assert len(saved["scratch_loss"]) == len(saved["torch_loss"]) == 12
    assert saved["max_param_diff"] < 1e-8 and saved["max_rel_loss_diff"] < 1e-9
    assert (tmp_path / "B-mlp" / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_parity_command_refuses_unknown_run(tmp_path, capsys):
    from experiments.cli import main
    assert main(["parity", "A-nonexistent", "--out", str(tmp_path)]) == 2
    assert "unknown run 'A-nonexistent'" in capsys.readouterr().err


# ---- whole training runs: the torch column against the scratch trainer ----------------------------

FULL = [
    config("full-mlp", (("flatten",), ("dense", 64), ("relu",), ("dropout", 0.2), ("dense", 10)),
           lr=0.05, batch_size=32, schedule=("inverse_time", 0.1),
           dataset="fashion-mnist", log_every=20, split=("random", 0.2), normalisation="zscore"),
    config("full-cnn", (("conv", 6, 5, 2, 2), ("relu",), ("maxpool", 2), ("conv", 8, 3, 1, 1), ("relu",),
                        ("maxpool", 2), ("flatten",), ("dense", 32), ("relu",), ("dense", 10)),
           optimizer="adam", lr=2e-3, batch_size=64, log_every=20, select_best_by="val_acc",
           normalisation="symmetric"),
]


@pytest.mark.slow
@pytest.mark.parametrize("cfg", FULL, ids=lambda c: c.name)
def test_training_run_matches_torch_reference(data_root, cfg):
    """The torch column: ``train_torch`` replays ``experiments.train.train`` (init, batches, dropout
    masks, schedule, best-epoch choice) in float32 and ends within 0.5 pp test accuracy."""
    from experiments import data as run_data
    from experiments.train import train
    data = run_data.prepare(cfg, seed=0, subset=3000, root=data_root)
    ours = train(cfg, data, seed=0, progress=False)
    theirs = train_torch(cfg, data, seed=0, progress=False)
    assert set(theirs["final"]) == set(ours.final)
    assert theirs["final"]["epoch_used"] == ours.final["epoch_used"]
    assert abs(theirs["final"]["test_acc"] - ours.final["test_acc"]) <= 0.005
    assert ours.final["test_acc"] > 0.7                    # it learned: the comparison means something
    assert [r["epoch"] for r in theirs["history"]["epochs"]] == [r["epoch"] for r in ours.history["epochs"]]
    assert [i for i, _ in theirs["history"]["iteration_loss"]] == [i for i, _ in ours.history["iteration_loss"]]
    ours_loss = np.array([v for _, v in ours.history["iteration_loss"]])
    their_loss = np.array([v for _, v in theirs["history"]["iteration_loss"]])
    np.testing.assert_allclose(ours_loss, their_loss, rtol=1e-4)   # same masks too: only float32 rounding
    json.dumps(theirs)                                      # metrics.json can hold it as it is
