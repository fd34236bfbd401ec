"""``python -m benchmarks`` (also ``tinygrad-lite bench``): speed and memory of tinygrad_lite against
torch and the peers (DeZero, tinygrad).

    python -m benchmarks                       full CPU run, 2 threads then 1, every framework installed
                                               -> benchmarks/RESULTS-cpu.md (+ .json per setting, .png)
    python -m benchmarks --quick               shorter runs, same shapes -> out/benchmarks/
    python -m benchmarks --device cpu,cuda     every case on both devices, both frameworks -> RESULTS-gpu.md
                                               (speed-ups; the cuda columns say "not available" without a GPU)
    python -m benchmarks --device cuda         on a GPU only (CuPy vs torch.cuda), one table like the CPU's
    python -m benchmarks --only 'cnn-*,matmul*' --repeat 15
    python -m benchmarks --profile --only mlp-sigmoid     cProfile of the scratch side, no timing table
"""
import argparse
import datetime
import fnmatch
import os
import shlex
import sys

from tinygrad_lite.errors import TinygradLiteError

from . import cases as cases_module
from . import frameworks, harness, report

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
DEVICES = ("cpu", "cuda")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="Speed and memory of tinygrad_lite against PyTorch, same run.")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, or cpu,cuda to compare the devices (default cpu)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="shorter runs, same shapes (for development)")
    size.add_argument("--tiny", action="store_true", help="tiny layers and a few steps (smoke test only)")
    parser.add_argument("--repeat", type=int, help="timed runs per framework and case (default 9; quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed runs per framework before timing (default 1)")
    parser.add_argument("--only", help="comma-separated case names or patterns, e.g. 'mlp-*,conv-C1'")
    parser.add_argument("--out", help="output folder (default: benchmarks/ for a full run, "
                                      "out/benchmarks/ otherwise)")
    parser.add_argument("--threads", help="intra-op threads of torch and tinygrad: N (in this process; NumPy's "
                                           "BLAS threads are left as they are), or settings N,M,... each run in a "
                                           "fresh child process with its BLAS at N threads too (default: "
                                           "os.cpu_count() and 1 for a full CPU run, os.cpu_count() otherwise)")
    parser.add_argument("--frameworks", default=",".join(frameworks.FRAMEWORKS),
                        help=f"comma-separated, from {','.join(frameworks.FRAMEWORKS)} (default: all; scratch "
                             f"and torch always run; a peer that is not installed is reported as not available)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--memory-cnn", default=None,
                        help="comma-separated CNNs for the memory measurement (default: cnn-small,cnn-big "
                             "for a full run, cnn-small otherwise)")
    parser.add_argument("--profile", action="store_true",
                        help="print a cProfile of one run of each selected case (scratch only) and stop")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args(argv)
    args.devices = [d.strip() for d in args.device.split(",") if d.strip()]
    if not args.devices or any(d not in DEVICES for d in args.devices) or len(set(args.devices)) < len(args.devices):
        parser.error(f"--device must be cpu, cuda or cpu,cuda, got {args.device!r}")
    args.device = args.devices[0]
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = [f for f in args.frameworks if f not in frameworks.FRAMEWORKS]
    if unknown:
        parser.error(f"--frameworks: {', '.join(unknown)} is not one of {', '.join(frameworks.FRAMEWORKS)}")
    args.frameworks = [f for f in frameworks.FRAMEWORKS if f in args.frameworks or f in frameworks.REQUIRED]
    try:
        args.settings = [int(n) for n in args.threads.split(",")] if args.threads else None
    except ValueError:
        parser.error(f"--threads must be a number or numbers like 2,1, got {args.threads!r}")
    if args.settings and (min(args.settings) < 1 or len(set(args.settings)) < len(args.settings)):
        parser.error(f"--threads must be distinct numbers >= 1, got {args.threads!r}")
    args.threads = args.settings[0] if args.settings and len(args.settings) == 1 else None
    for name, minimum in (("repeat", 1), ("warmup", 0)):
        value = getattr(args, name)
        if value is not None and value < minimum:
            parser.error(f"--{name} must be >= {minimum}, got {value}")
    return args


