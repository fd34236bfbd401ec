"""REPORT.md and SUMMARY.md from a synthetic but schema-complete metrics.json.

The numbers in the synthetic runs are random data for the formatter, not results: the tests check that
the report shows them where they belong and computes the derived figures (differences, per-class
precision/recall/F1) correctly, recomputing those here from the raw values.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from experiments import cli, plots
from experiments import data as run_data
from experiments.registry import RUNS
from experiments.report import results_markdown, summarise, write_run_report, write_summary
from tinygrad_lite.errors import DataError

REPO = Path(__file__).resolve().parents[1]

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_metrics(run, document, seed, *, cnn=False, with_torch=True, with_val=True, used_sample=False,
                      subset=None, reported=None):
    rng = np.random.default_rng(seed)
    epochs = 3

    def predictions(n):
        y_true = rng.integers(0, 10, n)
        y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, 10, n))
        return {"y_true": y_true.tolist(), "y_pred": y_pred.tolist()}

    def history():
        rows = []
        for e in range(1, epochs + 1):
            rows.append({"epoch": e, "lr": 0.01, "train_loss": float(rng.uniform(0.2, 1)),
                         "train_acc": float(rng.uniform(0.6, 0.9)),
                         "val_loss": float(rng.uniform(0.2, 1)) if with_val else None,
                         "val_acc": float(rng.uniform(0.6, 0.9)) if with_val else None,
                         "test_loss": float(rng.uniform(0.2, 1)), "test_acc": float(rng.uniform(0.6, 0.9))})
        return {"iteration_loss": [[i, float(rng.uniform(0.2, 2))] for i in range(0, 1000, 200)], "epochs": rows}

    hist = history()
    final = {"epoch_used": epochs, **{k: v for k, v in hist["epochs"][-1].items() if k not in ("epoch", "lr")}}
    torch = None
    if with_torch:
        torch_hist = history()
        torch = {"final": {"epoch_used": epochs, **{k: v for k, v in torch_hist["epochs"][-1].items()
                                                    if k not in ("epoch", "lr")}},
                 "wall_time_s": 12.5, "history": torch_hist}
    layers = [["conv", 4, 3, 1, 1], ["relu"], ["maxpool", 2], ["flatten"], ["dense", 10]] if cnn else \
        [["flatten"], ["dense", 16], ["relu"], ["dense", 10]]
    config = {"name": run, "document": document, "dataset": "fashion-mnist", "layers": layers, "epochs": epochs,
              "batch_size": 64, "optimizer": "sgd", "lr": 0.01, "momentum": 0.0, "schedule": [], "l2": 0.0,
              "init": "torch_default", "split": ["random", 0.2], "normalisation": "unit", "early_stopping": [],
              "select_best_by": "", "features_from": "", "log_every": 200, "reported": reported or {},
              "choices": ["plain SGD, no momentum"], "minutes_cpu": 1.0}
    return {"run": run, "document": document, "title": f"synthetic {run}", "config": config,
            "choices": config["choices"], "device": "cpu",
            "versions": {"python": "3.11", "numpy": "2.4", "tinygrad_lite": "0.1.0", "torch": None},
            "seed": seed, "subset": subset, "used_sample": used_sample, "wall_time_s": 125.0, "history": hist,
            "final": final, "predictions": {"train": predictions(300), "test": predictions(200)},
            "class_names": CLASSES,
            "first_layer_filters": rng.normal(size=(4, 1, 3, 3)).tolist() if cnn else None,
            "torch": torch, "reported": reported or {}}


def write_metrics(run_dir, metrics):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def table_row(text, label):
    """The cells of the markdown table row that starts with ``label``."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            return cells
    raise AssertionError(f"no table row {label!r} in:\n{text}")


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """One CNN run with torch and the document's numbers, reported once for all the checks below."""
    metrics = synthetic_metrics("B-cnn", "report-b.txt", 1, cnn=True,
                                reported={"test_acc": 0.885, "test_loss": 0.3229, "train_acc": 0.9, "train_f1": 0.8588})
    run_dir = write_metrics(tmp_path_factory.mktemp("runs") / "B-cnn", metrics)
    return run_dir, metrics, write_run_report(run_dir).read_text()


