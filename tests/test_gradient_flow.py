"""GradientFlowRecorder reads the real gradient norms; its plots and JSON are written and readable."""
import json

import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from experiments import plots
from experiments.gradient_flow import GradientFlowRecorder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_model():
    return nn.Sequential(nn.Dense(4, 3), nn.Sigmoid(), nn.Dense(3, 2))


def test_norms_are_the_gradients_norms():
    model = tiny_model()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    model(tl.Tensor(x)).sum().backward()
    recorder = GradientFlowRecorder()
    recorder.record(model, step=7)
    norms = recorder.records[0]["layer_grad_norms"]
    assert recorder.records[0]["step"] == 7
    assert set(norms) == {name for name, _ in model.named_parameters()}

    # by hand, for loss = sum of the outputs: dL/db2 = N per output, dL/dW2[j, :] = sum over the batch of h
    w1, b1 = model[0].weight.numpy().astype(np.float64), model[0].bias.numpy().astype(np.float64)
    hidden = 1 / (1 + np.exp(-(x @ w1.T + b1)))
    last = [name for name, _ in model.named_parameters()][-2:]          # "2.weight", "2.bias"
    assert norms[last[1]] == pytest.approx(5 * np.sqrt(2), rel=1e-6)
    assert norms[last[0]] == pytest.approx(np.sqrt(2) * np.linalg.norm(hidden.sum(axis=0)), rel=1e-5)
    for name, p in model.named_parameters():
        assert norms[name] == pytest.approx(np.sqrt(np.sum(p.grad.numpy().astype(np.float64) ** 2)), rel=1e-12)
        assert recorder.records[0]["weight_norms"][name] == pytest.approx(np.linalg.norm(p.numpy()), rel=1e-6)


def test_parameters_without_gradient_are_left_out():
    model = tiny_model()
    model(tl.Tensor(np.ones((2, 4), np.float32))).sum().backward()
    model[0].weight.grad = None
    recorder = GradientFlowRecorder()
    recorder.record(model, 0)
    assert "0.weight" not in recorder.records[0]["layer_grad_norms"]
    assert "0.bias" in recorder.records[0]["layer_grad_norms"]
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        recorder.record(object(), 1)
    with pytest.raises(ValueError, match="max_snapshots must be an integer >= 2"):
        GradientFlowRecorder(max_snapshots=1)


def test_training_run_records_bounded_snapshots_and_saves_plots(tmp_path):
    matplotlib_image = pytest.importorskip("matplotlib.image", reason="matplotlib is not installed")
    model = tiny_model()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.5)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(16, 4)).astype(np.float32), rng.integers(0, 2, 16)
    recorder = GradientFlowRecorder(max_snapshots=3)
    for step in range(11):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(tl.Tensor(x)), tl.Tensor(y)).backward()
        recorder.record(model, step)
        recorded_weight = model[0].weight.numpy().copy()
        optimizer.step()
    recorder.record_activations(model, x, step=10)
    assert [r["step"] for r in recorder.records] == list(range(11))
    assert len(recorder.weight_snapshots) <= 3 and 0 in recorder.weight_snapshots
    hist = recorder.weight_histogram_data()
    assert hist["0.weight"][0][0] == "step 0" and hist["0.weight"][-1][0] == "step 10"
    # each snapshot holds the weights as they were when recorded, not a view of the trained ones
    assert not np.allclose(hist["0.weight"][0][1], recorded_weight)
    np.testing.assert_allclose(hist["0.weight"][-1][1], recorded_weight, rtol=1e-6)
    activations = recorder.activation_snapshots[0][1]
    sigmoid_out = activations["1: Sigmoid"]
    assert list(activations) == ["1: Sigmoid"] and sigmoid_out.shape == (16, 3)
    assert np.all((sigmoid_out > 0) & (sigmoid_out < 1))
    assert model.training

    written = recorder.save(tmp_path)
    names = {p.name for p in written}
    assert names == {"gradient_flow.json", "gradient_flow.png", "weight_histograms.png",
                     "activation_histograms.png"}
    for name in names - {"gradient_flow.json"}:
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
        assert matplotlib_image.imread(tmp_path / name).ndim == 3
    assert json.loads((tmp_path / "gradient_flow.json").read_text())["records"] == recorder.records


def test_gradient_flow_plot_survives_zero_and_missing_norms(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    records = [{"step": 0, "layer_grad_norms": {"a": 0.0, "b": 1e-3}},
               {"step": 1, "layer_grad_norms": {"a": 2.0}},
               {"step": 2, "layer_grad_norms": {"a": 0.0, "b": 0.0}}]
    path = plots.plot_gradient_flow(records, tmp_path / "g.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    plots.plot_gradient_flow([{"step": 0, "layer_grad_norms": {"a": 0.0}}], tmp_path / "zeros.png")
    plots.plot_histograms({"w": np.zeros(10), "v": [("start", np.arange(5.0)), ("end", np.arange(5.0) * 2)]},
                          tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError, match="records is empty"):
        plots.plot_gradient_flow([], tmp_path / "none.png")
    with pytest.raises(ValueError, match="nothing recorded"):
        GradientFlowRecorder().save(tmp_path)
