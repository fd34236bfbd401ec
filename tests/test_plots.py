"""What the run's pictures show: every curve has visible points (even after one epoch), whole-epoch
ticks, the real logging interval, |ours - torch| with "identical to N digits", row percentages in the
confusion matrix, a colour bar beside the filters, histograms with axis labels and no bias panels."""
import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="matplotlib is not installed (the plots are optional)")

from experiments import plots
from experiments.gradient_flow import GradientFlowRecorder


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Every figure the plot functions save, kept for inspection (the PNG is still written)."""
    figures = []
    save = plots.save_png

    def keep(figure, path):
        figures.append(figure)
        return save(figure, path)
    monkeypatch.setattr(plots, "save_png", keep)
    return figures


def one_epoch_history(shift=0.0):
    return {"iteration_loss": [[31, 2.42 + shift]], "iteration_test_loss": [[31, 2.34 + shift]],
            "epochs": [{"epoch": 1, "train_loss": 2.339 + shift, "train_acc": 0.12, "val_loss": 2.336 + shift,
                        "val_acc": 0.13, "test_loss": 2.341 + shift, "test_acc": 0.128}]}


def visible_lines(axes):
    """The lines of ``axes`` that have at least one finite point and a marker to show it with."""
    return [line for line in axes.lines
            if np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any()
            and line.get_marker() not in ("None", None, "")]


def test_a_one_epoch_runs_curves_have_visible_points_and_whole_epoch_ticks(drawn, tmp_path):
    history = one_epoch_history()
    plots.plot_loss_curves(history, tmp_path / "loss.png", log_every=31)
    plots.plot_accuracy_curves(history, tmp_path / "acc.png", chance=0.1)
    iterations, epochs = drawn[0].axes[:2]
    assert len(visible_lines(iterations)) == 2 and len(visible_lines(epochs)) == 3
    assert all(len(line.get_xdata()) == 1 for line in visible_lines(epochs))
    assert list(epochs.get_xticks()) == [1]
    assert iterations.get_title() == "training loss, mean of every 31 iterations"
    accuracy = drawn[1].axes[0]
    assert len(visible_lines(accuracy)) == 3 and list(accuracy.get_xticks()) == [1]
    assert any(line.get_label() == "chance (10 %)" for line in accuracy.lines)


def test_scratch_vs_torch_draws_the_difference_and_says_how_many_digits_agree(drawn, tmp_path):
    ours, torch = one_epoch_history(), one_epoch_history()
    torch["iteration_loss"] = [[31, 2.42 + 3e-7]]                    # 3e-7 / 2.42 = 1.2e-7: 6 digits in common
    torch["epochs"][0]["val_loss"] = 2.336 * (1 + 2e-5)
    plots.plot_scratch_vs_torch(ours, torch, tmp_path / "svt.png")
    curves, per_epoch, iteration_difference, epoch_difference = drawn[0].axes[:4]
    assert len(visible_lines(curves)) == 2                          # ours and torch, both marked
    assert iteration_difference.get_yscale() == "log"
    assert np.allclose(visible_lines(iteration_difference)[0].get_ydata(), 3e-7)
    assert "identical to 6 digits" in iteration_difference.get_title()
    assert "identical to 4 digits" in epoch_difference.get_title()
    assert "accuracy identical at every epoch" in epoch_difference.get_title()
    legend = [text.get_text() for text in epoch_difference.get_legend().get_texts()]
    assert legend == ["train: identical", "validation: same to 4 digits", "test: identical",
                      "identical (0): drawn at 1e-06"]
    # the zeros are drawn, at the floor (a decade under the smallest difference, 4.7e-5), as triangles
    floor = [line for line in epoch_difference.lines if line.get_marker() == "v" and len(line.get_ydata())]
    assert len(floor) == 2 and all(np.allclose(line.get_ydata(), 1e-6) for line in floor)
    assert epoch_difference.get_ylim()[0] < 1e-6 and epoch_difference.get_yscale() == "log"


def test_an_all_identical_comparison_is_drawn_at_the_floor_not_left_empty(drawn, tmp_path):
    plots.plot_scratch_vs_torch(one_epoch_history(), one_epoch_history(), tmp_path / "svt.png")
    _, _, iteration_difference, epoch_difference = drawn[0].axes[:4]
    for axes in (iteration_difference, epoch_difference):
        triangles = [line for line in axes.lines if line.get_marker() == "v" and len(line.get_ydata())]
        assert triangles and all(np.allclose(line.get_ydata(), 1e-16) for line in triangles)
        assert "identical (0): drawn at 1e-16" in [t.get_text() for t in axes.get_legend().get_texts()]
    assert "identical in every stored digit" in iteration_difference.get_title()
    assert "torch: thin dashed line, crosses, drawn on top" in drawn[0]._suptitle.get_text()


def test_agreement_counts_the_shared_digits():
    assert plots.agreement([1.0, 2.0], [1.0, 2.0]) == (0.0, None)
    assert plots.agreement([2.0000001], [2.0]) == (pytest.approx(1e-7), 7)
    assert plots.agreement([1.5], [1.0])[1] == 0
    assert plots.agreement_text([1.0], [1.0]) == "identical in every stored digit"
    assert plots.agreement_text([], []) == "nothing to compare"


def test_the_confusion_matrix_shows_counts_and_row_percentages(drawn, tmp_path):
    matrix = np.array([[3, 1], [0, 4]])
    plots.plot_confusion_matrix(matrix, ["cat", "dog"], tmp_path / "c.png")
    axes = drawn[0].axes[0]
    cells = [text.get_text() for text in axes.texts]
    assert cells == ["3\n75%", "1\n25%", "0", "4\n100%"]
    assert "% of the true class" in axes.get_title()


def test_filters_come_with_a_colour_bar_on_one_scale(drawn, tmp_path):
    weights = np.zeros((4, 1, 3, 3))
    weights[0, 0, 1, 1], weights[1, 0, 0, 0] = 0.5, -0.25
    plots.plot_filters(weights, tmp_path / "f.png")
    image_axes, colour_bar = drawn[0].axes
    assert colour_bar.get_ylabel() == "weight"
    low, high = image_axes.images[0].get_clim()
    assert (low, high) == (-0.5, 0.5)                       # one scale, in the weights' own units
    assert np.nanmax(plots.filter_mosaic(weights)) == 0.5


def test_weight_histograms_leave_the_biases_out_and_label_their_axes(drawn, tmp_path):
    import nn
    import tinygrad_lite as tl
    model = nn.Sequential(nn.Flatten(), nn.Dense(6, 4), nn.ReLU(), nn.Dense(4, 3))
    recorder = GradientFlowRecorder()
    model(tl.randn(2, 6)).sum().backward()
    recorder.record(model, 1)
    recorder.save(tmp_path)
    flow, histograms = drawn[0].axes[0], drawn[1]
    assert [t.get_text() for t in flow.get_legend().get_texts()][:2] == ["1.weight (Dense, 4x6)", "1.bias (Dense, 4)"]
    titles = [axes.get_title() for axes in histograms.axes if axes.axison]
    assert titles == ["1.weight", "3.weight"]
    assert all(axes.get_xlabel() == "weight value" and axes.get_ylabel() == "fraction of values"
               for axes in histograms.axes if axes.axison)


# ---- every picture a real run writes: inside its canvas, saying what data it shows ------------------

def outside_the_canvas(figure):
    """The drawn things (labels, titles, legends, colour bars, captions) that reach past the figure's
    edge by more than a pixel: their text or [their kind] and how far."""
    from matplotlib.legend import Legend
    from matplotlib.text import Text
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    canvas = figure.bbox
    found = []
    # tick labels: the axes keep some the axis does not draw (outside its view); the tight box below
    # holds the drawn ones
    ticks = {id(label) for axes in figure.axes for axis in (axes.xaxis, axes.yaxis)
             for label in axis.get_ticklabels() + axis.get_ticklabels(minor=True)}
    artists = [a for a in figure.findobj(lambda a: isinstance(a, (Text, Legend)))
               if a.get_visible() and id(a) not in ticks]
    for artist in artists:
        if isinstance(artist, Text) and not artist.get_text().strip():
            continue
        box = artist.get_window_extent(renderer)
        if not (box.x0 >= canvas.x0 - 1 and box.y0 >= canvas.y0 - 1 and box.x1 <= canvas.x1 + 1
                and box.y1 <= canvas.y1 + 1):
            found.append((artist.get_text()[:60] if isinstance(artist, Text) else type(artist).__name__,
                          [round(v) for v in box.extents]))
    tight = figure.get_tightbbox(renderer)                # everything drawn, tick labels too, in inches
    width, height = figure.get_size_inches()
    if tight.x0 < -0.01 or tight.y0 < -0.01 or tight.x1 > width + 0.01 or tight.y1 > height + 0.01:
        found.append(("the figure's tight box", [round(v, 2) for v in tight.extents]))
    return found


def figure_texts(figure):
    from matplotlib.text import Text
    return " ".join(t.get_text() for t in figure.findobj(Text))


@pytest.mark.slow          # three short runs on the bundled sample, two with torch: ~25 s
@pytest.mark.parametrize("epochs", [1, 10])
def test_every_png_of_a_run_keeps_its_labels_inside_and_says_sample_subset_and_epochs(epochs, drawn, tmp_path):
    pytest.importorskip("torch", reason="scratch_vs_torch.png needs the torch reference")
    from experiments import cli
    runs = [("A-relu", ["--grad-plots"], 300)] + ([("B-cnn", ["--no-torch"], 64)] if epochs == 1 else [])
    for name, options, subset in runs:                    # the CNN for filters.png, on a few images
        drawn.clear()
        assert cli.main(["run", name, *options, "--epochs", str(epochs), "--subset", str(subset), "--sample",
                         "--no-progress", "--out", str(tmp_path)]) == 0
        names = sorted(p.name for p in (tmp_path / name).glob("*.png"))
        assert len(drawn) == len(names) == (9 if name == "A-relu" else 6), names
        for figure in drawn:
            problems = outside_the_canvas(figure)
            assert not problems, f"{figure_texts(figure)[:80]!r}: drawn outside the canvas: {problems}"
            texts = " ".join(figure_texts(figure).split())        # titles are wrapped to the figure's width
            assert "bundled SAMPLE data" in texts and f"subset of {subset} training images" in texts, texts
            assert f"{epochs} epoch{'s' if epochs > 1 else ''}" in texts
