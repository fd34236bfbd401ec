"""The outputs of a benchmark run: a Markdown table, a JSON file and a PNG bar chart of the ratios.

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted run never leaves half a report. The Markdown header says what machine, which versions
and how many threads produced the numbers, since a ratio means little without them.
"""
import json
import os
import platform
import sys

from tinygrad_lite.files import write_bytes

OPTIMISATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "OPTIMISATIONS.md")


# ---- what ran where ---------------------------------------------------------------------------------

def machine_info():
    """CPU model, logical CPUs (and those this process may use), memory, load average."""
    info = {"cpu": platform.processor() or platform.machine(), "logical_cpus": os.cpu_count(),
            "platform": platform.platform()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2 ** 20, 1)
    except (OSError, ValueError, IndexError):
        pass
    info["load_average"] = load_average()
    return info


def load_average():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def versions(device):
    import numpy as np

    from .frameworks import blas_info
    out = {"python": platform.python_version(), "numpy": np.__version__, "blas": blas_info()}
    import tinygrad_lite
    out["tinygrad_lite"] = tinygrad_lite.__version__
    try:
        import torch
        out["torch"] = torch.__version__
        if device == "cuda" and torch.cuda.is_available():
            out["torch_cuda"] = torch.version.cuda
            out["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    if device == "cuda":
        try:
            import cupy
            out["cupy"] = cupy.__version__
            out["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        except Exception:  # reported as missing; the run itself already failed or succeeded
            pass
    return out


# ---- formatting -------------------------------------------------------------------------------------

def format_seconds(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def format_bytes(n):
    if n is None:
        return "-"
    return f"{n / 2 ** 20:.0f} MiB" if n >= 2 ** 20 else f"{n / 2 ** 10:.0f} KiB"


def _cell(result):
    if result is None:
        return "-"
    return (f"{format_seconds(result['median_s'])} "
            f"({format_seconds(result['min_s'])}-{format_seconds(result['max_s'])})")


def _gflops(result, ceiling):
    if result is None or not result.get("gflops"):
        return "-"
    text = f"{result['gflops']:.1f}"
    return text + (f" ({100 * result['gflops'] / ceiling:.0f}%)" if ceiling else "")


def matmul_ceiling(rows):
    """The best GFLOP/s measured on the matmul row (either framework): this machine's practical peak."""
    best = [r["gflops"] for row in rows if row["group"] == "ceiling"
            for r in row["results"].values() if r.get("gflops")]
    return max(best) if best else None


def markdown(report):
    rows, meta = report["rows"], report["meta"]
    ceiling = matmul_ceiling(rows)
    mach, ver = meta["machine"], meta["versions"]
    blas = ver.get("blas", {})
    lines = [f"# Benchmarks on {meta['device']}: tinygrad_lite (scratch) vs PyTorch", ""]
    if meta["mode"] != "full":
        lines += [f"**{meta['mode'].upper()} run: shortened workloads{' and tiny layers' if meta['mode'] == 'tiny' else ''}; "
                  "do not cite these numbers.**", ""]
    threads = meta.get("threads", {})
    torch_threads = threads.get("torch", {})
    lines += [
        f"- Command: `{meta['command']}`",
        f"- Date: {meta['date']}; mode {meta['mode']}: {meta['repeat']} timed runs per framework after "
        f"{meta['warmup']} warm-up run(s), alternating scratch/torch in one process (ABAB...)",
        f"- Machine: {mach.get('cpu')}, {mach.get('logical_cpus')} logical CPUs"
        f"{', ' + str(mach['usable_cpus']) + ' usable' if 'usable_cpus' in mach else ''}"
        f"{', ' + str(mach['memory_gib']) + ' GiB' if 'memory_gib' in mach else ''}; "
        f"load average {meta.get('load_before')} before, {meta.get('load_after')} after",
        f"- Versions: Python {ver.get('python')}, NumPy {ver.get('numpy')} "
        f"({blas.get('name')} {blas.get('version')}, {blas.get('threads')} BLAS threads), "
        f"torch {ver.get('torch', '-')} (intra-op threads {torch_threads.get('torch_intra_op', '-')}, "
        f"inter-op {torch_threads.get('torch_inter_op', '-')})"
        + (f", CuPy {ver.get('cupy')}, GPU {ver.get('gpu')}" if meta["device"] == "cuda" else ""),
        f"- Data: {meta['data']}",
        f"- Ratio = scratch median / torch median (below 1: scratch is faster). GFLOP/s counts only the "
        f"matmuls and convolutions (2 per multiply-add), against the matmul ceiling "
        f"{f'{ceiling:.1f} GFLOP/s' if ceiling else '(not measured)'} (best of both frameworks).",
        "",
        "| case | workload | scratch: median (min-max) | torch: median (min-max) | ratio | target "
        "| scratch GFLOP/s (% ceiling) | torch GFLOP/s (% ceiling) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        s, t = row["results"].get("scratch"), row["results"].get("torch")
        ratio = row.get("ratio")
        target = row.get("target")
        verdict = "" if (ratio is None or target is None) else (" ok" if ratio <= target else " MISSED")
        lines.append(
            f"| {row['name']} | {row['title']} | {_cell(s)} per {row['unit']} | {_cell(t)} per {row['unit']} "
            f"| {'-' if ratio is None else f'{ratio:.2f}'} | {'-' if target is None else f'<= {target:g}'}{verdict} "
            f"| {_gflops(s, ceiling)} | {_gflops(t, ceiling)} |")
    if meta["device"] == "cuda":
        lines += ["", "GPU memory per case (scratch: CuPy pool used / held after the runs, freed between "
                  "cases; torch: max allocated / reserved):", "",
                  "| case | scratch used | scratch pool total | torch max allocated | torch max reserved |",
                  "|---|---|---|---|---|"]
        for row in rows:
            sm = (row["results"].get("scratch") or {}).get("memory") or {}
            tm = (row["results"].get("torch") or {}).get("memory") or {}
            lines.append(f"| {row['name']} | {format_bytes(sm.get('used_bytes'))} | "
                         f"{format_bytes(sm.get('total_bytes'))} | {format_bytes(tm.get('max_allocated_bytes'))} "
                         f"| {format_bytes(tm.get('max_reserved_bytes'))} |")
    memory = report.get("memory") or []
    if memory:
        what = ("on the GPU, the training share is CuPy's pool total_bytes (scratch) and "
                "torch.cuda.max_memory_reserved (torch)" if meta["device"] == "cuda" else
                "training share = peak RSS during the steps minus the resident size just before them")
        lines += ["", f"Peak memory of CNN training (fresh child process per framework; {what}; "
                  "process = whole peak RSS, libraries included):", "",
                  "| CNN | steps | scratch: training share (process) | torch: training share (process) "
                  "| ratio (training) | ratio (process) | target |", "|---|---|---|---|---|---|---|"]
        for entry in memory:
            s, t = entry["results"].get("scratch", {}), entry["results"].get("torch", {})
            ratio = entry.get("ratio")
            target = entry.get("target")
            verdict = "" if ratio is None or target is None else (" ok" if ratio <= target else " MISSED")
            if meta["device"] == "cuda":
                s, t = dict(s), dict(t)
                s["training_bytes"] = (s.get("gpu") or {}).get("total_bytes")
                t["training_bytes"] = (t.get("gpu") or {}).get("max_reserved_bytes")
            lines.append(
                f"| {entry['case']} | {s.get('steps', t.get('steps'))} x batch {s.get('batch', t.get('batch'))} "
                f"| {format_bytes(s.get('training_bytes'))} ({format_bytes(s.get('peak_bytes'))}) "
                f"| {format_bytes(t.get('training_bytes'))} ({format_bytes(t.get('peak_bytes'))}) "
                f"| {'-' if ratio is None else f'{ratio:.2f}'} "
                f"| {'-' if entry.get('ratio_process') is None else format(entry['ratio_process'], '.2f')} "
                f"| {'-' if target is None else f'<= {target:g}'}{verdict} |")
    if meta["device"] == "cpu" and meta["mode"] == "full" and os.path.isfile(OPTIMISATIONS):
        with open(OPTIMISATIONS, encoding="utf-8") as log:        # what each optimisation bought
            lines += ["", log.read().rstrip()]
    lines.append("")
    return "\n".join(lines)


# ---- files ------------------------------------------------------------------------------------------

def write_atomic(path, data):
    """Write ``data`` (str or bytes) to ``path`` atomically (see ``tinygrad_lite.files``)."""
    return write_bytes(path, data.encode() if isinstance(data, str) else data)


def chart_png(report):
    """PNG bytes of a horizontal bar chart of the ratios (matplotlib, imported here); None without it."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import io
    rows = [row for row in report["rows"] if row.get("ratio") is not None]
    memory = [e for e in report.get("memory") or [] if e.get("ratio") is not None]
    labels = [row["name"] for row in rows] + [f"memory {e['case']}" for e in memory]
    ratios = [row["ratio"] for row in rows] + [e["ratio"] for e in memory]
    targets = [row.get("target") for row in rows] + [e.get("target") for e in memory]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(labels) + 1.4))
    colours = ["tab:green" if (t is not None and r <= t) else "tab:red" if t is not None else "tab:blue"
               for r, t in zip(ratios, targets)]
    y = list(range(len(labels)))
    ax.barh(y, ratios, color=colours)
    for yi, t in zip(y, targets):
        if t is not None:
            ax.plot([t, t], [yi - 0.4, yi + 0.4], color="black", linewidth=2)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("time ratio scratch / torch (black tick: target; memory rows: bytes ratio)")
    meta = report["meta"]
    ax.set_title(f"tinygrad_lite vs torch on {meta['device']} ({meta['mode']} run, {meta['date'][:10]})")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_all(report, out_dir):
    """Write RESULTS-<cpu|gpu>.md, results-<cpu|gpu>.json and ratios-<cpu|gpu>.png (with -quick or
    -tiny appended for those modes); return their paths."""
    device = {"cuda": "gpu"}.get(report["meta"]["device"], report["meta"]["device"])
    suffix = device if report["meta"]["mode"] == "full" else f"{device}-{report['meta']['mode']}"
    paths = {"markdown": os.path.join(out_dir, f"RESULTS-{suffix}.md"),
             "json": os.path.join(out_dir, f"results-{suffix}.json"),
             "png": os.path.join(out_dir, f"ratios-{suffix}.png")}
    write_atomic(paths["markdown"], markdown(report))
    write_atomic(paths["json"], json.dumps(report, indent=1, default=_jsonable) + "\n")
    png = chart_png(report)
    if png is None:
        print("benchmarks: matplotlib is not installed, so no chart was drawn", file=sys.stderr)
        del paths["png"]
    else:
        write_atomic(paths["png"], png)
    return paths


def _jsonable(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---- CPU vs GPU ------------------------------------------------------------------------------------

NOT_AVAILABLE = "not available"


def comparison_markdown(report):
    """The device comparison (``--device cpu,cuda``): per case both frameworks on both devices, each
    framework's GPU speed-up (its CPU median / its GPU median), scratch-GPU / torch-GPU, and the GPU
    allocators' figures. A device or framework that did not run says "not available", never a number."""
    meta, devices = report["meta"], report["devices"]
    cpu, gpu = devices.get("cpu") or {}, devices.get("cuda") or {}
    ver, mach = meta["versions"], meta["machine"]
    lines = ["# Benchmarks, CPU vs GPU: tinygrad_lite (scratch) and PyTorch on both devices", ""]
    if meta["mode"] != "full":
        lines += [f"**{meta['mode'].upper()} run: shortened workloads; do not cite these numbers.**", ""]
    lines += [
        f"- Command: `{meta['command']}`",
        f"- Date: {meta['date']}; mode {meta['mode']}: {meta['repeat']} timed runs per framework and device "
        f"after {meta['warmup']} warm-up run(s), alternating scratch/torch in one process",
        f"- CPU: {mach.get('cpu')}, {mach.get('logical_cpus')} logical CPUs; GPU: {ver.get('gpu', '-')}",
        f"- Versions: Python {ver.get('python')}, NumPy {ver.get('numpy')}, torch {ver.get('torch', '-')}"
        f" (CUDA {ver.get('torch_cuda', '-')}), CuPy {ver.get('cupy', '-')} (CUDA runtime "
        f"{ver.get('cuda_runtime', '-')})",
        f"- Data: {meta['data']}",
    ]
    for name in meta["devices"]:
        d = devices[name]
        state = (f"ran {', '.join(d['frameworks'])}" + (f"; {'; '.join(d['missing'].values())}" if d.get("missing") else "")
                 if d.get("available") else f"{NOT_AVAILABLE}: {d.get('reason')}")
        lines.append(f"- {name}: {state}")
    lines += [
        "- GPU speed-up = the framework's CPU median / its GPU median (above 1: the GPU is faster). "
        "scratch GPU / torch GPU below 1: the scratch framework is faster on the GPU. The ratio targets of "
        "RESULTS-cpu.md were set for the CPU and are not applied to GPU rows.",
        "- GPU timing reads the clock only after synchronising (CuPy's current stream, "
        "torch.cuda.synchronize()); a timed run never reads the loss back (no float(loss) inside it).",
        "- Memory: CuPy pool used / total bytes after the case's runs (scratch), torch.cuda.max_memory_allocated.",
        "",
        "| case | workload | scratch CPU | scratch GPU | torch CPU | torch GPU | scratch GPU speed-up "
        "| torch GPU speed-up | scratch GPU / torch GPU | scratch CuPy pool used / total | torch max allocated |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    cpu_rows = {row["name"]: row for row in cpu.get("rows", [])}
    gpu_rows = {row["name"]: row for row in gpu.get("rows", [])}
    for name in list(dict.fromkeys(list(cpu_rows) + list(gpu_rows))):
        c, g = cpu_rows.get(name), gpu_rows.get(name)
        row = c or g

        def result(device_row, device, framework):
            return (device_row or {}).get("results", {}).get(framework) if devices.get(device, {}).get("available") else None

        def time_cell(device_row, device, framework):
            r = result(device_row, device, framework)
            if r is None:
                return NOT_AVAILABLE if device in devices else "not run"
            return f"{format_seconds(r['median_s'])} per {row['unit']}"

        def ratio_cell(a, b):
            if a is None or b is None:
                return NOT_AVAILABLE
            return f"{a['median_s'] / b['median_s']:.2f}"

        sc, sg = result(c, "cpu", "scratch"), result(g, "cuda", "scratch")
        tc, tg = result(c, "cpu", "torch"), result(g, "cuda", "torch")
        pool = (sg or {}).get("memory")
        pool_cell = (f"{format_bytes(pool['used_bytes'])} / {format_bytes(pool['total_bytes'])}"
                     if pool else NOT_AVAILABLE)
        torch_memory = (tg or {}).get("memory")
        torch_cell = format_bytes(torch_memory["max_allocated_bytes"]) if torch_memory else NOT_AVAILABLE
        lines.append(
            f"| {name} | {row['title']} | {time_cell(c, 'cpu', 'scratch')} | {time_cell(g, 'cuda', 'scratch')} "
            f"| {time_cell(c, 'cpu', 'torch')} | {time_cell(g, 'cuda', 'torch')} | {ratio_cell(sc, sg)} "
            f"| {ratio_cell(tc, tg)} | {ratio_cell(sg, tg)} | {pool_cell} | {torch_cell} |")
    memory = [(name, entry) for name in meta["devices"] for entry in devices[name].get("memory") or []]
    if memory:
        lines += ["", "Peak memory of CNN training (fresh child process per framework; CPU: training share of "
                  "the peak RSS; GPU: CuPy pool total_bytes / torch max_memory_reserved):", "",
                  "| CNN | device | scratch | torch | ratio |", "|---|---|---|---|---|"]
        for device, entry in memory:
            s, t = entry["results"].get("scratch") or {}, entry["results"].get("torch") or {}
            if device == "cuda":
                s_bytes, t_bytes = (s.get("gpu") or {}).get("total_bytes"), (t.get("gpu") or {}).get("max_reserved_bytes")
            else:
                s_bytes, t_bytes = s.get("training_bytes"), t.get("training_bytes")
            ratio = entry.get("ratio")
            lines.append(f"| {entry['case']} | {device} | {format_bytes(s_bytes)} | {format_bytes(t_bytes)} "
                         f"| {'-' if ratio is None else f'{ratio:.2f}'} |")
    lines.append("")
    return "\n".join(lines)


def write_comparison(report, out_dir):
    """Write RESULTS-gpu.md and results-gpu.json (-quick / -tiny appended for those modes)."""
    mode = report["meta"]["mode"]
    suffix = "gpu" if mode == "full" else f"gpu-{mode}"
    paths = {"markdown": os.path.join(out_dir, f"RESULTS-{suffix}.md"),
             "json": os.path.join(out_dir, f"results-{suffix}.json")}
    write_atomic(paths["markdown"], comparison_markdown(report))
    write_atomic(paths["json"], json.dumps(report, indent=1, default=_jsonable) + "\n")
    return paths
