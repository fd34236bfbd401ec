"""One replay from start to finish: data, training, the torch column, ``metrics.json``, ``REPORT.md``.

    run_dir = run(config, RunOptions(device="cpu", subset=300, torch=False, overrides=Overrides(epochs=1)))

The command line's ``--epochs``, ``--lr`` and ``--batch-size`` are an ``Overrides``, applied once, here
(``resolve``): to the run and to the run whose features it trains on (``features_from``). Below the
runner only the resolved ``RunConfig`` travels: ``train``, the adapters, the optimiser rows.

Each run writes to ``<out>/<run name>/``: ``metrics.json`` (schema below), then ``REPORT.md`` and the
PNGs (``experiments.report.write_run_report``), beside the checkpoints ``train`` keeps there.

metrics.json: {"run", "document", "title" (followed by what --epochs/--lr/--batch-size changed),
"config", "choices", "device", "host" (the machine that trained it), "versions", "seed", "subset" (as
asked), "subset_applied" (whether it cut any split), "used_sample", "overrides": {field: {"document", "used"}},
"wall_time_s", "history": {"iteration_loss": [[it, loss], ...], "epochs":
[{"epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"}, ...]},
"final": {"epoch_used", "train_loss", ..., "test_acc"}, "predictions": {split: {"y_true", "y_pred"}},
"class_names", "first_layer_filters", "torch", "reported", "notes", "sequence" (a sequence task's
answers and attention maps: ``experiments.gpt.showcase``, else null)}. Accuracies are fractions.
"""
import contextlib
import platform
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

import nn
import tinygrad_lite as tl
from tinygrad_lite.files import read_json, write_json

from . import checkpoint, gpt
from . import data as run_data
from .checkpoint import fingerprint, load_trained
from .config import Overrides, RunConfig
from .registry import RUNS
from .run_folder import TrainingInterrupted, claim
from .train import train


@dataclass
class RunOptions:
    """How to train a run; what is trained is its RunConfig, which ``overrides`` changes (once, in ``run``)."""
    device: str = "cpu"
    overrides: Overrides = Overrides()    # --epochs, --lr, --batch-size: for every run (and its backbone)
    subset: int = None
    seed: int = 0
    out: str = "runs"
    torch: bool = True        # train the torch reference too (the report's torch column)
    resume: bool = False
    sync_every: int = 50
    grad_plots: bool = False
    progress: bool = True
    report: bool = True       # write REPORT.md and the PNGs (experiments.report)
    root: str = None          # data folder, the only place looked at (else TINYGRAD_LITE_DATA, the cache,
                              # the mirrors, the sample)
    sample: bool = False      # train on the bundled sample, on purpose
    step_hook: object = None  # passed to train (tests)


def versions():
    from importlib import metadata
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = None
    return {"python": platform.python_version(), "numpy": np.__version__,
            "tinygrad_lite": tl.__version__, "torch": torch_version}


