"""Timing done right: warm-up, alternating repetitions, device synchronisation, medians and ratios.

For each case both frameworks are set up in this process, warmed up (``warmup`` untimed runs each),
then timed in strict alternation, scratch, torch, scratch, torch, ... (ABAB), so that a slow patch
of the machine (another process, thermal throttling) hits both sides alike. Each timed run is

    sync(); t0 = perf_counter(); run(); sync(); t = perf_counter() - t0

where ``sync`` waits for the GPU (CuPy's current stream, ``torch.cuda.synchronize``) and is a no-op
on the CPU. A row reports the median, min and max per reported unit, the ratio of the medians
(scratch / torch: below 1 means the scratch framework is faster) and the achieved GFLOP/s.

Peak memory of CNN training is measured separately (``memory.py``): on the CPU in a fresh child
process per framework (peak resident set size), on a GPU from the allocators in this process.
"""
import gc
import os
import statistics
import subprocess
import sys
import time

from . import frameworks
from .cases import MEMORY_TARGET

# The peers are timed this many runs (scratch and torch ``repeat``): their ratios to torch are far
# from 1, where a median of three is plenty, and a run of tinygrad's big CNN takes a minute.
PEER_REPEAT = 3


def time_case(case, fws, repeat, warmup, missing=None):
    """Time ``case`` on every framework in ``fws`` (a list), alternating; return the row dict.
    A framework without one of the case's ops (``NotAvailable`` at setup) and those in ``missing``
    ({name: why}, frameworks that could not start) get a "not available" result with the reason."""
    runs, memory, unavailable = {}, {}, dict(missing or {})
    for fw in fws:
        fw.reset_peak_memory()
        try:
            runs[fw.name] = case.setup(fw)
            for _ in range(max(warmup, fw.warmup_runs)):
                runs[fw.name]()
        except frameworks.NotAvailable as exc:
            runs.pop(fw.name, None)
            unavailable[fw.name] = str(exc)
        fw.sync()
    timed = [fw for fw in fws if fw.name in runs]
    seconds = {fw.name: [] for fw in timed}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()          # a collection landing in one framework's run would be charged to it alone
    try:                  # (no framework's graph has reference cycles: refcounting frees it)
        for round_ in range(repeat):
            for fw in list(timed):
                if fw.name not in frameworks.REQUIRED and round_ >= min(repeat, PEER_REPEAT):
                    continue
                fw.sync()
                start = time.perf_counter()
                try:
                    runs[fw.name]()
                except frameworks.NotAvailable as exc:     # met only now when there was no warm-up
                    timed.remove(fw)
                    unavailable[fw.name] = str(exc)
                    del seconds[fw.name]
                    continue
                fw.sync()
                seconds[fw.name].append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    for fw in timed:
        memory[fw.name] = fw.memory()
    del runs
    for fw in fws:
        fw.free_memory()
    return summarise(case, seconds, memory, fws[0].device, unavailable)


