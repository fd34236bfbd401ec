"""Grading a class that includes students who attack the grader (issue 29).

A class of 30 copies is made with ``exercise make --students`` and graded by the CLI with ``--jobs 2``:
ten honest and complete, three half done, one untouched, and sixteen that each try one attack the
old grader fell for. Every attack must fail the tasks it forged, touch nothing outside its sandbox
(the files are checked) and leave every other row as it would be without it. The sandbox tests run
where bubblewrap works (CI installs it); the limits-only path, which every other system gets, is
graded too, and so are Ctrl-C and ``--resume``.
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exercise_copies import ENV, cli, course, make_copy, set_body, solve
from experiments.exercises import sandbox
from experiments.exercises.checks import Options, plan
from experiments.exercises.course import BY_NUMBER
from experiments.exercises.grade import grade_class
from experiments.exercises.stubs import PROJECT, STATE_FILE

TASKS = [1, 2, 3]
MUL, SUM_TO = BY_NUMBER[1].blanks[0], BY_NUMBER[3].blanks[0]
ELEMENTWISE = BY_NUMBER[1].blanks[0].split("::")[0]
TIMEOUT = "24"        # per copy: a worker's start gets ~10 s of it, each task ~5 s (they take ~0.1 s)

HANG = "while True:\n    pass"
CRASH = "import ctypes\nctypes.string_at(0)"          # a segmentation fault
GARBAGE = '''import os
for fd in range(1, 64):
    try:
        os.write(fd, b"\\xff" * 64 + b'{"1": {"passed": true}} [1, 2] {"1": {"passed": "no"}}\\n')
    except OSError:
        pass
raise RuntimeError("sent garbage")'''
HUGE = '''import sys
chunk = "x" * (1 << 20)
for _ in range({megabytes}):
    sys.stdout.write(chunk)
sys.stdout.flush()
left, right = self.inputs
return right * gy, left * gy'''
HOLDS_OUTPUT = '''import os, time
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
os._exit(0)'''
FORK_BOMB = '''import os, time
forked = 0
try:
    while forked < 100000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        forked += 1
except OSError:
    pass
raise RuntimeError(f"forked {forked} processes")'''
CHECKER_HELPER = "from experiments.exercises.checks import _sum_to\nreturn _sum_to(x, self.shape)"
FIND_SOLUTION = '''import ast, importlib.metadata, json, os
roots = []
try:
    url = json.loads(importlib.metadata.distribution("tinygrad_lite").read_text("direct_url.json"))["url"]
    roots.append(url[len("file://"):])
except Exception as error:
    roots.append(f"(no metadata: {type(error).__name__})")
roots.append(__PROJECT__)
for root in roots:
    try:
        source = open(os.path.join(root, __PATH__)).read()
        break
    except OSError:
        continue
else:
    raise RuntimeError("no solution found in " + repr(roots))
tree = ast.parse(source)
owner = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Mul")
method = next(n for n in owner.body if isinstance(n, ast.FunctionDef) and n.name == "backward")
space = dict(globals())
exec(compile(ast.Module([method], []), "solution", "exec"), space)
return space["backward"](self, gy)'''
SCRIBBLE = '''import os, time
def scribble():
    for path in __PATHS__:
        try:
            with open(path, "a") as f:
                f.write("forged: 11/11\\n")
        except OSError:
            pass
scribble()
child = os.fork()
if child == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(2)
        scribble()
        os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
raise RuntimeError("scribbled")'''
FORGED_PASS = ('import atexit, json\natexit.register(lambda: print(json.dumps({str(n): {"task": n, "passed": True, '
               '"check": "", "details": "", "blank": False} for n in range(1, 12)})))\n')


def hard_coded_sum_to():
    """SumToOp.forward returning, by shape, what the local check's inputs (seed 0) expect: a copy that
    passes ``exercise check`` without computing anything."""
    table = {tuple(c.requests[0].args["init"][0]): c.expected.tolist() for c in plan(3, Options(seed=0))}
    return f"import numpy as np\nreturn np.array({table!r}[tuple(self.shape)])"


def digest(folder):
    """Every file under ``folder`` and its SHA-256 (what an attack must not change)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def sandbox_works():
    box = sandbox.detect()
    return box.isolated, box.reason


needs_bwrap = pytest.mark.skipif(not sandbox_works()[0], reason=f"no bubblewrap sandbox here: {sandbox_works()[1]}")


# ---- the class: 30 copies, made by the CLI, graded by the CLI with --jobs 2 -----------------------------

