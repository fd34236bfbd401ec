"""The stages of ``scripts/gpu_check.sh``, one per call: ``python scripts/gpu_check.py --stage N``.

Each stage writes ``$OUT/stage<N>.json`` as soon as it starts ({"status": "running"}) and again with
its result, so a stage killed by its time cap leaves the earlier stages' files and its own marker.

    0  CuPy really works: cuda_available(), one compiled elementwise kernel, one cuBLAS matmul, one
       random draw (without this, every CUDA test would *skip* and pytest would stay green)
    1  the CUDA tests: pytest -m cuda with JUnit XML; fails if any test skips with "no CUDA device"
    2  short replays on the device with a run folder, one MLP (with dropout) and one CNN, each
       interrupted and resumed once, against the same uninterrupted run there and on the CPU
    3  the benchmark on both devices (python -m benchmarks --device cpu,cuda)
    4  the dataset loaders against torchvision.datasets (where torchvision imports)

``--device cpu`` is the CPU dry run: stage 0 is skipped, stage 1 only collects the CUDA tests, and
stages 2-4 run end to end with the CPU standing in for the GPU.
"""
import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REPLAYS = ("B-mlp-decay-dropout", "C-cnn-gap-16-random")     # an MLP with dropout, a small CNN
REPLAY_SUBSET, REPLAY_EPOCHS, STOP_AT_ITERATION = 1000, 2, 7    # stopped mid-epoch 1
BENCH_CASES = "mlp-*,cnn-small,conv-C2,maxpool-C1,autograd-overhead,matmul-*"
NO_CUDA = "no CUDA device"                       # the reason every CUDA test skips without a GPU


def write_result(out, stage, result):
    path = Path(out) / f"stage{stage}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str) + "\n")
    os.replace(tmp, path)


# ---- 0: does CuPy work at all ---------------------------------------------------------------------

def stage0(device, out):
    from tinygrad_lite import backend
    from tinygrad_lite.errors import DeviceError
    if device == "cpu":
        return {"ok": True, "skipped": "--device cpu: a CPU dry run, CuPy is not checked"}
    try:
        backend.resolve_device("cuda")
    except DeviceError as exc:
        return {"ok": False, "reason": str(exc)}
    cupy = backend.array_module(device="cuda")
    checks = {}

    def check(name, compute):
        try:
            checks[name] = {"ok": bool(compute())}
        except Exception as exc:  # each check reports its own failure; the stage fails if any does
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    square = cupy.ElementwiseKernel("float32 x", "float32 y", "y = x * x + 1", "gpu_check_square")
    check("elementwise kernel", lambda: np.array_equal(
        cupy.asnumpy(square(cupy.arange(4, dtype=cupy.float32))), [1, 2, 5, 10]))
    a, b = np.random.default_rng(0).standard_normal((2, 256, 256)).astype(np.float32)
    check("cuBLAS matmul", lambda: np.allclose(cupy.asnumpy(cupy.asarray(a) @ cupy.asarray(b)), a @ b,
                                               rtol=1e-3, atol=1e-3))

    def draw():
        values = cupy.asnumpy(backend.rng("cuda").random(10_000, dtype=np.float32))
        return values.min() >= 0 and values.max() < 1 and abs(values.mean() - 0.5) < 0.02
    check("random draw", draw)
    import tinygrad_lite as tl
    check("Tensor round trip", lambda: tl.Tensor([1.0, 2.0], device="cuda").numpy().tolist() == [1.0, 2.0])
    properties = cupy.cuda.runtime.getDeviceProperties(0)
    info = {"gpu": properties["name"].decode() if isinstance(properties["name"], bytes) else properties["name"],
            "cupy": cupy.__version__, "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
            "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
            "memory_gib": round(cupy.cuda.Device(0).mem_info[1] / 2 ** 30, 1)}
    failed = [name for name, c in checks.items() if not c["ok"]]
    return {"ok": not failed, "checks": checks, **info,
            **({"reason": f"CuPy imports but {', '.join(failed)} failed"} if failed else {})}


