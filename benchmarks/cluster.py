"""``python -m benchmarks.cluster``: a sweep with ``--jobs 1`` and ``--jobs 2``, and the full sweep's arithmetic.

    python -m benchmarks.cluster                  both sweeps below, 3 times each way -> benchmarks/RESULTS-cluster.md
    python -m benchmarks.cluster --repeat 1 --out out/benchmarks

Two sweeps, each timed as the user runs it (``tinygrad-lite run ... --no-torch --no-report``, the whole
command: Python's start, the local Dask cluster's start, data loading, training, writing the folders):

- ``fixed cost``: the tests' short sweep (4 runs, ``--subset 300 --epochs 1``): the runs take under a
  second each, so this measures what a local cluster costs on top of them;
- ``scaling``: report A's 8 runs on the full MNIST for 2 epochs, runs long enough to show the speed-up.

``--jobs 1`` and ``--jobs 2`` alternate (1, 2, 1, 2, ...) so that a noisy stretch of the machine hits
both; the table gives the median and the range, and the load average before and after (the machine
must be quiet for the figures to mean anything). Then, with no measurement: the full sweep (``all``,
from the committed wall times in experiments/RESULTS.md) scheduled longest first on N single-core
workers, simulated as Dask runs it (a free worker takes the ready job of highest priority; a run on
another's features waits for it).
"""
import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments import executor, sweep
from experiments.registry import GROUPS, RUNS, WITH_TORCH

SWEEPS = {
    "fixed cost": ["A-sigmoid", "B-mlp", "C-cnn-gap-16-random", "C-cnnmlp-gap-16-random", "--subset", "300",
                   "--epochs", "1"],
    "scaling": ["all-A", "--epochs", "2"],
}
WORKERS = (1, 2, 4, 8, 16, 32, 55)
# one BLAS/OpenMP thread: --jobs 1 trains on one core, as the committed wall times were measured; --jobs N
# sets each local worker's threads itself (cores // N)
ONE_THREAD = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")



def time_sweep(arguments, jobs, out):
    """Seconds for ``tinygrad-lite run ARGUMENTS --jobs JOBS`` into a fresh ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "experiments", "run", *arguments, "--no-torch", "--no-report", "--no-progress",
               "--out", str(out), "--jobs", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ONE_THREAD)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds


def simulate(seconds, after, workers):
    """Wall time of the sweep on ``workers`` single-core workers, longest chain first (``executor.priorities``)."""
    jobs = [executor.Job(name, print, (), seconds[name], after[name]) for name in seconds]
    rank = executor.priorities(jobs)
    free_at = [0.0] * workers
    finished, started = {}, set()
    while len(started) < len(jobs):
        worker = min(range(workers), key=free_at.__getitem__)
        now = free_at[worker]
        ready = [j for j in jobs if j.name not in started and all(finished.get(d, float("inf")) <= now
                                                                 for d in j.after)]
        if not ready:               # wait for the next backbone to finish
            free_at[worker] = min(t for t in finished.values() if t > now)
            continue
        job = max(ready, key=lambda j: rank[j.name])
        started.add(job.name)
        finished[job.name] = free_at[worker] = now + job.seconds
    return max(finished.values()), max(rank.values())


def full_sweep_table():
    seconds = {name: WITH_TORCH * value for name, value in sweep.expected_seconds().items() if name in GROUPS["all"]}
    after = {name: (RUNS[name].features_from,) if RUNS[name].features_from else () for name in seconds}
    total = sum(seconds.values())
    rows = ["| workers | wall time, longest first | lower bound max(total / N, longest chain) | speed-up |",
            "|---|---|---|---|"]
    saturated = None            # the fewest workers at which the longest chain alone sets the wall time
    for n in WORKERS:
        wall, chain = simulate(seconds, after, n)
        rows.append(f"| {n} | {hours(wall)} | {hours(max(total / n, chain))} | {total / wall:.1f}x |")
        if saturated is None and wall <= 1.01 * chain:
            saturated = n
    return total, rows, saturated


def hours(seconds):
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed sweeps per --jobs value (default 3)")
    parser.add_argument("--only", choices=sorted(SWEEPS), help="one of the two sweeps")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="where RESULTS-cluster.md goes")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    measured = []
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as scratch:
        for name, arguments in SWEEPS.items():
            if args.only and name != args.only:
                continue
            times = {1: [], 2: []}
            for _ in range(args.repeat):
                for jobs in (1, 2):
                    times[jobs].append(time_sweep(arguments, jobs, Path(scratch) / "runs"))
                    print(f"{name}: --jobs {jobs}: {times[jobs][-1]:.1f} s", file=sys.stderr)
            measured.append((name, arguments, times))
    load_after = os.getloadavg()
    total, table, saturated = full_sweep_table()
    lines = [
        "# A sweep on a local Dask cluster: `--jobs 1` against `--jobs 2`",
        "",
        f"- Command: `python -m benchmarks.cluster {' '.join(argv if argv is not None else sys.argv[1:])}`"
        f" (benchmarks/cluster.py)",
        f"- Date: {datetime.datetime.now().isoformat(timespec='seconds')}; {args.repeat} sweep(s) per value, "
        f"alternating --jobs 1 and 2",
        f"- Machine: {platform.processor() or platform.machine()}, {executor.cores()} usable cores; "
        f"**load average {fmt_load(load_before)} before, {fmt_load(load_after)} after** "
        f"(above ~0.5 other work shares the cores, and the figures are not the machine's)",
        "- Each time is the whole command, `tinygrad-lite run ... --no-torch --no-report --jobs N`: Python, the "
        "local cluster's start (--jobs 2), data loading, training, the run folders. One BLAS thread per run "
        "(--jobs 1 with OMP/OPENBLAS/MKL_NUM_THREADS=1; --jobs 2 gives each worker cores // 2).",
        "",
        "| sweep | runs | --jobs 1: median (min-max) | --jobs 2: median (min-max) | speed-up |",
        "|---|---|---|---|---|",
    ]
    for name, arguments, times in measured:
        one, two = statistics.median(times[1]), statistics.median(times[2])
        lines.append(f"| {name} | `{' '.join(arguments)}` | {one:.1f} s ({min(times[1]):.1f}-{max(times[1]):.1f}) | "
                     f"{two:.1f} s ({min(times[2]):.1f}-{max(times[2]):.1f}) | {one / two:.2f}x |")
    lines += [
        "",
        "## The full sweep on N workers (arithmetic, not measured)",
        "",
        f"`tinygrad-lite run all`: {len(GROUPS['all'])} runs, {hours(total)} one after another on one core "
        f"(the committed wall times of experiments/RESULTS.md, x{WITH_TORCH:g} for the torch column). "
        "Longest first as Dask schedules it (a free worker takes the ready run with the longest chain of work "
        "behind it; a run on another's features waits for it), each worker a single core as the committed "
        "times were measured:",
        "",
        *table,
        "",
        f"The longest run (D-cnn-lenet, {hours(WITH_TORCH * sweep.expected_seconds()['D-cnn-lenet'])} with its "
        f"torch column) bounds the sweep however many workers there are: from {saturated} workers on (of those "
        "tabled) it alone sets the wall time, and more workers only idle. The measured speed-up above includes what "
        "the table leaves out: the cluster's start (seconds) and each worker loading the data once.",
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "RESULTS-cluster.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def fmt_load(load):
    return "[" + ", ".join(f"{v:.2f}" for v in load) + "]"


if __name__ == "__main__":
    main()
