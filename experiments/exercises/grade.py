"""Grade student copies: the teacher's checks decide; the student's code only computes, sandboxed.

For each copy, ``grade_one_copy`` draws the checks' inputs from a seed (one per run and copy, in the
row, so a grade can be reproduced), gives a sandboxed worker (``sandbox``) the teacher's framework
with the copy's bodies of the blank functions grafted in, and judges each task's answers here with
``checks.judge``. The worker's output is data: frames read with a bound, never unpickled; a task
that hangs, crashes or answers garbage fails alone, saying so, and a fresh worker takes the next
task. Nothing the copy prints or writes is believed, and nothing of it runs in this process.

``grade_class`` grades a class: one copy at a time here (``--jobs 1``), or ``--jobs`` copies at once on
a local Dask cluster, or on a running one (``--scheduler``; ``experiments.executor``), where each
copy is a job (``grade_job``) whose sandboxed workers run on the Dask worker's host, in a run folder
prepared there (``settings_here``). A row file is written atomically as each copy finishes (so
Ctrl-C keeps them and ``--resume`` grades the rest), then the reports (``reports``).
"""
import dataclasses
import errno
import hashlib
import json
import os
import secrets
import shutil
import socket
import stat
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from tinygrad_lite.errors import DataError
from tinygrad_lite.files import loads_json, read_json, write_json
from tinygrad_lite.npz import read_npz

from . import records, reports, sandbox, stubs
from .checks import Options, Outcome, judge, plan, requests_of, training
from .course import BY_NUMBER
from .graft import MAX_SOURCE_BYTES, split_target
from .worker import META

MAX_STATE_BYTES = 64 * 1024          # a copy's exercise.json
MAX_FRAME = 64 << 20                 # one task's answers (task 11's weights are ~2 MB)
MAX_META = 4 << 20                   # the JSON part of a frame (exception messages and frames are cut short)
STARTUP_SECONDS = 20                 # a worker's start (Python, NumPy, the framework) on top of a task's share
TASK_SECONDS = 10                    # a generous estimate of one task's checks (they take well under a second)
SECONDS_PER_IMAGE_EPOCH = 5e-4       # task 11: ~4x what the sigmoid MLP takes per image and epoch on one core


@dataclasses.dataclass
class Settings:
    """Everything ``grade_one_copy`` needs besides the copy (picklable)."""
    course: dict                 # the teacher's record: course id, blank tasks, points, students
    run_dir: str                 # prepared by ``prepare_run``
    seed: int
    timeout: float               # seconds per copy; each task gets its share
    isolated: bool
    reason: str                  # why not isolated
    subset: int = None
    epochs: int = None
    allow_sample: bool = False
    limits: sandbox.Limits = dataclasses.field(default_factory=sandbox.Limits)
    data: str = None             # what task 11 trains on, for the table
    uid_offset: int = 0          # as root, copy i's worker runs as uid SANDBOX_UID + (uid_offset + i) % slots

    def options(self, seed):
        return Options(self.subset, self.epochs, seed, self.allow_sample, grading=True)

    @property
    def fingerprint(self):
        """What a row depends on: a row with another fingerprint is graded again by --resume."""
        return {"course": self.course["course"], "blank": self.course["blank"], "seed": self.seed,
                "subset": self.subset, "epochs": self.epochs, "allow_sample": self.allow_sample}

    @property
    def sandbox_line(self):
        return sandbox.Sandbox(self.isolated, self.reason).line


