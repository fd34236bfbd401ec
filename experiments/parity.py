"""Scratch vs PyTorch, step by step: ``tinygrad-lite parity NAME``.

Both models start from the same weights (the scratch init, copied into torch), see the same batches
(the seeded DataLoader's order) and the same dropout masks (drawn once with NumPy and handed to both),
and take the same optimiser steps. After every step we record both losses; after every epoch (and at
the end) both accuracies on the validation and test splits; at the end, the largest difference
between any two corresponding parameters. In float64 the losses agree to ~1e-12 relative: any
visible gap is a bug in the hand-written backward passes.

    compare(config, data, steps=100, dtype="float64")      -> dict (also saved as parity.json)
    tinygrad-lite parity A-relu --steps 200 --subset 2000   -> a table, parity.json and parity.png
"""
import sys
import time
from pathlib import Path

import numpy as np

from tinygrad_lite.files import write_json

from .cli import int_at_least

DEFAULT_STEPS = 100
TABLE_ROWS = 12


# ---- one model pair ------------------------------------------------------------------------------

def _scratch_masked_dropout_class():
    import nn

    class NumpyMaskDropout(nn.Module):
        """Scratch dropout whose keep-mask is drawn from a NumPy generator and remembered in
        ``last_mask``, so the torch twin can apply the very same mask."""

        def __init__(self, p, rng):
            super().__init__()
            self.p, self.rng, self.last_mask = float(p), rng, None

        def forward(self, x):
            if not self.training or self.p == 0.0:
                self.last_mask = None
                return x
            self.last_mask = self.rng.random(x.shape) >= self.p
            return nn.functional.dropout(x, self.p, training=True, mask=self.last_mask)

        def extra_repr(self):
            return f"p={self.p} (NumPy masks, shared with torch)"

    return NumpyMaskDropout


def twin_models(layers, input_shape, init="torch_default", seed=0, dtype="float64", mask_seed=None):
    """``(scratch_model, torch_model, dropout_pairs)`` with identical weights in ``dtype``.

    The scratch model is drawn with ``tl.manual_seed(seed)`` and ``init`` (as the trainer does), cast to
    ``dtype`` and copied into the torch twin. Every dropout layer becomes a pair (scratch layer that
    draws a NumPy mask, torch layer that is handed it): call ``share_masks(dropout_pairs)`` between the
    scratch forward and the torch forward.
    """
    import tinygrad_lite as tl
    from .models import build
    from .torch_reference import build_torch, copy_weights
    tl.manual_seed(seed)
    scratch = build(layers, input_shape, init).astype(dtype)
    twin = build_torch(layers, input_shape, dtype=dtype, masked_dropout=True)
    copy_weights(scratch, twin)
    rng = np.random.default_rng(seed + 7919 if mask_seed is None else mask_seed)
    masked = _scratch_masked_dropout_class()
    pairs = []
    for index, spec in enumerate(layers):
        if spec[0] == "dropout":
            layer = masked(spec[1], rng)
            setattr(scratch, str(index), layer)
            pairs.append((layer, twin[index]))
    return scratch, twin, pairs


def share_masks(dropout_pairs):
    """Give each torch dropout layer the mask its scratch twin drew in the last forward pass."""
    for scratch_layer, torch_layer in dropout_pairs:
        torch_layer.mask = scratch_layer.last_mask


def parameter_differences(scratch_model, torch_model):
    """name -> max |scratch - torch| over that parameter (float64 arithmetic)."""
    from .torch_reference import from_torch_state
    theirs = from_torch_state(torch_model.state_dict())
    return {name: float(np.max(np.abs(value.astype(np.float64) - theirs[name].astype(np.float64))))
            for name, value in scratch_model.state_dict().items()}


