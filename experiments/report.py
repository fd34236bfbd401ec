"""Reports: REPORT.md and its pictures for one run, and the summary tables across runs.

``write_run_report(run_dir)`` reads ``run_dir/metrics.json`` (written by the trainer) and writes
``REPORT.md`` beside it: what ran and where, every setting and every [ours] choice, our scratch figure
beside the torch reference and the document's number, per-class precision/recall/F1, and the plots.

``write_summary(out_dir)`` (``tinygrad-lite report``) collects every finished run under ``out_dir`` into
one table per coursework document, in ``out_dir/SUMMARY.md``. ``results_markdown(out_dir, notes)`` gives
the same tables with a "why" column for ``experiments/RESULTS.md``.
"""
import functools
import math
import os
import re
from pathlib import Path

from tinygrad_lite.errors import DataError
from tinygrad_lite.files import read_json, write_text

from . import plots
from .examples import DOCUMENT as EXAMPLE_DOCUMENT
from .metrics import classification_report

REQUIRED_KEYS = ("run", "document", "history", "final", "predictions", "class_names")
SPLITS = ("train", "val", "test")
SPLIT_NAMES = {"train": "train", "val": "validation", "test": "test"}
RESULT_ROWS = tuple((f"{split}_{kind}", f"{SPLIT_NAMES[split]} {'accuracy' if kind == 'acc' else 'loss'}")
                    for kind in ("acc", "loss") for split in SPLITS)
HEADLINE_ORDER = ("test_acc", "val_acc", "train_acc")
DASH = "—"


# ---- reading ------------------------------------------------------------------------------------------
def load_metrics(run_dir):
    """The parsed metrics.json of ``run_dir``, or a DataError naming the file and what is wrong with it."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        raise DataError(f"run_dir {str(run_dir)!r} has no metrics.json (expected {path}); is the run finished?")
    try:
        metrics = read_json(path)
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc})") from exc
    if not isinstance(metrics, dict):
        raise DataError(f"{path} must hold a JSON object, got {type(metrics).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in metrics]
    if missing:
        raise DataError(f"{path} lacks the keys {missing}; expected at least {list(REQUIRED_KEYS)}")
    return metrics


def find_runs(out_dir):
    """Every finished run under ``out_dir``: a list of (run_dir, metrics) and a list of (path, why skipped)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DataError(f"out_dir {str(out_dir)!r} is not a folder; run some experiments first "
                        f"(tinygrad-lite run NAME --out {out_dir})")
    runs, skipped = [], []
    for path in sorted(out_dir.rglob("metrics.json")):
        try:
            runs.append((path.parent, load_metrics(path.parent)))
        except DataError as exc:
            skipped.append((path, str(exc)))
    return runs, skipped


# ---- formatting -----------------------------------------------------------------------------------------
def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_value(key, value):
    """Accuracies (fractions) as percentages with two decimals, everything else with four decimals."""
    if not _is_number(value):
        return DASH
    return f"{100 * value:.2f} %" if _is_accuracy_like(key) else f"{value:.4f}"


def format_difference(key, ours, theirs):
    """ours − theirs: percentage points for accuracy-like figures, plain for losses; — if either is missing."""
    if not (_is_number(ours) and _is_number(theirs)):
        return DASH
    if _is_accuracy_like(key):
        return f"{100 * (ours - theirs):+.2f} pp"
    return f"{ours - theirs:+.4f}"


def _is_accuracy_like(key):
    return key.endswith(("_acc", "_f1", "_recall", "_precision"))


