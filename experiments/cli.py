"""The ``tinygrad-lite`` command (also ``python -m experiments``).

    tinygrad-lite list                          every run, the document it replays, its expected time
    tinygrad-lite run A-sigmoid                 train one run (or several, or a group: all-A .. all-D, all, examples)
    tinygrad-lite run all-B --epochs 1 --subset 2000 --device cuda --no-torch
    tinygrad-lite run A-sigmoid --resume        continue after Ctrl-C, to the same final weights
    tinygrad-lite run B-cnn --resume            after --no-torch: train torch alone, add its column
    tinygrad-lite run all --jobs 4              4 runs at once, longest first (Dask; docs/cluster.md)
    tinygrad-lite run all --scheduler tcp://host:8786    on a running Dask cluster (lab machines, SLURM)
    tinygrad-lite report [--out runs]           one summary table per document over finished runs
    tinygrad-lite parity NAME                   scratch vs torch, step by step, on one run
    tinygrad-lite bench                         speed and memory against torch

Mistakes (an unknown name, a bad value, missing data, ``--device cuda`` without a GPU) print one line
on stderr and exit with status 2; set TINYGRAD_LITE_DEBUG=1 for the traceback. A run stopped by
Ctrl-C or SIGTERM saves a checkpoint, says how to resume, and exits with status 130.

Data: TINYGRAD_LITE_DATA names a folder holding mnist/ and fashion-mnist/; without it the user cache
and the public mirrors are tried, and then the bundled sample is used, saying so. --data DIR is the
only place looked at; --sample uses the bundled sample on purpose. A copy that fails verification is an
error (never replaced by the sample). TINYGRAD_LITE_OFFLINE=1 never downloads;
TINYGRAD_LITE_NO_SAMPLE=1 makes missing data an error.
"""
import argparse
import os
import shlex
import sys

from tinygrad_lite.errors import TinygradLiteError

EXIT_USAGE, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value
    parse.__name__ = f"int >= {low}"
    return parse


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def build_parser():
    parser = _Parser(prog="tinygrad-lite", description="Replay the coursework runs with tinygrad_lite.",
                     epilog="Data: TINYGRAD_LITE_DATA=<folder with mnist/ and fashion-mnist/>; "
                            "TINYGRAD_LITE_OFFLINE=1 never downloads; TINYGRAD_LITE_NO_SAMPLE=1 turns the "
                            "bundled-sample fallback off.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("list", help="every run, the document it replays, its expected time")

    _add_run_parser(commands)

    report = commands.add_parser("report", help="summary tables of the finished runs")
    report.add_argument("--out", default="runs", help="the folder holding the runs (default runs/)")

    _add_parity_parser(commands)

    from .exercises.cli import add_arguments as exercise_arguments
    exercise_arguments(commands.add_parser("exercise", help="the course: make, check and grade exercise copies"),
                       int_at_least, add_cluster_arguments)

    bench = commands.add_parser("bench", help="speed and memory against torch (benchmarks package)")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments for the benchmarks")
    return parser


def _add_run_parser(commands):
    """`tinygrad-lite run NAME...` and its options."""
    run = commands.add_parser("run", help="train runs and write metrics.json + REPORT.md for each")
    run.add_argument("names", nargs="+", metavar="NAME",
                     help="run names or groups (all-A .. all-D, all, examples; `tinygrad-lite list` shows them)")
    run.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to train (default cpu)")
    run.add_argument("--epochs", type=int_at_least(1), help="train this many epochs instead of the document's")
    run.add_argument("--lr", type=_positive_float,
                     help="learning rate instead of the document's (the report flags the run)")
    run.add_argument("--batch-size", type=int_at_least(1),
                     help="batch size instead of the document's (the report flags the run)")
    run.add_argument("--subset", type=int_at_least(1),
                     help="train on N images (validation and test cut to N too), for a quick look")
    run.add_argument("--seed", type=int_at_least(0), default=0, help="seed of weights, split and order (0)")
    run.add_argument("--out", default="runs", help="output folder (default runs/)")
    run.add_argument("--no-torch", action="store_true", help="skip the torch reference column")
    run.add_argument("--resume", action="store_true",
                     help="continue from the last checkpoint; on a run finished with --no-torch, add the "
                          "torch column")
    run.add_argument("--sync-every", type=int_at_least(1), default=50,
                     help="read the loss from the device every N steps (default 50)")
    run.add_argument("--grad-plots", action="store_true", help="record and plot gradient norms per layer")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--no-report", action="store_true", help="write metrics.json only (no REPORT.md, PNGs)")
    add_cluster_arguments(run, "runs trained at once: a local Dask cluster of N worker processes "
                               "(default 1: one after another in this process)")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="DIR",
                        help="data folder, the only place looked at (default: $TINYGRAD_LITE_DATA, the "
                             "cache, the mirrors, then the bundled sample)")
    source.add_argument("--sample", action="store_true",
                        help="train on the small bundled sample (a quick look; not comparable figures)")


def add_cluster_arguments(parser, jobs_help):
    """``--jobs N`` and ``--scheduler ADDRESS`` (experiments.executor; docs/cluster.md)."""
    parser.add_argument("--jobs", type=int_at_least(1), metavar="N", help=jobs_help)
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask cluster's scheduler, e.g. tcp://host:8786 (default "
                             "$TINYGRAD_LITE_SCHEDULER); the folders must be on a filesystem every worker sees")


