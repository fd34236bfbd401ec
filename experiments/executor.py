"""Many independent jobs (replays, graded copies) on a Dask cluster: one laptop, lab machines, SLURM.

    where = placement(jobs=4, scheduler=None)          # None: in this process, as without dask
    with connect(where) as executor:                   # a LocalCluster, or a Client of a running one
        interrupted = executor.run(jobs, on_finished, units="runs", shared=out_dir)

``--jobs N`` starts a local cluster of N single-threaded worker processes (BLAS threads per worker
= cores // N, so N workers do not fight over the cores); ``--scheduler tcp://host:8786`` (or
``TINYGRAD_LITE_SCHEDULER``) sends the jobs to a cluster the user started (``dask scheduler`` and
``dask worker`` on lab machines, ``dask_jobqueue`` on SLURM: docs/cluster.md). Dask schedules;
this module only says what to run and reports it:

- longest first: each ``Job`` says how long it is expected to take, and its Dask priority is the
  longest chain of work that starts with it (a backbone before the run trained on its features);
- ``retries=1``: a job that raises, or whose worker dies, runs once more (another worker if there is
  one); the retry and the final failure are printed with the job's name, and the other jobs go on;
- one progress bar (jobs done / total; time left = elapsed x expected work left / expected work
  done) and a line per finished job; the dashboard's link when the cluster has one;
- Ctrl-C: every job is told to stop (``stop_requested``): one not started returns at once, a running
  replay after its step, with its checkpoint; they are waited for a short while, then cancelled.

A job's folder must be one every worker sees: ``shared`` names it, the client writes a marker file
there, and a worker that cannot read it fails the job saying so (``NotShared``).
"""
import contextlib
import dataclasses
import os
import queue
import secrets
import socket
import sys
import threading
import time
from pathlib import Path

from tinygrad_lite.errors import TinygradLiteError

SCHEDULER_ENV = "TINYGRAD_LITE_SCHEDULER"
INSTALL = "pip install 'tinygrad_lite[cluster]'"
STOP_GRACE_SECONDS = 60       # after Ctrl-C: how long running jobs get to save their state and stop
STOP_POLL_SECONDS = 0.25      # a running job asks the scheduler whether to stop at most this often (~1 ms)
OUTPUT_TAIL = 3000            # characters of a failed job's output shown with its failure
# Dask's nanny sets this (65536) to hand freed memory back to the OS; glibc then stops raising its mmap
# threshold, and every large NumPy temporary is a fresh mmap: ~20x the page faults, a third more CPU
# per epoch here. Local workers start without it; a running cluster's workers are checked for it.
SLOW_MALLOC = "MALLOC_TRIM_THRESHOLD_"


class ClusterUnavailable(TinygradLiteError, RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached."""


class NotShared(TinygradLiteError, RuntimeError):
    """The worker does not see the folder the client wrote (not on a shared filesystem)."""


class JobFailed(RuntimeError):
    """A job's own exception, as text (a job's exception classes need not unpickle on the client)."""


@dataclasses.dataclass(frozen=True)
class Job:
    name: str                 # a run name or a copy's row key: in every line about the job
    function: object          # a module-level function (Dask sends it by reference) ...
    args: tuple               # ... and its arguments (small, picklable): function(*args) runs on a worker
    seconds: float = 1.0      # expected wall time: longer work starts first
    after: tuple = ()         # names of jobs that must finish first (a run on another run's features)


@dataclasses.dataclass
class Finished:
    """What became of one job."""
    name: str
    ok: bool
    value: object = None      # what the function returned
    host: str = ""            # the worker's host
    error: str = ""           # why it failed (after its retry)
    output: str = ""          # the end of what it printed (failures only)
    stopped: bool = False     # it stopped because of Ctrl-C (its state saved where it can be)


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every job carries besides its own arguments."""
    token: str
    stop_event: str
    topic: str
    marker: str = None        # path of the marker file in the shared folder, or None
    version: str = ""         # the client's tinygrad_lite


