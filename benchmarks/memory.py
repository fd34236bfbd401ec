"""Child process: peak memory of a few CNN training steps for ONE framework; prints one JSON line.

    python -m benchmarks.memory --framework scratch --device cpu --case cnn-small --mode full

A fresh process per framework, so neither side's allocations, caches or imported libraries count
against the other. Reported, in bytes:

    peak_bytes       the process's peak resident set size (VmHWM; not ru_maxrss, which a child
                     started by fork+exec inherits from its parent): everything, libraries included
                     (torch's shared libraries alone are a few hundred MB)
    baseline_bytes   resident set size after imports, model, optimiser and data, before the first step
    training_bytes   peak during training minus baseline: the memory the training itself needs
                     (the peak mark is reset just before training via /proc/self/clear_refs where
                     Linux allows it; otherwise the whole-process peak is used)

On a GPU the allocator's figures are added: CuPy's pool ``used_bytes``/``total_bytes`` for the
scratch framework, ``torch.cuda.max_memory_allocated`` for torch.
"""
import argparse
import json
import resource
import sys

from .frameworks import FRAMEWORKS


def rss_bytes(field):
    """VmRSS (now) or VmHWM (peak) from /proc/self/status, in bytes; None where there is no /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss():
    """Reset the kernel's peak-RSS mark (Linux >= 4.0); True when it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--framework", required=True, choices=FRAMEWORKS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--case", default="cnn-small", choices=("cnn-small", "cnn-big"))
    parser.add_argument("--mode", default="full", choices=("full", "quick", "tiny"))
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = parser.parse_args(argv)

    from . import cases, frameworks
    layers, x, y, batch, steps = cases.memory_case(args.case, args.mode)
    try:
        fw = frameworks.make(args.framework, args.device, args.threads)
        fw.reset_peak_memory()
        run = cases.training_setup(layers, cases.MNIST_SHAPE, "cnn", len(x), batch, steps)(fw)
    except (frameworks.NotAvailable, ImportError) as exc:
        if args.framework in frameworks.REQUIRED:
            raise
        print(json.dumps({"framework": args.framework, "case": args.case, "available": False, "reason": str(exc)}))
        return 0
    fw.sync()
    baseline, peak_before = rss_bytes("VmRSS"), rss_bytes("VmHWM")
    peak_reset = reset_peak_rss()
    run()
    fw.sync()
    peak_now = rss_bytes("VmHWM")
    if peak_now is None:          # no /proc: ru_maxrss, which after fork+exec may include the parent's
        peak_now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    training_peak = peak_now
    process_peak = max(v for v in (peak_before, peak_now) if v)
    result = {"framework": args.framework, "case": args.case, "steps": steps, "batch": batch,
              "peak_bytes": process_peak, "baseline_bytes": baseline,
              "training_bytes": (training_peak - baseline) if baseline else None,
              "peak_reset": peak_reset, "gpu": fw.memory()}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