def copy_seed(seed, name):
    """The seed of one copy's inputs: from the run's seed and the copy's name, so it can be replayed."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "big")


def estimates(blank, settings_like):
    """{task: expected seconds}: task 11 from its data and epochs, the others ``TASK_SECONDS``."""
    seconds = {n: TASK_SECONDS for n in blank}
    if 11 in blank:
        context = training(settings_like)
        seconds[11] = TASK_SECONDS + SECONDS_PER_IMAGE_EPOCH * context.config.epochs * len(context.data.y_train)
    return seconds


def default_timeout(blank, options):
    """Per copy: a worker's start and every task's estimate (minutes: 2 for tasks 1-10, ~8 with task 11)."""
    return STARTUP_SECONDS + sum(estimates(blank, options).values())


def _readable(folder):
    """Make ``folder`` readable by the sandbox's unprivileged uid (mkdtemp and umask make it private)."""
    for root, _, files in os.walk(folder):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def prepare_run(run_dir, course, options, isolated, reason, seed, timeout, limits=None):
    """The run folder every copy's worker shares (framework, worker files, NumPy, task 11's data), and
    the ``Settings`` pointing at it."""
    run_dir = Path(run_dir)
    blank = course["blank"]
    stubs.write_framework(run_dir / "framework", blank)
    (run_dir / "worker").mkdir()
    for name in sandbox.WORKER_FILES:
        shutil.copy(Path(__file__).with_name(name), run_dir / "worker" / name)
    (run_dir / "data").mkdir()
    (run_dir / "jobs").mkdir()
    data = None
    if 11 in blank:
        context = training(options)
        data = context.what + (" (refused: not the real data)" if context.data.used_sample and not
                               options.sample_allowed else "")
        for name in ("x_train", "y_train", "x_val", "y_val"):
            np.save(run_dir / "data" / f"{name}.npy", context.shared(name))
    _readable(run_dir)
    sandbox.make_lib(str(run_dir / "lib"))
    limits = limits or sandbox.Limits()
    limits = dataclasses.replace(limits, cpu_seconds=int(timeout) + 30)
    return Settings(course, str(run_dir), seed, timeout, isolated, reason, options.subset, options.epochs,
                    options.sample_allowed, limits, data, secrets.randbelow(sandbox.UID_SLOTS))


