"""The experiment modules: every config builds its model and runs a forward pass; one run per
coursework document goes end to end on a few hundred images and writes a metrics.json that follows
the schema, and a REPORT.md."""
import json
import math

import numpy as np
import pytest

import tinygrad_lite as tl
from experiments import registry
from experiments.coursework import mnist_mlp
from experiments.models import build, output_shape
from experiments.sequences import TASKS
from experiments.runner import Overrides, RunOptions, run

CONFIGS = list(registry.RUNS.values())
SCHEMA_KEYS = {"run", "document", "title", "config", "choices", "device", "versions", "seed", "subset",
               "used_sample", "wall_time_s", "history", "final", "predictions", "class_names",
               "first_layer_filters", "torch", "reported"}
FINAL_KEYS = {"epoch_used", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"}
EPOCH_KEYS = {"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"}


def input_shape(config):
    """What reaches the first layer: the backbone's flattened features, an image / pixel vector, or a
    sequence task's tokens."""
    if config.dataset in TASKS:
        return (TASKS[config.dataset].length,)
    if config.features_from:
        backbone = registry.RUNS[config.features_from].layers
        return output_shape(backbone, (1, 28, 28))[backbone.index(("flatten",))]
    return (1, 28, 28) if config.layers[0][0] == "conv" else (784,)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.name for c in CONFIGS])
def test_every_config_builds_and_classifies_two_images(config):
    """Two images -> ten logits each; two token sequences -> the next token's logits at every position."""
    model = build(config.layers, input_shape(config), config.init)
    rng = np.random.default_rng(0)
    sequence = config.dataset in TASKS
    x = tl.Tensor(rng.integers(0, 10, (2,) + input_shape(config)) if sequence else
                  rng.standard_normal((2,) + input_shape(config)).astype(np.float32))
    model.eval()
    with tl.no_grad():
        logits = model(x)
    assert logits.shape == ((2,) + input_shape(config) + (10,) if sequence else (2, 10))
    assert np.isfinite(logits.numpy()).all()


def test_registry_groups_cover_every_run_once():
    coursework = [name for name in registry.RUNS if name not in registry.GROUPS["examples"]]
    assert registry.GROUPS["examples"] == ["E-bn-cnn", "E-gpt-sort", "E-gpt-add"]
    assert sorted(registry.GROUPS["all"]) == sorted(coursework)
    letters = [n for g in ("all-A", "all-B", "all-C", "all-D") for n in registry.GROUPS[g]]
    assert sorted(letters) == sorted(coursework)
    for name in coursework:
        config = registry.RUNS[name]
        assert name == config.name and name in registry.GROUPS[f"all-{name[0]}"]
        assert config.choices and config.minutes_cpu > 0
        assert all(part.endswith(".txt") for part in config.document.split(" + "))
        assert all(0 < v <= 1 for k, v in config.reported.items() if k.endswith(("_acc", "_f1")))


def test_features_runs_share_their_backbones_data():
    """A features run must see the same split and pixels as its backbone, or validation leaks."""
    followers = [c for c in CONFIGS if c.features_from]
    assert len(followers) == 1 + 14      # B's combined run and C's CNN-features column
    for config in followers:
        backbone = registry.RUNS[config.features_from]
        assert (config.dataset, config.split, config.normalisation) == \
               (backbone.dataset, backbone.split, backbone.normalisation)
        assert registry.GROUPS["all"].index(backbone.name) < registry.GROUPS["all"].index(config.name)


def test_a_sigmoid_baseline_is_the_assignment():
    """784-500-250-100-10 sigmoid, batch 64, lr 0.01, 15 epochs, Glorot uniform weights, zero biases."""
    config = registry.RUNS["A-sigmoid"]
    assert [s[1] for s in config.layers if s[0] == "dense"] == [500, 250, 100, 10]
    assert {s[0] for s in config.layers} == {"flatten", "dense", "sigmoid"}
    assert (config.batch_size, config.lr, config.epochs, config.optimizer, config.optimizer_options, config.l2) == \
           (64, 0.01, 15, "sgd", {}, 0.0)                                  # plain SGD: no momentum
    assert config.split == ("first_last", 10000) and config.log_every == 200
    model = build(config.layers, (784,), config.init)
    for name, p in model.named_parameters():
        values = p.numpy()
        if name.endswith("bias"):
            assert not values.any()
        else:
            bound = math.sqrt(6 / sum(values.shape))
            assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound


