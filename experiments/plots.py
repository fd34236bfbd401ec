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
    Right: train/validation/test loss after each epoch (``history["epochs"]``). Every point is marked,
    so a run of one epoch shows its single point."""
    figure = new_figure(11, 4.2, left=0.07, wspace=0.25, top=0.83 if title else 0.9)
    left, right = figure.subplots(1, 2)
    logged = (("iteration_loss", "training (mean of the interval)", "tab:blue"),
              ("iteration_test_loss", "test", "tab:red"))
    for key, label, color in logged:
        points = history.get(key) or []
        if points:
            steps, losses = zip(*points)
            left.plot(steps, losses, color=color, label=label, **_markers(len(steps)))
    _legend(left)
    every = f"mean of every {log_every} iterations" if log_every else "per logged interval"
    left.set(title=f"training loss, {every}", xlabel="iteration", ylabel="cross-entropy loss")
    left.xaxis.set_major_locator(_integer_locator())
    epochs = history.get("epochs", [])
    _readable_span(left)
    for split, (color, label) in SPLIT_STYLE.items():
        x, y = _epoch_series(epochs, f"{split}_loss")
        if x:
            right.plot(x, y, color=color, label=label, **_markers(len(x), large=True))
    right.set(title="loss after each epoch", xlabel="epoch", ylabel="cross-entropy loss")
    _integer_epochs(right, epochs)
    _readable_span(right)
    _legend(right)
    if title:
        figure.suptitle(title)
    return save_png(figure, path)


def plot_accuracy_curves(history, path, title="", chance=None):
    """Train/validation/test accuracy (in %) after each epoch; ``chance`` (a fraction, 1 / classes)
    draws the accuracy of guessing as a dotted line."""
    figure = new_figure(6.4, 4.2, left=0.12)
    axes = figure.subplots()
    epochs = history.get("epochs", [])
    for split, (color, label) in SPLIT_STYLE.items():
        x, y = _epoch_series(epochs, f"{split}_acc")
        if x:
            axes.plot(x, 100 * np.asarray(y, dtype=float), color=color, label=label,
                      **_markers(len(x), large=True))
    if chance:
        axes.axhline(100 * chance, color="0.5", linestyle=":", label=f"chance ({100 * chance:.0f} %)")
    axes.set(title=title or "accuracy after each epoch", xlabel="epoch", ylabel="accuracy (%)")
    _integer_epochs(axes, epochs)
    _legend(axes)
    return save_png(figure, path)


def plot_confusion_matrix(matrix, class_names, path, title="confusion matrix"):
    """A heat map of counts (rows: true class, columns: predicted), every cell labelled with its count
    and, below it, its share of the row (of the images of that true class, the % predicted so)."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"matrix must be {n}x{n} for {n} class names, got shape {matrix.shape}")
    rows = matrix.sum(axis=1, keepdims=True)
    percent = 100 * matrix / np.where(rows > 0, rows, 1)
    figure = new_figure(7.5, 6.8, left=0.2, bottom=0.2, top=0.9, right=0.98)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, shrink=0.8, label="images")
    ticks = np.arange(n)
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set(xlabel="predicted class", ylabel="true class")
    axes.set_title(f"{title}\ncount, and % of the true class's images (its row)", fontsize=10)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            share = percent[i, j]
            text = (f"{int(matrix[i, j])}\n{share:.0f}%" if share >= 1 else f"{int(matrix[i, j])}\n<1%"
                    if matrix[i, j] else "0")
            axes.text(j, i, text, ha="center", va="center", fontsize=6 if n > 10 else 7, linespacing=0.9,
                      color="white" if matrix[i, j] > threshold else "black")
    return save_png(figure, path)