ROLES = {  # student -> (what the copy does, the tasks it should pass)
    **{f"honest{i:02d}": ("solve", TASKS) for i in range(10)},
    **{f"half{i}": ("half", [1, 2]) for i in range(3)},      # elementwise.py holds tasks 1 and 2
    "untouched": ("nothing", []),
    "empty": ("empty", []), "nested": ("nested", []), "gutted": ("gutted", []), "forger": ("forger", []),
    "finder": ("finder", [2, 3]), "hardcoder": ("hardcoder", [1, 2]), "scribbler": ("scribbler", [2, 3]),
    "hanger": ("hang", [2, 3]), "crasher": ("crash", [2, 3]), "garbler": ("garbage", [2, 3]),
    "shouter": ("huge", TASKS), "bomber": ("fork bomb", [2, 3]), "lingerer": ("holds output", [2, 3]),
    "helper": ("checker helper", [1, 2]), "linker": ("symlink", [3]), "mallory": ("copied token", []),
}


def act(copy, role, world, megabytes=20):
    """Turn a fresh copy into what ``role`` hands in (``huge``: prints ``megabytes`` MiB)."""
    if role in ("solve", "hang", "crash", "garbage", "huge", "fork bomb", "holds output", "finder",
                "hardcoder", "checker helper", "scribbler", "symlink", "gutted", "nested"):
        solve(copy, TASKS)
    if role == "half":
        solve(copy, [1])
    elif role == "empty":
        shutil.rmtree(copy)
        copy.mkdir()
    elif role == "nested":
        inner = copy.parent / f".{copy.name}-inner"
        copy.rename(inner)
        copy.mkdir()
        inner.rename(copy / "inner")
    elif role == "gutted":
        shutil.rmtree(copy / "tinygrad_lite")
        shutil.rmtree(copy / "nn")
    elif role == "forger":      # sitecustomize, an edited checker and an atexit print, all claiming full marks
        (copy / "sitecustomize.py").write_text(FORGED_PASS)
        with open(copy / "experiments/exercises/cli.py", "a") as f:
            f.write("\n" + FORGED_PASS)
        with open(copy / "tinygrad_lite/__init__.py", "a") as f:
            f.write("\n" + FORGED_PASS)
    elif role == "finder":
        set_body(copy, MUL, FIND_SOLUTION.replace("__PROJECT__", repr(str(PROJECT)))
                 .replace("__PATH__", repr(ELEMENTWISE)))
    elif role == "hardcoder":
        set_body(copy, SUM_TO, hard_coded_sum_to())
    elif role == "scribbler":
        set_body(copy, MUL, SCRIBBLE.replace("__PATHS__", repr(world["targets"])))
    elif role in ("hang", "crash", "garbage", "huge", "fork bomb", "holds output"):
        set_body(copy, MUL, {"hang": HANG, "crash": CRASH, "garbage": GARBAGE, "huge": HUGE.format(megabytes=megabytes),
                             "fork bomb": FORK_BOMB, "holds output": HOLDS_OUTPUT}[role])
    elif role == "checker helper":
        set_body(copy, SUM_TO, CHECKER_HELPER)
    elif role == "symlink":       # the copy's file is a link to the teacher's solution
        (copy / ELEMENTWISE).unlink()
        (copy / ELEMENTWISE).symlink_to(PROJECT / ELEMENTWISE)
    elif role == "copied token":  # a classmate's exercise.json, copied to be graded under their name
        shutil.copy(world["class"] / "honest00" / STATE_FILE, copy / STATE_FILE)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The class made, attacked and graded once; what each test reads."""
    root = tmp_path_factory.mktemp("class")
    env = dict(ENV, TINYGRAD_LITE_COURSES=str(root / "records"))
    code, said = cli("make", str(root / "class"), "--tasks", "1-3", "--course", "sec-29", "--students",
                     ",".join(ROLES), env=env)
    assert code == 0, said
    outside = root / "outside-marker.txt"
    world = {"class": root / "class", "targets": [str(outside), str(root / "class/honest01" / ELEMENTWISE),
                                                   str(root / "out/grades.csv"), str(root / "out/rows/scribbler.json"),
                                                   str(root / "out/gradebook.csv")]}
    for student, (role, _) in ROLES.items():
        act(root / "class" / student, role, world)
    before = {name: digest(root / "class" / name) for name in ROLES if name != "empty"}
    started = time.monotonic()
    code, said = cli("grade", "--course", "sec-29", "--out", str(root / "out"), "--jobs", "2", "--timeout", TIMEOUT,
                     *[str(root / "class" / s) for s in ROLES], env=env)
    wall = time.monotonic() - started
    print(f"graded a class of {len(ROLES)} copies with --jobs 2 in {wall:.1f} s")
    assert code == 0, said
    time.sleep(3)           # the scribbler's detached process would strike 2 s after its worker started
    rows = {json.loads(p.read_text())["copy"]: json.loads(p.read_text()) for p in (root / "out/rows").glob("*.json")}
    return {"root": root, "rows": rows, "said": said, "before": before, "outside": outside, "env": env}


@needs_bwrap
def test_every_copy_gets_a_row_and_only_honest_work_passes(graded_class):
    rows = graded_class["rows"]
    assert sorted(rows) == sorted(ROLES), graded_class["said"][-3000:]
    for student, (role, should_pass) in ROLES.items():
        passed = sorted(int(n) for n, task in rows[student]["tasks"].items() if task["passed"])
        assert passed == should_pass, (student, role, {n: t["details"] for n, t in rows[student]["tasks"].items()})
        assert rows[student]["score"] == len(should_pass) and rows[student]["max_score"] == 3


@needs_bwrap
def test_the_attacks_fail_saying_why(graded_class):
    rows = graded_class["rows"]
    detail = {s: {int(n): t["details"] for n, t in row["tasks"].items()} for s, row in rows.items()}
    for student in ("empty", "nested", "gutted"):      # never the teacher's solution: the copy has none
        assert "no MulOp.backward in this copy" in detail[student][1], detail[student]
        assert "no SumToOp.forward in this copy" in detail[student][3]
    assert all("Task" in detail["forger"][n] and "blank" in rows["forger"]["tasks"][str(n)]["check"] for n in TASKS)
    assert "no solution found" in detail["finder"][1]                     # not the metadata, not the checkout
    assert "timed out" in detail["hanger"][1]
    assert "SIGSEGV" in detail["crasher"][1]
    assert "refused" in detail["garbler"][1] or "RuntimeError" in detail["garbler"][1]
    forked = int(detail["bomber"][1].split("forked ")[1].split()[0])
    assert forked < sandbox.Limits().processes, detail["bomber"][1]    # the process limit stopped the bomb
    assert "exited with code 0" in detail["lingerer"][1]
    assert rows["lingerer"]["seconds"] < float(TIMEOUT)                 # a child holding the pipes costs nothing
    assert "experiments.exercises" in detail["helper"][3]               # the checker is not in the sandbox
    assert "symbolic link" in detail["linker"][1]
    assert "scribbled" in detail["scribbler"][1]
    local = subprocess.run([sys.executable, "-m", "experiments", "exercise", "check", "3", "--json"], text=True,
                           capture_output=True, cwd=graded_class["root"] / "class/hardcoder", timeout=300,
                           env=dict(ENV, PYTHONPATH=str(graded_class["root"] / "class/hardcoder")))
    assert json.loads(local.stdout.splitlines()[-1])["3"]["passed"], local.stderr   # passes on the inputs it saw


@needs_bwrap
def test_the_attacks_touch_nothing_outside_their_sandbox(graded_class):
    root = graded_class["root"]
    assert not graded_class["outside"].exists()
    for name, files in graded_class["before"].items():
        assert digest(root / "class" / name) == files, name           # no copy changed, not even its own
    for path in (root / "out").rglob("*"):
        if path.is_file():
            assert "forged" not in path.read_text(errors="replace"), path
    uids = set(json.loads((root / "out/run.json").read_text())["uids"])
    leftovers = [pid for pid in os.listdir("/proc") if pid.isdigit() and _uid(pid) in uids]
    assert not leftovers                                                 # no detached process survived


def _uid(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


@needs_bwrap
def test_names_come_from_make_and_the_record_decides(graded_class):
    rows = graded_class["rows"]
    assert rows["honest01"]["named_by"] == "make id" and rows["honest01"]["student"] == "honest01"
    # two copies carry honest00's token: neither is believed, both are named by their folders
    assert rows["mallory"]["named_by"] == rows["honest00"]["named_by"] == "folder"
    assert rows["honest00"]["student"] == "honest00" and rows["honest00"]["score"] == 3
    assert any("carry the id of honest00" in n for n in rows["mallory"]["notes"])
    assert rows["empty"]["named_by"] == "folder" and rows["untouched"]["max_score"] == 3


@needs_bwrap
def test_reports_gradebook_and_gradescope(graded_class):
    out = graded_class["root"] / "out"
    markdown = (out / "grades.md").read_text()
    assert markdown.startswith("> Copies were graded in bubblewrap sandboxes")
    assert len([line for line in markdown.splitlines() if line.startswith("| ")]) == len(ROLES) + 1
    book = (out / "gradebook.csv").read_text().splitlines()
    assert book[0] == "student,score,max_score" and len(book) == len(ROLES) + 1
    assert "honest03,3,3" in book and "untouched,0,3" in book
    assert not any(str(graded_class["root"]) in line for line in book)          # names, never paths
    for student in ROLES:
        results = json.loads((out / "gradescope" / student / "results.json").read_text())
        check_gradescope(results, graded_class["rows"][student])
        feedback = (out / "feedback" / f"{student}.txt").read_text()
        assert feedback.splitlines()[0].startswith("Copies were graded in bubblewrap sandboxes")
        assert f"Task 1: {BY_NUMBER[1].title}" in feedback


def check_gradescope(results, row):
    """``results.json`` against Gradescope's documented fields and types (specs page of the autograder docs)."""
    allowed = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
               "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
    assert set(results) <= allowed, set(results) - allowed
    assert isinstance(results["score"], float) and results["score"] == row["score"]
    assert isinstance(results["execution_time"], int) and isinstance(results["output"], str)
    assert results["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert results["stdout_visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert results.get("output_format", "text") in ("text", "html", "simple_format", "md", "ansi")
    assert isinstance(results["extra_data"], dict) and json.dumps(results["extra_data"])
    test_fields = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format",
                   "tags", "visibility", "extra_data"}
    assert len(results["tests"]) == len(row["tasks"])
    for test in results["tests"]:
        assert set(test) <= test_fields, set(test) - test_fields
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed") and (test["status"] == "passed") == (test["score"] > 0)
        assert isinstance(test["name"], str) and isinstance(test["number"], str) and isinstance(test["output"], str)
        assert all(isinstance(tag, str) for tag in test["tags"]) and test["visibility"] == "visible"
    assert sum(t["score"] for t in results["tests"]) == results["score"]


