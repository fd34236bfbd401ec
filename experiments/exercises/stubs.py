"""Write a student copy of the project with the chosen tasks' function bodies blanked.

The body is found in the syntax tree (``ast``): everything after the docstring, from the first statement
to the end of the last, is replaced by ``raise NotImplementedError("Task N: Qualname - what to do")``.
The signature, the docstring (the formula) and every other line stay as they are: no markers.

A file outside the packages that holds a blank body's code (a test quoting the solution) is left out
of the copy; one inside the packages is an error in the course (the copy could not run without it).
The copy is written beside its destination and renamed into place at the end, so a failure (a full
disk) leaves no half copy. The same blanking gives grading its ``framework``: the packages the
sandboxed worker imports, with no solution of a blank task in them.
"""
import ast
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import records
from .course import BY_NUMBER, COURSE
from .graft import body_span, find_function, split_docstring, split_target

PROJECT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", "runs", "__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", "build", "dist"}
STATE_FILE = "exercise.json"
PACKAGES = ("tinygrad_lite", "nn", "experiments")
CHECKER = "experiments/exercises"            # not part of the framework grading runs the student's code in


REMOVED = "{name} = None  # not in this exercise copy: the engine runs backward"


def blank_source(source, replacements):
    """``source`` (bytes) with each (qualname, message) function body replaced by the raise; a message
    of None removes the whole function, leaving ``name = None`` (a task's ``removes``)."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans = []
    for qualname, message in replacements:
        node = find_function(tree, qualname)
        if message is None:
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            spans.append((starts[first - 1] + node.col_offset, starts[node.end_lineno - 1] + node.end_col_offset,
                          REMOVED.format(name=node.name)))
            continue
        (line, col), (end_line, end_col) = body_span(node)
        spans.append((starts[line - 1] + col, starts[end_line - 1] + end_col,
                      f"raise NotImplementedError({message!r})"))
    for begin, end, stub in sorted(spans, reverse=True):
        source = source[:begin] + stub.encode() + source[end:]
    ast.parse(source)          # still Python
    return source


def project_files(root):
    """The project's files: ``git ls-files`` in a checkout, else a walk that leaves out caches and runs."""
    root = Path(root)
    if (root / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=False)
        if listed.returncode == 0:
            return [Path(p) for p in listed.stdout.decode().split("\0") if p and (root / p).is_file()]
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not SKIPPED_DIRS.intersection(relative.parts) and \
                not any(part.endswith(".egg-info") for part in relative.parts) and path.suffix != ".pyc":
            files.append(relative)
    return files


def _squeezed(text):
    return re.sub(r"\s+", "", text)


def solution_lines(source_root, tasks):
    """{target: the lines of its body, each without whitespace or comments} for every blank function."""
    found = {}
    for number in tasks:
        for target in BY_NUMBER[number].blanks:
            path, qualname = split_target(target)
            source = (Path(source_root) / path).read_text(encoding="utf-8")
            _, statements = split_docstring(find_function(ast.parse(source), qualname, path))
            lines = [line.split("#")[0] for s in statements for line in ast.get_source_segment(source, s).splitlines()]
            found[target] = [x for x in map(_squeezed, lines) if x]
    return found


def solution_holders(source_root, files, tasks, by_file):
    """{file: target} for every file other than the targets' own whose text holds every statement of a
    blank body (anywhere, spaces ignored: a test quoting the solution in a string counts)."""
    bodies = solution_lines(source_root, tasks)
    holders = {}
    for relative in files:
        if relative.as_posix() in by_file or relative.suffix not in (".py", ".md", ".txt", ".ipynb", ".rst"):
            continue
        text = _squeezed((Path(source_root) / relative).read_text(encoding="utf-8", errors="replace"))
        for target, lines in bodies.items():
            if sum(map(len, lines)) >= 12 and all(line in text for line in lines):
                holders[relative.as_posix()] = target
                break
    return holders