def filter_mosaic(weights, gap=1):
    """The (C_out, C_in, kh, kw) filters tiled into one 2-D image in their own units (several input
    channels are averaged), row by row from filter 0 at the top left; the gaps between tiles are NaN."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise ValueError(f"weights must have shape (C_out, C_in, kh, kw), got shape {weights.shape}")
    images = weights.mean(axis=1)
    count, kh, kw = images.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    mosaic = np.full((rows * (kh + gap) - gap, cols * (kw + gap) - gap), np.nan)
    for k in range(count):
        r, c = divmod(k, cols)
        mosaic[r * (kh + gap):r * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = images[k]
    return mosaic


def plot_filters(weights, path, title="first convolution layer's filters"):
    """Each output filter of a (C_out, C_in, kh, kw) weight as a small grey image, in a square-ish grid
    (read row by row: filter 0 top left), all on one scale, symmetric about 0 (mid-grey), with a colour
    bar in the weights' units: a filter that learned little is a flat grey tile."""
    from matplotlib import colormaps
    mosaic = filter_mosaic(weights)
    shape = np.shape(weights)
    limit = float(np.nanmax(np.abs(mosaic))) if np.isfinite(mosaic).any() else 1.0
    limit = limit if limit > 0 else 1.0
    figure = new_figure(6.6, 6.2, left=0.03, right=0.9, bottom=0.03, top=0.9)
    axes = figure.subplots()
    cmap = colormaps["gray"].with_extremes(bad="white")
    image = axes.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-limit, vmax=limit,
                        interpolation="nearest")
    axes.set_axis_off()
    channels = f", mean over {shape[1]} input channels" if shape[1] > 1 else ""
    axes.set_title(f"{title}\n{shape[0]} filters of {shape[2]}x{shape[3]}{channels}", fontsize=10)
    figure.colorbar(image, ax=axes, shrink=0.8, label="weight")
    return save_png(figure, path)


def agreement(ours, theirs):
    """How closely two series of numbers agree: ``(largest |ours - theirs|, digits)`` where ``digits`` is
    how many significant digits they share everywhere (floor(-log10(max |a - b| / |b|))), None when
    every pair is identical; ``(None, None)`` for empty series."""
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if a.size == 0:
        return None, None
    difference = np.abs(a - b)
    largest = float(difference.max())
    if largest == 0:
        return 0.0, None
    relative = difference / np.maximum(np.abs(b), np.finfo(float).tiny)
    return largest, max(0, int(np.floor(-np.log10(relative.max()))))


def agreement_text(ours, theirs, unit=""):
    """'identical in every stored digit', 'identical to 6 digits (largest difference 2.1e-07)', ..."""
    largest, digits = agreement(ours, theirs)
    if largest is None:
        return "nothing to compare"
    if digits is None:
        return "identical in every stored digit"
    if digits == 0:
        return f"different (largest difference {largest:.2g}{unit})"
    return f"identical to {digits} digits (largest difference {largest:.1e}{unit})"


def _agreement_short(ours, theirs):
    """'identical', 'same to 6 digits' or 'different': a legend entry's worth of ``agreement_text``."""
    largest, digits = agreement(ours, theirs)
    return ("identical" if digits is None else f"same to {digits} digits" if digits else "different")


def _paired(ours, theirs):
    """(keys, our values, their values) at the keys both series have: [[key, value], ...] lists."""
    theirs = dict((k, v) for k, v in theirs if v is not None)
    keys = [k for k, v in ours if v is not None and k in theirs]
    ours = dict(ours)
    return keys, [ours[k] for k in keys], [theirs[k] for k in keys]


def _plot_differences(axes, keys, ours, theirs, **style):
    """|ours - theirs| on a log axis; an exact agreement (0) has no place there and leaves a gap."""
    difference = np.abs(np.asarray(ours, dtype=float) - np.asarray(theirs, dtype=float))
    shown = difference > 0
    if shown.any():
        axes.plot(keys, np.where(shown, difference, np.nan), **style)
    return bool(shown.any())