def read_copy_file(root, relative, limit=MAX_SOURCE_BYTES):
    """The bytes of ``root/relative``, or (None, why): no symbolic link is followed (a copy could point
    at the teacher's solution), only regular files, at most ``limit`` bytes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)   # a FIFO cannot block us
    try:
        folder = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as error:
        return None, f"the copy's folder cannot be opened ({error.strerror})"
    try:
        parts = relative.split("/")
        for part in parts[:-1]:
            inner = os.open(part, flags | getattr(os, "O_DIRECTORY", 0), dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], flags, dir_fd=folder)
    except OSError as error:
        return None, ("it is a symbolic link, which grading does not follow" if error.errno == errno.ELOOP
                      else "there is no such file")
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None, "it is not a regular file"
        data = f.read(limit + 1)
    return (None, f"it is larger than {limit} bytes") if len(data) > limit else (data, "")


def write_job(job, plans, targets, copy_dir):
    """The worker's job: its requests and inputs, and the copy's files holding the blank functions."""
    tasks, arrays = [], {}
    for number, checks in plans.items():
        requests = []
        for request in requests_of(checks):
            requests.append({"id": request.id, "kind": request.kind, "args": request.args,
                             "arrays": sorted(request.arrays)})
            arrays.update({f"{request.id}/{name}": np.asarray(value) for name, value in request.arrays.items()})
        tasks.append({"number": number, "requests": requests})
    unread = {}
    for path in sorted({split_target(t)[0] for t in targets}):
        data, why = read_copy_file(copy_dir, path)
        if data is None:
            unread[path] = f"was not read: {why}" if "no such file" not in why else "is not in this copy"
            continue
        (job / "copy" / path).parent.mkdir(parents=True, exist_ok=True)
        (job / "copy" / path).write_bytes(data)
    (job / "job.json").write_text(json.dumps({"targets": targets, "tasks": tasks, "unread": unread}))
    np.savez(job / "inputs.npz", **arrays)
    _readable(job)
    return [f"{path} {why}" for path, why in unread.items() if "not read" in why]


def _text(value, limit):
    return value[:limit] if isinstance(value, str) else ""


def _frame(data, scratch):
    """(meta, arrays) of one frame, or ``ValueError``: read bounded, numbers only, never unpickled."""
    path = scratch / "frame.npz"
    path.write_bytes(data)
    try:
        arrays = read_npz(path, max_bytes=MAX_FRAME)
    except DataError as error:
        raise ValueError(f"its reply was not a readable .npz ({str(error)[len(str(path)) + 2:][:200]})") from None
    finally:
        path.unlink()
    blob = arrays.pop(META, None)
    if blob is None or blob.dtype != np.uint8 or blob.ndim != 1 or blob.size > MAX_META:
        raise ValueError("its reply had no readable description")
    try:
        meta = loads_json(blob.tobytes(), "its reply's description")
    except DataError as error:
        raise ValueError(str(error)) from None
    if not isinstance(meta, dict):
        raise ValueError("its reply's description was not a JSON object")
    return meta, {k: v for k, v in arrays.items() if v.dtype.kind in "biuf"}


def _error(raw, targets):
    raw = raw if isinstance(raw, dict) else {}
    frames = []
    for frame in raw.get("frames", [])[-30:] if isinstance(raw.get("frames"), list) else []:
        if isinstance(frame, dict) and isinstance(frame.get("line"), int):
            frames.append({"file": _text(frame.get("file"), 300), "line": frame["line"],
                           "function": _text(frame.get("function"), 200),
                           "target": frame.get("target") if frame.get("target") in targets else None,
                           "text": _text(frame.get("text"), 200)})
    blank = raw.get("blank")
    return {"type": _text(raw.get("type"), 100) or "Error", "message": _text(raw.get("message"), 500),
            "blank": blank if isinstance(blank, int) and blank in BY_NUMBER else None,
            "bad_answer": raw.get("bad_answer") is True, "frames": frames}


def _replies(meta, arrays, checks, targets):
    """{request id: reply} for one task, as ``checks.judge`` expects, from an untrusted frame."""
    given = meta.get("replies") if isinstance(meta.get("replies"), dict) else {}
    replies = {}
    for request in requests_of(checks):
        raw = given.get(request.id)
        if not isinstance(raw, dict):
            replies[request.id] = {"ok": False, "error": {"type": "NoAnswer", "message": "the worker sent no answer",
                                                          "blank": None, "bad_answer": False, "frames": []}}
        elif raw.get("ok") is True:
            names = raw.get("arrays") if isinstance(raw.get("arrays"), list) else []
            values = raw.get("values") if isinstance(raw.get("values"), dict) else {}
            replies[request.id] = {"ok": True, "values": {k: v for k, v in values.items()
                                                          if isinstance(v, (int, float, str, bool))},
                                   "arrays": {n: arrays[f"{request.id}/{n}"] for n in names
                                              if isinstance(n, str) and f"{request.id}/{n}" in arrays}}
        else:
            replies[request.id] = {"ok": False, "error": _error(raw.get("error"), targets)}
    return replies


def _grafts(meta, targets):
    given = meta.get("graft") if isinstance(meta.get("graft"), dict) else {}
    grafts = {}
    for target in targets:
        raw = given.get(target)
        if isinstance(raw, dict):
            warnings = raw.get("warnings") if isinstance(raw.get("warnings"), list) else []
            grafts[target] = {"ok": raw.get("ok") is True, "error": _text(raw.get("error"), 300),
                              "warnings": [_text(w, 200) for w in warnings[:5]]}
    return grafts


def run_workers(settings, job, plans, slot, scratch):
    """Each task's answers from sandboxed workers: ({task: replies}, grafts, {task: Outcome of a failure},
    {task: seconds}). A task that runs past its share of the timeout, or whose worker dies or sends
    garbage, fails; a fresh worker answers the tasks after it."""
    targets = [t for n in plans for t in BY_NUMBER[n].blanks]
    shares = estimates(list(plans), settings.options(0))
    total = sum(shares.values()) + STARTUP_SECONDS
    budget = {n: settings.timeout * shares[n] / total for n in plans}
    startup = settings.timeout * STARTUP_SECONDS / total
    remaining, answers, failures, seconds, grafts = list(plans), {}, {}, {}, {}
    paths = sandbox.Paths(str(Path(settings.run_dir) / "framework"), str(Path(settings.run_dir) / "worker"),
                          str(Path(settings.run_dir) / "lib"), str(job), str(job / "copy"),
                          str(Path(settings.run_dir) / "data"))
    box = sandbox.Sandbox(settings.isolated, settings.reason)
    while remaining:
        (job / "todo.json").write_text(json.dumps(remaining))
        os.chmod(job / "todo.json", 0o644)
        started = time.monotonic()
        worker = sandbox.Worker(box, paths, settings.limits, slot, MAX_FRAME)
        deadline = started + startup + budget[remaining[0]]
        try:
            while remaining:
                number = remaining[0]
                kind, data = worker.next_frame(deadline)
                failure = None
                if kind == "timeout":
                    failure = f"timed out: no answer within {deadline - started:.0f} s (its share of --timeout)"
                elif kind == "exit":
                    failure = f"the worker stopped before answering: {worker.describe_exit()}"
                elif kind == "bad":
                    failure = f"the worker's answer was refused: {data}"
                else:
                    try:
                        meta, arrays = _frame(data, scratch)
                    except ValueError as error:
                        failure = f"the worker's answer was refused: {error}"
                    else:
                        if "graft" in meta:          # first, from every worker: the same each time
                            grafts = grafts or _grafts(meta, targets)
                            continue
                        if meta.get("task") != number:
                            failure = "the worker's answer was refused: it answered another task"
                        else:
                            answers[number] = _replies(meta, arrays, plans[number], targets)
                if failure:
                    output = worker.output_text().strip()
                    failures[number] = Outcome(number, False, failure, f"  {failure}" + (
                        "\n  its output (the end):\n" + "\n".join(f"    {line}" for line in output.splitlines()[-15:])
                        if output else ""))
                seconds[number] = round(time.monotonic() - started, 2)
                remaining.pop(0)
                if failure:
                    break
                started = time.monotonic()
                deadline = started + (budget[remaining[0]] if remaining else 0)
        finally:
            worker.stop()
    return answers, grafts, failures, seconds


def grade_one_copy(copy_dir, name, slot, settings, student=None):
    """The row of one copy: every blank task judged here from a sandboxed worker's answers. Never
    raises for what the copy holds or does; ``slot`` keeps concurrent workers' uids apart."""
    started = time.monotonic()
    seed = copy_seed(settings.seed, name)
    options = settings.options(seed)
    blank = settings.course["blank"]
    plans, outcomes, notes = {}, {}, []
    for number in blank:
        try:
            plans[number] = plan(number, options)
        except Exception as error:      # the teacher's setup failing for this task
            outcomes[number] = Outcome(number, False, "the checks could not start",
                                       f"  {type(error).__name__}: {error}")
    jobs = Path(settings.run_dir) / "jobs"
    job = Path(tempfile.mkdtemp(dir=jobs, prefix="job-"))
    scratch = Path(tempfile.mkdtemp(dir=jobs, prefix="reply-"))
    try:
        (job / "copy").mkdir()
        targets = [t for n in plans for t in BY_NUMBER[n].blanks]
        notes += write_job(job, plans, targets, copy_dir)
        if plans:
            answers, grafts, failures, seconds = run_workers(settings, job, plans, slot, scratch)
        else:
            answers, grafts, failures, seconds = {}, {}, {}, {}
        for number in plans:
            outcomes[number] = failures.get(number) or judge(number, plans[number], answers.get(number, {}),
                                                             options, grafts)
    finally:
        shutil.rmtree(job, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    points = settings.course["points"]
    tasks = {}
    for number in blank:
        outcome = outcomes[number]
        tasks[str(number)] = dict(outcome.as_dict(), points=points[number] if outcome.passed else 0,
                                  max_points=points[number], seconds=seconds.get(number))
    return {"copy": name, "student": student or name, "named_by": "make id" if student else "folder",
            "course": settings.course["course"], "seed": seed, "isolated": settings.isolated,
            "tasks": tasks, "score": sum(t["points"] for t in tasks.values()),
            "max_score": sum(t["max_points"] for t in tasks.values()),
            "seconds": round(time.monotonic() - started, 2), "data": settings.data, "notes": notes,
            "fingerprint": settings.fingerprint}


def identify(copies, course):
    """[(folder, name, student id or None, notes)] for each copy: the row's name is the student id the
    copy proves (``records.student_of``), else its folder's name; never a path."""
    found = []
    for copy in copies:
        folder = Path(copy).resolve().name
        if not folder:
            raise ValueError(f"exercise grade: {copy!r} has no folder name to name its row by")
        data, why = read_copy_file(str(Path(copy).resolve()), stubs.STATE_FILE, MAX_STATE_BYTES)
        state, note = None, ""
        try:
            state = loads_json(data, stubs.STATE_FILE) if data is not None else None
        except DataError:
            note = f"its {stubs.STATE_FILE} is not JSON"
        if data is None:
            note = f"it has no readable {stubs.STATE_FILE} ({why})"
        elif isinstance(state, dict) and state.get("course") != course["course"]:
            note = f"its {stubs.STATE_FILE} names another course ({str(state.get('course'))[:64]!r})"
        student = records.student_of(course, state)
        if student is None and isinstance(state, dict) and state.get("student") is not None:
            note = note or "its student id does not match the course record (named by its folder)"
        found.append([copy, folder, student, [note] if note else []])
    claimed = {}
    for entry in found:
        if entry[2]:
            claimed.setdefault(entry[2], []).append(entry)
    for student, entries in claimed.items():
        if len(entries) > 1:         # two copies with one student's token: neither is named by it
            for entry in entries:
                entry[2] = None
                entry[3].append(f"{len(entries)} copies carry the id of {student}: named by folder")
    names = {}
    for copy, folder, student, _ in found:
        names.setdefault(student or folder, []).append(copy)
    clashes = {name: paths for name, paths in names.items() if len(paths) > 1}
    if clashes:
        name, paths = next(iter(clashes.items()))
        raise ValueError(f"exercise grade: {len(paths)} copies would be named {name!r} ({', '.join(map(str, paths))}); "
                         f"give each copy its own folder name")
    return [(copy, folder, student, notes) for copy, folder, student, notes in found]


def _bar(total, done):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, desc="grading", units="copies", file=sys.stderr, dynamic_ncols=True,
                disable=None)