def _blanks_by_file(tasks):
    by_file = {}
    for number in tasks:
        task = BY_NUMBER[number]
        for target in task.blanks:
            path, qualname = split_target(target)
            by_file.setdefault(path, []).append((qualname, task.stub_message(target)))
        for target in task.removes:
            path, qualname = split_target(target)
            by_file.setdefault(path, []).append((qualname, None))
    return by_file


def _write_tree(directory, source_root, files, by_file):
    for relative in files:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.as_posix() in by_file:
            target.write_bytes(blank_source((Path(source_root) / relative).read_bytes(),
                                            by_file[relative.as_posix()]))
        else:
            shutil.copy2(Path(source_root) / relative, target)


CONFTEST = '''"""Written by ``tinygrad-lite exercise make``: a test that reaches a blank task is skipped, saying so."""
import pytest

from experiments.exercises.course import blank_task


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        task = blank_task(call.excinfo.value)
        if task is not None:
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               f"Skipped: Task {task} is blank in this exercise copy")
'''


def copy_files(source_root, tasks):
    """(the files a copy gets, the files left out because they hold a blank body: {file: target}).
    A package file holding one is a ValueError: the course must blank it too or change."""
    by_file = _blanks_by_file(tasks)
    files = project_files(source_root)
    missing = set(by_file) - {p.as_posix() for p in files}
    if missing:
        raise ValueError(f"exercise make: {sorted(missing)} not found in {source_root}")
    holders = solution_holders(source_root, files, tasks, by_file)
    inside = {f: t for f, t in holders.items() if f.split("/")[0] in PACKAGES and not f.startswith(CHECKER)}
    if inside:
        file, target = next(iter(inside.items()))
        raise ValueError(f"exercise make: {file} holds the body of {target}, a blank task's solution, and the "
                         f"copy needs that file; the course must blank it too")
    return [f for f in files if f.as_posix() not in holders], holders


def make(directory, tasks, source_root=PROJECT, course=None, student=None, records_dir=None):
    """Copy the project at ``source_root`` to ``directory`` (new or empty) with ``tasks`` blanked.

    ``course``: the course id written into the copy's ``exercise.json`` (a new one if None);
    ``records_dir``: where the teacher's record of the course is kept (``records``; None: no record);
    ``student``: an id for this copy, recorded with a secret token that the copy carries, so grading
    names the row by it. Returns the directory."""
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ValueError(f"exercise make: {directory} exists and is not empty; give a new folder")
    if student is not None:
        records.check_id("--student", student)
    course = course or f"course-{secrets.token_hex(4)}"
    records.check_id("--course", course)
    files, _ = copy_files(source_root, tasks)
    state = {"course": course, "blank": list(tasks), "course_tasks": len(COURSE)}
    if student is not None:
        state.update(student=student, token=secrets.token_hex(16))
    if records_dir is not None:
        records.record(records_dir, course, tasks, student, state.get("token"))
    directory.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".making", dir=directory.parent))
    try:
        _write_tree(building, source_root, files, _blanks_by_file(tasks))
        conftest = building / "conftest.py"
        existing = conftest.read_text() + "\n\n" if conftest.exists() else ""
        conftest.write_text(existing + CONFTEST)
        (building / STATE_FILE).write_text(json.dumps(state, indent=1) + "\n")
        os.chmod(building, 0o777 & ~_umask())      # mkdtemp makes it owner-only
        os.replace(building, directory)            # an empty directory is replaced; none is half written
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return directory


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_framework(directory, tasks, source_root=PROJECT):
    """The packages' Python files with ``tasks`` blanked, without the checker (``experiments/exercises``):
    what the sandboxed worker imports, the student's bodies grafted in at import time."""
    by_file = _blanks_by_file(tasks)
    files = [f for f in project_files(source_root) if f.suffix == ".py" and f.parts[0] in PACKAGES
             and not f.as_posix().startswith(CHECKER + "/")]
    _write_tree(Path(directory), source_root, files, by_file)
    return Path(directory)
