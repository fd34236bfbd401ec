"""The replays as jobs of ``experiments.executor``: ``tinygrad-lite run all --jobs 4`` (or ``--scheduler``).

Each run is one job, ``replay(name, options)`` on a worker: exactly ``runner.run`` of that run into its
folder under ``--out`` (made absolute here, so every worker writes to the same place, which must be
on a filesystem they all see). Longest first from the committed wall times (``expected_seconds``); a
run trained on another's features waits for it. Ctrl-C asks the running replays to stop after their
step and save their checkpoint, so ``--resume`` continues them and trains the rest.
"""
import dataclasses
import re
import time
from pathlib import Path

from tinygrad_lite.files import read_json

from . import executor
from .registry import RUNS

RESULTS = Path(__file__).with_name("RESULTS.md")
_DURATION = re.compile(r"^(?:(?P<h>\d+) h (?P<hm>\d+) min|(?P<m>\d+) min (?P<ms>\d+) s|(?P<s>[\d.]+) s)$")


def parse_duration(text):
    """Seconds from ``report.format_duration``'s text ('9.2 s', '2 min 05 s', '1 h 02 min'), else None."""
    found = _DURATION.match(text.strip())
    if found is None:
        return None
    if found["h"]:
        return 3600 * int(found["h"]) + 60 * int(found["hm"])
    if found["m"]:
        return 60 * int(found["m"]) + int(found["ms"])
    return float(found["s"])


def expected_seconds(results=RESULTS):
    """{run: seconds} from the wall-time column of the committed RESULTS.md; a run not there gets its
    registry estimate (``minutes_cpu``)."""
    seconds = {name: 60.0 * config.minutes_cpu for name, config in RUNS.items()}
    try:
        lines = Path(results).read_text().splitlines()
    except OSError:
        return seconds
    column = None
    for line in lines:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if "wall time" in cells:
            column = cells.index("wall time")
        elif column is not None and len(cells) > column and cells[0].startswith("`"):
            measured = parse_duration(cells[column])
            if cells[0].strip("`") in seconds and measured:
                seconds[cells[0].strip("`")] = measured
    return seconds


def replay(name, options):
    """On a worker: train run ``name`` as ``tinygrad-lite run`` does; a summary for the client's line."""
    from .runner import run
    started = time.perf_counter()
    run_dir = run(RUNS[name], dataclasses.replace(options, step_hook=_stop_hook))
    metrics = read_json(Path(run_dir) / "metrics.json")
    return {"run_dir": str(run_dir), "final": metrics.get("final") or {}, "seconds": time.perf_counter() - started,
            "used_sample": metrics.get("used_sample")}


def _stop_hook(epoch, batch, iteration):
    return executor.stop_requested()


def jobs_for(configs, options):
    """One ``executor.Job`` per run, with the client's paths made absolute for the workers."""
    options = dataclasses.replace(options, out=str(Path(options.out).resolve()), progress=False,
                                  root=None if options.root is None else str(Path(options.root).resolve()))
    seconds = expected_seconds()
    return [executor.Job(config.name, replay, (config.name, options), seconds.get(config.name, 60.0),
                         (config.features_from,) if config.features_from else ())
            for config in configs], options


def run_sweep(configs, options, where):
    """Train ``configs`` on the executor ``where`` (``executor.placement``): (failed names, interrupted)."""
    from .report import format_duration
    bar = options.progress               # the sweep's bar; each run's own bar is off on the workers
    jobs, options = jobs_for(configs, options)
    failed = []

    def line(finished):
        if finished.stopped:
            return f"{finished.name}: stopped on {finished.host}: {finished.error}"
        if not finished.ok:
            failed.append(finished.name)
            host = f" on {finished.host}" if finished.host else ""
            return f"{finished.name}: FAILED{host}: {finished.error}"
        value = finished.value
        final = value["final"]
        figures = ", ".join(f"{key.replace('_', ' ')} {final[key]:.4f}" for key in ("val_acc", "test_acc")
                            if isinstance(final.get(key), (int, float)))
        sample = (" (trained on the bundled SAMPLE: that host has no data; docs/cluster.md)"
                  if value["used_sample"] and not options.sample else "")
        return (f"{finished.name}: {figures}; done in {format_duration(value['seconds'])} on {finished.host}"
                f"{sample} -> {value['run_dir']}")

    with executor.connect(where, workers_needed=len(jobs)) as pool:
        interrupted = pool.run(jobs, line, units="runs", shared=options.out, progress=bar)
    return failed, interrupted