def _say(bar, text):
    (bar.write if bar is not None else print)(text)


def grade_class(copies, course, out, options, *, jobs=None, timeout=None, seed=None, resume=False,
                require_sandbox=False, limits=None, scheduler=None):
    """Grade every copy into ``out`` (rows/, then the reports); returns (rows, interrupted). ``jobs``:
    copies at once (default: the cores, on a local Dask cluster where Dask is installed, else one);
    ``scheduler``: a running Dask cluster's address (default ``$TINYGRAD_LITE_SCHEDULER``)."""
    out = Path(out)
    rows_dir = out / "rows"
    existing = sorted(rows_dir.glob("*.json")) if rows_dir.is_dir() else []
    if existing and not resume:
        raise ValueError(f"exercise grade: {out} already holds {len(existing)} graded row(s): pass --resume to keep "
                         f"them and grade the rest, or give another --out")
    run_file = out / "run.json"
    if resume and seed is None and run_file.is_file():
        seed = read_json(run_file).get("seed")
    seed = secrets.randbits(32) if seed is None else int(seed)
    box = sandbox.detect(require_sandbox)
    blank = course["blank"]
    timeout = timeout or default_timeout(blank, options)
    identified = identify(copies, course)
    run_dir = Path(tempfile.mkdtemp(prefix="tinygrad-lite-grading-"))
    try:
        settings = prepare_run(run_dir / "run", course, options, box.isolated, box.reason, seed, timeout, limits)
        write_json(run_file, {"seed": seed, "course": course["course"], "blank": blank, "timeout": timeout,
                              "fingerprint": settings.fingerprint, "sandbox": settings.sandbox_line,
                              "uids": [sandbox.SANDBOX_UID + (settings.uid_offset + i) % sandbox.UID_SLOTS
                                       for i in range(len(identified))] if box.root and box.isolated else []})
        print(settings.sandbox_line)
        print(f"course {course['course']}: task(s) {', '.join(map(str, blank))}; seed {seed}; "
              f"{len(identified)} copies; --timeout {timeout:.0f} s per copy")
        rows, todo = {}, []
        for index, (copy, folder, student, notes) in enumerate(identified):
            slot = (settings.uid_offset + index) % sandbox.UID_SLOTS
            key = reports.row_key(student or folder)
            kept = _kept_row(rows_dir / f"{key}.json", settings)
            if kept is not None:
                rows[key] = kept
            else:
                todo.append((key, copy, folder, student, notes, slot))
        if resume:
            print(f"--resume: {len(rows)} row(s) kept, {len(todo)} copies to grade")
        interrupted = _grade_all(todo, settings, rows, rows_dir, _placement(jobs, scheduler, len(todo)),
                                 len(identified))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    ordered = [rows[k] for k in sorted(rows)]
    reports.write_all(out, ordered, settings)
    return ordered, interrupted