def summarise(case, seconds, memory, device="cpu", unavailable=None):
    """The row: per framework the median/min/max seconds per unit and GFLOP/s, or ``available``
    False and the reason; ``ratios``, each framework's median over torch's; ``ratio``, scratch's.
    The ratio targets were set for the CPU (issues 5 and 35), so a GPU row has none."""
    row = {"name": case.name, "group": case.group, "title": case.title, "unit": case.unit,
           "flops_per_unit": case.flops_per_unit, "target": case.target if device == "cpu" else None,
           "device": device, "results": {}}
    for name, times in seconds.items():
        per_unit = [t / case.units_per_run for t in times]
        median = statistics.median(per_unit)
        row["results"][name] = {
            "median_s": median, "min_s": min(per_unit), "max_s": max(per_unit), "runs": len(times),
            "per_run_s": per_unit,
            "gflops": case.flops_per_unit / median / 1e9 if case.flops_per_unit else None,
            "memory": memory.get(name)}
    for name, reason in (unavailable or {}).items():
        row["results"][name] = {"available": False, "reason": reason}
    order = list(frameworks.FRAMEWORKS)
    row["results"] = dict(sorted(row["results"].items(),
                                 key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    reference = row["results"].get(frameworks.REFERENCE, {}).get("median_s")
    if reference:
        row["ratios"] = {name: r["median_s"] / reference for name, r in row["results"].items()
                         if name != frameworks.REFERENCE and "median_s" in r}
        if "scratch" in row["ratios"]:
            row["ratio"] = row["ratios"]["scratch"]
    return row


def run_all(cases, device, repeat, warmup, framework_names=frameworks.FRAMEWORKS, threads=None, log=print):
    """Time every case; returns the rows (one per case) and each framework's thread counts (or, for
    a framework that cannot start here, why). scratch and torch must start; a peer may not."""
    fws, missing = start_frameworks(device, framework_names, threads)
    gc.collect()
    gc.freeze()      # the libraries' objects (torch has ~10^6) are never scanned again: collections stay cheap
    try:
        thread_counts = {fw.name: fw.threads() for fw in fws}
        thread_counts.update({name: {"not available": why} for name, why in missing.items()})
        rows = []
        for case in cases:
            row = time_case(case, fws, repeat, warmup, missing)
            rows.append(row)
            log(format_progress(row))
        return rows, thread_counts
    finally:
        gc.unfreeze()
        for fw in fws:
            fw.close()


def start_frameworks(device, framework_names, threads=None):
    """(the frameworks started, {name: why not} for the optional ones that could not start)."""
    fws, missing = [], {}
    for name in framework_names:
        try:
            fws.append(frameworks.make(name, device, threads))
        except (frameworks.NotAvailable, ImportError) as exc:
            if name in frameworks.REQUIRED:
                raise
            missing[name] = str(exc)
    return fws, missing


def available_frameworks(device, framework_names=frameworks.FRAMEWORKS, threads=None):
    """(the frameworks that run on ``device`` here, {framework: why not} for the others)."""
    from tinygrad_lite.errors import DeviceError
    names, missing = [], {}
    for name in framework_names:
        try:
            frameworks.make(name, device, threads).close()
            names.append(name)
        except (DeviceError, ImportError, frameworks.NotAvailable) as exc:
            missing[name] = f"{name}: {exc}"
    return names, missing


def format_progress(row):
    parts = [f"{row['name']:<18}"]
    for name, r in row["results"].items():
        ratio = row.get("ratios", {}).get(name)
        parts.append(f"{name} " + (f"{r['median_s'] * 1e3:.3f} ms/{row['unit']}" if "median_s" in r else "n/a")
                     + (f" ({ratio:.2f}x)" if ratio is not None else ""))
    return "  ".join(parts)


# ---- peak memory ---------------------------------------------------------------------------------------

def measure_memory(device, mode, cnn_names=("cnn-small",), framework_names=frameworks.FRAMEWORKS,
                   threads=None, timeout=600):
    """Peak memory of ``steps`` CNN training steps per framework, one fresh child process each.

    On the CPU the child reports its peak resident set size (``ru_maxrss``) and its RSS just before
    the first step, so the table can show both the whole process and the training's own share
    (torch's libraries alone take a few hundred MB that the scratch child never loads)."""
    from tinygrad_lite.files import loads_json
    results = []
    for name in cnn_names:
        entry = {"case": name, "device": device, "results": {}}
        for framework in framework_names:
            cmd = [sys.executable, "-m", "benchmarks.memory", "--framework", framework, "--device", device,
                   "--case", name, "--mode", mode] + (["--threads", str(threads)] if threads else [])
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env=dict(os.environ), cwd=_repo_root())
            if done.returncode != 0:
                raise RuntimeError(f"memory child for {framework}/{name} failed ({done.returncode}):\n"
                                   f"{done.stderr[-2000:]}")
            entry["results"][framework] = loads_json(done.stdout.strip().splitlines()[-1],
                                                     f"the memory child's output for {framework}/{name}")
        t = entry["results"].get("torch")
        if device == "cpu" and t and t.get("training_bytes"):
            entry["ratios"] = {fw: r["training_bytes"] / t["training_bytes"] for fw, r in entry["results"].items()
                               if fw != "torch" and r.get("training_bytes")}
        s = entry["results"].get("scratch")
        if s and t:
            entry["target"] = MEMORY_TARGET if device == "cpu" else None    # a CPU target, as above
            if device == "cuda":      # the two caching allocators' held memory: CuPy pool vs torch reserved
                entry["ratio_basis"] = "GPU: CuPy pool total_bytes / torch max_memory_reserved"
                entry["ratio"] = s["gpu"]["total_bytes"] / max(t["gpu"]["max_reserved_bytes"], 1)
            else:
                entry["ratio_basis"] = "CPU: training share of peak RSS"
                entry["ratio"] = (s["training_bytes"] / t["training_bytes"]
                                  if s["training_bytes"] and t["training_bytes"] else None)
            entry["ratio_process"] = s["peak_bytes"] / t["peak_bytes"]
        results.append(entry)
    return results


def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- profiling ----------------------------------------------------------------------------------------

def profile_case(case, device, top=25, out=None):
    """cProfile one run() of ``case`` on the scratch framework (after one warm-up); returns the text
    of the top ``top`` functions by own time, and writes the raw stats to ``out`` when given."""
    import cProfile
    import io
    import pstats
    fw = frameworks.make("scratch", device)
    run = case.setup(fw)
    run()
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    fw.sync()
    profiler.disable()
    if out:
        profiler.dump_stats(out)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).sort_stats("tottime")
    stats.print_stats(top)
    return f"== {case.name}: one run = {case.units_per_run:g} {case.unit}(s)\n" + text.getvalue()