# ---- 1: the CUDA tests ---------------------------------------------------------------------------

def stage1(device, out):
    junit = Path(out) / "stage1-junit.xml"
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if device == "cpu":
        command.append("--collect-only")
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    (Path(out) / "stage1-pytest.txt").write_text(done.stdout[-20_000:] + done.stderr[-5_000:])
    if device == "cpu":
        selected = [line for line in done.stdout.splitlines() if "::" in line]
        return {"ok": done.returncode == 0 and bool(selected), "dry_run": "collected only",
                "selected": len(selected), "pytest_rc": done.returncode}
    counts, no_cuda, failures = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}, [], []
    if junit.is_file():
        for case in ElementTree.parse(junit).getroot().iter("testcase"):
            counts["tests"] += 1
            name = f"{case.get('classname')}::{case.get('name')}"
            for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                element = case.find(kind)
                if element is not None:
                    counts[key] += 1
                    message = element.get("message", "") + (element.text or "")
                    if kind == "skipped" and NO_CUDA in message:
                        no_cuda.append(name)
                    elif kind != "skipped":
                        failures.append(f"{name}: {element.get('message', '')[:300]}")
    ok = done.returncode == 0 and counts["tests"] > 0 and not no_cuda
    return {"ok": ok, "pytest_rc": done.returncode, **counts, "skipped_no_cuda": no_cuda[:50],
            "failed": failures[:50]}


# ---- 2: replays, interrupted and resumed ---------------------------------------------------------

def _weights(run_dir):
    with np.load(Path(run_dir) / "model.npz") as archive:
        return {k: archive[k] for k in archive.files}


def _replay(name, device, folder, stop_at=None, resume=False):
    from experiments import registry, runner
    from experiments.run_folder import TrainingInterrupted
    from tinygrad_lite.files import read_json
    options = runner.RunOptions(device=device, overrides=runner.Overrides(epochs=REPLAY_EPOCHS),
                                subset=REPLAY_SUBSET, out=str(folder),
                                torch=False, progress=False, report=False, resume=resume,
                                step_hook=None if stop_at is None else
                                (lambda epoch, batch, iteration: iteration == stop_at))
    start = time.perf_counter()
    try:
        run_dir = runner.run(registry.RUNS[name], options)
    except TrainingInterrupted as exc:
        return {"interrupted_at": exc.batch, "epoch": exc.epoch, "seconds": time.perf_counter() - start}
    metrics = read_json(Path(run_dir) / "metrics.json")
    return {"final": metrics["final"], "notes": metrics["notes"],
            "seconds": time.perf_counter() - start, "run_dir": str(run_dir)}


def stage2(device, out, write=None):
    work = Path(out) / "stage2-runs"
    results = {"device": device, "subset": REPLAY_SUBSET, "epochs": REPLAY_EPOCHS, "runs": {}}
    ok = True
    for name in REPLAYS:
        entry = results["runs"][name] = {}
        try:
            entry["cpu"] = _replay(name, "cpu", work / "cpu")
            entry["device"] = _replay(name, device, work / device / "whole")
            entry["stopped"] = _replay(name, device, work / device / "resumed", stop_at=STOP_AT_ITERATION)
            entry["resumed"] = _replay(name, device, work / device / "resumed", resume=True)
            whole, resumed = _weights(entry["device"]["run_dir"]), _weights(entry["resumed"]["run_dir"])
            difference = max(float(np.max(np.abs(whole[k].astype(np.float64) - resumed[k]))) for k in whole)
            entry["resumed_vs_whole_max_abs"] = difference
            entry["resumed_bit_identical"] = all(np.array_equal(whole[k], resumed[k]) for k in whole)
            for split in ("train", "val", "test"):
                entry[f"{split}_acc_device_minus_cpu"] = (entry["device"]["final"][f"{split}_acc"]
                                                          - entry["cpu"]["final"][f"{split}_acc"])
            entry["ok"] = ("interrupted_at" in entry["stopped"] and difference <= 1e-5
                           and all(np.isfinite(entry["device"]["final"][f"{s}_loss"]) for s in ("train", "test")))
        except Exception:  # the traceback goes into the result file; the next run still runs
            entry["ok"], entry["error"] = False, traceback.format_exc()[-4000:]
        ok = ok and entry["ok"]
        if write:
            write(dict(results, ok=ok, status="running"))
    return dict(results, ok=ok)