def _kept_row(path, settings):
    if not path.is_file():
        return None
    try:
        row = read_json(path)
    except (ValueError, OSError):
        return None
    return row if isinstance(row, dict) and row.get("fingerprint") == settings.fingerprint else None


def _placement(jobs, scheduler, todo):
    """Where the copies are graded (``executor.placement``): None is one at a time in this process."""
    from experiments import executor
    default = executor.cores() if executor.dask_installed() else 1
    where = executor.placement(jobs, scheduler, default, count=todo)
    if jobs is None and where is None and todo > 1 and executor.cores() > 1:
        print(f"grading one copy at a time ({executor.INSTALL} grades one per core)")
    return where


def _keep(row, notes, key, rows, rows_dir, host=""):
    """Write ``row`` (with the identification notes first); its line for the output."""
    row["notes"] = notes + row["notes"]
    write_json(rows_dir / f"{key}.json", row)
    rows[key] = row
    failed = next((f"task {n}: {t['check']}" for n, t in row["tasks"].items() if not t["passed"]), "")
    return (f"{row['student']}: {row['score']}/{row['max_score']} in {row['seconds']:.1f} s"
            + (f" on {host}" if host else "") + (f"  (first failure: {failed[:100]})" if failed else ""))


def _finish(row, notes, key, rows, rows_dir, bar, done, total):
    _say(bar, f"[{done}/{total}] {_keep(row, notes, key, rows, rows_dir)}")
    if bar is not None:
        bar.update(1)


