"""Write a student copy of the project with the chosen tasks' function bodies blanked.

The body is found in the syntax tree (``ast``): everything after the docstring, from the first statement
to the end of the last, is replaced by ``raise NotImplementedError("Task N: Qualname - what to do")``.
The signature, the docstring (the formula) and every other line stay as they are: no markers.
"""
import ast
import json
import shutil
import subprocess
from pathlib import Path

from .course import BY_NUMBER, COURSE

PROJECT = Path(__file__).resolve().parents[2]
SKIPPED_DIRS = {".git", "runs", "__pycache__", ".pytest_cache", ".hypothesis", ".ipynb_checkpoints", "build", "dist"}
STATE_FILE = "exercise.json"


def split_target(target):
    path, _, qualname = target.partition("::")
    return path, qualname


def find_function(tree, qualname, where="source"):
    """The FunctionDef at ``qualname`` (e.g. 'Tanh.backward') in a module's tree, or a LookupError."""
    scope = tree.body
    node = None
    for part in qualname.split("."):
        matches = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                   and n.name == part]
        if not matches:
            raise LookupError(f"{where}: no {qualname!r} (no {part!r} there)")
        node = matches[-1]
        scope = node.body
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise LookupError(f"{where}: {qualname!r} is a class, not a function")
    return node


def body_span(node):
    """((line, byte col), (end line, end byte col)) of the body after the docstring (1-based lines)."""
    body = node.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        body = body[1:]
    if not body:
        raise LookupError(f"{node.name} has only a docstring: nothing to blank")
    return (body[0].lineno, body[0].col_offset), (body[-1].end_lineno, body[-1].end_col_offset)


def blank_source(source, replacements):
    """``source`` (bytes) with each (qualname, message) function body replaced by the raise."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans = []
    for qualname, message in replacements:
        (line, col), (end_line, end_col) = body_span(find_function(tree, qualname))
        spans.append((starts[line - 1] + col, starts[end_line - 1] + end_col, message))
    for begin, end, message in sorted(spans, reverse=True):
        stub = f"raise NotImplementedError({message!r})".encode()
        source = source[:begin] + stub + source[end:]
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


def make(directory, tasks, source_root=PROJECT):
    """Copy the project at ``source_root`` to ``directory`` (new or empty) with ``tasks`` blanked."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise ValueError(f"exercise make: {directory} exists and is not empty; give a new folder")
    by_file = {}
    for number in tasks:
        task = BY_NUMBER[number]
        for target in task.blanks:
            path, qualname = split_target(target)
            by_file.setdefault(path, []).append((qualname, task.stub_message(target)))
    files = project_files(source_root)
    missing = set(by_file) - {p.as_posix() for p in files}
    if missing:
        raise ValueError(f"exercise make: {sorted(missing)} not found in {source_root}")
    for relative in files:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.as_posix() in by_file:
            target.write_bytes(blank_source((Path(source_root) / relative).read_bytes(),
                                            by_file[relative.as_posix()]))
        else:
            shutil.copy2(Path(source_root) / relative, target)
    conftest = directory / "conftest.py"
    existing = conftest.read_text() + "\n\n" if conftest.exists() else ""
    conftest.write_text(existing + CONFTEST)
    (directory / STATE_FILE).write_text(json.dumps({"blank": list(tasks), "course": len(COURSE)}, indent=1) + "\n")
    return directory
