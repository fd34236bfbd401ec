"""The pictures of a run: loss and accuracy curves, confusion matrices, first-layer filters, scratch vs
torch, gradient flow and weight histograms.

matplotlib is optional: it is imported only when a plot is drawn, through its object-oriented API
(``matplotlib.figure.Figure`` rendered by the Agg canvas), so no window opens, no global pyplot state is
touched and it works on a headless machine. ``missing_reason()`` says why plots cannot be drawn here.
Every PNG is written atomically: drawn into a temporary file beside the target, then ``os.replace``-d.
"""
import math
from pathlib import Path

import numpy as np

from tinygrad_lite.files import atomic_write

SPLIT_STYLE = {"train": ("tab:blue", "train"), "val": ("tab:orange", "validation"), "test": ("tab:green", "test")}


def missing_reason():
    """None when matplotlib can draw here, else one line saying what is missing and how to get it."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError as exc:
        return f"matplotlib is not installed ({exc}); pip install 'tinygrad_lite[plot]' to draw the plots"
    return None


def new_figure(width=6.4, height=4.8, **margins):
    """A matplotlib Figure on the Agg canvas (no pyplot, no display), with fixed margins (fractions of
    the figure, as ``Figure.subplots_adjust``): a layout engine would cost more than the drawing."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(**{"left": 0.1, "right": 0.97, "bottom": 0.12, "top": 0.88, **margins})
    return figure


def save_png(figure, path):
    """Write ``figure`` to ``path`` as PNG atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    with atomic_write(path) as f:
        figure.savefig(f, format="png", dpi=100)
    return path


def _epoch_series(epochs, key):
    """(epochs, values) for the entries of ``epochs`` whose ``key`` is a number (null values skipped)."""
    points = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None]
    return [p[0] for p in points], [p[1] for p in points]


def plot_loss_curves(history, path, title="", log_every=None):
    """Left: the training loss logged every ``log_every`` iterations (``history["iteration_loss"]``)
    and, where recorded, the test loss at the same iterations (``history["iteration_test_loss"]``).
    Right: train/validation/test loss after each epoch (``history["epochs"]``)."""
    figure = new_figure(11, 4.2, left=0.07, wspace=0.25, top=0.83 if title else 0.9)
    left, right = figure.subplots(1, 2)
    logged = (("iteration_loss", "training (mean of the interval)", "tab:blue"),
              ("iteration_test_loss", "test", "tab:red"))
    for key, label, color in logged:
        points = history.get(key) or []
        if points:
            steps, losses = zip(*points)
            left.plot(steps, losses, color=color, label=label, marker="." if len(steps) < 60 else None)
    if history.get("iteration_test_loss"):
        _legend(left)
    every = f" every {log_every} iterations" if log_every else ""
    left.set(title=f"loss{every}", xlabel="iteration", ylabel="cross-entropy loss")
    for split, (color, label) in SPLIT_STYLE.items():
        x, y = _epoch_series(history.get("epochs", []), f"{split}_loss")
        if x:
            right.plot(x, y, color=color, marker="o", label=label)
    right.set(title="loss per epoch", xlabel="epoch", ylabel="cross-entropy loss")
    _integer_epochs(right)
    _legend(right)
    if title:
        figure.suptitle(title)
    return save_png(figure, path)


def plot_accuracy_curves(history, path, title=""):
    """Train/validation/test accuracy (in %) after each epoch."""
    figure = new_figure(6.4, 4.2, left=0.12)
    axes = figure.subplots()
    for split, (color, label) in SPLIT_STYLE.items():
        x, y = _epoch_series(history.get("epochs", []), f"{split}_acc")
        if x:
            axes.plot(x, 100 * np.asarray(y, dtype=float), color=color, marker="o", label=label)
    axes.set(title=title or "accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    _integer_epochs(axes)
    _legend(axes)
    return save_png(figure, path)


def plot_confusion_matrix(matrix, class_names, path, title="confusion matrix"):
    """A heat map of counts (rows: true class, columns: predicted), every cell labelled with its count."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"matrix must be {n}x{n} for {n} class names, got shape {matrix.shape}")
    figure = new_figure(7.5, 6.5, left=0.2, bottom=0.2, top=0.93, right=0.98)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = np.arange(n)
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set(title=title, xlabel="predicted class", ylabel="true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            axes.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7 if n > 10 else 8,
                      color="white" if matrix[i, j] > threshold else "black")
    return save_png(figure, path)