# ---- where the jobs run ----------------------------------------------------------------------------------
def scheduler_address(option=None):
    """``--scheduler``, else ``$TINYGRAD_LITE_SCHEDULER``, else None."""
    return option or os.environ.get(SCHEDULER_ENV) or None


def dask_installed():
    """Whether ``dask.distributed`` can be imported (without importing it)."""
    import importlib.util
    return importlib.util.find_spec("distributed") is not None


def placement(jobs=None, scheduler=None, default_jobs=1, count=None):
    """None (one job at a time in this process, no Dask), ("local", n) or ("remote", address), for
    ``count`` jobs (a local cluster for one job is none).

    An explicit ``--jobs`` beats ``$TINYGRAD_LITE_SCHEDULER``; ``--jobs`` and ``--scheduler`` together
    are a mistake (a local cluster or a running one, not both)."""
    if jobs is not None and scheduler:
        raise ValueError(f"--jobs {jobs} and --scheduler {scheduler}: choose one (--jobs starts a local "
                         f"cluster of that many workers; --scheduler sends the jobs to a running one)")
    address = scheduler or (None if jobs is not None else scheduler_address())
    if address:
        if "://" not in address and ":" not in address:
            raise ValueError(f"--scheduler expects an address such as tcp://host:8786, got {address!r}")
        return ("remote", address)
    jobs = default_jobs if jobs is None else jobs
    return ("local", jobs) if jobs > 1 and (count is None or count > 1) else None


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def blas_threads(workers):
    """BLAS/OpenMP threads per local worker: the cores shared out, at least one."""
    return max(1, cores() // workers)


@contextlib.contextmanager
def connect(where, workers_needed=None):
    """An ``Executor`` on a local cluster or a running one (``placement``); closes what it started."""
    try:
        import distributed
    except ImportError:
        raise ClusterUnavailable(f"running jobs in parallel needs Dask: {INSTALL} (or --jobs 1 to run "
                                 f"them one at a time here)") from None
    kind, value = where
    cluster = None
    if kind == "local":
        import dask
        workers = max(1, min(value, workers_needed or value))
        import logging
        # BLAS threads are read when NumPy loads: set before the worker process starts ("pre-spawn",
        # where the environment's own values win); a worker that dies takes its job to another once
        # (retries=1 covers a job that raises)
        settings = {f"distributed.nanny.pre-spawn-environ.{name}": blas_threads(workers)
                    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        settings[f"distributed.nanny.pre-spawn-environ.{SLOW_MALLOC}"] = None
        with dask.config.set({"distributed.scheduler.allowed-failures": 1, **settings}):
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",   # this machine only
                memory_limit=0,                                    # runs differ in size: no per-worker cap
                silence_logs=logging.ERROR)
        client = distributed.Client(cluster)
        client.run(_ignore_ctrl_c)          # Ctrl-C in a terminal reaches the workers too: the client decides
    else:
        try:
            client = distributed.Client(value, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise ClusterUnavailable(f"cannot reach the Dask scheduler at {value} ({error}); start one with "
                                     f"`dask scheduler` (docs/cluster.md) or check --scheduler / "
                                     f"${SCHEDULER_ENV}") from None
        with contextlib.suppress(Exception):
            slow = sorted(w for w, v in client.run(_environment, SLOW_MALLOC).items() if v)
            if slow:
                print(f"note: {len(slow)} of the cluster's workers run with {SLOW_MALLOC} set (Dask's nanny sets "
                      f"it), which costs NumPy training about a third more time; docs/cluster.md says how to "
                      f"start them without it")
    try:
        yield Executor(client, cluster)
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=10)


def _environment(name):
    return os.environ.get(name)


def _ignore_ctrl_c():
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ---- on the worker -----------------------------------------------------------------------------------------
_here = threading.local()


def stop_requested():
    """True once the client asked the running jobs to stop (Ctrl-C); False outside a job. Asks the
    scheduler at most once every ``STOP_POLL_SECONDS``."""
    context = getattr(_here, "context", None)
    if context is None:
        return False
    now = time.monotonic()
    if now - getattr(_here, "asked", 0.0) >= STOP_POLL_SECONDS and not getattr(_here, "stop", False):
        _here.asked = now
        from distributed import Event
        with contextlib.suppress(Exception):          # the scheduler gone: the job finishes
            _here.stop = Event(context.stop_event).is_set()
    return getattr(_here, "stop", False)


def worker_scratch():
    """This Dask worker's own folder (Dask removes it with the worker), or None outside a worker."""
    try:
        from distributed import get_worker
        return get_worker().local_directory
    except (ImportError, ValueError):
        return None


def _say(context, **message):
    with contextlib.suppress(Exception):
        from distributed import get_worker
        get_worker().log_event(context.topic, message)


def check_marker(context):
    """Raise ``NotShared`` unless this worker reads the client's marker file."""
    if context.marker is None:
        return
    try:
        with open(context.marker, "rb") as f:
            seen = f.read(len(context.token) + 1).decode("utf-8", "replace")
    except OSError as error:
        seen = f"({error.strerror or error})"
    if seen != context.token:
        raise NotShared(f"host {socket.gethostname()} cannot see {Path(context.marker).parent} as the client "
                        f"wrote it ({context.marker}: {seen[:80]!r}); the folder must be on a filesystem every "
                        f"worker sees, at the same path (docs/cluster.md)")


def _attempt(context, name, function, args, *_after):
    """One try of a job on a worker: {"host", "value"} or {"host", "stopped", "error"}; raises
    ``JobFailed`` (so Dask retries it) when the job fails."""
    import io
    import tinygrad_lite
    host = socket.gethostname()
    _say(context, job=name, event="start", host=host)
    _here.context, _here.asked, _here.stop = context, 0.0, False
    output = io.StringIO()
    try:
        if stop_requested():
            return {"host": host, "stopped": True, "started": False}
        if context.version and tinygrad_lite.__version__ != context.version:
            raise ClusterUnavailable(f"host {host} runs tinygrad_lite {tinygrad_lite.__version__}, the client "
                                     f"{context.version}: install the same version on every worker")
        check_marker(context)
        with _captured(output):
            return {"host": host, "value": function(*args)}
    except BaseException as error:      # every failure is the job's, reported by name
        message = f"{type(error).__name__}: {' '.join(str(error).split())}" if str(error) else type(error).__name__
        if stop_requested():
            return {"host": host, "stopped": True, "error": message}
        _say(context, job=name, event="failed", host=host, error=message[:500])
        details = output.getvalue()
        if not isinstance(error, TinygradLiteError):         # not a user's mistake: where it happened
            import traceback
            details += "".join(traceback.format_exception(error))
        raise JobFailed(f"{message}\n{details[-OUTPUT_TAIL:]}") from None
    finally:
        _here.context = None


@contextlib.contextmanager
def _captured(buffer):
    """The job's prints into ``buffer`` when the worker runs one job at a time (replacing sys.stdout is
    not safe beside another job's thread); else to the worker's own output."""
    try:
        from distributed import get_worker
        alone = get_worker().state.nthreads == 1
    except (ImportError, ValueError, AttributeError):
        alone = False
    if not alone:
        yield
        return
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        yield


# ---- on the client -----------------------------------------------------------------------------------------
def priorities(jobs):
    """{name: the expected seconds of the longest chain of jobs starting with it}: Dask's priority, so
    that the longest work starts first and a backbone goes before the jobs that wait for it."""
    names = {job.name for job in jobs}
    after = {job.name: [d for d in job.after if d in names] for job in jobs}
    waiting = {job.name: [j.name for j in jobs if job.name in after[j.name]] for job in jobs}
    seconds = {job.name: job.seconds for job in jobs}
    chain = {}

    def longest(name):
        if name not in chain:
            chain[name] = seconds[name] + max((longest(w) for w in waiting[name]), default=0)
        return chain[name]
    return {job.name: longest(job.name) for job in jobs}


def time_left(elapsed, done_seconds, left_seconds):
    """Seconds left if the rest goes as fast (in expected work per second) as what is done."""
    return None if done_seconds <= 0 else elapsed * left_seconds / done_seconds


class Executor:
    """Jobs on a Dask ``Client`` (see the module docstring)."""

    def __init__(self, client, cluster=None):
        self.client, self.cluster = client, cluster

    @property
    def where(self):
        if self.cluster is not None:
            return f"a local Dask cluster of {len(self.cluster.workers)} worker processes"
        return f"the Dask cluster at {self.client.scheduler.address}"

    @property
    def dashboard(self):
        with contextlib.suppress(Exception):
            return self.client.dashboard_link or None
        return None

    def everywhere(self, function, *args):
        """``function(*args)`` on every worker now (e.g. removing what the jobs prepared there)."""
        with contextlib.suppress(Exception):
            self.client.run(function, *args)

    def run(self, jobs, on_finished, *, units="jobs", shared=None, done=0, grace=STOP_GRACE_SECONDS,
            progress=True):
        """Run ``jobs``; ``on_finished(Finished)`` (in this thread) returns the line to print for it.
        ``shared``: the folder every worker must see. ``done``: jobs finished before (--resume), for
        the count. ``grace``: after Ctrl-C, seconds the running jobs get to stop by themselves (those
        that poll ``stop_requested``). ``progress``: False for no bar (--no-progress), the lines only.
        Returns True if interrupted by Ctrl-C."""
        import distributed
        import tinygrad_lite
        token = secrets.token_hex(8)
        marker = None
        if shared is not None:
            marker = Path(shared).resolve() / f".tinygrad-lite-shared-{token}"
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(token)
        context = _Context(token, f"tinygrad-lite-stop-{token}", f"tinygrad-lite-{token}",
                           None if marker is None else str(marker), tinygrad_lite.__version__)
        events = queue.Queue()
        self.client.subscribe_topic(context.topic, events.put)
        stop = distributed.Event(context.stop_event, client=self.client)
        sweep = _Sweep(jobs, on_finished, units, done, self, progress)
        futures = self._submit(jobs, context)
        try:
            return sweep.watch(futures, events, stop, grace)
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(context.topic)
            if marker is not None:
                with contextlib.suppress(OSError):
                    marker.unlink()
            sweep.close()

    def _submit(self, jobs, context):
        ranks = priorities(jobs)
        futures = {}
        for job in sorted(jobs, key=lambda j: -ranks[j.name]):
            before = [futures[name] for name in job.after if name in futures]
            futures[job.name] = self.client.submit(
                _attempt, context, job.name, job.function, job.args, *before, key=(
                    f"tinygrad-lite-{job.function.__name__}", context.token, job.name),
                priority=int(ranks[job.name]), retries=1, pure=False)
        return futures


class _Sweep:
    """The client's side while jobs run: the bar, the lines, the retries said, Ctrl-C."""

    def __init__(self, jobs, on_finished, units, done, executor, progress=True):
        self.jobs = {job.name: job for job in jobs}
        self.on_finished, self.units, self.executor = on_finished, units, executor
        self.total, self.done = done + len(jobs), done
        self.expected = sum(job.seconds for job in jobs)
        self.done_seconds, self.started_at, self.stopping = 0.0, time.monotonic(), False
        self.attempts, self.hosts, self.failed_once, self.running, self.failed = {}, {}, set(), set(), set()
        self.bar = _bar(self.expected, f"{units} {self.done}/{self.total}") if progress else None
        self.say(f"{len(jobs)} {units} on {executor.where}"
                 + (f"; dashboard: {executor.dashboard}" if executor.dashboard else ""))

    def say(self, text):
        (self.bar.write if self.bar is not None else print)(text, file=sys.stdout)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def watch(self, futures, events, stop, grace):
        left = dict(futures)
        try:
            while left:
                self._events(events)
                for name in [n for n, f in left.items() if f.done()]:
                    self._finished(name, left.pop(name))
                if left:
                    time.sleep(0.2)
            return False
        except KeyboardInterrupt:
            return self._interrupt(left, events, stop, grace)

    def _interrupt(self, left, events, stop, grace):
        """Ctrl-C: every job is told to stop (one not started then returns at once, a running replay after
        its step, with its checkpoint); wait ``grace`` seconds for them, then cancel what is left."""
        self.stopping = True
        with contextlib.suppress(Exception):
            stop.set()
        self._events(events)
        self.say(f"interrupted: {self.done} of {self.total} {self.units} finished; the others are told to stop"
                 + (" (the running ones save their state first; Ctrl-C again to leave now)" if grace else ""))
        deadline = time.monotonic() + grace
        try:
            while left and time.monotonic() < deadline:
                self._events(events)
                for name in [n for n, f in left.items() if f.done()]:
                    self._finished(name, left.pop(name))
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        self._events(events)
        running = sorted(n for n in left if n in self.running)
        self.executor.client.cancel(list(left.values()))
        if running:
            self.say(f"left running: {', '.join(running)} (a local cluster's workers stop now; on a cluster you "
                     f"started, the worker finishes it first)")
        return True

    def _events(self, events):
        while True:
            try:
                _, message = events.get_nowait()
            except queue.Empty:
                return
            name, host = message.get("job"), message.get("host", "?")
            if message.get("event") == "start":
                self.attempts[name] = self.attempts.get(name, 0) + 1
                self.running.add(name)
                self.hosts[name] = host
                if self.attempts[name] > 1 and name not in self.failed_once:
                    self.say(f"{name}: its worker was lost; running it again on {host}")
                self.failed_once.discard(name)
            elif message.get("event") == "failed":
                self.running.discard(name)
                self.failed_once.add(name)
                if self.attempts.get(name, 1) <= 1:
                    self.say(f"{name} failed on {host}: {message.get('error')}; retrying once")

    def _finished(self, name, future):
        self.running.discard(name)
        finished = self._outcome(name, future)
        if finished is None:
            return
        if finished.stopped:                     # not done: --resume continues it
            self.say(self.on_finished(finished))
            return
        if not finished.ok:
            self.failed.add(name)
        self.done += 1
        job = self.jobs[name]
        self.done_seconds += job.seconds
        line = self.on_finished(finished)
        left = time_left(time.monotonic() - self.started_at, self.done_seconds, self.expected - self.done_seconds)
        tail = f"  (~{_duration(left)} left)" if left is not None and self.done < self.total and not self.stopping \
            else ""
        self.say(f"[{self.done}/{self.total}] {line}{tail}")
        if not finished.ok and finished.output.strip():
            self.say("  its output (the end):\n" + "\n".join(f"    {line}" for line in
                                                               finished.output.strip().splitlines()[-15:]))
        if self.bar is not None:
            self.bar.set_description_str(f"{self.units} {self.done}/{self.total}", refresh=False)
            self.bar.update(job.seconds)

    def _outcome(self, name, future):
        if future.status == "cancelled":
            return None
        if future.status == "finished":
            result = future.result()
            if result.get("started") is False:           # told to stop before it began: as if cancelled
                return None
            if result.get("stopped"):
                return Finished(name, False, host=result["host"], error=result["error"], stopped=True)
            return Finished(name, True, result["value"], result["host"])
        error = future.exception()
        missing = [d for d in self.jobs[name].after if d in self.failed]
        if missing and name not in self.attempts:
            return Finished(name, False, error=f"not run: it needs {', '.join(missing)}, which failed")
        text = str(error) if isinstance(error, JobFailed) else f"{type(error).__name__}: {error}"
        if type(error).__name__ == "KilledWorker":
            text = "its worker died on both tries (killed, out of memory, or the machine went away)"
        first, _, output = text.partition("\n")
        return Finished(name, False, error=first, output=output, host=self.hosts.get(name, ""))


def _duration(seconds):
    from .report import format_duration
    return format_duration(seconds)


def _bar(total, description):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, file=sys.stderr, dynamic_ncols=True, disable=None,
                bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