# ---- limits only: what grading does on every system without bubblewrap ------------------------------

@pytest.fixture(scope="module")
def limits_only(tmp_path_factory):
    """A few copies graded with the sandbox turned off (``Sandbox(False)``), in this process."""
    root = tmp_path_factory.mktemp("limits")
    record = course(root / "records", "lim-29", TASKS)
    roles = {"honest": "solve", "blank": "nothing", "hanger": "hang", "crasher": "crash", "garbler": "garbage",
             "shouter": "huge", "lingerer": "holds output", "forger": "forger"}
    for student, role in roles.items():
        act(make_copy(root / student, TASKS, "lim-29", root / "records"), role, {})
    saved = sandbox._PROBED.get("sandbox")
    sandbox._PROBED["sandbox"] = sandbox.Sandbox(False, "turned off by the test")
    try:
        rows, _ = grade_class([root / s for s in roles], record, root / "out", Options(grading=True), jobs=1,
                              timeout=16, seed=29)
    finally:
        sandbox._PROBED["sandbox"] = saved
    return {r["copy"]: r for r in rows}, root


def test_without_bubblewrap_the_limits_still_hold_and_every_report_says_so(limits_only):
    rows, root = limits_only
    passed = {s: sorted(int(n) for n, t in r["tasks"].items() if t["passed"]) for s, r in rows.items()}
    assert passed == {"honest": TASKS, "blank": [], "hanger": [2, 3], "crasher": [2, 3], "garbler": [2, 3],
                      "shouter": TASKS, "lingerer": [2, 3], "forger": []}, {s: r["tasks"] for s, r in rows.items()}
    assert "timed out" in rows["hanger"]["tasks"]["1"]["details"]
    assert rows["lingerer"]["seconds"] < 16
    assert (root / "out/grades.md").read_text().startswith("> WARNING: copies were NOT isolated (turned off")
    assert (root / "out/feedback/honest.txt").read_text().startswith("WARNING: copies were NOT isolated")
    assert json.loads((root / "out/gradescope/honest/results.json").read_text())["output"].startswith("WARNING")
    assert not any(row["isolated"] for row in rows.values())