def test_results_table_has_ours_torch_document_and_difference(cnn_run):
    _, metrics, text = cnn_run
    ours, torch, reported = metrics["final"], metrics["torch"]["final"], metrics["reported"]
    row = table_row(text, "test accuracy")
    assert row[1:4] == [f"{100 * ours['test_acc']:.2f} %", f"{100 * torch['test_acc']:.2f} %", "88.50 %"]
    assert row[4] == f"{100 * (ours['test_acc'] - reported['test_acc']):+.2f} pp"
    row = table_row(text, "test loss")
    assert row[1:5] == [f"{ours['test_loss']:.4f}", f"{torch['test_loss']:.4f}", "0.3229",
                        f"{ours['test_loss'] - reported['test_loss']:+.4f}"]
    row = table_row(text, "validation accuracy")      # not reported by the document: no difference
    assert row[1] == f"{100 * ours['val_acc']:.2f} %" and row[3:5] == ["—", "—"]


def test_header_configuration_and_choices(cnn_run):
    _, _, text = cnn_run
    assert text.startswith("# Run `B-cnn`: synthetic B-cnn")
    assert "report-b.txt" in text and "2 min 05 s" in text and "WARNING" not in text
    assert table_row(text, "optimizer")[1] == "sgd" and table_row(text, "batch_size")[1] == "64"
    assert "- [ours] plain SGD, no momentum" in text


@pytest.mark.parametrize("split, heading", [("train", "train"), ("test", "test")])
def test_per_class_tables_match_a_direct_count(cnn_run, split, heading):
    _, metrics, text = cnn_run
    section = text.split(f"## Per-class precision, recall and F1 ({heading})")[1].split("\n## ")[0]
    y_true = np.array(metrics["predictions"][split]["y_true"])
    y_pred = np.array(metrics["predictions"][split]["y_pred"])
    f1s, supports = [], []
    for k, name in enumerate(CLASSES):
        tp = np.sum((y_true == k) & (y_pred == k))
        precision = tp / max(np.sum(y_pred == k), 1)
        recall = tp / max(np.sum(y_true == k), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        supports.append(np.sum(y_true == k))
        assert table_row(section, name)[1:] == [f"{precision:.4f}", f"{recall:.4f}", f"{f1:.4f}",
                                                str(supports[-1])]
    assert table_row(section, "**accuracy**")[3] == f"{np.mean(y_true == y_pred):.4f}"
    assert table_row(section, "**macro avg**")[3] == f"{np.mean(f1s):.4f}"
    weighted_f1 = np.average(f1s, weights=supports)
    assert table_row(section, "**weighted avg**")[3] == f"{weighted_f1:.4f}"
    if split == "train":    # the document's "F1" is the weighted average: ours is computed the same way
        assert table_row(text, "train f1 (weighted avg)")[1:] == [
            f"{100 * weighted_f1:.2f} %", "—", "85.88 %", f"{100 * (weighted_f1 - 0.8588):+.2f} pp"]


def test_pngs_are_written_linked_and_readable(cnn_run):
    matplotlib_image = pytest.importorskip("matplotlib.image", reason="matplotlib is not installed")
    run_dir, _, text = cnn_run
    names = ["loss_curves.png", "accuracy_curves.png", "confusion_train.png", "confusion_test.png",
             "filters.png", "scratch_vs_torch.png"]
    for name in names:
        path = run_dir / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE, name
        image = matplotlib_image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100, name
        assert f"]({name})" in text
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_mlp_without_torch_or_validation(tmp_path):
    metrics = synthetic_metrics("A-x", "doc-a.txt", 2, with_torch=False, with_val=False,
                                reported={"test_acc": 0.86})
    text = write_run_report(write_metrics(tmp_path / "A-x", metrics)).read_text()
    assert table_row(text, "test accuracy")[2] == "—"
    assert "| validation loss |" not in text and "| validation accuracy |" not in text   # no figure at all
    assert "filters.png" not in text and not (tmp_path / "A-x" / "filters.png").exists()
    assert not (tmp_path / "A-x" / "scratch_vs_torch.png").exists()


def test_sample_and_subset_flagged_and_missing_matplotlib_said(tmp_path, monkeypatch):
    monkeypatch.setattr(plots, "missing_reason", lambda: "matplotlib is not installed (test)")
    metrics = synthetic_metrics("A-y", "doc-a.txt", 3, used_sample=True, subset=500)
    metrics["notes"] = ["the full data was not found: trained on the bundled sample"]
    run_dir = write_metrics(tmp_path / "A-y", metrics)
    text = write_run_report(run_dir).read_text()
    assert "WARNING: this run used the small bundled sample" in text
    assert "subset of 500 images" in text
    assert "- the full data was not found: trained on the bundled sample" in text
    assert "Plots were skipped: matplotlib is not installed (test)" in text
    assert not list(run_dir.glob("*.png"))


def test_flags_say_what_was_used_an_unused_subset_no_and_an_epochs_override_yes(tmp_path, capsys):
    """`run B-mlp --epochs 1 --subset 1000000`: every training image of the split is used, so no subset
    flag; the 1 epoch of 10 is flagged, in the summary's flags and in the title. (On the bundled sample,
    to stay quick: the rule does not depend on the data's size.)"""
    assert cli.main(["run", "B-mlp", "--epochs", "1", "--subset", "1000000", "--no-torch", "--no-progress",
                     "--no-report", "--sample", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "B-mlp" / "metrics.json").read_text())
    whole_split = run_data.prepare(RUNS["B-mlp"], sample=True).y_train
    assert metrics["predictions"]["train"]["y_true"] == whole_split.tolist()
    assert metrics["subset_applied"] is False
    assert metrics["overrides"] == {"epochs": {"document": 10, "used": 1}}
    assert metrics["title"] == f"{RUNS['B-mlp'].title} (run with epochs 1 instead of 10)"
    capsys.readouterr()
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "`B-mlp`" in line)
    assert "⚠ epochs 1 instead of 10" in row and "subset" not in row
    text = write_run_report(tmp_path / "B-mlp").read_text()
    assert "(run with epochs 1 instead of 10)" in text.splitlines()[0]
    assert "subset of" not in text and "| training images | all of the split |" in text