# ---- 3: the benchmark on both devices ------------------------------------------------------------

def stage3(device, out):
    bench_out = Path(out) / "benchmarks"
    size = ["--tiny", "--repeat", "2", "--warmup", "0"] if device == "cpu" else ["--quick", "--repeat", "3"]
    command = [sys.executable, "-m", "benchmarks", "--device", "cpu,cuda", *size, "--only", BENCH_CASES,
               "--no-memory", "--out", str(bench_out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    (Path(out) / "stage3-benchmarks.txt").write_text(done.stdout[-20_000:] + done.stderr[-5_000:])
    written = sorted(str(p) for p in bench_out.glob("*")) if bench_out.is_dir() else []
    return {"ok": done.returncode == 0 and bool(written), "rc": done.returncode, "command": command,
            "files": written}


# ---- 4: the loaders against torchvision ----------------------------------------------------------

def stage4(device, out):
    try:
        import torchvision.datasets as tv
    except ImportError as exc:
        return {"ok": True, "skipped": f"torchvision does not import ({exc})"}
    from tinygrad_lite.datasets import load_dataset
    root = os.environ.get("TINYGRAD_LITE_DATA")
    if not root:
        return {"ok": False, "reason": "TINYGRAD_LITE_DATA is not set"}
    results, ok = {}, True
    with tempfile.TemporaryDirectory() as scratch:
        for name, folder, cls in (("mnist", "MNIST", tv.MNIST), ("fashion-mnist", "FashionMNIST", tv.FashionMNIST)):
            raw = Path(scratch) / folder / "raw"
            raw.mkdir(parents=True)
            for gz in (Path(root) / name).glob("*-ubyte.gz"):   # torchvision reads them unpacked
                with gzip.open(gz) as src, open(raw / gz.stem, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            (x_train, y_train), (x_test, y_test) = load_dataset(name, root, download=False)
            same = {}
            for split, x, y, train in (("train", x_train, y_train, True), ("test", x_test, y_test, False)):
                reference = cls(scratch, train=train, download=False)
                same[split] = bool(np.array_equal(x.reshape(reference.data.shape), reference.data.numpy())
                                   and np.array_equal(y, reference.targets.numpy()))
            results[name] = same
            ok = ok and all(same.values())
    return {"ok": ok, "equal_to_torchvision": results}


STAGES = {0: stage0, 1: stage1, 2: stage2, 3: stage3, 4: stage4}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/gpu_check.py")
    parser.add_argument("--stage", type=int, required=True, choices=sorted(STAGES))
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_result(args.out, args.stage, {"stage": args.stage, "device": args.device, "status": "running"})

    def write(result):
        write_result(args.out, args.stage, {"stage": args.stage, "device": args.device, **result,
                                            "seconds": round(time.perf_counter() - start, 1)})
    try:
        result = (STAGES[args.stage](args.device, args.out, write) if args.stage == 2
                  else STAGES[args.stage](args.device, args.out))
    except Exception:  # a crash is a result too: written down, and the stage fails
        result = {"ok": False, "reason": "the stage crashed", "traceback": traceback.format_exc()[-6000:]}
    write(dict(result, status="done"))
    if not result["ok"]:
        reason = result.get("reason") or "see " + str(Path(args.out) / f"stage{args.stage}.json")
        print(f"gpu_check: stage {args.stage} failed: {' '.join(str(reason).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