def test_require_sandbox_refuses_to_grade_unisolated(monkeypatch, tmp_path):
    monkeypatch.setitem(sandbox._PROBED, "sandbox", sandbox.Sandbox(False, "no bwrap in this test"))
    with pytest.raises(sandbox.SandboxUnavailable, match="no bwrap in this test"):
        grade_class([tmp_path], course(tmp_path / "r", "c", [1]), tmp_path / "out", Options(grading=True),
                    require_sandbox=True)


def test_output_is_read_bounded(tmp_path):
    """400 MB printed by a copy: the grader keeps a tail (it took the old grader to 1.3 GB)."""
    record_dir = tmp_path / "records"
    course(record_dir, "big-29", [1])
    copy = act_copy(make_copy(tmp_path / "shouter", [1], "big-29", record_dir), "huge", megabytes=400)
    program = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", program, sys.executable, "-m", "experiments", "exercise", "grade",
                           "--course", "big-29", "--records", str(record_dir), "--out", str(tmp_path / "out"),
                           "--jobs", "1", str(copy)], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stdout.split()[-1]) / 1024            # ru_maxrss is in KiB on Linux
    row = json.loads((tmp_path / "out/rows/shouter.json").read_text())
    assert row["tasks"]["1"]["passed"]
    assert peak_mb < 350, peak_mb                            # the largest process: grader or worker