def select(cases, only):
    if not only:
        return cases
    patterns = [p.strip() for p in only.split(",") if p.strip()]
    chosen = [c for c in cases if any(fnmatch.fnmatch(c.name, p) or p == c.name for p in patterns)]
    if not chosen:
        raise ValueError(f"--only {only!r} matches no case; the cases are: "
                         f"{', '.join(c.name for c in cases)}")
    return chosen


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    sizes = cases_module.MODES[mode]
    try:
        cases = select(cases_module.all_cases(mode), args.only)
        if args.list:
            for case in cases:
                print(f"{case.name:<18} {case.group:<11} {case.title}")
            return 0
        if args.profile:
            for case in cases:
                print(harness.profile_case(case, args.device))
            return 0
        return run(args, mode, sizes, cases, argv)
    except (TinygradLiteError, ValueError) as exc:
        print(f"benchmarks: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"benchmarks: error: {exc.name or exc} is needed (torch is the referee: pip install "
              f"'tinygrad_lite[dev]')", file=sys.stderr)
        return 2


def run(args, mode, sizes, cases, argv):
    repeat = args.repeat or sizes.repeat
    warmup = sizes.warmup if args.warmup is None else args.warmup
    out_dir = args.out or (PACKAGE_DIR if mode == "full" else os.path.join("out", "benchmarks"))
    if len(args.devices) > 1:
        return compare_devices(args, mode, cases, argv, repeat, warmup, out_dir)
    settings = args.settings or (thread_settings() if mode == "full" and args.device == "cpu" else [])
    if len(settings) > 1:
        return run_settings(args, mode, cases, argv, settings, out_dir)
    load_before = report.load_average()
    print(f"benchmarks: {len(cases)} case(s) on {args.device}, mode {mode}, {repeat} runs + {warmup} "
          f"warm-up per framework; load average {load_before}", flush=True)
    rows, threads = harness.run_all(cases, args.device, repeat, warmup, framework_names=args.frameworks,
                                    threads=args.threads, log=lambda line: print(line, flush=True))
    memory = []
    if not args.no_memory:
        names = (args.memory_cnn.split(",") if args.memory_cnn else
                 ["cnn-small", "cnn-big"] if mode == "full" else ["cnn-small"])
        memory = harness.measure_memory(args.device, mode, names, framework_names=args.frameworks,
                                        threads=args.threads)
        for entry in memory:
            print(f"memory {entry['case']}: ratio {entry.get('ratio')}", flush=True)
    meta = {"device": args.device, "mode": mode, "repeat": repeat, "warmup": warmup,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv),
            "machine": report.machine_info(), "versions": report.versions(args.device),
            "threads": threads, "data": cases_module.data_source(),
            "load_before": load_before, "load_after": report.load_average()}
    paths = report.write_all([{"meta": meta, "rows": rows, "memory": memory}], out_dir)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


def thread_settings():
    """A full CPU run's settings: every CPU, then one (where the per-op overheads and the kernels'
    own speed show without the threads' share)."""
    return [os.cpu_count() or 1, 1] if (os.cpu_count() or 1) > 1 else [1]


def run_settings(args, mode, cases, argv, settings, out_dir):
    """One child ``python -m benchmarks --threads N`` per setting, in a fresh process whose BLAS (and
    OpenMP) also get N threads; the first measures memory, a further one times the training
    workloads and the ops (``cases.SETTING_GROUPS``). Then one RESULTS file of them all."""
    import subprocess
    import tempfile

    from tinygrad_lite.files import read_json
    reports = []
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as scratch:
        for index, n in enumerate(settings):
            chosen = cases if index == 0 else [c for c in cases if c.group in cases_module.SETTING_GROUPS]
            if not chosen:
                continue
            folder = os.path.join(scratch, f"threads-{n}")
            cmd = [sys.executable, "-m", "benchmarks", "--device", args.device, "--threads", str(n),
                   "--out", folder, "--frameworks", ",".join(args.frameworks),
                   "--only", ",".join(c.name for c in chosen)]
            cmd += {"quick": ["--quick"], "tiny": ["--tiny"]}.get(mode, [])
            cmd += ["--repeat", str(args.repeat)] if args.repeat else []
            cmd += ["--warmup", str(args.warmup)] if args.warmup is not None else []
            cmd += ["--memory-cnn", args.memory_cnn] if args.memory_cnn else []
            cmd += ["--no-memory"] if args.no_memory or index else []
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n), OMP_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))
            print(f"benchmarks: setting {index + 1} of {len(settings)}: {n} thread(s)", flush=True)
            done = subprocess.run(cmd, env=env, cwd=os.path.dirname(PACKAGE_DIR))
            if done.returncode:
                print(f"benchmarks: error: the {n}-thread run failed ({done.returncode})", file=sys.stderr)
                return done.returncode
            suffix = "cpu" if mode == "full" else f"cpu-{mode}"
            reports.append(read_json(os.path.join(folder, f"results-{suffix}.json")))
    reports[0]["meta"]["settings_command"] = "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv)
    paths = report.write_all(reports, out_dir)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


def compare_devices(args, mode, cases, argv, repeat, warmup, out_dir):
    """Every case on every device in ``args.devices``, each with every framework that runs there; a
    device or framework that cannot run here (no GPU, a CPU-only torch) is recorded with the reason."""
    load_before = report.load_average()
    per_device = {}
    for device in args.devices:
        names, missing = harness.available_frameworks(device, frameworks.REQUIRED, threads=args.threads)
        if not names:
            per_device[device] = {"available": False, "reason": "; ".join(missing.values())}
            print(f"benchmarks: {device} is not available: {per_device[device]['reason']}", flush=True)
            continue
        print(f"benchmarks: {len(cases)} case(s) on {device} ({', '.join(names)}), mode {mode}, {repeat} "
              f"runs + {warmup} warm-up per framework", flush=True)
        rows, threads = harness.run_all(cases, device, repeat, warmup, framework_names=names,
                                        threads=args.threads, log=lambda line: print(line, flush=True))
        memory = [] if args.no_memory else harness.measure_memory(
            device, mode, args.memory_cnn.split(",") if args.memory_cnn else ["cnn-small"],
            framework_names=names, threads=args.threads)
        per_device[device] = {"available": True, "frameworks": names, "missing": missing, "rows": rows,
                              "threads": threads, "memory": memory}
    meta = {"devices": args.devices, "mode": mode, "repeat": repeat, "warmup": warmup,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": "python -m benchmarks " + " ".join(shlex.quote(a) for a in argv),
            "machine": report.machine_info(), "versions": report.versions("cuda"),
            "data": cases_module.data_source(), "load_before": load_before, "load_after": report.load_average()}
    paths = report.write_comparison({"meta": meta, "devices": per_device}, out_dir)
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