def _add_parity_parser(commands):
    """`tinygrad-lite parity NAME` and its options."""
    parity = commands.add_parser("parity", help="compare the scratch and torch models step by step")
    parity.add_argument("name", metavar="NAME", help="a run name from `tinygrad-lite list`")
    parity.add_argument("--steps", type=int_at_least(1), default=100, help="optimiser steps to compare (default 100)")
    parity.add_argument("--epochs", type=int_at_least(1), default=None,
                        help="train whole epochs instead of --steps, with accuracies after each")
    parity.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="precision of both models (default float64: differences are then bugs)")
    parity.add_argument("--subset", type=int_at_least(1), default=2000,
                        help="training images to use (default 2000; the split and normalisation are the run's)")
    parity.add_argument("--seed", type=int_at_least(0), default=0,
                        help="weights, batch order and dropout masks (default 0)")
    parity.add_argument("--out", default="runs", help="folder; results go to OUT/NAME/parity.json, parity.png")
    parity.add_argument("--data", metavar="DIR", default=None,
                        help="data folder (default: $TINYGRAD_LITE_DATA, the cache)")
    parity.add_argument("--no-plot", action="store_true", help="do not write parity.png")


def cmd_list(args):
    from .registry import GROUPS, RUNS, WITH_TORCH
    width = max(len(name) for name in list(RUNS) + list(GROUPS))

    def times(minutes):
        return f"{_minutes(minutes):>8}  {_minutes(WITH_TORCH * minutes):>10}"
    print(f"{'':<{width + 2}}  {'expected':>8}  {'with torch':>10}")
    document = None
    for name, config in RUNS.items():
        if config.document != document:
            document = config.document
            print(f"\n{document}")
        print(f"  {name:<{width}}  {times(config.minutes_cpu)}  {config.title}")
    print("\ngroups:")
    for group, names in GROUPS.items():
        print(f"  {group:<{width}}  {times(sum(RUNS[n].minutes_cpu for n in names))}  {len(names)} runs")
    print("\nexpected times: measured on a 2-core CPU, one replay per core, on the full data. A run trains "
          "the torch reference too unless --no-torch is given: that is the same model trained again, about "
          "as fast, so 'with torch' is twice the time. --subset and --epochs shorten both.")
    return 0


def _minutes(minutes):
    if minutes < 1:
        return "<1 min"
    return f"~{minutes:.0f} min" if minutes < 90 else f"~{minutes / 60:.1f} h"


def cmd_run(args, argv):
    from tinygrad_lite import backend

    from .config import Overrides
    from .executor import placement
    from .registry import resolve
    from .run_folder import TrainingInterrupted
    from .runner import RunOptions, run
    configs = resolve(args.names)
    backend.resolve_device(args.device)           # --device cuda without a GPU: one line, before any work
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise TinygradLiteError(f"--out {args.out!r} exists and is not a folder")
    if args.data is not None and not os.path.isdir(args.data):
        raise TinygradLiteError(f"--data {args.data!r} is not a folder")
    overrides = Overrides(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)    # applied by `run`
    options = RunOptions(device=args.device, overrides=overrides, subset=args.subset, seed=args.seed,
                         out=args.out, torch=not args.no_torch, resume=args.resume,
                         sync_every=args.sync_every, grad_plots=args.grad_plots,
                         progress=not args.no_progress, report=not args.no_report, root=args.data,
                         sample=args.sample)
    again = "To continue where it stopped: tinygrad-lite " + shlex.join(list(argv) + ([] if args.resume else
                                                                                      ["--resume"]))
    where = placement(args.jobs, args.scheduler, count=len(configs))
    if where is not None:
        from .sweep import run_sweep
        failed, interrupted = run_sweep(configs, options, where)
        if interrupted:
            print(again, file=sys.stderr)
            return EXIT_INTERRUPTED
        return EXIT_FAILED if failed else 0
    for config in configs:
        try:
            run(config, options)
        except TrainingInterrupted as exc:
            print(f"{exc}\n{again}", file=sys.stderr)
            return EXIT_INTERRUPTED
    return 0


def cmd_report(args):
    from .report import write_summary
    print(write_summary(args.out), end="")
    return 0


def cmd_parity(args):
    from .torch_reference import import_torch
    try:
        import_torch()
    except ImportError as exc:
        raise TinygradLiteError(str(exc)) from None
    from . import parity
    return parity.run(args) or 0


def cmd_bench(args):
    """``python -m benchmarks`` with the arguments given, in a process of its own: the benchmarks stand
    above experiments (they import it), so experiments never imports them."""
    import subprocess
    rest = [a for a in args.rest if a != "--"]
    return subprocess.call([sys.executable, "-m", "benchmarks", *rest])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv:                       # a newcomer's first try: the help, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "run":
            return cmd_run(args, argv)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "parity":
            return cmd_parity(args)
        if args.command == "exercise":
            from .exercises.cli import run as cmd_exercise
            return cmd_exercise(args)
        return cmd_bench(args)
    except KeyboardInterrupt:
        print("tinygrad-lite: aborted (no checkpoint saved for the step in progress)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (TinygradLiteError, ValueError, OSError) as exc:
        if os.environ.get("TINYGRAD_LITE_DEBUG"):
            raise
        from .loop import NonFiniteLossError
        status = EXIT_FAILED if isinstance(exc, NonFiniteLossError) else EXIT_USAGE
        message = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
        print(f"tinygrad-lite: error: {message}", file=sys.stderr)
        return status


if __name__ == "__main__":
    sys.exit(main())