def first_layer_filters(model):
    """The first Conv2d's weights (C_out, C_in, kh, kw) as nested lists, or None for an MLP."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.weight.numpy().astype(float).tolist()
    return None




@dataclass(frozen=True)
class ResolvedRun:
    """A run as it is trained: its RunConfig with the overrides applied, what they changed
    ({field: {"document", "used"}}, metrics.json's "overrides"), and its backbone's, resolved alike."""
    config: RunConfig
    changed: dict
    backbone: Optional["ResolvedRun"] = None


def resolve(config, overrides):
    """The one place where the command line's overrides meet the runs: ``config`` and the run whose
    features it trains on, each resolved once."""
    resolved, changed = overrides.apply(config)
    backbone = resolve(RUNS[config.features_from], overrides) if config.features_from else None
    return ResolvedRun(resolved, changed, backbone)


def title_as_run(title, changed):
    """The run's title, followed by what this run changed, so that a title saying "10 epochs" does
    not stand for a run of 1: 'MLP ..., 10 epochs (run with epochs 1 instead of 10)'."""
    if not changed:
        return title
    changes = ", ".join(f"{key} {v['used']:g} instead of {v['document']:g}" for key, v in changed.items())
    return f"{title} (run with {changes})"


def already_finished(config, options):
    """True when ``--resume`` finds this run finished with the same settings (metrics.json written)."""
    run_dir = Path(options.out) / config.name
    if not (run_dir / "metrics.json").is_file():
        return False
    used_sample = run_data.used_sample(config, options.root, options.sample)
    return checkpoint.finished(run_dir, fingerprint(config, options.seed, options.subset, used_sample))


def backbone_for(plan, options):
    """(trained backbone model, its layer specs) for a ``features_from`` run; trains it first if needed."""
    config, backbone = plan.config, plan.backbone.config
    backbone_dir = Path(options.out) / backbone.name
    backbone_data = run_data.prepare(backbone, options.seed, options.subset, options.root,
                                     sample=options.sample)
    expected = fingerprint(backbone, options.seed, options.subset, backbone_data.used_sample)
    model = load_trained(backbone, backbone_data.input_shape, backbone_dir, expected, options.device)
    if model is None:
        print(f"{config.name} trains on the features of {backbone.name}, which has not been trained with "
              f"these settings in {options.out}: training it first", file=sys.stderr)
        run_resolved(plan.backbone, options)
        model = load_trained(backbone, backbone_data.input_shape, backbone_dir, expected, options.device)
    return model, backbone.layers


def torch_column(config, data, options):
    """The torch reference's results on the same data, or None (saying why) when it cannot run."""
    from .torch_reference import import_torch, train_torch
    try:
        import_torch()
    except ImportError as exc:
        print(f"{config.name}: no torch column ({str(exc).splitlines()[0]})", file=sys.stderr)
        return None
    print(f"{config.name}: training the torch reference on the same split", file=sys.stderr)
    return train_torch(config, data, options.seed, options.device)


def torch_column_or_stop(config, data, options, run_dir, kept="kept"):
    """``torch_column``, turning Ctrl-C (or SIGTERM) during it into a ``TrainingInterrupted`` that says
    the scratch run is complete and ``kept`` in ``run_dir`` (the caller keeps its metrics.json), so
    that ``--resume`` then adds only the torch column."""
    try:
        with _sigterm_as_ctrl_c():
            return torch_column(config, data, options)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            f"{config.name}: stopped while training the torch reference; the scratch run is complete and "
            f"{kept} in {run_dir} (model.npz, metrics.json{', REPORT.md' if options.report else ''}; "
            f"no torch column yet)") from None


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM raises KeyboardInterrupt while the block runs, as Ctrl-C does (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_torch_column(plan, options, run_dir, metrics):
    """``--resume`` without ``--no-torch`` on a run finished with it: train only the torch reference
    (same split, batch order and initial weights) and add its column to metrics.json and REPORT.md."""
    config = plan.config
    print(f"{config.name}: already finished in {run_dir}, without the torch column; adding it")
    clock = Stopwatch()
    with clock.part("data"):
        backbone = backbone_for(plan, options) if config.features_from else None
        data = run_data.prepare(config, options.seed, options.subset, options.root, backbone, options.sample)
    with clock.part("torch"):
        torch_block = torch_column_or_stop(config, data, options, run_dir, kept="unchanged")
    if torch_block is not None:
        write_json(run_dir / "metrics.json", {**metrics, "torch": torch_block})
        if options.report:
            with clock.part("report"):
                write_report(run_dir, config.name)
    print(f"{config.name}: torch column added, {clock.summary()} -> {run_dir}")
    return run_dir


class Stopwatch:
    """The whole run's time and its named parts: 'done in 36 s: data 1.2 s, ours 5.0 s, torch 22 s, report 9 s'.

    ``with clock.part("torch"): ...`` adds the block's time to that part; the total runs from the
    stopwatch's start, so it also holds what no part names (checks, writing metrics.json). The parts are
    said in the order ``ORDER``, whatever order they were timed in."""
    ORDER = ("data", "ours", "torch", "report")

    def __init__(self):
        self.start, self.parts = time.perf_counter(), dict.fromkeys(self.ORDER, 0.0)

    @contextlib.contextmanager
    def part(self, name):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - began

    def summary(self):
        from .report import format_duration
        parts = ", ".join(f"{name} {format_duration(seconds)}" for name, seconds in self.parts.items() if seconds)
        return f"done in {format_duration(time.perf_counter() - self.start)}" + (f": {parts}" if parts else "")


CUDA_NOTE = ("trained on CUDA: the dropout masks come from cuRAND (not NumPy's generator), cuBLAS and "
             "CuPy sum in other orders than NumPy, and scatter-adds are atomic, so these figures match "
             "the CPU replay's only statistically, not bit for bit (docs/gpu.md)")


def device_notes(device):
    """What the run's notes say about where it trained (the CPU replays are the committed figures)."""
    return [CUDA_NOTE] if device == "cuda" else []


def run(config, options):
    """Train ``config`` (changed by ``options.overrides``) with ``options``; write metrics.json and
    REPORT.md; return the run folder.

    The run folder is claimed first (``run_folder.claim``: writable, its files are files, and no
    other run in it), and held until the run ends.
    """
    return run_resolved(resolve(config, options.overrides), options)


def run_resolved(plan, options):
    """``run`` of a ``ResolvedRun``: the overrides are already in ``plan.config``."""
    device = tl.backend.resolve_device(options.device)
    run_dir = Path(options.out) / plan.config.name
    with claim(run_dir):
        return _run_claimed(plan, options, device, run_dir)


def say_what_is_replaced(config, run_dir):
    """A run into a folder holding an earlier finished run says it replaces it (and how to keep it)."""
    try:
        earlier = read_json(run_dir / "metrics.json")
        test_acc = (earlier.get("final") or {}).get("test_acc")
    except (OSError, ValueError, AttributeError):      # no earlier run, or one not worth quoting
        return
    figure = f" (test accuracy {100 * test_acc:.2f} %)" if isinstance(test_acc, (int, float)) else ""
    print(f"{config.name}: replacing the earlier finished run in {run_dir}{figure}; to keep it, stop now "
          f"and pass another --out, or --resume to continue it instead", file=sys.stderr)


def _run_claimed(plan, options, device, run_dir):
    config, clock = plan.config, Stopwatch()
    if options.resume and already_finished(config, options):
        metrics = read_json(run_dir / "metrics.json")
        if options.torch and metrics.get("torch") is None:
            return add_torch_column(plan, options, run_dir, metrics)
        print(f"{config.name}: already finished with these settings in {run_dir}; nothing to resume")
        return run_dir
    if not options.resume:
        say_what_is_replaced(config, run_dir)
    with clock.part("data"):
        backbone = backbone_for(plan, options) if config.features_from else None
        data = run_data.prepare(config, options.seed, options.subset, options.root, backbone, options.sample)
    if data.used_sample:
        print(f"{config.name}: trained on the bundled SAMPLE, not the full {config.dataset}", file=sys.stderr)
    run_dir.mkdir(parents=True, exist_ok=True)
    recorder = None
    if options.grad_plots:
        from .gradient_flow import GradientFlowRecorder
        recorder = GradientFlowRecorder()
    with clock.part("ours"):
        result = train(config, data, device=device, seed=options.seed, run_dir=run_dir, resume=options.resume,
                       sync_every=options.sync_every, progress=options.progress, subset=options.subset,
                       grad_recorder=recorder, step_hook=options.step_hook)
    metrics = run_metrics(config, options, plan.changed, device, data, result)
    written = []
    if recorder is not None and recorder.records:
        from .report import run_tag
        with clock.part("report"):
            written = recorder.save(run_dir, tag=f"{config.name}: {run_tag(metrics)}")
    if not options.resume:
        remove_earlier_gradient_plots(config, run_dir, written)
    if options.torch:
        try:
            with clock.part("torch"):
                metrics["torch"] = torch_column_or_stop(config, data, options, run_dir)
        except TrainingInterrupted:
            write_json(run_dir / "metrics.json", metrics)        # the scratch run is complete: keep it
            if options.report:
                write_report(run_dir, config.name)
            raise
    write_json(run_dir / "metrics.json", metrics)
    if options.report:
        with clock.part("report"):
            write_report(run_dir, config.name)
    final = result.final
    print(f"{config.name}: {clock.summary()}; epoch {final['epoch_used']}: train acc "
          f"{final['train_acc']:.4f}, val acc {final['val_acc']:.4f}, test acc {final['test_acc']:.4f} "
          f"-> {run_dir}")
    for note in device_notes(device):
        print(f"{config.name}: {note}")
    return run_dir


def run_metrics(config, options, changed, device, data, result):
    """metrics.json's content for a finished scratch run (the schema in the module docstring), without
    the torch column yet."""
    return {
        "run": config.name, "document": config.document, "title": title_as_run(config.title, changed),
        "config": config.to_dict(), "choices": list(config.choices), "device": device,
        "host": socket.gethostname(), "versions": versions(), "seed": options.seed, "subset": options.subset,
        "subset_applied": data.subset_applied,
        "used_sample": data.used_sample, "overrides": changed, "wall_time_s": result.wall_time_s,
        "history": result.history, "final": result.final, "predictions": result.predictions,
        "class_names": list(data.class_names), "first_layer_filters": first_layer_filters(result.model),
        "torch": None, "reported": dict(config.reported), "notes": data.notes + result.notes
        + device_notes(device),
        "sequence": None if data.task is None else gpt.showcase(result.model, data),
    }


def write_report(run_dir, name):
    """REPORT.md and its PNGs; says in one line when the plots are skipped (and why), and which PNGs
    of an earlier run it removed because this run does not draw them (``write_run_report``)."""
    from . import plots
    from .report import write_run_report
    before = {p.name for p in Path(run_dir).glob("*.png")}
    path = write_run_report(run_dir)
    reason = plots.missing_reason()
    if reason:
        print(f"{name}: no plots drawn: {reason}", file=sys.stderr)
    say_removed(name, before - {p.name for p in Path(run_dir).glob("*.png")})
    return path


def remove_earlier_gradient_plots(config, run_dir, written):
    """A fresh run without --grad-plots (or drawing fewer of them) removes an earlier run's gradient-flow
    files, so that the report shows no pictures of another run's training."""
    from .gradient_flow import FILES
    kept = {Path(p).name for p in written}
    removed = []
    for name in FILES:
        if name not in kept and (run_dir / name).is_file():
            (run_dir / name).unlink()
            removed.append(name)
    say_removed(config.name, removed)


def say_removed(name, removed):
    if removed:
        print(f"{name}: removed the earlier run's {', '.join(sorted(removed))} (this run does not write "
              f"{'it' if len(removed) == 1 else 'them'})", file=sys.stderr)