def test_a_has_an_l2_sweep_with_zero():
    alphas = sorted(c.l2 for c in mnist_mlp.RUNS if c.name.startswith("A-relu-l2-"))
    assert len(alphas) >= 4 and alphas[0] == 0.0


def check_metrics(run_dir, config, epochs, subset):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert SCHEMA_KEYS <= set(metrics)
    assert metrics["run"] == config.name and metrics["document"] == config.document
    assert metrics["config"]["epochs"] == epochs and metrics["subset"] == subset
    assert metrics["used_sample"] is False and metrics["torch"] is None
    assert metrics["choices"] == list(config.choices) and metrics["reported"] == config.reported
    assert set(metrics["versions"]) == {"python", "numpy", "tinygrad_lite", "torch"}
    rows = metrics["history"]["epochs"]
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1)) and 1 <= len(rows) <= epochs
    assert all(set(r) == EPOCH_KEYS for r in rows)
    final = metrics["final"]
    assert set(final) == FINAL_KEYS and 1 <= final["epoch_used"] <= len(rows)
    for split in ("train", "val", "test"):
        assert 0 <= final[f"{split}_acc"] <= 1 and final[f"{split}_loss"] > 0
        predictions = metrics["predictions"][split]
        assert len(predictions["y_true"]) == len(predictions["y_pred"]) <= subset
        accuracy = np.mean(np.array(predictions["y_true"]) == np.array(predictions["y_pred"]))
        assert accuracy == pytest.approx(final[f"{split}_acc"])
    # the final model is the epoch it says it is
    used = rows[final["epoch_used"] - 1]
    assert used["val_loss"] == pytest.approx(final["val_loss"], rel=1e-6)
    assert len(metrics["class_names"]) == 10
    assert (run_dir / "REPORT.md").is_file()
    return metrics


@pytest.mark.slow        # a few seconds each, most of it drawing the report's PNGs
@pytest.mark.parametrize("name, epochs", [("A-sigmoid", 1), ("B-mlp-decay-dropout", 2),
                                          ("C-cnnmlp-max-16-random", 1), ("D-cnn-lenet", 2),
                                          ("E-bn-cnn", 1)])
def test_one_run_per_document_end_to_end(name, epochs, data_root, tmp_path):
    config = registry.RUNS[name]
    options = RunOptions(overrides=Overrides(epochs=epochs), subset=300, out=str(tmp_path), torch=False, progress=False,
                         root=str(data_root))
    run_dir = run(config, options)
    metrics = check_metrics(run_dir, config, epochs, 300)
    is_cnn = config.layers[0][0] == "conv"
    assert (metrics["first_layer_filters"] is not None) == is_cnn
    if is_cnn:
        assert np.array(metrics["first_layer_filters"]).shape == (config.layers[0][1], 1) + (config.layers[0][2],) * 2
    if config.schedule:                        # inverse-time decay: lr / (1 + 0.02 * epoch)
        assert [r["lr"] for r in metrics["history"]["epochs"]] == pytest.approx([0.01, 0.01 / 1.02])
    if config.features_from:                   # the backbone was trained first, into its own folder
        backbone = check_metrics(tmp_path / config.features_from, registry.RUNS[config.features_from], 1, 300)
        assert np.array(backbone["first_layer_filters"]).shape == (16, 1, 3, 3)


def test_batchnorm_spec_is_batchnorm2d_after_a_conv_and_1d_after_a_dense_in_both_frameworks():
    torch = pytest.importorskip("torch", reason="torch builds the twin model: pip install '.[dev]'")
    from experiments.models import build_torch
    layers = (("conv", 3, 3, 1, 1, False), ("batchnorm",), ("relu",), ("flatten",), ("dense", 4, False),
              ("batchnorm",), ("dense", 2))
    ours, theirs = build(layers, (1, 5, 5)), build_torch(layers, (1, 5, 5))
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs][:1] + \
        ["BatchNorm2d", "ReLU", "Flatten", "Dense", "BatchNorm1d", "Dense"]
    assert isinstance(theirs[1], torch.nn.BatchNorm2d) and isinstance(theirs[5], torch.nn.BatchNorm1d)
    assert ours[0].bias is None and ours[4].bias is None and ours[6].bias is not None
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert output_shape(layers, (1, 5, 5))[1] == (3, 5, 5) and output_shape(layers, (1, 5, 5))[5] == (4,)
