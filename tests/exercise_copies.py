"""Student copies for the exercise tests: made by ``exercise make``, then worked on as a student would."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

from experiments.exercises import records
from experiments.exercises.course import BY_NUMBER
from experiments.exercises.graft import body_span, find_function, split_target
from experiments.exercises.stubs import PROJECT, make

ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def solve(copy, tasks):
    """Put the teacher's bodies of ``tasks`` back into ``copy`` (the honest, complete work)."""
    for number in tasks:
        for target in BY_NUMBER[number].blanks:
            path = split_target(target)[0]
            shutil.copy2(PROJECT / path, Path(copy) / path)
    return copy


def _body(copy, target):
    """(file, its text, where the body of ``target`` starts and ends in it, its indentation)."""
    path, qualname = split_target(target)
    file = Path(copy) / path
    source = file.read_text()
    (line, col), (end_line, end_col) = body_span(find_function(ast.parse(source), qualname, path))
    lines = source.splitlines(keepends=True)
    return file, source, sum(map(len, lines[:line - 1])) + col, sum(map(len, lines[:end_line - 1])) + end_col, col


def edit_body(copy, target, old, new):
    """In ``copy``, replace ``old`` by ``new`` inside the body of ``target`` (a student's mistake)."""
    file, source, start, end, _ = _body(copy, target)
    body = source[start:end]
    assert body.count(old) == 1, f"{target}: {old!r} is not once in its body; the solution changed"
    file.write_text(source[:start] + body.replace(old, new) + source[end:])


def set_body(copy, target, body):
    """Replace the whole body of ``target`` in ``copy`` by ``body`` (its lines indented as the def's body)."""
    file, source, start, end, indent = _body(copy, target)
    file.write_text(source[:start] + body.strip("\n").replace("\n", "\n" + " " * indent) + source[end:])


def course(records_dir, name, tasks, points=None):
    """A course record with ``tasks`` blank (made as ``exercise make`` would) and its loaded form."""
    records.record(records_dir, name, tasks)
    loaded = records.load(records_dir, name)
    if points:
        loaded["points"].update(points)
    return loaded


def make_copy(folder, tasks, course_id, records_dir, student=None):
    return make(folder, tasks, course=course_id, student=student, records_dir=records_dir)


def cli(*args, timeout=600, env=None, cwd=None):
    """``python -m experiments exercise ...`` in a subprocess: (exit code, stdout + stderr)."""
    done = subprocess.run([sys.executable, "-m", "experiments", "exercise", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or ENV, cwd=cwd)
    return done.returncode, done.stdout + done.stderr