def _failed_row(settings, folder, student, error):
    """The row of a copy whose grading itself failed (not the copy's doing): every task failed, saying
    why (``error``: the exception, or its text)."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    why = f"grading this copy failed: {text[:300]}"
    points = settings.course["points"]
    tasks = {str(n): dict(Outcome(n, False, why, f"  {why}").as_dict(), points=0, max_points=points[n], seconds=None)
             for n in settings.course["blank"]}
    return {"copy": folder, "student": student or folder, "named_by": "make id" if student else "folder",
            "course": settings.course["course"], "seed": copy_seed(settings.seed, folder),
            "isolated": settings.isolated,
            "tasks": tasks, "score": 0, "max_score": sum(t["max_points"] for t in tasks.values()), "seconds": 0,
            "data": settings.data, "notes": [why], "fingerprint": None}


def _grade_all(todo, settings, rows, rows_dir, where, total):
    """Grade ``todo`` into ``rows``, here one at a time (``where`` None) or on a Dask cluster; True if
    interrupted (Ctrl-C)."""
    rows_dir.mkdir(parents=True, exist_ok=True)
    try:
        interrupted = (_grade_here(todo, settings, rows, rows_dir, total) if where is None
                       else _grade_on_cluster(todo, settings, rows, rows_dir, where))
    except KeyboardInterrupt:
        interrupted = True
    if interrupted:
        print(f"interrupted: {len(rows)} of {total} copies graded; their rows are kept in {rows_dir}; "
              f"`--resume` grades the rest")
    return interrupted


def _grade_here(todo, settings, rows, rows_dir, total):
    bar = _bar(total, len(rows)) if todo else None
    done = len(rows)
    try:
        for key, copy, folder, student, notes, slot in todo:
            done += 1
            try:
                row = grade_one_copy(copy, folder, slot, settings, student)
            except Exception as error:      # the grader's own failure: still a row
                row = _failed_row(settings, folder, student, error)
            _finish(row, notes, key, rows, rows_dir, bar, done, total)
    finally:
        if bar is not None:
            bar.close()
    return False


def _grade_on_cluster(todo, settings, rows, rows_dir, where):
    """Each copy a job of ``experiments.executor``; a copy whose grading fails twice gets a failed row.
    Ctrl-C cancels the copies not started; a local cluster's workers stop those in progress."""
    from experiments import executor
    blank = settings.course["blank"]
    entries = {entry[0]: entry for entry in todo}
    jobs = [executor.Job(key, grade_job, (str(Path(copy).resolve()), folder, slot, settings, student,
                                          copy_digest(copy, blank)), settings.timeout)
            for key, copy, folder, student, notes, slot in todo]

    def finished(outcome):
        key, _, folder, student, notes, _ = entries[outcome.name]
        if outcome.stopped:
            return f"{outcome.name}: not graded (stopped)"
        row = outcome.value if outcome.ok else _failed_row(settings, folder, student, outcome.error)
        return _keep(row, notes, key, rows, rows_dir, outcome.host)

    with executor.connect(where, workers_needed=len(jobs)) as pool:
        try:
            return pool.run(jobs, finished, units="copies", done=len(rows), grace=0)
        finally:
            pool.everywhere(forget_prepared, settings.run_dir)