def act_copy(copy, role, megabytes=20):
    act(copy, role, {}, megabytes)
    return copy


def test_ctrl_c_keeps_the_rows_and_resume_grades_the_rest(tmp_path):
    record_dir = tmp_path / "records"
    course(record_dir, "int-29", [1])
    copies = [act_copy(make_copy(tmp_path / name, [1], "int-29", record_dir), role)
              for name, role in (("first", "solve"), ("slow", "hang"), ("last", "solve"))]
    command = [sys.executable, "-m", "experiments", "exercise", "grade", "--course", "int-29", "--records",
               str(record_dir), "--out", str(tmp_path / "out"), "--jobs", "1", "--timeout", "60"]
    grading = subprocess.Popen(command + [str(c) for c in copies], env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out/rows/first.json").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)                                          # now inside the hanging copy
    grading.send_signal(signal.SIGINT)
    said, _ = grading.communicate(timeout=60)
    assert grading.returncode == 130, said
    assert "`--resume` grades the rest" in said
    assert sorted(p.name for p in (tmp_path / "out/rows").iterdir()) == ["first.json"]
    kept = (tmp_path / "out/rows/first.json").read_bytes()
    assert "first" in (tmp_path / "out/grades.md").read_text()           # the tables hold what was finished
    done = subprocess.run(command[:-2] + ["--timeout", "12", "--resume"] + [str(c) for c in copies], env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "--resume: 1 row(s) kept, 2 copies to grade" in done.stdout
    assert (tmp_path / "out/rows/first.json").read_bytes() == kept
    book = (tmp_path / "out/gradebook.csv").read_text().splitlines()
    assert sorted(book[1:]) == ["first,1,1", "last,1,1", "slow,0,1"]


def test_task_11_refuses_the_sample_unless_allowed(tmp_path, monkeypatch):
    """With no MNIST anywhere, task 11 fails saying it needs the real data; --allow-sample trains on the
    sample (a trial run) and the table says so."""
    for name, value in (("TINYGRAD_LITE_DATA", str(tmp_path / "no-data")), ("TINYGRAD_LITE_OFFLINE", "1"),
                        ("XDG_CACHE_HOME", str(tmp_path / "no-cache"))):
        monkeypatch.setenv(name, value)
    record = course(tmp_path / "records", "s11", [11])
    copy = solve(make_copy(tmp_path / "honest", [11], "s11", tmp_path / "records"), [11])
    refused, _ = grade_class([copy], record, tmp_path / "refused", Options(subset=200, epochs=1, grading=True),
                             jobs=1, seed=1)
    assert not refused[0]["tasks"]["11"]["passed"]
    assert "task 11 trains on the real MNIST data" in refused[0]["tasks"]["11"]["check"]
    allowed, _ = grade_class([copy], record, tmp_path / "allowed",
                             Options(subset=200, epochs=1, allow_sample=True, grading=True), jobs=1, seed=1)
    assert allowed[0]["tasks"]["11"]["passed"], allowed[0]["tasks"]["11"]
    table = (tmp_path / "allowed/grades.md").read_text()
    assert "Task 11 trained on: A-sigmoid, 1 epoch(s) on 200 training images of the bundled sample" in table
    assert "of the bundled sample |" in table


def test_points_per_task_come_from_the_course(tmp_path):
    record = course(tmp_path / "records", "pts", [1, 3], points={3: 5})
    copy = solve(make_copy(tmp_path / "ann", [1, 3], "pts", tmp_path / "records"), [3])
    rows, _ = grade_class([copy], record, tmp_path / "out", Options(grading=True), jobs=1, seed=3)
    assert (rows[0]["score"], rows[0]["max_score"]) == (5, 6)
    assert (tmp_path / "out/gradebook.csv").read_text().splitlines()[1] == "ann,5,6"
    results = json.loads((tmp_path / "out/gradescope/ann/results.json").read_text())
    assert [t["max_score"] for t in results["tests"]] == [1.0, 5.0]
