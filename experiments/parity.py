"""Scratch vs PyTorch, step by step: ``tinygrad-lite parity NAME``.

Both frameworks' adapters (``experiments.train.ScratchAdapter``, ``experiments.torch_reference.TorchAdapter``)
are driven in lockstep: the same starting weights (the scratch init, copied into torch), the same
batches (the seeded DataLoader's order), the same dropout masks (torch replays the scratch
generator's) and the same optimiser steps. After every step we record both losses; after every
epoch (and at the end) both accuracies on the validation and test splits; at the end, the largest
difference between any two corresponding parameters. In float64 the losses agree to ~1e-12
relative: any visible gap is a bug in the hand-written backward passes.

    compare(config, data, steps=100, dtype="float64")      -> dict (also saved as parity.json)
    tinygrad-lite parity A-relu --steps 200 --subset 2000   -> a table, parity.json and parity.png
"""
import copy
import sys
import time
from pathlib import Path

import numpy as np

import tinygrad_lite as tl
from tinygrad_lite.files import write_json

from . import data as run_data
from .optimizers import per_step
from .registry import RUNS, resolve
from .torch_reference import TorchAdapter, from_torch_state, torch_dtype
from .train import ScratchAdapter, scratch_model

DEFAULT_STEPS = 100
TABLE_ROWS = 12
MASK_SEED_OFFSET = 7919      # the dropout masks' own stream: seed + 7919


def twins(config, data, seed=0, dtype="float64"):
    """``(scratch, torch)`` adapters with identical weights in ``dtype``, and dropout masks that torch
    replays from the scratch generator (seeded with ``seed + MASK_SEED_OFFSET``)."""
    scratch = ScratchAdapter(config, data, "cpu", seed, dtype)
    tl.manual_seed(seed + MASK_SEED_OFFSET)
    masks = copy.deepcopy(tl.backend.rng("cpu"))
    return scratch, TorchAdapter(config, data, scratch.state_dict(), seed, "cpu", dtype, masks)


def parameter_differences(scratch_model, torch_model):
    """name -> max |scratch - torch| over that parameter (float64 arithmetic)."""
    theirs = from_torch_state(torch_model.state_dict())
    return {name: float(np.max(np.abs(value.astype(np.float64) - theirs[name].astype(np.float64))))
            for name, value in scratch_model.state_dict().items()}