def filter_mosaic(weights, gap=1):
    """The (C_out, C_in, kh, kw) filters tiled into one 2-D image, each scaled by its own largest |w| to
    [-1, 1] (so 0 is mid-grey); several input channels are averaged; the gaps between tiles are NaN."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"weights must have shape (C_out, C_in, kh, kw), got shape {weights.shape}")
    images = weights.mean(axis=1)
    count, kh, kw = images.shape
    limits = np.abs(images).max(axis=(1, 2), keepdims=True)
    images = images / np.where(limits > 0, limits, 1.0)
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    mosaic = np.full((rows * (kh + gap) - gap, cols * (kw + gap) - gap), np.nan)
    for k in range(count):
        r, c = divmod(k, cols)
        mosaic[r * (kh + gap):r * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = images[k]
    return mosaic


def plot_filters(weights, path, title="first convolution layer's filters"):
    """Each output filter of a (C_out, C_in, kh, kw) weight as a small grey image, in a square-ish grid
    (read row by row: filter 0 top left). See ``filter_mosaic`` for the scaling."""
    from matplotlib import colormaps
    mosaic = filter_mosaic(weights)
    shape = np.shape(weights)
    figure = new_figure(6, 6.4, left=0.03, right=0.97, bottom=0.03, top=0.9)
    axes = figure.subplots()
    cmap = colormaps["gray"].with_extremes(bad="white")
    axes.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    axes.set_axis_off()
    axes.set_title(f"{title}\n{shape[0]} filters of {shape[2]}x{shape[3]}, each scaled to its own max |w|",
                   fontsize=10)
    return save_png(figure, path)


def plot_scratch_vs_torch(history, torch_history, path, title="scratch vs torch"):
    """Per-epoch loss and accuracy of our scratch run beside the torch reference on the same data."""
    figure = new_figure(12, 4.2, left=0.06, right=0.83, wspace=0.25, top=0.83)
    loss_axes, acc_axes = figure.subplots(1, 2)
    for hist, framework, style in ((history, "scratch", "-"), (torch_history, "torch", "--")):
        for split, (color, label) in SPLIT_STYLE.items():
            x, y = _epoch_series(hist.get("epochs", []), f"{split}_loss")
            if x:
                loss_axes.plot(x, y, style, color=color, label=f"{framework} {label}")
            x, y = _epoch_series(hist.get("epochs", []), f"{split}_acc")
            if x:
                acc_axes.plot(x, 100 * np.asarray(y, dtype=float), style, color=color, label=f"{framework} {label}")
    loss_axes.set(title="loss per epoch", xlabel="epoch", ylabel="cross-entropy loss")
    acc_axes.set(title="accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    for axes in (loss_axes, acc_axes):
        _integer_epochs(axes)
    handles = {label: h for axes in (loss_axes, acc_axes) for h, label in zip(*axes.get_legend_handles_labels())}
    if handles:
        acc_axes.legend(list(handles.values()), list(handles), fontsize=8, loc="center left",
                        bbox_to_anchor=(1.02, 0.5))
    figure.suptitle(title)
    return save_png(figure, path)


def plot_gradient_flow(records, path, title="gradient norm per layer"):
    """One curve per parameter: its gradient's L2 norm at each recorded step, on a log axis.

    ``records`` is a list of ``{"step": int, "layer_grad_norms": {name: norm}, ...}``. Vanishing gradients
    show as the curves of the first layers lying decades below the last ones (sigmoid, report A).
    Zero or missing norms leave a gap (a log axis has no 0).
    """
    if not records:
        raise ValueError("records is empty: record at least one step before plotting the gradient flow")
    names = list(dict.fromkeys(name for r in records for name in r["layer_grad_norms"]))
    steps = np.array([r["step"] for r in records], dtype=float)
    figure = new_figure(9, 4.8, right=0.72)
    axes = figure.subplots()
    layers = list(dict.fromkeys(name.rpartition(".")[0] for name in names))
    colors = dict(zip(layers, _colors(len(layers))))
    positive = []
    for name in names:
        norms = np.array([r["layer_grad_norms"].get(name, np.nan) for r in records], dtype=float)
        norms = np.where(np.isfinite(norms) & (norms > 0), norms, np.nan)
        if np.any(~np.isnan(norms)):
            positive.append(name)
            style = "--" if name.endswith("bias") else "-"      # one colour per layer: weight solid, bias dashed
            axes.plot(steps, norms, style, color=colors[name.rpartition(".")[0]], label=name,
                      marker="." if len(steps) < 60 else None)
    if positive:
        axes.set_yscale("log")
    axes.set(title=title, xlabel="step", ylabel="||grad||_2")
    axes.grid(True, which="major", alpha=0.3)
    if positive:
        axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_png(figure, path)


def plot_histograms(arrays_by_name, path, title="histograms", bins=50):
    """One panel per name; each panel overlays the histograms of its snapshots.

    ``arrays_by_name`` maps a name to an array, or to a list of ``(label, array)`` snapshots (e.g. the
    weights at steps 0, 500 and 1000), drawn as outlines so that the drift from one to the next shows.
    """
    if not arrays_by_name:
        raise ValueError("arrays_by_name is empty: nothing to draw")
    from matplotlib.ticker import MaxNLocator
    names = list(arrays_by_name)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    figure = new_figure(4.2 * cols, 3.0 * rows + 0.6, left=0.06, right=0.98, bottom=0.08 / rows ** 0.5,
                        top=1 - 0.75 / (3.0 * rows + 0.6), wspace=0.25, hspace=0.5)
    grid = np.atleast_1d(figure.subplots(rows, cols, squeeze=False)).ravel()
    for axes in grid[len(names):]:
        axes.set_axis_off()
    for axes, name in zip(grid, names):
        snapshots = arrays_by_name[name]
        if not isinstance(snapshots, (list, tuple)):
            snapshots = [("", snapshots)]
        values = [np.asarray(a, dtype=np.float64).ravel() for _, a in snapshots]
        finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.empty(0)
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        if low == high:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1)
        for (label, _), v, color in zip(snapshots, values, _colors(len(snapshots))):
            kept = v[np.isfinite(v)]
            counts, _ = np.histogram(kept, bins=edges)   # as fractions: snapshots may differ in size
            axes.stairs(counts / max(kept.size, 1), edges, color=color, label=str(label) if label != "" else None)
        axes.set_title(name, fontsize=9)
        axes.set_ylabel("fraction of values", fontsize=7)
        axes.tick_params(labelsize=7)
        axes.xaxis.set_major_locator(MaxNLocator(5))
        axes.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        if any(label != "" for label, _ in snapshots):
            axes.legend(fontsize=6)
    figure.suptitle(title)
    return save_png(figure, path)


def _legend(axes):
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8)


def _integer_epochs(axes):
    from matplotlib.ticker import MaxNLocator
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _colors(n):
    """``n`` distinguishable colours (tab10, then viridis when there are more than ten)."""
    from matplotlib import colormaps
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](i / max(n - 1, 1)) for i in range(n)]