def test_missing_or_broken_metrics_give_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="has no metrics.json"):
        write_run_report(tmp_path)
    (tmp_path / "metrics.json").write_text(json.dumps({"run": "x"}))
    with pytest.raises(DataError, match="lacks the keys"):
        write_run_report(tmp_path)
    with pytest.raises(DataError, match="is not a folder"):
        summarise(tmp_path / "nowhere")


def test_a_metrics_json_nested_too_deep_is_refused_naming_it(tmp_path, capsys):
    """`tinygrad-lite report` over a folder holding such a file: it is skipped, named, never a
    RecursionError traceback."""
    path = tmp_path / "A-sigmoid" / "metrics.json"
    path.parent.mkdir()
    path.write_text('{"run": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DataError, match=rf"^{path} is JSON nested more than 100 levels deep; refused"):
        write_run_report(path.parent)
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"- `{path}`: {path} is JSON nested more than 100 levels deep" in out


def test_summary_has_one_table_per_document(tmp_path):
    runs = [synthetic_metrics("A-sigmoid", "doc-a.txt", 5, reported={"test_acc": 0.86}),
            synthetic_metrics("A-tanh", "doc-a.txt", 6, subset=300, reported={"test_acc": 0.93}),
            synthetic_metrics("B-mlp", "doc-b.txt", 7, with_torch=False, reported={"val_acc": 0.8448})]
    for m in runs:
        write_metrics(tmp_path / m["run"], m)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{not json")
    text = write_summary(tmp_path)
    assert (tmp_path / "SUMMARY.md").read_text() == text
    sections = dict(re.findall(r"^## (\S+)\n\n(.*?)(?=\n\n)", text, flags=re.M | re.S))
    assert set(sections) == {"doc-a.txt", "doc-b.txt"}
    assert "`A-sigmoid`" in sections["doc-a.txt"] and "`A-tanh`" in sections["doc-a.txt"]
    assert "`B-mlp`" not in sections["doc-a.txt"] and "`B-mlp`" in sections["doc-b.txt"]

    a = runs[0]
    row = table_row(sections["doc-a.txt"], "`A-sigmoid`")
    assert row[1:9] == ["test acc", f"{100 * a['final']['test_acc']:.2f} %",
                        f"{100 * a['torch']['final']['test_acc']:.2f} %", "86.00 %",
                        f"{100 * (a['final']['test_acc'] - 0.86):+.2f} pp", "cpu", "2 min 05 s", ""]
    assert "subset of 300" in table_row(sections["doc-a.txt"], "`A-tanh`")[8]
    b = runs[2]     # the document reports only a validation accuracy: the comparison is on that
    row = table_row(sections["doc-b.txt"], "`B-mlp`")
    assert row[1:6] == ["validation acc", f"{100 * b['final']['val_acc']:.2f} %", "—", "84.48 %",
                        f"{100 * (b['final']['val_acc'] - 0.8448):+.2f} pp"]
    assert "broken" in text and "not valid JSON" in text

    results = results_markdown(tmp_path, notes={"A-tanh": "a real finding"})
    assert table_row(results, "`A-tanh`")[-1] == "a real finding"
    assert table_row(results, "`A-sigmoid`")[-1] == ""


def test_summary_lists_documents_and_runs_in_the_order_of_the_list_command(tmp_path):
    """Section D's document name sorts before section B's, and 'C-cnn' before 'C-mlp'; the summary
    still reads A, B, C, D, with each document's runs in its own tables' order (`tinygrad-lite list`)."""
    runs = (("D-mlp-adam", "report-fashion-mlp-cnn-adam.txt"), ("B-mlp", "report-fashion-mlp-cnn-backbone.txt"),
            ("A-sigmoid", "report-mnist-mlp-scratch.txt"), ("C-cnnmlp-max-16-random", "report-c.txt"),
            ("C-cnn-max-16-random", "report-c.txt"), ("C-mlp-relu-drop", "report-c.txt"),
            ("C-cnn-avg-16-random", "report-c.txt"))
    for run, document in runs:
        write_metrics(tmp_path / run, synthetic_metrics(run, document, 3, reported={"test_acc": 0.9}))
    text = summarise(tmp_path)
    assert re.findall(r"^## (\S+)$", text, flags=re.M) == [
        "report-mnist-mlp-scratch.txt", "report-fashion-mlp-cnn-backbone.txt", "report-c.txt",
        "report-fashion-mlp-cnn-adam.txt"]
    listed = [name for name in RUNS if name.startswith("C-")]
    in_table = re.findall(r"^\| `(C-[^`]+)`", text, flags=re.M)
    assert in_table == sorted(in_table, key=listed.index)
    assert in_table[:3] == ["C-mlp-relu-drop", "C-cnn-max-16-random", "C-cnnmlp-max-16-random"]


def test_the_report_points_at_the_shipped_coursework_page_not_a_folder_a_clone_lacks(cnn_run):
    run_dir, _, text = cnn_run
    assert "../shared" not in text
    link = re.search(r"\[docs/coursework\.md\]\(([^)]+)\), section B", text)
    assert link and (run_dir / link.group(1)).resolve() == REPO / "docs" / "coursework.md"


def test_the_coursework_page_covers_every_document_and_run():
    from experiments.registry import GROUPS, RUNS
    page = (REPO / "docs" / "coursework.md").read_text(encoding="utf-8")
    assert "../shared" not in page
    for config in (RUNS[name] for name in GROUPS["all"]):          # the examples replay no document
        for document in config.document.split(" + "):
            assert f"`{document}`" in page, document
        named_as = re.sub(r"^C-cnn(mlp)?-", "", config.name)          # C's CNN table names a pair per row
        named_as = "A-relu-l2-*" if named_as.startswith("A-relu-l2-") else named_as
        assert f"`{named_as}`" in page, config.name
    for figure in ("0.86", "0.8448", "88.5 %", "0.9047", "88.55 %", "41.62 %", "92.37 %", "89.66 %"):
        assert figure in page


def test_the_report_opens_with_the_headline_then_plots_with_captions_then_the_per_class_tables(cnn_run):
    _, metrics, text = cnn_run
    ours, torch = metrics["final"]["test_acc"], metrics["torch"]["final"]["test_acc"]
    assert (f"**test accuracy: ours {100 * ours:.2f} %, torch {100 * torch:.2f} %, document 88.50 %** "
            f"(ours − document {100 * (ours - 0.885):+.2f} pp)") in text
    order = [text.index(heading) for heading in ("**test accuracy:", "## Results", "## Plots",
                                                 "## Per-class precision", "## Configuration")]
    assert order == sorted(order)
    for name in ("loss_curves.png", "confusion_test.png", "filters.png", "scratch_vs_torch.png"):
        caption_block = text[:text.index(f"]({name})")].rsplit("### ", 1)[1]
        assert caption_block.count("\n") >= 3 and len(caption_block.splitlines()[2]) > 40, name   # a line to read
    assert "Still at chance" not in text and "Barely above chance" not in text


def chance_run(tmp_path, accuracy, epochs=1, subset=2000, name="A-sigmoid"):
    """A sigmoid MLP whose 2000 test predictions are right a fraction ``accuracy`` of the time."""
    metrics = synthetic_metrics(name, "doc-a.txt", 3, with_torch=False, subset=subset, reported={"test_acc": 0.86})
    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 10, 2000)
    right = rng.random(2000) < accuracy
    y_pred = np.where(right, y_true, (y_true + rng.integers(1, 10, 2000)) % 10)
    metrics["predictions"]["test"] = {"y_true": y_true.tolist(), "y_pred": y_pred.tolist()}
    metrics["final"]["test_acc"] = float(np.mean(y_true == y_pred))
    metrics["config"].update(layers=[["flatten"], ["dense", 500], ["sigmoid"], ["dense", 10]], epochs=epochs, lr=0.01)
    metrics["overrides"] = {"epochs": {"document": 15, "used": epochs}} if epochs != 15 else {}
    text = write_run_report(write_metrics(tmp_path / name, metrics)).read_text()
    return metrics, text


def test_a_run_still_at_chance_says_so_and_what_it_needs(tmp_path):
    metrics, text = chance_run(tmp_path, accuracy=0.10)         # 10 % right: at chance for 10 classes
    accuracy = 100 * metrics["final"]["test_acc"]
    assert 8 < accuracy < 12
    line = next(line for line in text.splitlines() if "at chance" in line)
    assert line == (f"**Still at chance:** test accuracy {accuracy:.1f} %, chance for 10 classes is 10 %: "
                    "sigmoid at lr 0.01 needs more epochs or data (this run: 1 epoch, 300 training images; "
                    "the document's: 15 epochs on the full split).")
    assert text.index(line) < text.index("## Results")


def test_barely_above_chance_and_well_above_chance(tmp_path):
    _, text = chance_run(tmp_path / "low", accuracy=0.17)       # above 3 standard errors (2 pp), below 20 %
    assert "**Barely above chance:** test accuracy" in text
    _, text = chance_run(tmp_path / "good", accuracy=0.5)
    assert "chance:**" not in text


@pytest.mark.parametrize("seconds, text", [(0.0412, "0.041 s"), (0.4, "0.4 s"), (0.96, "1.0 s"), (12.54, "12.5 s"),
                                           (59.96, "1 min 00 s"), (125.0, "2 min 05 s"), (3720, "1 h 02 min")])
def test_durations_read_as_the_real_time_even_for_short_runs(seconds, text):
    from experiments.report import format_duration
    assert format_duration(seconds) == text


def test_every_plot_title_says_sample_subset_and_epochs(tmp_path, monkeypatch):
    """A quick look never passes for a replay: run_tag goes under every title write_plots draws."""
    from experiments.report import run_tag
    metrics = synthetic_metrics("A-z", "doc-a.txt", 4, used_sample=True, subset=500)
    metrics["overrides"] = {"epochs": {"document": 15, "used": 3}}
    assert run_tag(metrics) == "bundled SAMPLE data · subset of 500 training images · 3 epochs (the document's: 15)"
    stopped = dict(metrics, used_sample=False, subset=None, overrides={},
                   config=dict(metrics["config"], epochs=10))
    assert run_tag(stopped) == "3 of 10 epochs (stopped early)"
    titles = []
    save = plots.save_png

    def keep(figure, path):
        from matplotlib.text import Text
        titles.append(" ".join(t.get_text() for t in figure.findobj(Text)).replace("\n", " "))
        return save(figure, path)
    monkeypatch.setattr(plots, "save_png", keep)
    write_run_report(write_metrics(tmp_path / "A-z", metrics))
    assert len(titles) == 5 and all(run_tag(metrics) in " ".join(t.split()) for t in titles), titles
