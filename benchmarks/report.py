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
    from importlib import metadata
    for peer in ("dezero", "tinygrad"):
        try:
            out[peer] = metadata.version(peer)
        except metadata.PackageNotFoundError:
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


PEERS = {"dezero": "DeZero", "tinygrad": "tinygrad"}
NOT_AVAILABLE = "not available"


def _cell(result):
    if result is None:
        return "-"
    if "median_s" not in result:
        return NOT_AVAILABLE
    return (f"{format_seconds(result['median_s'])} "
            f"({format_seconds(result['min_s'])}-{format_seconds(result['max_s'])})")


def _gflops(result, ceiling):
    if result is None or not result.get("gflops"):
        return "-"
    text = f"{result['gflops']:.1f}"
    return text + (f" ({100 * result['gflops'] / ceiling:.0f}%)" if ceiling else "")


def matmul_ceiling(rows):
    """The best GFLOP/s measured on the matmul row (any framework): this machine's practical peak."""
    best = [r["gflops"] for row in rows if row["group"] == "ceiling"
            for r in row["results"].values() if r.get("gflops")]
    return max(best) if best else None


def _ratio_cell(row, name):
    """A framework's median over torch's in ``row``: a number, "not available" (with no number where
    the framework lacks the op or could not start) or "-" where it did not run at all."""
    result = row["results"].get(name)
    if result is None:
        return "-"
    ratio = row.get("ratios", {}).get(name)
    return NOT_AVAILABLE if ratio is None else f"{ratio:.2f}"


def verdict(row):
    """'ok' / 'MISSED' against the row's target: scratch / torch at most the target and, for a
    training workload, scratch faster than every peer that ran; '' without a target or a ratio."""
    ratio, target = row.get("ratio"), row.get("target")
    if ratio is None or target is None:
        return ""
    peers = [r for name, r in row.get("ratios", {}).items() if name in PEERS]
    ok = ratio <= target and (row["group"] != "training" or all(ratio < r for r in peers))
    return "ok" if ok else "MISSED"


def _threads_label(report):
    torch = report["meta"].get("threads", {}).get("torch", {})
    n = torch.get("torch_intra_op")
    return f"{n} thread{'s' if n != 1 else ''}" if n else "threads ?"


def _target_text(row):
    target = row.get("target")
    if target is None:
        return "-"
    text = f"<= {target:g}" + (" and < each peer" if row["group"] == "training" else "")
    return f"{text} {verdict(row)}".rstrip()


