"""Smoke test of ``python -m benchmarks``: with tiny sizes it writes a Markdown table, a JSON file and a
chart with every expected row and a ratio per row. Never asserts a timing (benchmarks are not tests)."""
import json
import math
import statistics
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the benchmarks compare against torch, which is not installed")

from benchmarks import cases, harness, report
from benchmarks.__main__ import main

TINY = ["--tiny", "--repeat", "2", "--warmup", "0", "--threads", "1", "--frameworks", "scratch,torch"]


@pytest.fixture(autouse=True)
def synthetic_data(monkeypatch):
    """These tests check what a run writes, not what it reads: synthetic inputs (the benchmark's own
    fallback) keep them independent of TINYGRAD_LITE_DATA, in this process and its memory children."""
    monkeypatch.delenv("TINYGRAD_LITE_DATA", raising=False)
    monkeypatch.setattr(cases, "_data_cache", {})


def expected_rows():
    return [case.name for case in cases.all_cases("tiny")]


def table_rows(markdown):
    """{case name: {column: cell}} of the main table of a RESULTS file."""
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == len(header) and cells[0] != "CNN":
            rows[cells[0]] = dict(zip(header, cells))
        else:
            break          # the next table (memory) starts
    return rows


def test_tiny_run_writes_table_json_and_chart(tmp_path, capsys):
    assert main(TINY + ["--no-memory", "--out", str(tmp_path)]) == 0
    names = expected_rows()
    assert {"mlp-sigmoid", "mlp-relu", "cnn-small", "cnn-big", "autograd-overhead", "maxpool-C1",
            "conv-C1", "conv-B2", "conv-grouped", "conv1d", "layer-norm", "interp-bilinear", "einsum-bmm",
            "embedding", "cross-entropy-ncl"} <= set(names)

    text = (tmp_path / "RESULTS-cpu-tiny.md").read_text()
    rows = table_rows(text)                      # the first table: against torch and the peers
    assert list(rows) == names
    for name, row in rows.items():
        if name == "attention" and row["scratch"] == "not available":
            continue                             # scaled_dot_product_attention is not in nn yet
        assert math.isfinite(float(row["scratch"])), (name, row["scratch"])
        assert row["DeZero"] == row["tinygrad"] == "-"        # not asked for: not run, not "not available"
    assert "% ceiling" in text                  # GFLOP/s against the matmul ceiling, in the detailed table

    data = json.loads((tmp_path / "results-cpu-tiny.json").read_text())
    assert data["meta"]["device"] == "cpu" and data["meta"]["mode"] == "tiny"
    assert data["meta"]["threads"]["torch"]["torch_intra_op"] == 1
    assert data["meta"]["data"].startswith("synthetic")          # the header says what was read
    assert [row["name"] for row in data["rows"]] == names
    for row in data["rows"]:
        assert set(row["results"]) == {"scratch", "torch"}
        for result in row["results"].values():       # every run kept, and the median is theirs
            if result.get("available") is False:
                continue
            assert len(result["per_run_s"]) == result["runs"] == 2
            assert result["median_s"] == statistics.median(result["per_run_s"])
        if "ratio" in row:
            assert row["ratio"] == row["ratios"]["scratch"] == pytest.approx(
                row["results"]["scratch"]["median_s"] / row["results"]["torch"]["median_s"])
            flops = row["flops_per_unit"]
            assert (row["results"]["scratch"]["gflops"] is None) == (flops == 0)
    assert (tmp_path / "ratios-cpu-tiny.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_full_cpu_results_file_says_what_each_optimisation_bought():
    """The committed RESULTS-cpu.md is regenerated from its JSON with the optimisation log appended;
    a shortened run's file does not carry it (its numbers are not the ones the log discusses)."""
    committed = json.loads((Path(report.__file__).parent / "results-cpu.json").read_text())
    full = report.markdown(committed)
    log = Path(report.OPTIMISATIONS).read_text()
    assert "## What each optimisation bought" in log and full.rstrip().endswith(log.rstrip())
    assert table_rows(full).keys() == {row["name"] for row in committed["rows"]}
    quick = report.markdown(dict(committed, meta=dict(committed["meta"], mode="quick")))
    assert "What each optimisation bought" not in quick


def test_flop_count_matches_hand_count():
    # one dense 784->10 layer, batch 2: forward + weight gradient (no input gradient for the data)
    assert cases.training_flops((("flatten",), ("dense", 10)), (784,), 2) == 2 * (2 * 2 * 784 * 10)
    # conv 1->4 3x3 pad 1 on 28x28, then dense: the dense layer also back-propagates to its input
    layers = (("conv", 4, 3, 1, 1), ("flatten",), ("dense", 10))
    conv_macs, dense_macs = 28 * 28 * 4 * 9, 4 * 28 * 28 * 10
    assert cases.training_flops(layers, (1, 28, 28), 1) == 2 * (2 * conv_macs + 3 * dense_macs)


def test_memory_child_reports_bytes_and_table_renders():
    memory = harness.measure_memory("cpu", "tiny", ["cnn-small"], framework_names=("scratch",))
    scratch = memory[0]["results"]["scratch"]
    assert scratch["peak_bytes"] > 0 and scratch["training_bytes"] >= 0
    fake_torch = dict(scratch, framework="torch")          # only the rendering is checked here
    memory[0]["results"]["torch"] = fake_torch
    memory[0].update(ratio=1.0, ratio_process=1.0, target=cases.MEMORY_TARGET)
    meta = {"device": "cpu", "mode": "tiny", "repeat": 1, "warmup": 0, "date": "2000-01-01T00:00:00",
            "command": "test", "machine": report.machine_info(), "versions": report.versions("cpu"),
            "threads": {}, "data": cases.data_source(), "load_before": None, "load_after": None}
    text = report.markdown({"meta": meta, "rows": [], "memory": memory})
    assert "| cnn-small | 1 x batch 8 |" in text


def test_bad_arguments_are_one_clear_error(capsys):
    assert main(TINY + ["--only", "no-such-case", "--no-memory"]) == 2
    assert "matches no case" in capsys.readouterr().err
    from tinygrad_lite import cuda_available
    if not cuda_available():
        assert main(TINY + ["--device", "cuda", "--only", "matmul-*", "--no-memory", "--out", "/nonexistent"]) == 2
        assert "cuda" in capsys.readouterr().err


def test_the_device_comparison_runs_every_case_on_both_devices_or_says_not_available(tmp_path):
    from tinygrad_lite import cuda_available
    assert main(TINY + ["--device", "cpu,cuda", "--no-memory", "--only", "mlp-relu,conv-C2,matmul-*",
                        "--out", str(tmp_path)]) == 0
    text = (tmp_path / "RESULTS-gpu-tiny.md").read_text()
    rows = table_rows(text)
    assert list(rows) == ["mlp-relu", "conv-C2", "matmul-64"]
    gpu_columns = ["scratch GPU", "torch GPU", "scratch GPU speed-up", "torch GPU speed-up",
                   "scratch GPU / torch GPU", "scratch CuPy pool used / total", "torch max allocated"]
    for name, row in rows.items():
        assert row["scratch CPU"].endswith(f"per {'epoch' if name == 'mlp-relu' else 'call'}")
        assert row["torch CPU"][0].isdigit()
        for column in gpu_columns:
            if cuda_available():
                assert row[column] != "not available", (name, column)
            else:                       # never a number where nothing ran
                assert row[column] == "not available", (name, column, row[column])
    data = json.loads((tmp_path / "results-gpu-tiny.json").read_text())
    assert data["meta"]["devices"] == ["cpu", "cuda"]
    assert data["devices"]["cpu"]["available"] and len(data["devices"]["cpu"]["rows"]) == 3
    if not cuda_available():
        assert not data["devices"]["cuda"]["available"] and "cuda" in data["devices"]["cuda"]["reason"]
        assert "- cuda: not available: " in text
    assert "not applied to GPU rows" in text


def test_cpu_ratio_targets_are_not_applied_to_gpu_rows():
    case = next(c for c in cases.all_cases("tiny") if c.target is not None)
    seconds = {"scratch": [2.0, 2.0], "torch": [1.0, 1.0]}
    assert harness.summarise(case, seconds, {}, "cpu")["target"] == case.target
    gpu_row = harness.summarise(case, seconds, {}, "cuda")
    assert gpu_row["target"] is None
    meta = {"device": "cuda", "mode": "tiny", "repeat": 2, "warmup": 0, "date": "2000-01-01T00:00:00",
            "command": "test", "machine": report.machine_info(), "versions": report.versions("cpu"),
            "threads": {}, "data": "synthetic", "load_before": None, "load_after": None}
    line = next(text for text in report.markdown({"meta": meta, "rows": [gpu_row], "memory": []}).splitlines()
                if text.startswith(f"| {case.name} "))
    assert "MISSED" not in line and " ok" not in line and "<=" not in line


def test_gpu_timing_synchronises_before_each_clock_read(monkeypatch):
    events = []

    class Recording:            # a framework on a device that runs asynchronously
        name, device, warmup_runs = "scratch", "cuda", 0
        def reset_peak_memory(self): pass
        def free_memory(self): pass
        def memory(self): return None
        def sync(self): events.append("sync")

    monkeypatch.setattr(harness.time, "perf_counter", lambda: events.append("clock") or 0.0)
    case = cases.Case("c", "g", "t", "call", 1, 0, lambda fw: lambda: events.append("run"))
    harness.time_case(case, [Recording()], repeat=2, warmup=1)
    # warm-up, then per timed run: wait for the device, read the clock, run, wait again, read the clock
    assert events == ["run", "sync"] + ["sync", "clock", "run", "sync", "clock"] * 2


def test_a_timed_training_step_never_reads_the_loss_back():
    """float(loss) (or .item()) inside a timed run would sync the GPU at every step and be charged to it."""
    import types

    class Loss:
        def backward(self): pass
        def __float__(self): raise AssertionError("float(loss) inside a timed run")
        def item(self): raise AssertionError("loss.item() inside a timed run")
        def __bool__(self): raise AssertionError("the loss was read inside a timed run")

    class Framework:
        def build(self, layers, input_shape): return lambda xb: xb
        def compile(self, step): return step
        def backward(self, y, gy=None, leaves=()): y.backward()
        def sgd(self, model, lr): return types.SimpleNamespace(zero_grad=lambda: None, step=lambda: None)
        def batches(self, x, y, batch): return [(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)]
        def cross_entropy(self, logits, labels): return Loss()

    layers = cases.architectures(cases.MODES["tiny"])["mlp-relu"]
    cases.training_setup(layers, (784,), "mlp", 16, 8, steps=3)(Framework())()


def _fake_frameworks(monkeypatch, lacking="mlp-relu"):
    """scratch and torch as they are, a 'dezero' that cannot start (its package missing) and a
    'tinygrad' with no cross_entropy: the harness's paths for an optional peer, without the peers."""
    from benchmarks import frameworks
    make = frameworks.make

    class NoCrossEntropy(frameworks.Scratch):
        name = "tinygrad"

        def cross_entropy(self, logits, labels):
            raise frameworks.NotAvailable("tinygrad: no cross_entropy here")

    def fake_make(name, device, threads=None):
        if name == "dezero":
            raise ImportError("dezero is not installed (pip install 'tinygrad_lite[peers]')")
        return NoCrossEntropy(device) if name == "tinygrad" else make(name, device, threads)
    monkeypatch.setattr(frameworks, "make", fake_make)


def test_a_peer_without_the_op_or_the_package_gets_not_available_never_a_number(tmp_path, monkeypatch):
    _fake_frameworks(monkeypatch)
    args = TINY[:-2] + ["--frameworks", "scratch,torch,dezero,tinygrad", "--no-memory", "--only",
                        "mlp-relu,avgpool-C1", "--repeat", "4", "--out", str(tmp_path)]
    assert main(args) == 0
    rows = table_rows((tmp_path / "RESULTS-cpu-tiny.md").read_text())
    assert rows["mlp-relu"]["DeZero"] == rows["mlp-relu"]["tinygrad"] == "not available"
    assert rows["avgpool-C1"]["DeZero"] == "not available"
    assert math.isfinite(float(rows["avgpool-C1"]["tinygrad"]))       # it has this op: timed
    data = json.loads((tmp_path / "results-cpu-tiny.json").read_text())
    mlp, pool = data["rows"]
    assert mlp["results"]["tinygrad"] == {"available": False, "reason": "tinygrad: no cross_entropy here"}
    assert "pip install" in mlp["results"]["dezero"]["reason"]
    assert set(mlp["ratios"]) == {"scratch"}
    assert data["meta"]["threads"]["dezero"] == {"not available": mlp["results"]["dezero"]["reason"]}
    # a peer is timed PEER_REPEAT runs, scratch and torch --repeat
    assert pool["results"]["tinygrad"]["runs"] == harness.PEER_REPEAT < pool["results"]["scratch"]["runs"] == 4


def test_one_command_runs_each_thread_setting_in_its_own_process(tmp_path):
    """--threads 2,1: a child per setting with BLAS, torch and tinygrad at that many threads, one
    RESULTS file with both settings side by side, one JSON per setting."""
    args = TINY[:-4] + ["--frameworks", "scratch,torch", "--threads", "2,1", "--only", "mlp-relu,conv-C1",
                        "--no-memory", "--out", str(tmp_path)]
    assert main(args) == 0
    text = (tmp_path / "RESULTS-cpu-tiny.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| case | workload |"))
    assert "torch, 2 threads" in header and "torch, 1 thread |" in header
    both = json.loads((tmp_path / "results-cpu-tiny.json").read_text())
    one = json.loads((tmp_path / "results-cpu-tiny-1thread.json").read_text())
    assert both["meta"]["threads"]["torch"]["torch_intra_op"] == 2
    assert one["meta"]["threads"]["torch"]["torch_intra_op"] == 1
    assert one["meta"]["threads"]["scratch"]["blas"]["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert [row["name"] for row in both["rows"]] == ["mlp-relu", "conv-C1"]
    assert [row["name"] for row in one["rows"]] == ["mlp-relu"]      # conv layers: all cores only
    assert "--threads 2,1" in text


def _peers_installed():
    import importlib.util
    import shutil
    return (all(importlib.util.find_spec(name) for name in ("dezero", "tinygrad"))
            and shutil.which("clang") is not None)


@pytest.mark.skipif(not _peers_installed(), reason="the peers are an optional extra: pip install "
                                                   "'tinygrad_lite[peers]' (and clang for tinygrad)")
def test_the_peers_run_the_same_workloads_and_say_which_ops_they_lack(tmp_path):
    only = "mlp-relu,maxpool-C1,conv-grouped,adaptive-avgpool,cross-entropy-ncl"
    args = TINY[:-2] + ["--frameworks", "scratch,torch,dezero,tinygrad", "--only", only, "--repeat", "1",
                        "--out", str(tmp_path), "--memory-cnn", "cnn-small"]
    assert main(args) == 0
    rows = table_rows((tmp_path / "RESULTS-cpu-tiny.md").read_text())
    lacking = {"dezero": {"conv-grouped", "adaptive-avgpool", "cross-entropy-ncl"},
               "tinygrad": {"adaptive-avgpool"}}
    for name, row in rows.items():
        for peer, column in (("dezero", "DeZero"), ("tinygrad", "tinygrad")):
            if name in lacking[peer]:
                assert row[column] == "not available", (name, peer)
            else:
                assert math.isfinite(float(row[column])), (name, peer, row[column])
    data = json.loads((tmp_path / "results-cpu-tiny.json").read_text())
    memory = data["memory"][0]["results"]
    assert all(memory[name]["training_bytes"] >= 0 for name in ("dezero", "tinygrad"))
    assert data["meta"]["versions"]["dezero"] and data["meta"]["versions"]["tinygrad"]


@pytest.mark.skipif(not _peers_installed(), reason="the peers are an optional extra")
def test_dezero_is_imported_without_leaving_numpy_changed():
    import numpy as np

    from benchmarks.peers import import_dezero
    had = hasattr(np, "int")
    assert import_dezero().__version__
    assert hasattr(np, "int") == had


def test_tinygrad_says_clang_is_missing_when_it_is(monkeypatch):
    from benchmarks import frameworks, peers
    monkeypatch.setattr(peers.shutil, "which", lambda name: None)
    with pytest.raises(frameworks.NotAvailable, match="clang.*apt-get install clang"):
        peers.Tinygrad("cpu")
