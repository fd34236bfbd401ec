"""The coursework and a class on a Dask cluster (issue 32): ``--jobs N`` and ``--scheduler``.

A real ``dask scheduler`` and two ``dask worker`` processes are started on 127.0.0.1 only (no
dashboard, bounded waits, always stopped by the fixture's finaliser). The same runs are made here
first, one after another in one process: the oracle. A sweep sent to the cluster must give every
run folder with the same metrics.json (all but the wall time and the host); a class graded there the
same rows; a worker killed mid-run must cost only a retry on the other; Ctrl-C must keep the finished
runs and leave the rest to ``--resume``; a worker that does not see the folder must say so. The runs
are a few hundred images for two epochs.
"""
import contextlib
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exercise_copies import course, make_copy, solve
from experiments import executor, sweep
from experiments.checkpoint import LAST
from experiments.registry import GROUPS, RUNS

pytestmark = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="dask.distributed is not installed (pip install 'tinygrad_lite[cluster]')")

RUNS_SHORT = ["A-sigmoid", "B-mlp", "C-cnn-gap-16-random", "C-cnnmlp-gap-16-random"]   # the last on the one before
LONG = "B-cnn"          # 5 steps of ~0.5 s an epoch at this size: long enough to be killed or stopped in training
# two epochs: Ctrl-C is sent once LONG's first epoch is saved, so that it lands in LONG's second one
SHORT = ["--subset", "300", "--epochs", "2", "--no-torch", "--no-progress", "--no-report"]
ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
WAIT = 90               # seconds: the bound on every wait for a process
# --no-dashboard leaves Dask's HTTP server (health, metrics) up, on every interface: keep it on the loopback
LOOPBACK_HTTP = ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]


def tinygrad_lite(*args, env=ENV):
    done = subprocess.run([sys.executable, "-m", "experiments", *args], capture_output=True, text=True,
                          timeout=600, env=env)
    return done.returncode, done.stdout + done.stderr


def metrics(folder, run):
    return json.loads((Path(folder) / run / "metrics.json").read_text())


def results(metrics_, *also):
    """What must not depend on where a run trained: everything but its wall time and host (and ``also``)."""
    return {k: v for k, v in metrics_.items() if k not in ("wall_time_s", "host", *also)}


# ---- the cluster --------------------------------------------------------------------------------------------
class Cluster:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes (no nanny: killing one is its death)."""

    def __init__(self, folder, workers=2, wrap=()):
        self.folder, self.processes, self.workers = Path(folder), [], []
        try:
            self._start(workers, list(wrap))
        except BaseException:
            self.stop()
            raise

    def _spawn(self, command, log):
        with open(self.folder / log, "w") as stderr:        # the child keeps its own descriptor
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=ENV, cwd=self.folder)
        self.processes.append(process)
        return process

    def _wait(self, ready, what):
        deadline = time.monotonic() + WAIT
        while not ready():
            assert all(p.poll() is None for p in self.processes), f"{what}: a dask process exited\n{self.logs()}"
            assert time.monotonic() < deadline, f"{what}: not within {WAIT} s\n{self.logs()}"
            time.sleep(0.1)

    def _start(self, workers, wrap):
        scheduler_file = self.folder / "scheduler.json"
        self._spawn([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", *LOOPBACK_HTTP,
                     "--scheduler-file", str(scheduler_file), "--idle-timeout", "900"], "scheduler.log")
        self._wait(lambda: scheduler_file.is_file() and "address" in scheduler_file.read_text(), "the scheduler")
        self.address = json.loads(scheduler_file.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        for i in range(workers):
            self.workers.append(self._spawn(
                wrap + [sys.executable, "-m", "dask", "worker", self.address, "--host", "127.0.0.1", "--no-nanny",
                        "--nthreads", "1", *LOOPBACK_HTTP, "--name", f"w{i}", "--death-timeout", "60",
                        "--local-directory", str(self.folder / f"w{i}")], f"w{i}.log"))
        self._wait(lambda: all("Registered to" in (self.folder / f"w{i}.log").read_text() for i in range(workers)),
                   "the workers")

    def logs(self):
        return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(self.folder.glob("*.log")))

    def stop(self):
        """The workers, then the scheduler: SIGTERM, and SIGKILL for what still runs 5 s later."""
        for group in (self.processes[1:], self.processes[:1]):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 5
            for process in group:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=15)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    started = Cluster(tmp_path_factory.mktemp("dask"))
    yield started
    started.stop()


@pytest.fixture(scope="session")
def here(tmp_path_factory, request):
    """The oracle: the runs made in one process, one after another, as without dask (which it must not
    load). Made once per test session, also when pytest-xdist's workers share the tests out."""
    shared = getattr(request.config, "workerinput", None) is not None     # an xdist worker: share with the others
    root = tmp_path_factory.getbasetemp().parent if shared else tmp_path_factory.mktemp("here")
    out = root / "cluster-oracle"
    from filelock import FileLock
    with FileLock(str(root / "cluster-oracle.lock")):
        if not (out / "made").is_file():
            program = ("import sys\nfrom experiments.cli import main\ncode = main(sys.argv[1:])\n"
                       "print('dask loaded:', 'distributed' in sys.modules or 'dask' in sys.modules)\nsys.exit(code)")
            done = subprocess.run([sys.executable, "-c", program, "run", *RUNS_SHORT, LONG, *SHORT, "--out", str(out)],
                                  capture_output=True, text=True, timeout=600, env=ENV)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "dask loaded: False" in done.stdout
            (out / "made").touch()
    return out