def markdown(*reports):
    """RESULTS-<device>.md for one or more runs of the same cases (one per thread setting): the
    header, the table against torch and the peers (every setting side by side), peak memory, then
    each setting's detailed table; a full CPU run appends OPTIMISATIONS.md."""
    first, meta = reports[0], reports[0]["meta"]
    mach, ver = meta["machine"], meta["versions"]
    blas = ver.get("blas", {})
    lines = [f"# Benchmarks on {meta['device']}: tinygrad_lite (scratch) against PyTorch, DeZero and tinygrad", ""]
    if meta["mode"] != "full":
        tiny = " and tiny layers" if meta["mode"] == "tiny" else ""
        lines += [f"**{meta['mode'].upper()} run: shortened workloads{tiny}; "
                  "do not cite these numbers.**", ""]
    lines += [
        f"- Command: `{meta.get('settings_command') or meta['command']}`",
        f"- Date: {meta['date']}; mode {meta['mode']}: {meta['repeat']} timed runs per framework after "
        f"{meta['warmup']} warm-up run(s) (tinygrad: at least 2, its JIT captures on the second call), "
        f"the frameworks alternating in one process (ABCD ABCD ...)",
        f"- Machine: {mach.get('cpu')}, {mach.get('logical_cpus')} logical CPUs"
        f"{', ' + str(mach['usable_cpus']) + ' usable' if 'usable_cpus' in mach else ''}"
        f"{', ' + str(mach['memory_gib']) + ' GiB' if 'memory_gib' in mach else ''}",
        f"- Versions: Python {ver.get('python')}, NumPy {ver.get('numpy')} "
        f"({blas.get('name')} {blas.get('version')}), torch {ver.get('torch', '-')}, DeZero "
        f"{ver.get('dezero', NOT_AVAILABLE)}, tinygrad {ver.get('tinygrad', NOT_AVAILABLE)}"
        + (f", CuPy {ver.get('cupy')}, GPU {ver.get('gpu')}" if meta["device"] == "cuda" else ""),
        f"- Data: {meta['data']}",
    ]
    for report in reports:
        m = report["meta"]
        threads = m.get("threads", {})
        torch = threads.get("torch", {})
        others = "; ".join(f"{PEERS[name]}: {why['not available']}" for name, why in threads.items()
                           if name in PEERS and isinstance(why, dict) and "not available" in why)
        lines.append(
            f"- {_threads_label(report)}: torch intra-op {torch.get('torch_intra_op', '-')} (inter-op "
            f"{torch.get('torch_inter_op', '-')}), "
            f"NumPy's BLAS {threads.get('scratch', {}).get('blas', {}).get('threads')}"
            f", tinygrad {threads.get('tinygrad', {}).get('cpu_threads', '-')}; load average "
            f"{m.get('load_before')} before, {m.get('load_after')} after" + (f". {others}" if others else ""))
    lines += [
        "- Ratio = the framework's median / torch's median in the same run (below 1: faster than torch); "
        f"\"{NOT_AVAILABLE}\": the framework has no such op (or could not start), never a stand-in's number.",
        "",
        "## Against torch and the peers",
        "",
    ]
    header, rule = "| case | workload |", "|---|---|"
    for report in reports:
        label = _threads_label(report)
        header += f" torch, {label} | scratch | DeZero | tinygrad |"
        rule += "---|---|---|---|"
    lines += [header + " target |", rule + "---|"]
    by_name = [{row["name"]: row for row in report["rows"]} for report in reports]
    for row in first["rows"]:
        cells = f"| {row['name']} | {row['title']} |"
        for rows in by_name:
            other = rows.get(row["name"])
            if other is None:
                cells += " - | - | - | - |"
                continue
            torch = other["results"].get("torch")
            cells += (f" {format_seconds(torch.get('median_s')) if torch else '-'} per {other['unit']} | "
                      + " | ".join(_ratio_cell(other, name) for name in ("scratch", "dezero", "tinygrad")) + " |")
        lines.append(cells + f" {_target_text(row)} |")
    lines += _memory_lines(first, meta)
    for report in reports:
        lines += ["", f"## Every case, {_threads_label(report)}: medians (min-max)", ""]
        lines += _detail_lines(report)
    if meta["device"] == "cpu" and meta["mode"] == "full" and os.path.isfile(OPTIMISATIONS):
        with open(OPTIMISATIONS, encoding="utf-8") as log:        # what each optimisation bought
            lines += ["", log.read().rstrip()]
    lines.append("")
    return "\n".join(lines)