# ---- on a Dask worker ---------------------------------------------------------------------------------------
_PREPARED = {}          # the client's run folder -> the Settings of the one prepared on this host
_PREPARING = threading.Lock()       # a worker with several threads prepares once


def grade_job(copy_dir, name, slot, settings, student, digest):
    """A Dask job: ``grade_one_copy`` on this worker's host, after checking that it sees the copy the
    teacher's machine saw (``copy_digest``)."""
    here = copy_digest(copy_dir, settings.course["blank"])
    if here != digest:
        from experiments.executor import NotShared
        seen = (f"cannot open the copy {copy_dir}" if here is None
                else f"sees other files in {copy_dir} than the teacher's machine")
        raise NotShared(f"host {socket.gethostname()} {seen}: the copies must be on a filesystem every worker "
                        f"sees, at the same path (docs/cluster.md)")
    return grade_one_copy(copy_dir, name, slot, settings_here(settings), student)


def settings_here(settings):
    """``settings`` with a run folder prepared on this host, once per worker process: this machine's
    sandbox, Python and NumPy grade the copies. Refuses a host that would grade differently: without
    the sandbox the teacher's machine has, or training task 11 on other data."""
    with _PREPARING:
        local = _PREPARED.get(settings.run_dir)
        if local is None:
            local = _PREPARED[settings.run_dir] = _prepare_here(settings)
        return local


def _prepare_here(settings):
    from experiments import executor
    host, box = socket.gethostname(), sandbox.detect(False)
    if settings.isolated and not box.isolated:
        raise sandbox.SandboxUnavailable(f"host {host} cannot isolate the copies ({box.reason}), the teacher's "
                                         f"machine can: install bubblewrap on every worker")
    folder = Path(tempfile.mkdtemp(prefix="tinygrad-lite-grading-", dir=executor.worker_scratch()))
    try:
        prepared = prepare_run(folder / "run", settings.course, settings.options(0), box.isolated, box.reason,
                               settings.seed, settings.timeout, settings.limits)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if prepared.data != settings.data:
        shutil.rmtree(folder, ignore_errors=True)
        raise DataError(f"host {host} would train task 11 on {prepared.data}, the teacher's machine on "
                        f"{settings.data}: give every worker the same data (TINYGRAD_LITE_DATA)")
    return dataclasses.replace(prepared, uid_offset=settings.uid_offset)


def forget_prepared(run_dir):
    """Remove the run folder ``settings_here`` prepared on this worker for the client's ``run_dir``."""
    local = _PREPARED.pop(run_dir, None)
    if local is not None:
        shutil.rmtree(Path(local.run_dir).parent, ignore_errors=True)


def copy_digest(copy_dir, blank):
    """sha256 of what grading reads of a copy (its exercise.json and the files holding the blank
    functions), or None when its folder cannot be opened."""
    digest = hashlib.sha256()
    paths = [stubs.STATE_FILE] + sorted({split_target(t)[0] for n in blank for t in BY_NUMBER[n].blanks})
    for path in paths:
        data, why = read_copy_file(str(copy_dir), path)
        if data is None and "folder cannot be opened" in why:
            return None
        digest.update(f"{path}\0{len(data) if data is not None else why}\0".encode() + (data or b""))
    return digest.hexdigest()