def format_duration(seconds):
    """'0.04 s', '0.4 s', '12.5 s', '2 min 05 s', '1 h 02 min': a short run's real time, never '0.0 s'."""
    if not _is_number(seconds):
        return DASH
    if seconds < 0.95:
        return f"{seconds:.2g} s"
    if seconds < 59.95:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _cell(value):
    """Text safe inside a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _config_value(key, value):
    if key == "layers" and isinstance(value, (list, tuple)):
        return " → ".join("(" + ", ".join(str(v) for v in spec) + ")" for spec in value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) if value else "none"
    if value in ("", None):
        return "none"
    return str(value)


def _natural_key(text):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(text))]


@functools.lru_cache(maxsize=1)
def _list_positions():
    from .registry import RUNS
    return {run: i for i, run in enumerate(RUNS)}


def _run_order(name):
    """Sort key: the order of `tinygrad-lite list` (documents A-D, each in its tables' order), then
    unknown names in natural order after them."""
    positions = _list_positions()
    return positions.get(name, len(positions)), _natural_key(name)


# ---- one run --------------------------------------------------------------------------------------------
def _split_reports(metrics):
    """{split: classification report} for every split whose predictions metrics.json holds (none for a
    sequence task: its predictions are answers, not classes)."""
    if metrics.get("sequence"):
        return {}
    reports = {}
    for split in SPLITS:
        pred = (metrics.get("predictions") or {}).get(split)
        if pred and pred.get("y_true"):
            reports[split] = classification_report(pred["y_true"], pred["y_pred"], metrics["class_names"])
    return reports


def our_figure(metrics, key, reports=None):
    """Our value of ``key`` ("test_acc", "val_f1", ...): from ``final``, or (F1, recall, precision) the
    weighted average of the split's classification report, as the coursework reports print them."""
    final = metrics.get("final") or {}
    if key in final:
        return final[key]
    split, _, kind = key.partition("_")
    if kind in ("f1", "recall", "precision"):
        reports = _split_reports(metrics) if reports is None else reports
        if split in reports:
            return reports[split]["weighted_avg"][kind]
    return None


def _torch_figure(metrics, key):
    torch = metrics.get("torch") or {}
    return (torch.get("final") or {}).get(key)


def results_table(metrics, reports=None):
    """The markdown table: our scratch figure, torch's, the document's, and ours − document."""
    reported = metrics.get("reported") or {}
    keys = [key for key, _ in RESULT_ROWS]
    keys += [k for k in reported if k not in keys and _is_accuracy_like(k)]
    keys += [k for k in reported if k not in keys]
    labels = dict(RESULT_ROWS)
    rows = []
    for key in keys:
        ours, torch, theirs = our_figure(metrics, key, reports), _torch_figure(metrics, key), reported.get(key)
        if all(v is None for v in (ours, torch, theirs)):
            continue
        weighted = " (weighted avg)" if key.endswith(("_f1", "_recall", "_precision")) else ""
        label = labels.get(key, key.replace("_", " ") + weighted)
        rows.append([label, format_value(key, ours), format_value(key, torch), format_value(key, theirs),
                     format_difference(key, ours, theirs)])
    header = ["", "ours (scratch)", "torch reference", "document", "ours − document"]
    return _table(header, rows)


def per_class_table(report):
    rows = [[c["name"], f"{c['precision']:.4f}", f"{c['recall']:.4f}", f"{c['f1']:.4f}", str(c["support"])]
            for c in report["per_class"]]
    rows.append(["**accuracy**", "", "", f"{report['accuracy']:.4f}", str(report["support"])])
    for label, key in (("**macro avg**", "macro_avg"), ("**weighted avg**", "weighted_avg")):
        avg = report[key]
        rows.append([label, f"{avg['precision']:.4f}", f"{avg['recall']:.4f}", f"{avg['f1']:.4f}",
                     str(avg["support"])])
    return _table(["class", "precision", "recall", "F1", "support"], rows)


def _examples(metrics):
    """What the run's examples are called: images, or a sequence task's problems."""
    return "problems" if metrics.get("sequence") else "images"


def run_tag(metrics):
    """What every picture of the run says under its title, so that no quick look passes for a replay:
    'bundled SAMPLE data · subset of 2000 training images · 1 epoch (the document's: 15) · lr 0.05
    (the document's: 0.01)'."""
    config, history = metrics.get("config") or {}, metrics.get("history") or {}
    parts = ["bundled SAMPLE data"] if metrics.get("used_sample") else []
    if subset_in_effect(metrics):
        parts.append(f"subset of {metrics['subset']} training {_examples(metrics)}")
    planned = config.get("epochs")
    trained = len(history.get("epochs") or []) or planned
    if _is_number(trained):
        text = f"{trained} epoch{'s' if trained != 1 else ''}"
        if _is_number(planned) and trained < planned:
            text = f"{trained} of {planned} epochs (stopped early)"
        document = ((metrics.get("overrides") or {}).get("epochs") or {}).get("document")
        parts.append(text + (f" (the document's: {document})" if _is_number(document) else ""))
    for key, values in (metrics.get("overrides") or {}).items():
        if key != "epochs":
            parts.append(f"{key.replace('_', ' ')} {values['used']:g} (the document's: {values['document']:g})")
    return " · ".join(parts)


def write_plots(run_dir, metrics, reports):
    """Draw the run's PNGs into ``run_dir``; returns [(caption, file name)] (empty if matplotlib is missing).
    Every title ends with ``run_tag`` (sample data, subset, epochs)."""
    run_dir = Path(run_dir)
    history = metrics.get("history") or {}
    config = metrics.get("config") or {}
    run, tag = metrics["run"], run_tag(metrics)
    title = f"{run}: {metrics.get('title') or ''}".strip(": ") + f"\n{tag}"
    logged = [it for it, _ in history.get("iteration_loss") or []]
    log_every = (logged[1] - logged[0] if len(logged) > 1 else   # shortened for small runs; the one log
                 logged[0] if logged else config.get("log_every"))  # of a short run is at iteration log_every
    sequence = metrics.get("sequence")
    written = [("Loss curves", plots.plot_loss_curves(history, run_dir / "loss_curves.png", title=title,
                                                      log_every=log_every)),
               ("Accuracy curves", plots.plot_accuracy_curves(history, run_dir / "accuracy_curves.png",
                                                              title=f"{run}: accuracy per epoch\n{tag}",
                                                              chance=None if sequence else
                                                              1 / len(metrics["class_names"])))]
    if sequence:
        written.append(("Attention maps", plots.plot_attention_maps(
            sequence["attention"], run_dir / "attention.png",
            title=f"{run}: every head's attention on one test problem, after training · {tag}")))
    for split, report in reports.items():
        written.append((f"Confusion matrix ({SPLIT_NAMES[split]})", plots.plot_confusion_matrix(
            report["confusion_matrix"], metrics["class_names"], run_dir / f"confusion_{split}.png",
            title=f"{run}: {SPLIT_NAMES[split]} confusion matrix\n{tag}")))
    if metrics.get("first_layer_filters") is not None:
        written.append(("First convolution layer's filters", plots.plot_filters(
            metrics["first_layer_filters"], run_dir / "filters.png", title=f"{run}: first conv layer\n{tag}")))
    torch = metrics.get("torch") or {}
    if torch.get("history"):
        written.append(("Scratch vs torch", plots.plot_scratch_vs_torch(
            history, torch["history"], run_dir / "scratch_vs_torch.png",
            title=f"{run}: scratch vs torch, same initial weights and batches · {tag}")))
    return [(caption, Path(path).name) for caption, path in written]


COURSEWORK = Path(__file__).resolve().parents[1] / "docs" / "coursework.md"


def _coursework_reference(run_dir, run):
    """' (what it asks and reports: docs/coursework.md, section A)', linked where the checkout has it."""
    section = f", section {run[0]}" if run[:1] in "ABCD" and run[1:2] == "-" else ""
    if not COURSEWORK.is_file():                 # installed without the docs: name the page
        return f" (what it asks and reports: the repository's docs/coursework.md{section})"
    try:
        link = Path(os.path.relpath(COURSEWORK, Path(run_dir).resolve())).as_posix()
    except ValueError:                           # another drive on Windows
        link = COURSEWORK.as_uri()
    return f" (what it asks and reports: [docs/coursework.md]({link}){section})"


WHAT_TO_LOOK_FOR = {   # file name prefix -> the one line under each plot in REPORT.md
    "loss_curves": "Both losses should fall; a test loss that turns up while the training loss keeps falling "
                   "is over-fitting. The training loss on the left is the mean over each logging interval, "
                   "while the weights still changed (with dropout, if any): early on it lies above the test "
                   "loss, measured after the interval with the weights of its end.",
    "accuracy_curves": "Accuracy after each epoch against the dotted chance line; a gap that widens between "
                       "train and validation/test is over-fitting.",
    "confusion": "Rows are the true classes: the diagonal is right, a dark cell off it is a pair of classes "
                 "the network mixes up (the % is of the row).",
    "filters": "On one scale: strokes and edges are learned features, flat grey tiles learned little, "
               "speckle means too little training.",
    "attention": "Each row is one position of the sequence: how much of what it reads comes from each "
                 "earlier position (the row sums to 1; nothing after it, the mask is causal). The answer rows "
                 "are labelled with the token they predict: a head that has learned the task puts its weight "
                 "where the input holds what that row must write next.",
    "scratch_vs_torch": "Same initial weights, same batches: the curves lie on top of each other; the lower "
                        "panels say how far apart they are, on a log scale.",
    "gradient_flow": "One line per parameter; the first layers' lines decades below the last ones' are "
                     "vanishing gradients (sigmoid's derivative is at most 1/4 per layer).",
    "weight_histograms": "How each weight matrix spreads out from its initialisation as training goes on.",
    "activation_histograms": "Each activation layer's outputs; piled up at the ends (sigmoid, tanh) or at 0 "
                             "(ReLU) means saturated or dead units.",
}
EXTRA_PLOTS = (("gradient_flow.png", "Gradient flow (per-layer gradient norms)"),
               ("weight_histograms.png", "Weight histograms over training"),
               ("activation_histograms.png", "Activation histograms over training"))


def _what_to_look_for(name):
    return next((line for prefix, line in WHAT_TO_LOOK_FOR.items() if name.startswith(prefix)), "")


def _chance_split(metrics):
    final = metrics.get("final") or {}
    return next((split for split in ("test", "val") if _is_number(final.get(f"{split}_acc"))), None)


def chance_line(metrics, reports=None):
    """The line a run still at (or barely above) chance gets under its headline, else None (always for a
    sequence task, where a whole answer right by chance is a tiny fraction).

    At chance: the accuracy is within three standard errors of 1 / classes (sqrt(p (1 - p) / n) for the
    n images it was measured on); barely above: below twice chance."""
    if metrics.get("sequence"):
        return None
    classes = len(metrics.get("class_names") or [])
    split = _chance_split(metrics)
    if classes < 2 or split is None:
        return None
    accuracy, chance = metrics["final"][f"{split}_acc"], 1 / classes
    reports = _split_reports(metrics) if reports is None else reports
    images = (reports.get(split) or {}).get("support")
    margin = 3 * math.sqrt(chance * (1 - chance) / images) if images else 0.02
    if accuracy <= chance + margin:
        state = "Still at chance"
    elif accuracy < 2 * chance:
        state = "Barely above chance"
    else:
        return None
    return (f"**{state}:** {SPLIT_NAMES[split]} accuracy {100 * accuracy:.1f} %, chance for {classes} classes "
            f"is {100 * chance:.0f} %: {_needs_more(metrics, reports)}")


def _needs_more(metrics, reports):
    """'sigmoid at lr 0.01 needs more epochs or data (this run: 1 epoch on 2000 images; the document's: 15)'."""
    config = metrics.get("config") or {}
    activations = [spec[0] for spec in config.get("layers") or []
                   if spec and spec[0] in ("sigmoid", "tanh", "relu", "gelu", "leaky_relu")]
    lr = config.get("lr")
    what = " ".join(filter(None, [activations[0] if activations else "", f"at lr {lr:g}" if _is_number(lr) else ""]))
    epochs = config.get("epochs")
    document_epochs = ((metrics.get("overrides") or {}).get("epochs") or {}).get("document")
    if document_epochs is None:
        from .registry import RUNS
        document_epochs = getattr(RUNS.get(metrics.get("run")), "epochs", epochs)
    images = (reports.get("train") or {}).get("support")
    this_run = ", ".join(filter(None, [f"{epochs} epoch{'s' if epochs != 1 else ''}" if _is_number(epochs) else "",
                                        f"{images} training images" if images else ""]))
    document = (f"; the document's: {document_epochs} epoch{'s' if document_epochs != 1 else ''} on the full split"
                if _is_number(document_epochs) else "")
    return f"{what or 'this network'} needs more epochs or data (this run: {this_run or 'unknown'}{document})."


def headline(metrics, reports=None):
    """'**test accuracy: ours 86.12 %, torch 86.10 %, document 86.00 %** (ours − document +0.12 pp)'."""
    key = headline_metric(metrics)
    ours, torch = our_figure(metrics, key, reports), _torch_figure(metrics, key)
    theirs = (metrics.get("reported") or {}).get(key)
    label = dict(RESULT_ROWS).get(key, key.replace("_", " "))
    parts = [f"ours {format_value(key, ours)}",
             f"torch {format_value(key, torch)}" if _is_number(torch) else "no torch run",
             f"document {format_value(key, theirs)}" if _is_number(theirs) else "the document reports none"]
    difference = f" (ours − document {format_difference(key, ours, theirs)})" if _is_number(theirs) else ""
    return f"**{label}: {', '.join(parts)}**{difference}"


def _configuration_section(metrics):
    """REPORT.md's last section: where and how the run trained, every setting, our choices."""
    config, versions, torch = metrics.get("config") or {}, metrics.get("versions") or {}, metrics.get("torch") or {}
    out = ["## Configuration", ""]
    torch_time = f" (torch reference: {format_duration(torch.get('wall_time_s'))})" if torch else ""
    version_text = ", ".join(f"{k} {v}" for k, v in versions.items() if v) or DASH
    images_used = f"subset of {metrics['subset']}" if subset_in_effect(metrics) else "all of the split"
    header_rows = [["device", metrics.get("device") or DASH], ["host", metrics.get("host") or DASH],
                   ["wall time", format_duration(metrics.get("wall_time_s")) + torch_time],
                   ["seed", str(metrics.get("seed", DASH))],
                   [f"training {_examples(metrics)}", images_used],
                   ["data", "bundled sample" if metrics.get("used_sample") else "full dataset"],
                   ["versions", version_text]]
    out += [_table(["", ""], header_rows), ""]
    skip = {"reported", "choices", "title", "name", "document"}
    out += [_table(["setting", "value"], [[k, _config_value(k, v)] for k, v in config.items() if k not in skip]), ""]
    choices = metrics.get("choices") or config.get("choices") or []
    out += ["Our choices where the document is silent or vague **[ours]**:", ""]
    out += [f"- [ours] {c}" for c in choices] if choices else ["- none: every setting is the document's own"]
    return out


def _samples_section(sequence):
    """A sequence task's answers to test problems, generated greedily, beside the right ones."""
    if not sequence:
        return []
    rows = [[sample["problem"], sample["output"], "yes" if sample["right"] else "**no**"]
            for sample in sequence["samples"]]
    return ["## Sampled answers", "",
            f"The trained model answers each test problem by generating its answer one token at a time, "
            f"always the most likely next token: {100 * sequence['generated_test_acc']:.2f} % of the test "
            f"problems right (the test accuracy above counts the same thing). The first test problems, "
            f"and some it gets wrong:", "", _table(["problem (right answer)", "the model's answer", "right"], rows),
            ""]


def run_report_markdown(run_dir, metrics, images, plots_skipped=None):
    """The text of REPORT.md for one run (``images``: [(caption, file name)] already written): the
    headline and what makes the run differ from the document's, the plots with what to look for in each,
    the per-class tables, then the notes, configuration and run details."""
    config = metrics.get("config") or {}
    reports = _split_reports(metrics)
    final = metrics.get("final") or {}
    out = [f"# Run `{metrics['run']}`: {metrics.get('title') or ''}".rstrip(": "), ""]
    if metrics["document"] == EXAMPLE_DOCUMENT:
        out.append("An example run, not a coursework replay (see `experiments/examples.py`).")
    else:
        out.append(f"Replays **{metrics['document']}**{_coursework_reference(run_dir, metrics['run'])}.")
    out.append("")
    out += [headline(metrics, reports), ""]
    at_chance = chance_line(metrics, reports)
    if at_chance:
        out += [at_chance, ""]
    if metrics.get("used_sample"):
        out += ["> **WARNING: this run used the small bundled sample, not the full dataset.** Its figures say "
                "nothing about the document's; run again with the full data for a real comparison.", ""]
    if subset_in_effect(metrics):
        out += [f"> **Note: trained on a subset of {metrics['subset']} {_examples(metrics)}**, not the full "
                "training split; "
                "the figures are a quick look, not a replay of the document's.", ""]
    for key, values in (metrics.get("overrides") or {}).items():
        out += [f"> **Note: {key} {values['used']:g} from the command line instead of the run's "
                f"{values['document']:g}**: a variation, not the document's setting.", ""]

    out += ["## Results", "", results_table(metrics, reports), ""]
    if final.get("epoch_used") is not None:
        how = config.get("select_best_by")
        out.append(f"Figures are from epoch {final['epoch_used']}"
                   + (f", the best by {how.replace('_', ' ')}." if how else "."))
    out.append("Accuracies in %, differences in percentage points (pp); losses are mean cross-entropy"
               + (" per answer token; an answer counts as right only when every one of its tokens is. "
                  if metrics.get("sequence") else ". ") +
               "A dash means the figure does not exist for this run (no validation split, no torch run, "
               "or the document does not report it).")
    out.append("")

    out += _samples_section(metrics.get("sequence"))
    out += ["## Plots", ""]
    if plots_skipped:
        out += [f"Plots were skipped: {plots_skipped}", ""]
    extra = [(caption, name) for name, caption in EXTRA_PLOTS if (Path(run_dir) / name).is_file()]
    for caption, name in list(images) + extra:
        out += [f"### {caption}", "", _what_to_look_for(name), "", f"![{caption}]({name})", ""]

    for split, report in reports.items():
        out += [f"## Per-class precision, recall and F1 ({SPLIT_NAMES[split]})", "",
                f"From the final model's predictions on the {report['support']} {SPLIT_NAMES[split]} images.", ""]
        final_acc = final.get(f"{split}_acc")
        if _is_number(final_acc) and abs(final_acc - report["accuracy"]) > 5e-4:
            out += [f"> Note: the accuracy of these predictions ({100 * report['accuracy']:.2f} %) differs from "
                    f"the {SPLIT_NAMES[split]} accuracy in the results table ({100 * final_acc:.2f} %).", ""]
        out += [per_class_table(report), ""]

    notes = metrics.get("notes") or []
    if notes:
        out += ["## Notes from the run", ""] + [f"- {note}" for note in notes] + [""]

    out += _configuration_section(metrics)
    return "\n".join(out).rstrip() + "\n"


REPORT_PLOTS = ("loss_curves.png", "accuracy_curves.png", "confusion_train.png", "confusion_val.png",
                "confusion_test.png", "filters.png", "attention.png", "scratch_vs_torch.png")   # what write_plots draws


def write_run_report(run_dir):
    """Read ``run_dir/metrics.json``; write ``REPORT.md`` and its PNGs there; return the REPORT.md path.

    A PNG of ``REPORT_PLOTS`` that an earlier report drew and this one does not (the torch comparison
    of a run now without torch, every plot where matplotlib is now missing) is removed, so that the
    folder holds no picture of another run."""
    run_dir = Path(run_dir)
    metrics = load_metrics(run_dir)
    reports = _split_reports(metrics)
    skipped = plots.missing_reason()
    images = [] if skipped else write_plots(run_dir, metrics, reports)
    for name in set(REPORT_PLOTS) - {name for _, name in images}:
        if (run_dir / name).is_file():
            (run_dir / name).unlink()
    return write_text(run_dir / "REPORT.md", run_report_markdown(run_dir, metrics, images, skipped))


# ---- across runs ----------------------------------------------------------------------------------------
def headline_metric(metrics):
    """The figure a run is compared on: the document's test accuracy, else its validation, else train."""
    reported = metrics.get("reported") or {}
    for key in HEADLINE_ORDER:
        if _is_number(reported.get(key)):
            return key
    return "test_acc"


def subset_in_effect(metrics):
    """True when --subset cut the data; a --subset at least as large as every split changes nothing.
    (metrics.json files from before ``subset_applied`` existed count any --subset.)"""
    return bool(metrics.get("subset")) and metrics.get("subset_applied", True) is not False


def _flags(metrics):
    """What makes a run not the document's replay: sample data, a subset, command-line overrides."""
    flags = []
    if metrics.get("used_sample"):
        flags.append("⚠ bundled sample data")
    if subset_in_effect(metrics):
        flags.append(f"⚠ subset of {metrics['subset']} {_examples(metrics)}")
    for key, values in (metrics.get("overrides") or {}).items():
        flags.append(f"⚠ {key} {values['used']:g} instead of {values['document']:g}")
    return flags


def summary_rows(runs, out_dir):
    """{document: [row, ...]} for ``runs`` ([(run_dir, metrics)]), documents and runs in the order of
    `tinygrad-lite list` (sections A-D, each in its document's table order)."""
    names = [m["run"] for _, m in runs]
    by_document = {}
    for run_dir, metrics in sorted(runs, key=lambda r: (_run_order(r[1]["run"]), str(r[0]))):
        key = headline_metric(metrics)
        ours, torch = our_figure(metrics, key), _torch_figure(metrics, key)
        theirs = (metrics.get("reported") or {}).get(key)
        run = f"`{metrics['run']}`"
        if names.count(metrics["run"]) > 1:
            run += f" ({Path(run_dir).relative_to(out_dir)})"
        by_document.setdefault(metrics["document"], []).append(
            [run, key.replace("_acc", " acc").replace("val", "validation"), format_value(key, ours),
             format_value(key, torch), format_value(key, theirs), format_difference(key, ours, theirs),
             metrics.get("device") or DASH, format_duration(metrics.get("wall_time_s")),
             "; ".join(_flags(metrics)), metrics["run"]])
    return by_document          # filled in list order, so the documents come in section order too


SUMMARY_HEADER = ["run", "compared on", "ours (scratch)", "torch", "document", "ours − document", "device",
                  "wall time", "flags"]


def _tables(out_dir, notes=None):
    runs, skipped = find_runs(out_dir)
    out_dir = Path(out_dir)
    lines = []
    if not runs:
        lines += [f"No finished runs under `{out_dir}` (no metrics.json found).", ""]
    for document, rows in summary_rows(runs, out_dir).items():
        header = SUMMARY_HEADER + (["why"] if notes is not None else [])
        body = [row[:-1] + ([notes.get(row[-1], "")] if notes is not None else []) for row in rows]
        lines += [f"## {document}", "", _table(header, body), ""]
    if skipped:
        lines += ["Skipped (not a readable finished run):", ""]
        lines += [f"- `{path}`: {why}" for path, why in skipped]
        lines.append("")
    lines.append("Accuracies in %; differences in percentage points (pp). \"compared on\" is the document's "
                 "headline figure for the run (its test accuracy where it reports one). Flagged runs trained "
                 "on less than the full data, or with settings changed on the command line, and are not "
                 "comparable with the document.")
    return "\n".join(lines).rstrip() + "\n"


def summarise(out_dir):
    """One markdown summary table per document over every finished run under ``out_dir``."""
    return f"# Summary of the runs under `{Path(out_dir)}`\n\n" + _tables(out_dir)


def write_summary(out_dir):
    """Write ``summarise(out_dir)`` to ``out_dir/SUMMARY.md`` atomically and return the text."""
    text = summarise(out_dir)
    write_text(Path(out_dir) / "SUMMARY.md", text)
    return text


def results_markdown(out_dir, notes=None):
    """The summary tables for ``experiments/RESULTS.md``, with a "why" column: ``notes`` maps a run name
    to what was found when investigating it (left empty for runs without a finding)."""
    intro = ("# Results\n\nThe coursework runs replayed with the scratch framework, beside the torch reference "
             "on the same split and the document's own figure. Per-run details (configuration, [ours] "
             "choices, per-class tables, plots) are in the REPORT.md that `tinygrad-lite run NAME` writes "
             "into the run's output folder.\n\n")
    return intro + _tables(out_dir, notes=dict(notes or {}))