def plot_scratch_vs_torch(history, torch_history, path, title="scratch vs torch"):
    """Our scratch run beside the torch reference trained from the same weights on the same batches:
    top, the loss per logged iteration and per epoch, ours solid with circles, torch dashed with
    crosses; bottom, |ours - torch| on a log axis (a gap where they are exactly equal), and how many
    digits the two share ("identical to N digits")."""
    figure = new_figure(12, 7.4, left=0.07, right=0.8, wspace=0.25, hspace=0.5, top=0.88, bottom=0.08)
    (iter_axes, epoch_axes), (iter_diff, epoch_diff) = figure.subplots(2, 2)
    _iteration_panels(iter_axes, iter_diff, history, torch_history)
    _epoch_panels(epoch_axes, epoch_diff, history, torch_history)
    for axes in (iter_axes, epoch_axes):
        _readable_span(axes)
    for axes in (iter_diff, epoch_diff):
        axes.title.set_fontsize(9)
        if not any(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any() for line in axes.lines):
            axes.text(0.5, 0.5, "no difference to draw\n(0 has no place on a log axis)", ha="center",
                      va="center", transform=axes.transAxes, color="0.4")
    if epoch_axes.get_legend_handles_labels()[0]:
        epoch_axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle(title)
    return save_png(figure, path)


def _iteration_panels(iter_axes, iter_diff, history, torch_history):
    """The loss per logged iteration, both frameworks, and |ours - torch| under it."""
    ours_iter, torch_iter = history.get("iteration_loss") or [], torch_history.get("iteration_loss") or []
    for points, label, dashes, marker in ((ours_iter, "scratch", "-", "o"), (torch_iter, "torch", "--", "x")):
        if points:
            steps, losses = zip(*points)
            iter_axes.plot(steps, losses, dashes, color="tab:blue", label=label, marker=marker,
                           markersize=7 if len(steps) < 60 else 3, markerfacecolor="none")
    iter_axes.set(title="training loss per logged interval", xlabel="iteration", ylabel="cross-entropy loss")
    _legend(iter_axes)
    keys, a, b = _paired(ours_iter, torch_iter)
    drawn = _plot_differences(iter_diff, keys, a, b, color="tab:blue", marker="o", **_markers_only(len(keys)))
    iter_diff.set(title=f"|scratch - torch| of the training loss:\n{agreement_text(a, b)}",
                  xlabel="iteration", ylabel="|difference|")
    for axes in (iter_axes, iter_diff):
        axes.xaxis.set_major_locator(_integer_locator())
    if drawn:
        iter_diff.set_yscale("log")


def _epoch_panels(epoch_axes, epoch_diff, history, torch_history):
    """The loss of every split after each epoch, both frameworks, and |ours - torch| under it."""
    epochs, torch_epochs = history.get("epochs", []), torch_history.get("epochs", [])
    all_a, all_b, acc_a, acc_b, drawn = [], [], [], [], False
    for split, (color, label) in SPLIT_STYLE.items():
        for hist, framework, dashes, marker in ((epochs, "scratch", "-", "o"), (torch_epochs, "torch", "--", "x")):
            x, y = _epoch_series(hist, f"{split}_loss")
            if x:
                epoch_axes.plot(x, y, dashes, color=color, marker=marker, markersize=7, markerfacecolor="none",
                                label=f"{framework} {label}")
        keys, a, b = _paired([(e["epoch"], e.get(f"{split}_loss")) for e in epochs],
                             [(e["epoch"], e.get(f"{split}_loss")) for e in torch_epochs])
        all_a += a
        all_b += b
        if keys:
            entry = f"{label}: {_agreement_short(a, b)}"
            shown = _plot_differences(epoch_diff, keys, a, b, color=color, marker="o", linestyle="-",
                                      label=entry)
            if not shown:               # still listed in the legend, with what it is
                epoch_diff.plot([], [], color=color, marker="o", linestyle="none", label=entry)
            drawn |= shown
        _, a, b = _paired([(e["epoch"], e.get(f"{split}_acc")) for e in epochs],
                          [(e["epoch"], e.get(f"{split}_acc")) for e in torch_epochs])
        acc_a += a
        acc_b += b
    epoch_axes.set(title="loss after each epoch", xlabel="epoch", ylabel="cross-entropy loss")
    accuracy = ("; accuracy identical at every epoch" if acc_a and acc_a == acc_b else
                f"; accuracy differs by up to {100 * max(abs(p - q) for p, q in zip(acc_a, acc_b)):.2f} pp"
                if acc_a else "")
    epoch_diff.set(title=f"|scratch - torch| of the loss per epoch:\n{agreement_text(all_a, all_b)}{accuracy}",
                   xlabel="epoch", ylabel="|difference|")
    for axes in (epoch_axes, epoch_diff):
        _integer_epochs(axes, epochs)
    if drawn:
        epoch_diff.set_yscale("log")
    if epoch_diff.get_legend_handles_labels()[0]:
        epoch_diff.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))