# ---- the tests ----------------------------------------------------------------------------------------------
def test_a_sweep_on_the_cluster_makes_the_runs_made_here(cluster, here, tmp_path):
    code, said = tinygrad_lite("run", *RUNS_SHORT, *SHORT, "--out", str(tmp_path), "--scheduler", cluster.address)
    assert code == 0, said + cluster.logs()
    assert f"4 runs on the Dask cluster at {cluster.address}" in said
    for run in RUNS_SHORT:
        assert f"] {run}: " in said                                  # a line per finished run
        made = metrics(tmp_path, run)
        assert results(made) == results(metrics(here, run)), run    # same seed, same numbers, any worker
        assert made["host"]
    finished = [line for line in said.splitlines() if line.startswith("[")]
    assert [line.split("]")[0] for line in finished] == ["[1/4", "[2/4", "[3/4", "[4/4"], said
    hosts = {run: metrics(tmp_path, run)["host"] for run in RUNS_SHORT}
    assert all(any(f"] {run}: " in line and f" on {hosts[run]}" in line for line in finished) for run in RUNS_SHORT)
    assert all(line.endswith(" left)") for line in finished[:-1]) and not finished[-1].endswith(" left)"), said
    assert not list(tmp_path.glob(".tinygrad-lite-shared-*"))       # the marker is cleaned up
    code, summary = tinygrad_lite("report", "--out", str(tmp_path))
    assert code == 0 and all(f"`{run}`" in summary for run in RUNS_SHORT), summary


def test_jobs_2_is_a_local_cluster_with_the_same_results(here, tmp_path):
    code, said = tinygrad_lite("run", *RUNS_SHORT[:2], *SHORT[:-1], "--out", str(tmp_path), "--jobs", "2")
    assert code == 0, said
    assert "2 runs on a local Dask cluster of 2 worker processes" in said
    if importlib.util.find_spec("bokeh") is not None:                 # Dask's dashboard needs bokeh
        assert "; dashboard: http://127.0.0.1:" in said
    for run in RUNS_SHORT[:2]:
        made = metrics(tmp_path, run)
        assert results(made) == results(metrics(here, run)), run
        assert f"| host | {made['host']} |" in (tmp_path / run / "REPORT.md").read_text()     # which worker ran it


def test_a_class_graded_on_the_cluster_gets_the_rows_graded_here(cluster, tmp_path):
    records = tmp_path / "records"
    course(records, "c32", [1, 3])
    copies = []
    for i, solved in enumerate([[1, 3], [1], [], [1, 3], [3], []]):
        copies.append(str(solve(make_copy(tmp_path / "class" / f"s{i}", [1, 3], "c32", records), solved)))
    grade = ["exercise", "grade", "--course", "c32", "--records", str(records), "--seed", "7", "--timeout", "60"]
    code, said = tinygrad_lite(*grade, "--out", str(tmp_path / "here"), "--jobs", "1", *copies)
    assert code == 0, said
    code, said = tinygrad_lite(*grade, "--out", str(tmp_path / "there"), "--scheduler", cluster.address, *copies)
    assert code == 0, said + cluster.logs()
    assert "6 copies on the Dask cluster" in said

    def rows(out):
        found = {p.name: json.loads(p.read_text()) for p in (tmp_path / out / "rows").glob("*.json")}
        for row in found.values():          # how long a copy took is not a grade
            row.pop("seconds")
            for task in row["tasks"].values():
                task.pop("seconds")
        return found
    here_rows = rows("here")
    assert len(here_rows) == 6 and [r["score"] for _, r in sorted(here_rows.items())] == [2, 1, 0, 2, 1, 0]
    assert rows("there") == here_rows


