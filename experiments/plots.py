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
# per-epoch points of the three splits often coincide: hollow markers of three shapes and sizes stay
# visible on top of one another, so the legend never lists a split the picture hides
SPLIT_MARKERS = {"train": {"marker": "o", "markersize": 10}, "val": {"marker": "s", "markersize": 7},
                 "test": {"marker": "^", "markersize": 7}}


def missing_reason():
    """None when matplotlib can draw here, else one line saying what is missing and how to get it."""
    try:
        import matplotlib  # noqa: F401  (a probe: is it installed?)
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401  (and its Agg canvas?)
    except ImportError as exc:
        return f"matplotlib is not installed ({exc}); pip install 'tinygrad_lite[plot]' to draw the plots"
    return None


def new_figure(width=6.4, height=4.8):
    """A matplotlib Figure on the Agg canvas (no pyplot, no display), laid out by matplotlib's
    constrained layout: every label, title, legend and colour bar inside the canvas, whatever the
    tick labels' width (fixed margins cut off '|difference|' beside long log-scale ticks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def fitted(text, figure, fontsize=10, share=1.0):
    """``text`` with each line wrapped to ``share`` of ``figure``'s width at ``fontsize`` (an average
    character is about 0.55 of the font size wide), so that a long title stays inside the canvas."""
    import textwrap
    chars = max(20, int(figure.get_figwidth() * share * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.fill(line, chars) if line else "" for line in str(text).split("\n"))


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


LOSS_CAPTION = ("Left: each training point is the mean loss of the interval's batches, taken while the weights "
                "were still changing (and with dropout on, where the network has it); the test point is measured "
                "after it, in evaluation mode: so the training curve can lie above the test curve, most of all "
                "early on. Right: every split measured the same way, in evaluation mode, after each epoch.")


def plot_loss_curves(history, path, title="", log_every=None, caption=LOSS_CAPTION):
    """Left: the training loss logged every ``log_every`` iterations (``history["iteration_loss"]``)
    and, where recorded, the test loss at the same iterations (``history["iteration_test_loss"]``).
    Right: train/validation/test loss after each epoch (``history["epochs"]``). Every point is marked,
    so a run of one epoch shows its single point. ``caption`` (under the panels) says why the training
    loss may lie above the test loss."""
    figure = new_figure(11, 4.9 if caption else 4.2)
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
            right.plot(x, y, color=color, label=label, markerfacecolor="none", markeredgewidth=1.5,
                       **_split_markers(split, len(x)))
    right.set(title="loss after each epoch", xlabel="epoch", ylabel="cross-entropy loss")
    _integer_epochs(right, epochs)
    _readable_span(right)
    _legend(right)
    if title:
        figure.suptitle(fitted(title, figure, 12))
    if caption:
        figure.supxlabel(fitted(caption, figure, 8), fontsize=8, color="0.3")
    return save_png(figure, path)


def plot_accuracy_curves(history, path, title="", chance=None):
    """Train/validation/test accuracy (in %) after each epoch; ``chance`` (a fraction, 1 / classes)
    draws the accuracy of guessing as a dotted line."""
    figure = new_figure(6.4, 4.4)
    axes = figure.subplots()
    epochs = history.get("epochs", [])
    for split, (color, label) in SPLIT_STYLE.items():
        x, y = _epoch_series(epochs, f"{split}_acc")
        if x:
            axes.plot(x, 100 * np.asarray(y, dtype=float), color=color, label=label, markerfacecolor="none",
                      markeredgewidth=1.5, **_split_markers(split, len(x)))
    if chance:
        axes.axhline(100 * chance, color="0.5", linestyle=":", label=f"chance ({100 * chance:.0f} %)")
    axes.set(xlabel="epoch", ylabel="accuracy (%)")
    axes.set_title(fitted(title or "accuracy after each epoch", figure, share=0.8), fontsize=10)
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
    figure = new_figure(7.2, 7.0)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.02, label="images")
    ticks = np.arange(n)
    words = max(len(str(name)) for name in class_names) > 2         # 'T-shirt/top', not '7': slanted
    axes.set_xticks(ticks, labels=class_names, rotation=45 if words else 0, ha="right" if words else "center")
    axes.set_yticks(ticks, labels=class_names)
    axes.set(xlabel="predicted class", ylabel="true class")
    axes.set_title(fitted(f"{title}\ncount, and % of the true class's images (its row)", figure, share=0.85),
                   fontsize=10)
    threshold = matrix.max() / 2 if matrix.size else 0
    size = 9 if n <= 10 else max(5, 9 - (n - 10) // 2)
    for i in range(n):
        for j in range(n):
            share = percent[i, j]
            text = (f"{int(matrix[i, j])}\n{share:.0f}%" if share >= 1 else f"{int(matrix[i, j])}\n<1%"
                    if matrix[i, j] else "0")
            axes.text(j, i, text, ha="center", va="center", fontsize=size, linespacing=1.0,
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
    figure = new_figure(6.4, 6.0)
    axes = figure.subplots()
    cmap = colormaps["gray"].with_extremes(bad="white")
    image = axes.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-limit, vmax=limit,
                        interpolation="nearest")
    axes.set_axis_off()
    channels = f", mean over {shape[1]} input channels" if shape[1] > 1 else ""
    axes.set_title(fitted(f"{title}\n{shape[0]} filters of {shape[2]}x{shape[3]}{channels}", figure, share=0.85),
                   fontsize=10)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.02, label="weight")
    return save_png(figure, path)


def plot_attention_maps(attention, path, title="attention"):
    """Every head of every block on one example (``experiments.gpt.showcase``'s "attention"): one heat
    map per head, a row of them per block; row i is what position i reads (its weights over positions
    0..i, summing to 1), labelled with the token there and the token it predicts; the columns are
    labelled with the tokens read."""
    blocks, tokens = attention["blocks"], attention["tokens"]
    predicts = attention.get("predicts") or [""] * len(tokens)
    heads = len(blocks[0])
    figure = new_figure(2.4 * heads + 1.2, 2.5 * len(blocks) + 1.0)
    grid = figure.subplots(len(blocks), heads, squeeze=False)
    ticks = np.arange(len(tokens))
    rows = [f"{t} → {p}" if p else f"{t}" for t, p in zip(tokens, predicts)]
    for block, (maps, axes_row) in enumerate(zip(blocks, grid), start=1):
        for head, axes in enumerate(axes_row):
            image = axes.imshow(np.asarray(maps[head]), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
            axes.set_title(f"block {block}, head {head + 1}", fontsize=9)
            axes.set_xticks(ticks, labels=tokens, fontsize=7)
            axes.set_yticks(ticks, labels=rows if head == 0 else [], fontsize=7)
    grid[-1][0].set_xlabel("reads the token at", fontsize=8)
    for axes_row in grid:
        axes_row[0].set_ylabel("token → predicts", fontsize=8)
    figure.colorbar(image, ax=grid, fraction=0.02, pad=0.01, label="attention weight")
    figure.suptitle(fitted(f"{title}\n{attention.get('example', '')}", figure, share=0.9), fontsize=10)
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


SCRATCH_STYLE = {"linestyle": "-", "linewidth": 5, "alpha": 0.35, "marker": "o", "markersize": 9}
TORCH_STYLE = {"linestyle": "--", "linewidth": 1.3, "marker": "x", "markersize": 6}
STYLE_NOTE = "scratch: wide pale line, circles; torch: thin dashed line, crosses, drawn on top"


def _differences(series):
    """[(x, |ours - theirs|)] of ``series`` [(keys, ours, theirs, ...)], and the log axis's floor where
    exact zeros are drawn: a decade under the smallest non-zero difference (1e-16 if all are 0)."""
    drawn = [(np.asarray(keys, dtype=float), np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))
             for keys, a, b, *_ in series]
    positive = np.concatenate([d[d > 0] for _, d in drawn] + [np.empty(0)])
    floor = 10.0 ** (np.floor(np.log10(positive.min())) - 1) if positive.size else 1e-16
    return drawn, floor


def _plot_differences(axes, series):
    """|ours - theirs| of each (keys, ours, theirs, colour, label) in ``series`` on a log axis, the series
    a tenth of a unit apart along x where there are several (they share the keys). An exact agreement
    (0) has no place on a log axis: it is drawn at the axis floor as a hollow triangle on a dotted line,
    never dropped, and the legend says so. Returns the legend's handles, as drawn (a triangle for a
    series that is all 0)."""
    from matplotlib.lines import Line2D
    drawn, floor = _differences(series)
    handles = []
    for i, ((x, d), (_, _, _, color, label)) in enumerate(zip(drawn, series)):
        x = x + (i - (len(series) - 1) / 2) * 0.1 if len(series) > 1 else x
        y = np.where(d > 0, d, floor)
        size = 7 if len(x) < 60 else 3
        if len(x) > 1:
            axes.plot(x, y, color=color, linewidth=1.2)
        axes.plot(x[d > 0], y[d > 0], linestyle="none", marker="o", markersize=size, color=color)
        axes.plot(x[d == 0], y[d == 0], linestyle="none", marker="v", markersize=size + 2, color=color,
                  markerfacecolor="white")
        handles.append(Line2D([], [], color=color, linewidth=1.2 if len(x) > 1 else 0,
                              marker="v" if not (d > 0).any() else "o", markersize=size,
                              markerfacecolor="white" if not (d > 0).any() else color, label=label))
    axes.set_yscale("log")
    largest = max([float(d.max()) for _, d in drawn if d.size] + [floor])
    smallest = floor if any((d == 0).any() for _, d in drawn) else floor * 10     # the floor, or the least > 0
    axes.set_ylim(smallest / 3, max(largest * 3, floor * 10))
    if any((d == 0).any() for _, d in drawn):
        axes.axhline(floor, color="0.55", linestyle=":", linewidth=1)
        handles.append(Line2D([], [], color="0.4", linestyle=":", marker="v", markerfacecolor="white",
                              markersize=8, label=f"identical (0): drawn at {floor:.0e}"))
    return handles


def plot_scratch_vs_torch(history, torch_history, path, title="scratch vs torch"):
    """Our scratch run beside the torch reference trained from the same weights on the same batches:
    top, the loss per logged iteration and per epoch, ours a wide pale line with circles, torch a thin
    dashed line with crosses on top of it (both visible where they coincide); bottom, |ours - torch|
    on a log axis (exact zeros at the floor, marked 'identical'), and how many digits the two share
    ("identical to N digits")."""
    figure = new_figure(12, 7.6)
    (iter_axes, epoch_axes), (iter_diff, epoch_diff) = figure.subplots(2, 2)
    _iteration_panels(iter_axes, iter_diff, history, torch_history)
    _epoch_panels(epoch_axes, epoch_diff, history, torch_history)
    for axes in (iter_axes, epoch_axes):
        _readable_span(axes)
    for axes in (iter_diff, epoch_diff):
        axes.title.set_fontsize(9)
    if epoch_axes.get_legend_handles_labels()[0]:
        epoch_axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle(fitted(f"{title}\n{STYLE_NOTE}", figure, 11), fontsize=11)
    return save_png(figure, path)


def _iteration_panels(iter_axes, iter_diff, history, torch_history):
    """The loss per logged iteration, both frameworks, and |ours - torch| under it."""
    ours_iter, torch_iter = history.get("iteration_loss") or [], torch_history.get("iteration_loss") or []
    for points, label, style in ((ours_iter, "scratch", SCRATCH_STYLE), (torch_iter, "torch", TORCH_STYLE)):
        if points:
            steps, losses = zip(*points)
            iter_axes.plot(steps, losses, color="tab:blue", label=label,
                           **{**style, "linestyle": style["linestyle"] if len(steps) > 1 else "none"})
    iter_axes.set(title="training loss per logged interval", xlabel="iteration", ylabel="cross-entropy loss")
    _legend(iter_axes)
    keys, a, b = _paired(ours_iter, torch_iter)
    if keys:
        handles = _plot_differences(iter_diff, [(keys, a, b, "tab:blue", "training loss")])
        if len(handles) > 1:                       # some zeros: say what the triangles at the floor are
            iter_diff.legend(handles=handles, fontsize=8)
    iter_diff.set(title=f"|scratch - torch| of the training loss:\n{agreement_text(a, b)}",
                  xlabel="iteration", ylabel="|difference|")
    for axes in (iter_axes, iter_diff):
        axes.xaxis.set_major_locator(_integer_locator())


def _epoch_panels(epoch_axes, epoch_diff, history, torch_history):
    """The loss of every split after each epoch, both frameworks, and |ours - torch| under it."""
    epochs, torch_epochs = history.get("epochs", []), torch_history.get("epochs", [])
    all_a, all_b, acc_a, acc_b, series = [], [], [], [], []
    for split, (color, label) in SPLIT_STYLE.items():
        for hist, framework, style in ((epochs, "scratch", SCRATCH_STYLE), (torch_epochs, "torch", TORCH_STYLE)):
            x, y = _epoch_series(hist, f"{split}_loss")
            if x:
                epoch_axes.plot(x, y, color=color, label=f"{framework} {label}",
                                **{**style, "linestyle": style["linestyle"] if len(x) > 1 else "none"})
        keys, a, b = _paired([(e["epoch"], e.get(f"{split}_loss")) for e in epochs],
                             [(e["epoch"], e.get(f"{split}_loss")) for e in torch_epochs])
        all_a += a
        all_b += b
        if keys:
            series.append((keys, a, b, color, f"{label}: {_agreement_short(a, b)}"))
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
    if series:
        handles = _plot_differences(epoch_diff, series)
        epoch_diff.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                          title="split (offset along x)" if len(series) > 1 else None, title_fontsize=8)


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
    figure = new_figure(9.5, 4.8)
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
    axes.set(title=fitted(title, figure, 12, share=0.7), xlabel="step (iteration)", ylabel="||grad||_2 (log scale)")
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
    figure = new_figure(4.2 * cols, height)
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
    figure.suptitle(fitted(title, figure, 12))
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


def _markers(count):
    """Line style keywords: a marker on every point, big while there are few points to see."""
    if count < 60:
        return {"marker": "o", "markersize": 6 if count < 3 else 4}
    return {"marker": ".", "markersize": 3}


def _split_markers(split, count):
    """``SPLIT_MARKERS[split]``, smaller when there are many epochs."""
    style = dict(SPLIT_MARKERS[split])
    if count >= 30:
        style["markersize"] = style["markersize"] / 2
    return style


def _colors(n):
    """``n`` distinguishable colours (tab10, then viridis when there are more than ten)."""
    from matplotlib import colormaps
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    return [colormaps["viridis"](i / max(n - 1, 1)) for i in range(n)]