def _detail_lines(report):
    rows, meta = report["rows"], report["meta"]
    ceiling = matmul_ceiling(rows)
    lines = [f"GFLOP/s counts only the matmuls and convolutions (2 per multiply-add), against the matmul "
             f"ceiling {f'{ceiling:.1f} GFLOP/s' if ceiling else '(not measured)'} (best of all frameworks).", "",
             "| case | scratch | torch | ratio | target | DeZero | tinygrad | scratch GFLOP/s (% ceiling) "
             "| torch GFLOP/s (% ceiling) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        r = row["results"]
        ratio = row.get("ratio")
        lines.append(
            f"| {row['name']} | {_cell(r.get('scratch'))} | {_cell(r.get('torch'))} | "
            f"{'-' if ratio is None else f'{ratio:.2f}'} | {_target_text(row)} | {_cell(r.get('dezero'))} | "
            f"{_cell(r.get('tinygrad'))} | {_gflops(r.get('scratch'), ceiling)} | {_gflops(r.get('torch'), ceiling)} |")
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
    return lines


def _memory_lines(report, meta):
    memory = report.get("memory") or []
    if not memory:
        return []
    what = ("on the GPU, the training share is CuPy's pool total_bytes (scratch) and "
            "torch.cuda.max_memory_reserved (torch)" if meta["device"] == "cuda" else
            "training share = peak RSS during the steps minus the resident size just before them")
    lines = ["", f"Peak memory of CNN training, {_threads_label(report)} (fresh child process per framework; "
             f"{what}; process = whole peak RSS, libraries included; ratio = scratch / torch):", "",
             "| CNN | steps | scratch: training share (process) | torch: training share (process) "
             "| ratio (training) | ratio (process) | target | DeZero: training share (process) "
             "| tinygrad: training share (process) |", "|---|---|---|---|---|---|---|---|---|"]
    for entry in memory:
        results = {name: dict(r) for name, r in entry["results"].items()}
        if meta["device"] == "cuda":
            for name, gpu_key in (("scratch", "total_bytes"), ("torch", "max_reserved_bytes")):
                if name in results:
                    results[name]["training_bytes"] = (results[name].get("gpu") or {}).get(gpu_key)
        s, t = results.get("scratch", {}), results.get("torch", {})
        ratio, target = entry.get("ratio"), entry.get("target")
        verdict_text = "" if ratio is None or target is None else (" ok" if ratio <= target else " MISSED")

        def share(r):
            if not r:
                return "-"
            if r.get("available") is False:
                return NOT_AVAILABLE
            return f"{format_bytes(r.get('training_bytes'))} ({format_bytes(r.get('peak_bytes'))})"
        lines.append(
            f"| {entry['case']} | {s.get('steps', t.get('steps'))} x batch {s.get('batch', t.get('batch'))} "
            f"| {share(s)} | {share(t)} | {'-' if ratio is None else f'{ratio:.2f}'} "
            f"| {'-' if entry.get('ratio_process') is None else format(entry['ratio_process'], '.2f')} "
            f"| {'-' if target is None else f'<= {target:g}'}{verdict_text} "
            f"| {share(results.get('dezero'))} | {share(results.get('tinygrad'))} |")
    return lines


# ---- files ------------------------------------------------------------------------------------------

def write_atomic(path, data):
    """Write ``data`` (str or bytes) to ``path`` atomically (see ``tinygrad_lite.files``)."""
    return write_bytes(path, data.encode() if isinstance(data, str) else data)


COLOURS = {"scratch": "tab:green", "dezero": "tab:orange", "tinygrad": "tab:purple"}


def chart_png(*reports):
    """PNG bytes of the ratios to torch, one panel per thread setting: per case a bar for scratch,
    DeZero and tinygrad (log scale; "n/a" where a framework lacks the op), a black tick at scratch's
    target; the CNNs' peak-memory ratios last. None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import io
    names = ([row["name"] for row in reports[0]["rows"]]
             + [f"memory {e['case']}" for e in reports[0].get("memory") or []])
    fig, axes = plt.subplots(1, len(reports), figsize=(6.5 * len(reports), 0.36 * len(names) + 1.8),
                             sharex=True, sharey=True, squeeze=False)
    bar = 0.8 / len(COLOURS)
    for ax, report in zip(axes[0], reports):
        rows = {row["name"]: row for row in report["rows"]}
        rows.update({f"memory {e['case']}": {"ratios": e.get("ratios", {}), "target": e.get("target"),
                                             "results": e["results"]} for e in report.get("memory") or []})
        for k, (framework, colour) in enumerate(COLOURS.items()):
            for y, name in enumerate(names):
                row = rows.get(name)
                ratio = None if row is None else row.get("ratios", {}).get(framework)
                offset = y - 0.4 + bar * (k + 0.5)
                if ratio is not None:
                    ax.barh(offset, ratio, height=bar, color=colour,
                            label=PEERS.get(framework, "tinygrad_lite (scratch)") if y == 0 else None)
                elif row is not None and framework in row["results"]:
                    ax.text(1.0, offset, " n/a", va="center", fontsize=6, color=colour)
        for y, name in enumerate(names):
            target = (rows.get(name) or {}).get("target")
            if target is not None:
                ax.plot([target, target], [y - 0.45, y + 0.45], color="black", linewidth=2)
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), names)
        ax.set_title(f"{_threads_label(report)}")
        ax.set_xlabel("time / torch's time, same run (log; below 1: faster)")
        ax.grid(axis="x", which="both", alpha=0.3)
    axes[0][0].invert_yaxis()
    axes[0][0].legend(loc="lower right", fontsize=8)
    meta = reports[0]["meta"]
    fig.suptitle(f"tinygrad_lite (scratch), DeZero and tinygrad against torch on {meta['device']}\n"
                 f"{meta['mode']} run, {meta['date'][:10]}; black tick: scratch's target", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_all(reports, out_dir):
    """Write RESULTS-<cpu|gpu>.md and ratios-<cpu|gpu>.png from every report (one per thread
    setting), and each report's JSON, results-<cpu|gpu>.json for the first, results-<cpu|gpu>-
    <N>thread.json for the others (-quick or -tiny appended for those modes); return the paths."""
    meta = reports[0]["meta"]
    device = {"cuda": "gpu"}.get(meta["device"], meta["device"])
    suffix = device if meta["mode"] == "full" else f"{device}-{meta['mode']}"
    paths = {"markdown": os.path.join(out_dir, f"RESULTS-{suffix}.md"),
             "json": os.path.join(out_dir, f"results-{suffix}.json"),
             "png": os.path.join(out_dir, f"ratios-{suffix}.png")}
    write_atomic(paths["markdown"], markdown(*reports))
    for index, report in enumerate(reports):
        path = paths["json"] if index == 0 else json_path(out_dir, suffix, report)
        paths["json" if index == 0 else f"json {_threads_label(report)}"] = path
        write_atomic(path, json.dumps(report, indent=1, default=_jsonable) + "\n")
    png = chart_png(*reports)
    if png is None:
        print("benchmarks: matplotlib is not installed, so no chart was drawn", file=sys.stderr)
        del paths["png"]
    else:
        write_atomic(paths["png"], png)
    return paths


def json_path(out_dir, suffix, report):
    """results-<suffix>-<N>thread.json: a further thread setting's own file."""
    n = report["meta"].get("threads", {}).get("torch", {}).get("torch_intra_op")
    return os.path.join(out_dir, f"results-{suffix}-{n}thread.json")


def _jsonable(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ---- CPU vs GPU ------------------------------------------------------------------------------------


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
        state = (f"ran {', '.join(d['frameworks'])}"
                 + (f"; {'; '.join(d['missing'].values())}" if d.get("missing") else "")
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

    def result(device_row, device, framework):
        available = devices.get(device, {}).get("available")
        return (device_row or {}).get("results", {}).get(framework) if available else None

    def time_cell(device_row, device, framework, unit):
        r = result(device_row, device, framework)
        if r is None:
            return NOT_AVAILABLE if device in devices else "not run"
        return f"{format_seconds(r['median_s'])} per {unit}"

    def ratio_cell(a, b):
        if a is None or b is None:
            return NOT_AVAILABLE
        return f"{a['median_s'] / b['median_s']:.2f}"

    for name in list(dict.fromkeys(list(cpu_rows) + list(gpu_rows))):
        c, g = cpu_rows.get(name), gpu_rows.get(name)
        row = c or g
        unit = row["unit"]
        sc, sg = result(c, "cpu", "scratch"), result(g, "cuda", "scratch")
        tc, tg = result(c, "cpu", "torch"), result(g, "cuda", "torch")
        pool = (sg or {}).get("memory")
        pool_cell = (f"{format_bytes(pool['used_bytes'])} / {format_bytes(pool['total_bytes'])}"
                     if pool else NOT_AVAILABLE)
        torch_memory = (tg or {}).get("memory")
        torch_cell = format_bytes(torch_memory["max_allocated_bytes"]) if torch_memory else NOT_AVAILABLE
        lines.append(
            f"| {name} | {row['title']} | {time_cell(c, 'cpu', 'scratch', unit)} "
            f"| {time_cell(g, 'cuda', 'scratch', unit)} | {time_cell(c, 'cpu', 'torch', unit)} "
            f"| {time_cell(g, 'cuda', 'torch', unit)} | {ratio_cell(sc, sg)} "
            f"| {ratio_cell(tc, tg)} | {ratio_cell(sg, tg)} | {pool_cell} | {torch_cell} |")
    memory = [(name, entry) for name in meta["devices"] for entry in devices[name].get("memory") or []]
    if memory:
        lines += ["", "Peak memory of CNN training (fresh child process per framework; CPU: training share of "
                  "the peak RSS; GPU: CuPy pool total_bytes / torch max_memory_reserved):", "",
                  "| CNN | device | scratch | torch | ratio |", "|---|---|---|---|---|"]
        for device, entry in memory:
            s, t = entry["results"].get("scratch") or {}, entry["results"].get("torch") or {}
            if device == "cuda":
                s_bytes = (s.get("gpu") or {}).get("total_bytes")
                t_bytes = (t.get("gpu") or {}).get("max_reserved_bytes")
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
