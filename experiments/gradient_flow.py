"""Watch gradients flow (or vanish) during training: per-layer gradient norms and weight histograms.

The trainer calls ``recorder.record(model, step)`` right after ``loss.backward()`` (when ``--grad-plots``
is given) and ``recorder.save(run_dir)`` at the end::

    gradient_flow.png        ||dL/dW||_2 of every parameter against the step, log scale
    weight_histograms.png    each weight's values at a few snapshots spread over the run
    activation_histograms.png  (if record_activations was called) each activation layer's outputs
    gradient_flow.json       the recorded norms, so the plot can be redrawn or compared

With sigmoid hidden layers (report A) the first layer's norm sits far below the last one's: the
derivative sigma'(z) <= 1/4 multiplies in at every layer on the way back.
"""
from pathlib import Path

import numpy as np

from tinygrad_lite import backend
from tinygrad_lite.files import write_json

from . import plots

FILES = ("gradient_flow.json", "gradient_flow.png", "weight_histograms.png", "activation_histograms.png")


def _host(tensor):
    """A float64 NumPy copy of a tensor's data (from the GPU if it lives there)."""
    return np.array(backend.as_numpy(tensor.data), dtype=np.float64, copy=True)


class GradientFlowRecorder:
    """Collects, per recorded step, every parameter's gradient norm, and keeps weight snapshots.

    Histograms are kept for at most ``max_snapshots`` recorded steps spread evenly over the run (the
    first record always among them; when full, every other snapshot is dropped and the spacing doubled)
    plus the latest record, so memory stays bounded however long training lasts.
    """

    def __init__(self, max_snapshots=4):
        if isinstance(max_snapshots, bool) or not isinstance(max_snapshots, int) or max_snapshots < 2:
            raise ValueError(f"max_snapshots must be an integer >= 2, got {max_snapshots!r}")
        self.max_snapshots = max_snapshots
        self.records = []               # [{"step", "layer_grad_norms": {name: norm}, "weight_norms": {...}}]
        self.weight_snapshots = {}      # record index -> (step, {name: array})
        self.latest_weights = None      # (step, {name: array}) of the last record
        self.activation_snapshots = []  # [(step, {layer name: array})]
        self.labels = {}                # parameter name -> legend entry, "1.weight (Dense, 500x784)"
        self._spacing = 1

    def record(self, model, step):
        """Read every parameter's ``.grad`` norm (parameters without a gradient are left out) and weights."""
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"model must be an nn.Module (with named_parameters()), got {type(model).__name__}")
        grad_norms, weight_norms, weights = {}, {}, {}
        modules = dict(model.named_modules()) if not self.labels else {}
        for name, parameter in model.named_parameters():
            if name not in self.labels:
                module = modules.get(name.rpartition(".")[0], model)
                self.labels[name] = f"{name} ({type(module).__name__}, {'x'.join(map(str, parameter.shape))})"
            values = _host(parameter)
            weights[name] = values
            weight_norms[name] = float(np.linalg.norm(values.ravel()))
            if parameter.grad is not None:
                grad_norms[name] = float(np.linalg.norm(_host(parameter.grad).ravel()))
        index = len(self.records)
        self.records.append({"step": int(step), "layer_grad_norms": grad_norms, "weight_norms": weight_norms})
        self.latest_weights = (int(step), weights)
        if index % self._spacing == 0:
            self.weight_snapshots[index] = (int(step), weights)
            if len(self.weight_snapshots) > self.max_snapshots:
                self._spacing *= 2
                self.weight_snapshots = {i: s for i, s in self.weight_snapshots.items() if i % self._spacing == 0}

    def record_activations(self, model, inputs, step):
        """Run ``inputs`` through a Sequential model layer by layer (no grad) and keep each activation
        layer's output (ReLU, Sigmoid, Tanh, GELU, LeakyReLU), to show saturation or dead units."""
        import tinygrad_lite as tl
        import nn
        activation_types = (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.LeakyReLU)
        if not isinstance(model, nn.Sequential):
            raise TypeError(f"record_activations needs an nn.Sequential model, got {type(model).__name__}")
        outputs = {}
        was_training = getattr(model, "training", None)
        if was_training is not None:
            model.eval()
        try:
            with tl.no_grad():
                x = inputs if isinstance(inputs, tl.Tensor) else tl.Tensor(inputs)
                for index, layer in enumerate(model):
                    x = layer(x)
                    if isinstance(layer, activation_types):
                        outputs[f"{index}: {type(layer).__name__}"] = _host(x)
        finally:
            if was_training:
                model.train()
        self.activation_snapshots.append((int(step), outputs))
        if len(self.activation_snapshots) > self.max_snapshots:
            keep = np.unique(np.linspace(0, len(self.activation_snapshots) - 1, self.max_snapshots).round())
            self.activation_snapshots = [self.activation_snapshots[int(i)] for i in keep]

    def weight_histogram_data(self):
        """{weight name: [(label "step N", values), ...]} over the kept snapshots and the latest record.
        Biases are left out: a few values each (ten in the last layer), they make no histogram."""
        snapshots = [self.weight_snapshots[i] for i in sorted(self.weight_snapshots)]
        if self.latest_weights is not None and (not snapshots or snapshots[-1][0] != self.latest_weights[0]):
            snapshots.append(self.latest_weights)
        names = [name for name in (snapshots[0][1] if snapshots else []) if not name.endswith("bias")]
        return {name: [(f"step {step}", weights[name]) for step, weights in snapshots if name in weights]
                for name in names}

    def save(self, out_dir, tag=""):
        """Write gradient_flow.png, weight_histograms.png (and activation_histograms.png) and
        gradient_flow.json into ``out_dir``; returns the paths written. ``tag`` (the run's name, sample,
        subset and epochs) goes under every title."""
        if not self.records:
            raise ValueError("nothing recorded: call record(model, step) after backward() before save()")
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [write_json(out_dir / "gradient_flow.json", {"records": self.records, "labels": self.labels})]
        reason = plots.missing_reason()
        if reason is not None:
            return written
        below = f"\n{tag}" if tag else ""
        written.append(plots.plot_gradient_flow(self.records, out_dir / "gradient_flow.png", labels=self.labels,
                                                title=f"gradient norm per layer{below}"))
        written.append(plots.plot_histograms(self.weight_histogram_data(), out_dir / "weight_histograms.png",
                                             title=f"weights over training (biases left out){below}",
                                             xlabel="weight value"))
        if self.activation_snapshots:
            data = {}
            for step, outputs in self.activation_snapshots:
                for name, values in outputs.items():
                    data.setdefault(name, []).append((f"step {step}", values))
            written.append(plots.plot_histograms(data, out_dir / "activation_histograms.png",
                                                 title=f"activations over training{below}", xlabel="activation value"))
        return written