@contextlib.contextmanager
def finishing(process):
    """Kill ``process`` and close its pipe if the block fails before it ended: an unclosed pipe would
    surface as a ResourceWarning (an error here) in whatever test the garbage collector runs next."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_a_worker_killed_mid_run_costs_a_retry_on_the_other(here, tmp_path):
    (tmp_path / "dask").mkdir()
    killed = Cluster(tmp_path / "dask", workers=2)
    try:
        out = tmp_path / "out"
        sweeping = subprocess.Popen([sys.executable, "-m", "experiments", "run", LONG, "B-mlp", *SHORT,
                                     "--out", str(out), "--scheduler", killed.address],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
        with finishing(sweeping):
            holder = out / LONG / ".run.holder"
            deadline = time.monotonic() + WAIT
            while not holder.is_file() and time.monotonic() < deadline and sweeping.poll() is None:
                time.sleep(0.05)
            time.sleep(0.5)
            pid = json.loads(holder.read_text())["pid"]
            assert pid in [w.pid for w in killed.workers]                # only a worker this test started
            os.kill(pid, signal.SIGKILL)
            said, _ = sweeping.communicate(timeout=300)
        assert sweeping.returncode == 0, said + killed.logs()
        assert f"{LONG}: its worker was lost; running it again on" in said
        for run in (LONG, "B-mlp"):
            assert results(metrics(out, run)) == results(metrics(here, run)), run
    finally:
        killed.stop()


def test_ctrl_c_keeps_the_finished_runs_and_resume_makes_the_rest(cluster, here, tmp_path):
    command = [sys.executable, "-m", "experiments", "run", LONG, *RUNS_SHORT, *SHORT,
               "--out", str(tmp_path), "--scheduler", cluster.address]
    sweeping = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    with finishing(sweeping):
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and sweeping.poll() is None and not (   # a run done, LONG in epoch 2
                set(tmp_path.glob("*/metrics.json")) - {tmp_path / LONG / "metrics.json"}
                and (tmp_path / LONG / LAST).is_file()):
            time.sleep(0.05)
        sweeping.send_signal(signal.SIGINT)
        said, _ = sweeping.communicate(timeout=WAIT)
    assert sweeping.returncode == 130, said + cluster.logs()
    assert "interrupted:" in said and "--resume" in said.splitlines()[-1]
    assert f"{LONG}: stopped on" in said and "checkpoint saved" in said, said     # it saved its place
    finished = {p.parent.name: p.read_bytes() for p in tmp_path.glob("*/metrics.json")}
    assert finished and LONG not in finished
    code, resumed = tinygrad_lite(*command[3:], "--resume")
    assert code == 0, resumed + cluster.logs()
    for run in finished:
        assert (tmp_path / run / "metrics.json").read_bytes() == finished[run], run      # untouched
    for run in [LONG, *RUNS_SHORT]:          # the stopped one continued from its checkpoint to the same end
        assert results(metrics(tmp_path, run), "notes") == results(metrics(here, run), "notes"), run


def test_a_worker_that_cannot_see_the_folder_fails_the_job_saying_so(tmp_path):
    hidden = tmp_path / "shared"
    hidden.mkdir()
    (tmp_path / "dask").mkdir()
    wrap = ["bwrap", "--dev-bind", "/", "/", "--tmpfs", str(hidden)]      # the worker sees an empty folder there
    if shutil.which("bwrap") is None or subprocess.run(wrap + ["true"], capture_output=True).returncode != 0:
        pytest.skip("bubblewrap cannot hide a folder from one worker here (it needs mount namespaces)")
    blind = Cluster(tmp_path / "dask", workers=1, wrap=wrap)
    try:
        code, said = tinygrad_lite("run", "B-mlp", *SHORT, "--out", str(hidden / "runs"),
                                   "--scheduler", blind.address)
        assert code == 1, said
        assert "B-mlp failed on" in said and "retrying once" in said
        assert "B-mlp: FAILED" in said and "cannot see" in said and "docs/cluster.md" in said
        assert not (hidden / "runs" / "B-mlp").exists()              # nothing trained into the worker's own folder
        records = tmp_path / "records"
        course(records, "c32", [1])
        copy = solve(make_copy(hidden / "s0", [1], "c32", records), [1])
        code, said = tinygrad_lite("exercise", "grade", "--course", "c32", "--records", str(records), "--out",
                                   str(tmp_path / "grades"), "--scheduler", blind.address, str(copy))
        assert code == 0, said
        row = json.loads((tmp_path / "grades/rows/s0.json").read_text())
        assert row["score"] == 0 and "grading this copy failed: NotShared" in row["notes"][0], row["notes"]
        assert "cannot open the copy" in row["notes"][0]
    finally:
        blind.stop()


# ---- without a cluster ----------------------------------------------------------------------------------------
def test_longest_first_from_the_committed_wall_times():
    seconds = sweep.expected_seconds()
    assert seconds["B-cnn-k33322"] == 3660 and seconds["B-mlp"] == 9.2 and seconds["A-sigmoid"] == 81   # RESULTS.md
    jobs = [executor.Job(name, print, (), seconds[name], (RUNS[name].features_from,) if RUNS[name].features_from
                         else ()) for name in GROUPS["all"]]
    rank = executor.priorities(jobs)
    order = sorted(rank, key=lambda name: -rank[name])
    assert order[0] == "D-cnn-lenet"                                 # 1 h 11 min, the longest
    assert rank["C-cnn-max-wider-k5-xavier"] == seconds["C-cnn-max-wider-k5-xavier"] + seconds[
        "C-cnnmlp-max-wider-k5-xavier"]
    assert max(order.index(n) for n in GROUPS["all-B"] if "cnn" in n and n != "B-cnn-features") < min(
        order.index(n) for n in GROUPS["all-B"] if "mlp" in n)  # report B's CNNs before its MLPs
    assert order.index("B-cnn-lr0.1") < order.index("B-cnn-features")   # a backbone before what waits for it


def test_placement(monkeypatch):
    monkeypatch.delenv(executor.SCHEDULER_ENV, raising=False)
    assert executor.placement(None) is None and executor.placement(1) is None
    assert executor.placement(4) == ("local", 4) and executor.placement(None, default_jobs=3) == ("local", 3)
    assert executor.placement(4, count=1) is None                    # no cluster to run one job
    assert executor.placement(None, "tcp://lab1:8786", count=1) == ("remote", "tcp://lab1:8786")
    assert executor.placement(None, "tcp://lab1:8786") == ("remote", "tcp://lab1:8786")
    monkeypatch.setenv(executor.SCHEDULER_ENV, "tcp://lab2:8786")
    assert executor.placement(None) == ("remote", "tcp://lab2:8786")
    assert executor.placement(1) is None                              # an explicit --jobs beats the environment
    with pytest.raises(ValueError, match="choose one"):
        executor.placement(2, "tcp://lab1:8786")
    with pytest.raises(ValueError, match="tcp://host:8786"):
        executor.placement(None, "lab1")


def test_without_dask_jobs_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)             # as if not installed
    with pytest.raises(executor.ClusterUnavailable, match=r"tinygrad_lite\[cluster\].*--jobs 1"):
        with executor.connect(("local", 2)):
            pass


def test_a_worker_checks_the_marker(tmp_path):
    context = executor._Context("abc", "stop", "topic", str(tmp_path / "marker"))
    with pytest.raises(executor.NotShared, match="cannot see .* every worker sees"):
        executor.check_marker(context)
    (tmp_path / "marker").write_text("another sweep's")
    with pytest.raises(executor.NotShared):
        executor.check_marker(context)
    (tmp_path / "marker").write_text("abc")
    executor.check_marker(context)


def test_local_workers_share_the_cores_out_in_blas_threads(monkeypatch):
    """--jobs N: each worker process gets cores // N BLAS/OpenMP threads, unless the environment sets
    its own (it wins), and starts without Dask's malloc trim threshold (docs/cluster.md)."""
    monkeypatch.setattr(executor, "cores", lambda: 8)                # 4 threads for each of 2 workers
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    monkeypatch.delenv(executor.SLOW_MALLOC, raising=False)
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", executor.SLOW_MALLOC)
    with executor.connect(("local", 2)) as running:
        seen = running.client.run(lambda: [os.environ.get(name) for name in names])
    assert len(seen) == 2
    assert all(values == ["1", "4", "4", None] for values in seen.values()), seen


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("progress", [True, False], ids=["bar", "--no-progress"])
def test_the_sweeps_bar_is_one_for_all_jobs_and_off_with_no_progress(monkeypatch, capsys, progress):
    """On a terminal the sweep draws one bar for all its jobs; --no-progress (passed as progress=False)
    used to leave it drawn, turning off only each run's own bar."""
    pytest.importorskip("tqdm")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    where = type("Where", (), {"where": "a test", "dashboard": None})()
    jobs = [executor.Job(name, print, (), 10.0, ()) for name in ("a", "b", "c")]
    sweep_ = executor._Sweep(jobs, print, "runs", 0, where, progress)
    sweep_.close()
    assert "3 runs on a test" in capsys.readouterr().out
    assert ("runs 0/3" in terminal.getvalue()) is progress, terminal.getvalue()