def relative_difference(a, b):
    """|a - b| / max(|a|, |b|), and 0 when both are 0."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def _accuracies(adapters, epoch, splits):
    row = {"epoch": epoch}
    for name in splits:
        for side, adapter in adapters.items():
            row[f"{side}_{name}_loss"], row[f"{side}_{name}_acc"], _ = adapter.evaluate(*adapter.splits[name])
    return row


def compare(config, data, steps=DEFAULT_STEPS, epochs=None, dtype="float64", seed=0, evaluate=True):
    """Train the scratch model and its torch twin side by side on ``data`` (an ``experiments.data.RunData``).

    ``steps``: optimiser steps (crossing epochs when a training split is shorter); ``epochs``: train
    whole epochs instead (and ``steps`` is ignored). The schedule steps as in training (once per epoch,
    or after every step for a ``per_step`` row of ``optimizers.SCHEDULES``).
    Returns a dict: per-step ``scratch_loss``/``torch_loss``/``rel_diff``, per-epoch
    accuracies (``epochs``), the ``final`` accuracies, ``param_diff`` (max |difference| per parameter),
    ``max_param_diff``, ``max_rel_loss_diff`` and ``initial_output_diff`` (the logits of the first
    batch before any step); and ``models``, the trained (scratch, torch) pair, which ``save`` leaves out
    (everything else is JSON-able).
    """
    name, count = ("steps", steps) if epochs is None else ("epochs", epochs)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"{name} must be a positive int, got {count!r}")
    dtype = np.dtype(dtype).name
    torch_dtype(dtype)                   # refuses anything but a float dtype, naming it
    start = time.perf_counter()
    adapters = dict(zip(("scratch", "torch"), twins(config, data, seed, dtype)))
    eval_splits = [name for name, x, _ in data.splits()[1:] if evaluate and len(x)]
    n_batches = adapters["scratch"].n_batches
    total = epochs * n_batches if epochs is not None else steps
    losses, epoch_rows, initial_output_diff = {"scratch": [], "torch": []}, [], None
    step, epoch, per_iteration = 0, 0, per_step(config)
    while step < total:
        for batch, pair in enumerate(zip(*(adapter.batches(epoch) for adapter in adapters.values()))):  # noqa: B007  (batch: read after the loop)
            step += 1
            results = {side: adapter.step(data, step) for (side, adapter), data in zip(adapters.items(), pair)}
            for adapter in adapters.values() if per_iteration else ():
                adapter.schedule_step()
            if initial_output_diff is None:
                initial_output_diff = float(np.max(np.abs(tl.backend.as_numpy(results["scratch"].logits)
                                                          - results["torch"].logits.numpy())))
            losses["scratch"].append(float(tl.backend.as_numpy(results["scratch"].loss)))
            losses["torch"].append(float(results["torch"].loss))
            if step >= total:
                break
        if batch + 1 < n_batches:               # stopped within the epoch
            break
        if evaluate:
            epoch_rows.append(_accuracies(adapters, epoch + 1, eval_splits))
        for adapter in adapters.values() if not per_iteration else ():
            adapter.schedule_step()
        epoch += 1
    scratch, twin = adapters["scratch"].model, adapters["torch"].model
    param_diff = parameter_differences(scratch, twin)
    rel = [relative_difference(a, b) for a, b in zip(losses["scratch"], losses["torch"])]
    return {
        "run": config.name, "dtype": dtype, "seed": seed, "steps": step, "epochs_completed": epoch,
        "batch_size": config.batch_size, "optimizer": config.optimizer, "lr": config.lr, "l2": config.l2,
        "scratch_loss": losses["scratch"], "torch_loss": losses["torch"], "rel_diff": rel,
        "max_rel_loss_diff": max(rel) if rel else 0.0, "initial_output_diff": initial_output_diff,
        "epochs": epoch_rows, "final": _accuracies(adapters, epoch, eval_splits) if evaluate else {},
        "param_diff": param_diff, "max_param_diff": max(param_diff.values()) if param_diff else 0.0,
        "wall_time_s": time.perf_counter() - start,
        "models": (scratch, twin),       # for callers that look further; dropped before saving
    }


# ---- output --------------------------------------------------------------------------------------

def format_table(result, rows=TABLE_ROWS):
    """The short table: a spread of steps with both losses and their relative difference."""
    n = len(result["scratch_loss"])
    picks = sorted(set(np.linspace(0, n - 1, min(rows, n)).round().astype(int).tolist())) if n else []
    lines = [f"{result['run']}: scratch vs torch, {result['dtype']}, {n} steps "
             f"(batch {result['batch_size']}, {result['optimizer']} lr {result['lr']:g}"
             + (f", L2 {result['l2']:g}" if result["l2"] else "") + ")",
             f"{'step':>6}  {'scratch loss':>18}  {'torch loss':>18}  {'rel diff':>9}"]
    for i in picks:
        lines.append(f"{i + 1:>6}  {result['scratch_loss'][i]:>18.12f}  {result['torch_loss'][i]:>18.12f}  "
                     f"{result['rel_diff'][i]:>9.2e}")
    lines.append(f"largest relative loss difference over all steps: {result['max_rel_loss_diff']:.2e}")
    lines.append(f"largest parameter difference after training:     {result['max_param_diff']:.2e}")
    for row in result["epochs"] + ([dict(result["final"], epoch="final")] if result["final"] else []):
        parts = [f"{split} acc scratch {row[f'scratch_{split}_acc']:.4f} torch {row[f'torch_{split}_acc']:.4f}"
                 for split in ("val", "test") if f"scratch_{split}_acc" in row]
        if parts:
            lines.append(f"epoch {row['epoch']}: " + "; ".join(parts))
    return "\n".join(lines)




def plot_losses(result, path):
    """Both loss curves (and, below, their relative difference on a log axis) as a PNG, atomically."""
    from .plots import new_figure, save_png
    figure = new_figure(9, 6)
    loss_axes, diff_axes = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    steps = np.arange(1, len(result["scratch_loss"]) + 1)
    loss_axes.plot(steps, result["scratch_loss"], "-", label="scratch (tinygrad_lite)")
    loss_axes.plot(steps, result["torch_loss"], "--", label="torch")
    loss_axes.set(title=f"{result['run']}: training loss per step ({result['dtype']})", ylabel="loss")
    loss_axes.legend()
    rel = np.asarray(result["rel_diff"], dtype=float)
    shown = rel > 0
    if shown.any():
        diff_axes.semilogy(steps[shown], rel[shown], ".", markersize=3)
    diff_axes.set(xlabel="step", ylabel="relative difference", yscale="log",
                  title="|scratch - torch| / |torch| (exact agreement not shown)")
    return save_png(figure, path)


def save(result, out_dir, plot=True):
    """parity.json (and parity.png when matplotlib is installed) in ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {k: v for k, v in result.items() if k != "models"}
    paths = [write_json(out_dir / "parity.json", payload)]
    if plot:
        try:
            import matplotlib  # noqa: F401  (a probe: is it installed?)
        except ImportError:
            print("parity.png not written: matplotlib is not installed (pip install matplotlib)",
                  file=sys.stderr)
        else:
            paths.append(plot_losses(result, out_dir / "parity.png"))
    return paths


# ---- command line ----------------------------------------------------------------------------

def run(args):
    """``tinygrad-lite parity NAME`` (options: ``experiments.cli``): compare, print the table, save
    parity.json and parity.png. A run on a backbone's features gets them from the untrained backbone."""
    if args.name not in RUNS:
        resolve([args.name])            # an unknown name: UnknownRunError with the closest names
        raise ValueError(f"parity compares one run, and {args.name!r} is a group; name one of its runs")
    config = RUNS[args.name]
    backbone = None
    if config.features_from:
        backbone_config = RUNS[config.features_from]
        backbone = scratch_model(backbone_config, (1, 28, 28), args.seed), backbone_config.layers
        print(f"{config.name} trains on {config.features_from}'s features; parity checks the MLP's "
              f"training, so the features come from that backbone at its initial weights (untrained)")
    data = run_data.prepare(config, args.seed, args.subset, args.data, backbone)
    result = compare(config, data, steps=args.steps, epochs=args.epochs, dtype=args.dtype, seed=args.seed)
    print(format_table(result))
    paths = save(result, Path(args.out) / config.name, plot=not args.no_plot)
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