def relative_difference(a, b):
    """|a - b| / max(|a|, |b|), and 0 when both are 0."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


# ---- the comparison ------------------------------------------------------------------------------

def compare(config, data, steps=DEFAULT_STEPS, epochs=None, dtype="float64", seed=0, evaluate=True):
    """Train the scratch model and its torch twin side by side on ``data`` (an ``experiments.data.RunData``).

    ``steps``: optimiser steps (crossing epochs when a training split is shorter); ``epochs``: train
    whole epochs instead (and ``steps`` is ignored). The schedule steps once per epoch, as in training.
    Returns a dict: per-step ``scratch_loss``/``torch_loss``/``rel_diff``, per-epoch
    accuracies (``epochs``), the ``final`` accuracies, ``param_diff`` (max |difference| per parameter),
    ``max_param_diff``, ``max_rel_loss_diff`` and ``initial_output_diff`` (the logits of the first
    batch before any step); and ``models``, the trained (scratch, torch) pair, which ``save`` leaves out
    (everything else is JSON-able).
    """
    import nn
    import tinygrad_lite as tl
    from tinygrad_lite.dataloader import DataLoader
    from .torch_reference import (evaluate_torch, import_torch, l2_term, make_torch_optimizer,
                                  make_torch_schedule, torch_dtype)
    from .train import make_optimizer, make_schedule
    from .train import evaluate as evaluate_scratch
    torch = import_torch()
    if epochs is None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    dtype = np.dtype(dtype).name
    torch_dtype(dtype)                   # refuses anything but a float dtype, naming it
    start = time.perf_counter()
    scratch, twin, pairs = twin_models(config.layers, data.input_shape, config.init, seed, dtype)
    optimizer, torch_optimizer = make_optimizer(config, scratch), make_torch_optimizer(config, twin)
    schedule, torch_schedule = make_schedule(config, optimizer), make_torch_schedule(config, torch_optimizer)
    loader = DataLoader(data.x_train, data.y_train, config.batch_size, shuffle=True, seed=seed, dtype=dtype)
    x_train = torch.from_numpy(np.ascontiguousarray(data.x_train, dtype=dtype))
    y_train = torch.from_numpy(np.asarray(data.y_train, dtype=np.int64))
    eval_splits = {name: (np.ascontiguousarray(x, dtype=dtype), np.asarray(y, dtype=np.int64))
                   for name, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test))
                   if evaluate and len(x)}

    def accuracies(epoch):
        row = {"epoch": epoch}
        for name, (x, y) in eval_splits.items():
            row[f"scratch_{name}_loss"], row[f"scratch_{name}_acc"], _ = evaluate_scratch(scratch, x, y)
            row[f"torch_{name}_loss"], row[f"torch_{name}_acc"], _ = evaluate_torch(
                twin, torch.from_numpy(x), torch.from_numpy(y))
        return row

    total = epochs * len(loader) if epochs is not None else steps
    scratch_losses, torch_losses, epoch_rows = [], [], []
    initial_output_diff = None
    scratch.train()
    twin.train()
    step, epoch = 0, 0
    while step < total:
        order = loader.epoch_order(epoch)
        loader.set_epoch(epoch)
        for batch, (xb, yb) in enumerate(loader):
            rows = torch.from_numpy(order[batch * config.batch_size:(batch + 1) * config.batch_size])
            logits = scratch(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            if config.l2:
                loss = loss + nn.functional.l2_penalty(scratch, config.l2)
            optimizer.zero_grad()
            loss.backward()
            share_masks(pairs)
            torch_logits = twin(x_train[rows])
            torch_loss = torch.nn.functional.cross_entropy(torch_logits, y_train[rows])
            if config.l2:
                torch_loss = torch_loss + l2_term(twin, config.l2)
            torch_optimizer.zero_grad()
            torch_loss.backward()
            if initial_output_diff is None:
                initial_output_diff = float(np.max(np.abs(
                    tl.backend.as_numpy(logits.data) - torch_logits.detach().numpy())))
            optimizer.step()
            torch_optimizer.step()
            scratch_losses.append(float(tl.backend.as_numpy(loss.data)))
            torch_losses.append(float(torch_loss.detach()))
            step += 1
            if step >= total:
                break
        if batch + 1 < len(loader):               # stopped within the epoch
            break
        if evaluate:
            epoch_rows.append(accuracies(epoch + 1))
        if schedule is not None:
            schedule.step()
            torch_schedule.step()
        epoch += 1
    param_diff = parameter_differences(scratch, twin)
    rel = [relative_difference(a, b) for a, b in zip(scratch_losses, torch_losses)]
    result = {
        "run": config.name, "dtype": dtype, "seed": seed, "steps": step, "epochs_completed": epoch,
        "batch_size": config.batch_size, "optimizer": config.optimizer, "lr": config.lr, "l2": config.l2,
        "scratch_loss": scratch_losses, "torch_loss": torch_losses, "rel_diff": rel,
        "max_rel_loss_diff": max(rel) if rel else 0.0, "initial_output_diff": initial_output_diff,
        "epochs": epoch_rows, "final": accuracies(epoch) if evaluate else {},
        "param_diff": param_diff, "max_param_diff": max(param_diff.values()) if param_diff else 0.0,
        "wall_time_s": time.perf_counter() - start,
    }
    result["models"] = (scratch, twin)       # for callers that look further; dropped before saving
    return result


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
            import matplotlib  # noqa: F401
        except ImportError:
            print("parity.png not written: matplotlib is not installed (pip install matplotlib)",
                  file=sys.stderr)
        else:
            paths.append(plot_losses(result, out_dir / "parity.png"))
    return paths


# ---- command line --------------------------------------------------------------------------------

def add_arguments(parser):
    """The options of ``tinygrad-lite parity``."""
    parser.add_argument("name", metavar="NAME", help="a run name from `tinygrad-lite list`")
    parser.add_argument("--steps", type=int_at_least(1), default=DEFAULT_STEPS,
                        help=f"optimiser steps to compare (default {DEFAULT_STEPS})")
    parser.add_argument("--epochs", type=int_at_least(1), default=None,
                        help="train whole epochs instead of --steps, with accuracies after each")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="precision of both models (default float64: differences are then bugs)")
    parser.add_argument("--subset", type=int_at_least(1), default=2000,
                        help="training images to use (default 2000; the split and normalisation are the run's)")
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="weights, batch order and dropout masks (default 0)")
    parser.add_argument("--out", default="runs", help="folder; results go to OUT/NAME/parity.json, parity.png")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="data folder (default: $TINYGRAD_LITE_DATA, the cache)")
    parser.add_argument("--no-plot", action="store_true", help="do not write parity.png")


def untrained_backbone(backbone_config, seed):
    """(model, layer specs) of a backbone run at its initial weights, for the features of a parity check."""
    import tinygrad_lite as tl
    from .models import build
    tl.manual_seed(seed)
    return build(backbone_config.layers, (1, 28, 28), backbone_config.init), backbone_config.layers


def run(args):
    """``tinygrad-lite parity NAME``: compare, print the table, save parity.json and parity.png."""
    from tinygrad_lite.errors import TinygradLiteError
    from . import data as run_data
    from .registry import RUNS, resolve
    from .torch_reference import import_torch
    try:
        import_torch()
    except ImportError as exc:
        raise TinygradLiteError(str(exc)) from None
    if args.name not in RUNS:
        resolve([args.name])            # an unknown name: UnknownRunError with the closest names
        raise ValueError(f"parity compares one run, and {args.name!r} is a group; name one of its runs")
    config = RUNS[args.name]
    backbone = None
    if config.features_from:
        backbone = untrained_backbone(RUNS[config.features_from], args.seed)
        print(f"{config.name} trains on {config.features_from}'s features; parity checks the MLP's "
              f"training, so the features come from that backbone at its initial weights (untrained)")
    data = run_data.prepare(config, args.seed, args.subset, getattr(args, "data", None), backbone)
    result = compare(config, data, steps=args.steps, epochs=args.epochs, dtype=args.dtype, seed=args.seed)
    print(format_table(result))
    paths = save(result, Path(args.out) / config.name, plot=not getattr(args, "no_plot", False))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
