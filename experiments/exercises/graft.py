"""Find a function in a module's syntax tree, and graft a student's function bodies into the teacher's.

Grading runs the teacher's framework with one change per blank task: the body of each blanked
function is the student's, taken from the copy's source. ``GraftFinder`` does it at import time
(``import tinygrad_lite.ops.elementwise`` parses the teacher's stub of that file, swaps in the student's
bodies, compiles): nothing else of the copy runs, not its module-level code, not its other files.
The student's statements keep their own line numbers, so a traceback points at the student's line.

Standard library only: the sandboxed worker imports this file on its own (``stubs`` uses it too).
"""
import ast
import copy
import importlib.abc
import importlib.util
import linecache
import os
import re

MAX_SOURCE_BYTES = 2 * 1024 * 1024      # a copy's source file larger than this is not parsed
_STUB = re.compile(r"^Task (\d+): ")


def stub_message(number, qualname, todo):
    """The message of the NotImplementedError a blank function raises (``blank_task`` reads it back)."""
    return f"Task {number}: {qualname} - {todo}"


def blank_task(error):
    """The number of the blank task whose stub raised ``error`` (or caused it), else None."""
    seen = set()
    while error is not None and id(error) not in seen and len(seen) < 100:   # a chain may be made cyclic
        seen.add(id(error))
        if isinstance(error, NotImplementedError):
            try:
                found = _STUB.match(str(error))
            except Exception:       # a student's exception whose __str__ raises
                found = None
            if found:
                return int(found.group(1))
        error = error.__cause__ or error.__context__
    return None


def split_target(target):
    """'path/to/module.py::Qual.name' -> ('path/to/module.py', 'Qual.name')."""
    path, _, qualname = target.partition("::")
    return path, qualname


def module_name(path):
    """'tinygrad_lite/ops/elementwise.py' -> 'tinygrad_lite.ops.elementwise' ('pkg/__init__.py' -> 'pkg')."""
    parts = path[:-len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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


def split_docstring(node):
    """(the docstring statement or None, the statements after it) of a function."""
    body = node.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        return body[0], body[1:]
    return None, body


def body_span(node):
    """((line, byte col), (end line, end byte col)) of the body after the docstring (1-based lines)."""
    _, body = split_docstring(node)
    if not body:
        raise LookupError(f"{node.name} has only a docstring: nothing to blank")
    return (body[0].lineno, body[0].col_offset), (body[-1].end_lineno, body[-1].end_col_offset)


def graft_module(stub_source, student_source, qualnames, filename, missing=None):
    """Compile ``stub_source`` (the teacher's module, its blank bodies stubbed) with each function in
    ``qualnames`` given the body of the same function in ``student_source``.

    Returns ``(code, report)``: ``report[qualname]`` is ``{"ok": True, "span": [first, last line]}``
    or ``{"ok": False, "error": why}``; a function that cannot be grafted keeps its stub, so its task
    fails saying why and the other functions of the file are still graded. ``student_source`` None
    means the copy has no such file (or none that could be read: ``missing`` says why).
    """
    tree = ast.parse(stub_source, filename)
    report = {}
    student_tree, problem = None, None
    if student_source is None:
        problem = f"{filename} {missing}" if missing else f"there is no {filename} in this copy"
    elif len(student_source) > MAX_SOURCE_BYTES:
        problem = f"{filename} is larger than {MAX_SOURCE_BYTES // 1024} KiB; not read"
    else:
        try:
            student_tree = ast.parse(student_source, filename)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
            line = getattr(error, "lineno", None)
            problem = f"{filename} is not valid Python ({type(error).__name__}" + \
                (f" at line {line}" if line else "") + f": {getattr(error, 'msg', error)})"
    for qualname in qualnames:
        if problem:
            report[qualname] = {"ok": False, "error": f"no {qualname} in this copy: {problem}"}
            continue
        report[qualname] = _graft_one(tree, student_tree, qualname, filename)
    return compile(tree, filename, "exec", dont_inherit=True), report


def _graft_one(tree, student_tree, qualname, filename):
    try:
        student = find_function(student_tree, qualname, filename)
    except LookupError:
        return {"ok": False, "error": f"no {qualname} in this copy's {filename}"}
    teacher = find_function(tree, qualname, filename)
    docstring, body = split_docstring(student)
    if not body:
        return {"ok": False, "error": f"{qualname} in this copy's {filename} has no body"}
    alone = copy.copy(teacher)            # the course's signature with the student's body, undecorated
    alone.body, alone.decorator_list = body, []
    candidate = ast.Module(body=[alone], type_ignores=[])
    try:
        compile(candidate, filename, "exec", dont_inherit=True)     # a broken body fails alone
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return {"ok": False, "error": f"{qualname} in this copy's {filename} does not compile "
                                      f"({type(error).__name__} at line {getattr(error, 'lineno', '?')}: "
                                      f"{getattr(error, 'msg', error)})"}
    stub_docstring, _ = split_docstring(teacher)
    teacher.body = ([stub_docstring] if stub_docstring else []) + body
    warnings = []
    if ast.dump(student.args) != ast.dump(teacher.args):
        warnings.append(f"{qualname}: your signature differs from the course's; the course's is used")
    return {"ok": True, "span": [student.lineno, student.end_lineno], "warnings": warnings}


class GraftFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the modules that hold blank tasks' functions from ``stub_root`` with the bodies from
    ``copy_root`` grafted in (``graft_module``); every other module is found the usual way.
    ``unread``: {path: why} for the copy's files the teacher's process would not read (a link...).
    ``report`` collects each target's graft outcome as the modules are imported."""

    def __init__(self, stub_root, copy_root, targets, unread=None):
        self.stub_root, self.copy_root, self.unread = stub_root, copy_root, unread or {}
        self.by_module, self.report = {}, {}
        for target in targets:
            path, qualname = split_target(target)
            self.by_module.setdefault(module_name(path), (path, []))[1].append(qualname)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.by_module:
            return None
        relative = self.by_module[fullname][0]
        origin = os.path.join(self.stub_root, relative)
        return importlib.util.spec_from_file_location(
            fullname, origin, loader=self,
            submodule_search_locations=[os.path.dirname(origin)] if relative.endswith("__init__.py") else None)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        relative, qualnames = self.by_module[module.__name__]
        with open(os.path.join(self.stub_root, relative), "rb") as f:
            stub = f.read()
        student = _read_or_none(os.path.join(self.copy_root, relative))
        code, report = graft_module(stub, student, qualnames, relative, self.unread.get(relative))
        if student is not None:      # a traceback's line text: the student's, at the student's line numbers
            lines = student.decode("utf-8", errors="replace").splitlines(keepends=True)
            linecache.cache[relative] = (len(student), None, lines, relative)
        self.report.update({f"{relative}::{q}": outcome for q, outcome in report.items()})
        exec(code, module.__dict__)


def _read_or_none(path):
    try:
        with open(path, "rb") as f:
            return f.read(MAX_SOURCE_BYTES + 1)
    except OSError:
        return None


def code_objects(function):
    """Every code object of ``function``: its own and those of functions nested inside it."""
    todo, found = [getattr(function, "__code__", None)], set()
    while todo:
        code = todo.pop()
        if code is not None and code not in found:
            found.add(code)
            todo.extend(c for c in code.co_consts if hasattr(c, "co_consts"))
    return found
