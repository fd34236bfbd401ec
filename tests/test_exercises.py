"""The exercise course: stubs made from the real code, torch-free checks, grading (experiments/exercises).

The attacks on grading are in test_grading_security.py; here: the course, ``make``, the local ``check``,
and that each task's checks catch what it teaches (a common mistake fails with the hint that names it).
"""
import ast
import difflib
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from exercise_copies import ENV, course, edit_body, make_copy, solve
from experiments.cli import main
from experiments.exercises import stubs
from experiments.exercises.checks import Options
from experiments.exercises.course import BY_NUMBER, COURSE, depends_on, parse_tasks
from experiments.exercises.grade import grade_class
from experiments.exercises.graft import body_span, find_function, split_target
from experiments.exercises.reports import csv_cell, markdown_cell
from experiments.exercises.stubs import PROJECT, blank_source, make

SHORT = ["--subset", "200", "--epochs", "1"]       # task 11 as a short run (the loss must fall)


def check_in(copy, *args):
    done = subprocess.run([sys.executable, "-m", "experiments", "exercise", "check", "--json", *args],
                          cwd=copy, env=dict(ENV, PYTHONPATH=str(copy)), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def test_every_task_names_code_that_exists_today():
    assert [t.number for t in COURSE] == list(range(1, 13))
    for task in COURSE:
        assert all(d < task.number for d in task.depends), task
        for target in task.blanks + task.removes:
            path, qualname = split_target(target)
            source = (PROJECT / path).read_text()
            body_span(find_function(ast.parse(source), qualname, path))    # raises if moved or renamed


FAST_PATHS_GONE = """
import numpy as np
import nn.functional as F
import tinygrad_lite as tl
from nn.functional.conv import Conv2dOp
from nn.functional.attention import AttentionOp
from nn.functional.losses import CrossEntropyOp
assert CrossEntropyOp._fast_backward is None and Conv2dOp._fast_backward is None and AttentionOp._fast_backward is None
for name, loss in [("CrossEntropyOp", lambda x: F.cross_entropy(x.reshape(2, 4), tl.Tensor(np.array([0, 3])))),
                   ("Conv2dOp", lambda x: F.conv2d(x.reshape(1, 2, 2, 2), tl.ones(1, 2, 1, 1)).sum())]:
    x = tl.Tensor(np.arange(8.0), requires_grad=True)
    try:
        loss(x).backward()                 # a training step's backward: no create_graph
    except NotImplementedError as error:
        print(name, error)
from nn.functional.conv import GroupedConv2dOp
assert GroupedConv2dOp.backward is None and GroupedConv2dOp._fast_backward is None
x = tl.Tensor(np.arange(18.0).reshape(1, 2, 3, 3), requires_grad=True)
F.conv2d(x, tl.ones(2, 1, 1, 1), groups=2).sum().backward()       # the composition: no answer needed
assert x.grad.numpy().tolist() == np.ones((1, 2, 3, 3)).tolist()
from nn.functional.losses import ClassAxisCrossEntropyOp
assert ClassAxisCrossEntropyOp.backward is None and ClassAxisCrossEntropyOp._fast_backward is None
loss = F.cross_entropy(tl.Tensor(np.zeros((1, 2, 3))), np.array([[0, 1, 1]]))   # the rows route: task 6's op
assert type(loss.grad_fn).__name__ != "ClassAxisCrossEntropyOp" and abs(loss.item() - np.log(2)) < 1e-12
"""


def test_a_fast_path_holding_a_blank_tasks_answer_is_not_in_the_copy(tmp_path):
    """Task 6's, 9's and 12's ops have a ``_fast_backward`` computing the same gradient on arrays, and the
    grouped convolution's op and N-D cross-entropy's op both backwards: the copy (and grading's
    framework) goes without them, so training runs the student's backward, grouped convolutions the
    composition, N-D cross-entropy task 6's op on rows, and no answer is left."""
    framework = stubs.write_framework(tmp_path, [6, 9, 12])
    for task in (BY_NUMBER[6], BY_NUMBER[9], BY_NUMBER[12]):
        for target in task.removes:
            path, qualname = split_target(target)
            with pytest.raises(LookupError):
                find_function(ast.parse((framework / path).read_text()), qualname)
            assert stubs.REMOVED.format(name=qualname.rsplit(".", 1)[1]) in (framework / path).read_text()
    done = subprocess.run([sys.executable, "-c", FAST_PATHS_GONE], cwd=framework,
                          env=dict(ENV, PYTHONPATH=str(framework)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"CrossEntropyOp {BY_NUMBER[6].stub_message(BY_NUMBER[6].blanks[0])}",
                                        f"Conv2dOp {BY_NUMBER[9].stub_message(BY_NUMBER[9].blanks[0])}"]


LINEAR_FAST_PATH_GONE = """
import numpy as np
import nn.functional as F
import tinygrad_lite as tl
from nn.functional.activations import LinearOp
assert LinearOp._fast_backward is None
x = tl.Tensor(np.arange(8.0).reshape(2, 4), requires_grad=True)
try:
    F.linear(x, tl.ones(3, 4), tl.zeros(3)).sum().backward()     # a training step's backward
except NotImplementedError as error:
    print(error)
"""


def test_task_5_copy_trains_through_the_students_linear_backward(tmp_path):
    """``LinearOp._fast_backward`` holds task 5's answer on arrays: the copy goes without it, so a
    Dense layer's training step runs the student's ``LinearOp.backward``."""
    framework = stubs.write_framework(tmp_path, [5])
    path, qualname = split_target(BY_NUMBER[5].removes[0])
    assert qualname == "LinearOp._fast_backward"
    with pytest.raises(LookupError):
        find_function(ast.parse((framework / path).read_text()), qualname)
    done = subprocess.run([sys.executable, "-c", LINEAR_FAST_PATH_GONE], cwd=framework,
                          env=dict(ENV, PYTHONPATH=str(framework)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == BY_NUMBER[5].stub_message(BY_NUMBER[5].blanks[1])


def test_a_stub_keeps_the_signature_and_docstring_and_nothing_else_changes():
    source = (PROJECT / "tinygrad_lite/ops/elementwise.py").read_bytes()
    stubbed = blank_source(source, [("TanhOp.backward", "Task 2: TanhOp.backward - do it"),
                                    ("ExpOp.backward", "Task 1: ExpOp.backward - do it")]).decode()
    assert ("    def backward(self, gy):\n"
            "        raise NotImplementedError('Task 2: TanhOp.backward - do it')\n") in stubbed
    assert "def backward(self, gy): raise NotImplementedError('Task 1: ExpOp.backward - do it')" in stubbed
    assert '"""y = tanh x;  dx = gy * (1 - y^2)"""' in stubbed
    assert "1 - y * y" not in stubbed and "TODO" not in stubbed
    diff = difflib.unified_diff(source.decode().splitlines(), stubbed.splitlines(), n=0, lineterm="")
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-    def backward(self, gy): return gy * self.output()",
                       "+    def backward(self, gy): raise NotImplementedError('Task 1: ExpOp.backward - do it')",
                       "-        y = self.output()", "-        return gy * (1 - y * y)",
                       "+        raise NotImplementedError('Task 2: TanhOp.backward - do it')"]


def test_parse_tasks():
    assert parse_tasks("1-3,7") == [1, 2, 3, 7] and parse_tasks("all") == list(range(1, 13))
    assert parse_tasks("none") == []
    for bad in ("0-3", "13", "x", "5-2"):
        with pytest.raises(ValueError, match="--tasks"):
            parse_tasks(bad)


@pytest.fixture(scope="module")
def single_blank_results(tmp_path_factory):
    """For every task N: a copy with only N blank, checked; then N's bodies put back, N checked again."""
    results = {}
    for task in COURSE:
        copy = make(tmp_path_factory.mktemp(f"task{task.number}"), [task.number])
        before = check_in(copy, *SHORT)
        for target in task.blanks:
            path = split_target(target)[0]
            shutil.copy2(PROJECT / path, copy / path)
        after = check_in(copy, str(task.number), *SHORT)[task.number]
        results[task.number] = before, after
    return results


@pytest.mark.parametrize("number", [t.number for t in COURSE if t.blanks])
def test_a_task_fails_on_its_stub_and_passes_with_its_body_back(single_blank_results, number):
    before, after = single_blank_results[number]
    assert not before[number]["passed"] and before[number]["blank"], before[number]
    assert f"Task {number}: " in before[number]["details"]
    assert after["passed"], after


@pytest.mark.parametrize("number", [t.number for t in COURSE])
def test_a_blank_task_never_breaks_a_task_that_does_not_depend_on_it(single_blank_results, number):
    before, _ = single_blank_results[number]
    for other in COURSE:
        if other.number != number and number not in depends_on(other.number):
            assert before[other.number]["passed"], (number, other.number, before[other.number])


def test_the_ta_explains_a_wrong_answer(tmp_path):
    """A plausible mistake (TanhOp.backward without gy) is named: element, expected vs got, the hint."""
    copy = make(tmp_path / "copy", [])
    path = copy / "tinygrad_lite/ops/elementwise.py"
    path.write_text(path.read_text().replace("return gy * (1 - y * y)", "return 1 - y * y"))
    outcome = check_in(copy, "2")[2]
    assert not outcome["passed"] and not outcome["blank"]
    assert "Tanh" in outcome["check"] and "element:" in outcome["details"] and "expected:" in outcome["details"]
    assert "forgot to multiply by the incoming gradient" in outcome["details"]


def test_grading_counts_only_the_tasks_the_course_blanked(tmp_path):
    """An untouched --tasks 1-3 copy scores 0 of 3 (not 8 of 11), whatever its exercise.json claims."""
    record = course(tmp_path / "records", "c13", [1, 2, 3])
    untouched = make_copy(tmp_path / "untouched", [1, 2, 3], "c13", tmp_path / "records")
    claims = make_copy(tmp_path / "claims", [1, 2, 3], "c13", tmp_path / "records")
    state = json.loads((claims / "exercise.json").read_text())
    (claims / "exercise.json").write_text(json.dumps(dict(state, blank=[], course="another")))
    done = solve(make_copy(tmp_path / "done", [1, 2, 3], "c13", tmp_path / "records"), [1, 2, 3])
    rows, _ = grade_class([untouched, claims, done], record, tmp_path / "out", Options(grading=True), jobs=1, seed=5)
    assert [(r["copy"], r["score"], r["max_score"]) for r in rows] == [("claims", 0, 3), ("done", 3, 3),
                                                                       ("untouched", 0, 3)]
    assert sorted(rows[0]["tasks"]) == ["1", "2", "3"]
    assert any("names another course" in note for note in rows[0]["notes"])
    table = (tmp_path / "out/grades.csv").read_text().splitlines()
    assert table[1].split(",") == ["student", "task 1", "task 2", "task 3", "score", "max score"]
    assert "fail: Task 1 is still blank" in (tmp_path / "out/grades.md").read_text()


def test_the_copy_runs_its_own_tests_skipping_what_reaches_a_blank_task(tmp_path):
    copy = make(tmp_path / "copy", [2])
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_ops_elementwise.py", "-q", "-rs", "-p",
                           "no:cacheprovider", "-k", "tanh or sigmoid"], cwd=copy,
                          env=dict(os.environ, PYTHONPATH=str(copy)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Task 2 is blank in this exercise copy" in done.stdout


def test_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TINYGRAD_LITE_COURSES", str(tmp_path / "records"))
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    assert "tinygrad_lite/ops/elementwise.py::TanhOp.backward" in out and "11. The training loop" in out
    assert main(["exercise", "make", str(tmp_path / "c"), "--tasks", "14"]) == 2
    assert "--tasks" in capsys.readouterr().err
    assert main(["exercise", "make", str(tmp_path / "c"), "--tasks", "3", "--course", "cli-3"]) == 0
    assert "course cli-3: task(s) 3 blank" in capsys.readouterr().out
    assert "raise NotImplementedError('Task 3: SumToOp.forward" in (tmp_path / "c/tinygrad_lite/core.py").read_text()
    assert json.loads((tmp_path / "records/cli-3.json").read_text())["blank"] == [3]
    assert main(["exercise", "make", str(tmp_path / "d"), "--tasks", "4", "--course", "cli-3"]) == 2
    assert "was made with task(s) [3]" in capsys.readouterr().err
    assert main(["exercise", "check", "3"]) == 2          # this tree is the solution, not a copy
    assert "not in an exercise copy" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path / "c")
    assert main(["exercise", "check", "3"]) == 2
    assert "python -m experiments exercise check` here" in capsys.readouterr().out
    assert main(["exercise", "grade", str(tmp_path / "c"), "--course", "no-such"]) == 2
    assert "no record of course 'no-such'" in capsys.readouterr().err


def test_make_leaves_out_every_file_holding_a_blank_body(tmp_path):
    """This file quotes ExpOp.backward's body (above), so a copy blanking task 1 must not contain it; no file
    of the copy holds a blank task's body, and a package file holding one is an error in the course."""
    copy = make(tmp_path / "c", [1, 2])
    assert (PROJECT / "tests/test_exercises.py").is_file() and not (copy / "tests/test_exercises.py").exists()
    assert (copy / "tests/test_ops_elementwise.py").is_file()
    solutions = ["returngy*(1-y*y)", "returngy*self.output()"]        # Tanh's and Exp's, spaces removed
    for path in copy.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md"):
            text = "".join(path.read_text(errors="replace").split())
            assert not any(s in text for s in solutions), path
    fake = tmp_path / "fake"
    shutil.copytree(PROJECT / "tinygrad_lite", fake / "tinygrad_lite")
    (fake / "tinygrad_lite/helpers.py").write_text("def exp_grad(self, gy):\n    return gy * self.output()\n")
    with pytest.raises(ValueError, match="tinygrad_lite/helpers.py holds the body of .*ExpOp.backward"):
        stubs.copy_files(fake, [1])


def test_make_on_a_full_disk_leaves_no_half_copy(tmp_path, monkeypatch):
    copied = []

    def full_disk(source, target):
        if len(copied) > 20:
            raise OSError(errno.ENOSPC, "No space left on device")
        copied.append(target)
        return shutil.copyfile(source, target)
    monkeypatch.setattr(stubs.shutil, "copy2", full_disk)
    with pytest.raises(OSError, match="No space left"):
        make(tmp_path / "copy", [1])
    assert os.listdir(tmp_path) == []                 # neither the copy nor its temporary sibling


# ---- the checks catch what each task teaches: a common mistake, graded, fails with its hint -----------

def _target(number, index=0):
    return BY_NUMBER[number].blanks[index]


MISTAKES = {   # copy -> {task: (target, the solution's text, the mistake, the hint it must get)}
    "a": {1: (_target(1, 2), "return gy * self.output()", "return self.output()",
              "forgot to multiply by the incoming gradient gy"),
          2: (_target(2), "return gy * (1 - y * y)", "return 1 - y * y", "forgot to multiply by the incoming gradient"),
          3: (_target(3), "if n == 1 and", "if n == 0 and", "summed over too few axes"),
          5: (_target(5, 1), "gb = gy2.sum(axis=0)", "gb = gy2",
              "bias gradient has shape (4, 3); the bias has shape (3,): sum over the batch axis"),
          6: (_target(6), "return grad * self._scale(", "return grad * len(t) * self._scale(",
              "off by a constant factor 4"),
          7: (_target(7), 'buf = state.get("momentum_buffer")', "buf = None", "keep the momentum buffer"),
          8: (_target(8, 1), "] += by_offset[i, j]", "] = by_offset[i, j]", "overlapping windows must ADD"),
          10: (_target(10), "gy * (self.winner == o)", "gy * (self.winner >= 0)",
               "goes to its winning pixel only"),
          12: (_target(12), "scores = (q @ k.swapaxes(-1, -2)) * q.dtype.type(self.scale)",
               "scores = q @ k.swapaxes(-1, -2)", "multiply the scores q k^T by self.scale")},
    "b": {1: (_target(1, 1), "gb = -gy * a / (b * b)", "gb = gy * a / (b * b)", "the sign is flipped"),
          4: (_target(4), "pending[parent] = pending[parent] + gx", "pending[parent] = gx",
              "must receive the SUM of both gradients"),
          9: (_target(9), "gb = gy_mat.sum(axis=1)", "gb = -gy_mat.sum(axis=1)", "the sign is flipped"),
          12: (_target(12, 1), "g_s = p * (g_p - (g_p * p).sum(axis=-1, keepdims=True))", "g_s = p * g_p",
               "the row-sum term is missing")},
    "c": {11: (_target(11), "self.optimizer.step()", "pass", "the loss must fall")},
    "d": {1: (_target(1), "a, b = self.inputs", "a, b, c = self.inputs", "not enough values to unpack"),
          5: (_target(5), "gb = a2.swapaxes(-1, -2) @ gy", "gb = gy.swapaxes(-1, -2) @ a2", "wrong transpose")},
}


@pytest.fixture(scope="module")
def graded_mistakes(tmp_path_factory):
    """One copy per group of independent mistakes, every task blank, graded once (task 11 short)."""
    root = tmp_path_factory.mktemp("mistakes")
    every = [t.number for t in COURSE]
    record = course(root / "records", "mistakes", every)
    copies = {}
    for name, mistakes in MISTAKES.items():
        copies[name] = solve(make_copy(root / name, every, "mistakes", root / "records"), every)
        for target, solution, mistake, _ in mistakes.values():
            edit_body(copies[name], target, solution, mistake)
    rows, _ = grade_class(list(copies.values()), record, root / "out", Options(subset=200, epochs=1, grading=True),
                          jobs=2)
    return {row["copy"]: row for row in rows}, copies


@pytest.mark.parametrize("number", sorted({n for m in MISTAKES.values() for n in m}))
def test_a_common_mistake_fails_with_the_hint_that_names_it(graded_mistakes, number):
    rows, _ = graded_mistakes
    for name, mistakes in MISTAKES.items():
        if number in mistakes:
            task = rows[name]["tasks"][str(number)]
            assert not task["passed"] and mistakes[number][3] in task["details"], task["details"]


def test_a_mistake_fails_its_task_and_nothing_that_does_not_run_through_it(graded_mistakes):
    rows, _ = graded_mistakes
    for name, mistakes in MISTAKES.items():
        reached = set(mistakes) | {n for n in range(1, 13) if set(mistakes) & depends_on(n)}
        failed = {int(n) for n, task in rows[name]["tasks"].items() if not task["passed"]}
        assert set(mistakes) <= failed <= reached, (name, {n: t["check"] for n, t in rows[name]["tasks"].items()})


def test_an_exception_points_at_the_students_line(graded_mistakes):
    rows, copies = graded_mistakes
    details = rows["d"]["tasks"]["1"]["details"]
    path = split_target(_target(1))[0]
    line = next(i for i, text in enumerate((copies["d"] / path).read_text().splitlines(), 1)
                if "a, b, c = self.inputs" in text)
    assert rows["d"]["tasks"]["1"]["check"] == "MulOp.backward raised ValueError"
    assert f"at:       {path}:{line}, in MulOp.backward (your code)" in details
    assert "a, b, c = self.inputs" in details and "check:    Mul (b broadcast over rows)" in details


def test_the_local_check_explains_a_raise_at_the_students_line_too(tmp_path):
    copy = solve(make(tmp_path / "copy", [1]), [1])
    edit_body(copy, _target(1), "a, b = self.inputs", "a, b, c = self.inputs")
    outcome = check_in(copy, "1")[1]
    path = split_target(_target(1))[0]
    line = next(i for i, text in enumerate((copy / path).read_text().splitlines(), 1) if "a, b, c" in text)
    assert f"at:       {path}:{line}, in MulOp.backward (your code)" in outcome["details"], outcome["details"]


def test_report_cells_are_escaped():
    cell = markdown_cell("a | b\n<script>alert(1)</script> [x](http://e) `c` *d*")
    assert "|" not in cell.replace("\\|", "") and "<" not in cell and "\n" not in cell
    assert "\\[x\\]" in cell and "\\`c\\`" in cell and "\\*d\\*" in cell
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_cell("-1+2") == "'-1+2" and csv_cell(3) == 3
