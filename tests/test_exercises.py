"""The exercise course: stubs made from the real code, torch-free checks, grading (experiments/exercises)."""
import ast
import difflib
import os
import shutil
import subprocess
import sys

import pytest

from experiments.cli import main
from experiments.exercises.course import BY_NUMBER, COURSE, depends_on, parse_tasks
from experiments.exercises.grade import as_csv, as_markdown, grade
from experiments.exercises.stubs import PROJECT, blank_source, body_span, find_function, make, split_target

SHORT = ["--subset", "200", "--epochs", "1"]       # task 11 as a short run (the loss must fall)


def check_in(copy, *args):
    done = subprocess.run([sys.executable, "-m", "experiments", "exercise", "check", "--json", *args],
                          cwd=copy, env=dict(os.environ, PYTHONPATH=str(copy)), capture_output=True, text=True,
                          timeout=600)
    import json
    assert done.returncode == 0, done.stderr
    return {int(k): v for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def test_every_task_names_code_that_exists_today():
    assert [t.number for t in COURSE] == list(range(1, 12))
    for task in COURSE:
        assert all(d < task.number for d in task.depends), task
        for target in task.blanks:
            path, qualname = split_target(target)
            source = (PROJECT / path).read_text()
            body_span(find_function(ast.parse(source), qualname, path))    # raises if moved or renamed


def test_a_stub_keeps_the_signature_and_docstring_and_nothing_else_changes():
    source = (PROJECT / "tinygrad_lite/ops/elementwise.py").read_bytes()
    stubbed = blank_source(source, [("Tanh.backward", "Task 2: Tanh.backward - do it"),
                                    ("Exp.backward", "Task 1: Exp.backward - do it")]).decode()
    assert "    def backward(self, gy):\n        raise NotImplementedError('Task 2: Tanh.backward - do it')\n" in stubbed
    assert "def backward(self, gy): raise NotImplementedError('Task 1: Exp.backward - do it')" in stubbed
    assert '"""y = tanh x;  dx = gy * (1 - y^2)"""' in stubbed
    assert "1 - y * y" not in stubbed and "TODO" not in stubbed
    changed = [line for line in difflib.unified_diff(source.decode().splitlines(), stubbed.splitlines(), n=0,
                                                     lineterm="") if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-    def backward(self, gy): return gy * self.output()",
                       "+    def backward(self, gy): raise NotImplementedError('Task 1: Exp.backward - do it')",
                       "-        y = self.output()", "-        return gy * (1 - y * y)",
                       "+        raise NotImplementedError('Task 2: Tanh.backward - do it')"]


def test_parse_tasks():
    assert parse_tasks("1-3,7") == [1, 2, 3, 7] and parse_tasks("all") == list(range(1, 12))
    assert parse_tasks("none") == []
    for bad in ("0-3", "12", "x", "5-2"):
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
    """A plausible mistake (Tanh.backward without gy) is named: element, expected vs got, the hint."""
    copy = make(tmp_path / "copy", [])
    path = copy / "tinygrad_lite/ops/elementwise.py"
    path.write_text(path.read_text().replace("return gy * (1 - y * y)", "return 1 - y * y"))
    outcome = check_in(copy, "2")[2]
    assert not outcome["passed"] and not outcome["blank"]
    assert "Tanh" in outcome["check"] and "element:" in outcome["details"] and "expected:" in outcome["details"]
    assert "forgot to multiply by the incoming gradient" in outcome["details"]


def test_grading_three_copies(tmp_path):
    copies = [make(tmp_path / "none-done", parse_tasks("all")), make(tmp_path / "half-done", parse_tasks("6-11")),
              make(tmp_path / "all-done", [])]
    rows = grade(copies, subset=200, epochs=1)
    passed = [[outcomes[t.number]["passed"] for t in COURSE] for _, outcomes in rows]
    # task 11 (the training step) fails while it or the tasks it trains through are blank
    assert passed == [[False] * 10 + [False], [True] * 5 + [False] * 5 + [False], [True] * 11]
    markdown, table = as_markdown(rows), as_csv(rows).splitlines()
    assert markdown.splitlines()[2].endswith("| 0/11 |") and markdown.splitlines()[4].endswith("| 11/11 |")
    assert "fail: Task 1 is still blank" in markdown
    assert table[0].split(",")[:3] == ["copy", "task 1", "task 2"] and table[2].endswith(",5")


def test_the_copy_runs_its_own_tests_skipping_what_reaches_a_blank_task(tmp_path):
    copy = make(tmp_path / "copy", [2])
    done = subprocess.run([sys.executable, "-m", "pytest", "tests/test_ops_elementwise.py", "-q", "-rs", "-p",
                           "no:cacheprovider", "-k", "tanh or sigmoid"], cwd=copy,
                          env=dict(os.environ, PYTHONPATH=str(copy)), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Task 2 is blank in this exercise copy" in done.stdout


def test_cli(tmp_path, capsys):
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    assert "tinygrad_lite/ops/elementwise.py::Tanh.backward" in out and "11. The training loop" in out
    assert main(["exercise", "make", str(tmp_path / "c"), "--tasks", "13"]) == 2
    assert "--tasks" in capsys.readouterr().err
    assert main(["exercise", "make", str(tmp_path / "c"), "--tasks", "3"]) == 0
    assert "raise NotImplementedError('Task 3: SumTo.forward" in (tmp_path / "c/tinygrad_lite/ops/shape.py").read_text()
    assert main(["exercise", "check", "3"]) == 0          # this tree is the solution
    assert "Task 3: Summing a broadcast gradient back (sum_to) - done" in capsys.readouterr().out