def plot_gradient_flow(records, path, title="gradient norm per layer", labels=None):
    """One curve per parameter: its gradient's L2 norm at each recorded step, on a log axis.

    ``records`` is a list of ``{"step": int, "layer_grad_norms": {name: norm}, ...}``. Vanishing gradients
    show as the curves of the first layers lying decades below the last ones (sigmoid, report A).
    Zero or missing norms leave a gap (a log axis has no 0). ``labels`` maps a parameter name to its
    legend entry (the recorder gives "1.weight (Dense, 500x784)").
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
            axes.plot(steps, norms, style, color=colors[name.rpartition(".")[0]],
                      label=(labels or {}).get(name, name), **_markers(len(steps)))
    if positive:
        axes.set_yscale("log")
    axes.set(title=title, xlabel="step (iteration)", ylabel="||grad||_2 (log scale)")
    axes.xaxis.set_major_locator(_integer_locator())
    axes.grid(True, which="major", alpha=0.3)
    if positive:
        axes.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_png(figure, path)


def plot_histograms(arrays_by_name, path, title="histograms", bins=50, xlabel="value"):
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
    height = 3.0 * rows + 0.8
    figure = new_figure(4.2 * cols, height, left=0.06, right=0.98, bottom=0.55 / height,
                        top=1 - 0.75 / height, wspace=0.25, hspace=0.6)
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
        axes.set_xlabel(xlabel, fontsize=7)
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


def _integer_locator():
    from matplotlib.ticker import MaxNLocator
    return MaxNLocator(integer=True)


def _integer_epochs(axes, epochs=()):
    """Ticks at whole epochs; with a few epochs, one tick per epoch and half an epoch of margin."""
    numbers = [e["epoch"] for e in epochs if isinstance(e.get("epoch"), int)]
    if numbers and len(numbers) <= 20:
        axes.set_xticks(numbers)
        axes.set_xlim(min(numbers) - 0.5, max(numbers) + 0.5)
    else:
        axes.xaxis.set_major_locator(_integer_locator())


def _readable_span(axes, fraction=0.002):
    """No offset notation ("1e-8 + 2.42277") and a y range of at least ``fraction`` of the values, so
    curves that are equal to many digits are drawn as equal instead of magnified to their last bits."""
    axes.ticklabel_format(axis="y", useOffset=False)
    low, high = axes.get_ylim()
    middle, half = (low + high) / 2, max(abs(low), abs(high)) * fraction / 2
    if high - low < 2 * half:
        axes.set_ylim(middle - half, middle + half)


def _markers(count, large=False):
    """Line style keywords: a marker on every point, big while there are few points to see."""
    if count < 60:
        return {"marker": "o", "markersize": 6 if large or count < 3 else 4}
    return {"marker": ".", "markersize": 3}


def _markers_only(count):
    return {"markersize": 6 if count < 60 else 3, "linestyle": "-" if count > 1 else "none"}


def _colors(n):
    """``n`` distinguishable colours (tab10, then viridis when there are more than ten)."""
    from matplotlib import colormaps
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](i / max(n - 1, 1)) for i in range(n)]
