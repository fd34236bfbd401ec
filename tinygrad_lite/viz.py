"""Draw the autograd graph: ``to_dot(tensor)`` gives Graphviz DOT text, ``save_graph`` writes or renders it,
``show(tensor)`` displays it (inline in Jupyter, where ``to_dot``'s result also draws itself).

Each op (``Function``) is an ellipse, each tensor a record box with its name (when ``tensor.name`` is
set), shape and dtype, and, for small tensors, its ``data | grad`` values. Edges follow the forward
pass: input tensor -> op -> output tensor. Leaves that require grad (the parameters) are blue,
constants grey, the tensor you asked about bold.

No Python graphviz package is needed; rendering to PNG/SVG/PDF runs the ``dot`` program
(Debian/Ubuntu: ``apt-get install graphviz``, macOS: ``brew install graphviz``).
"""
import functools
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .backend import as_numpy
from .core import Tensor
from .errors import TinygradLiteError
from .files import write_bytes, write_text

DEFAULT_MAX_VALUES = 4          # tensors with at most this many elements show their values
FAST_FORMAT_MAX = 64            # float arrays up to this size are formatted by the fast path
RENDERED_FORMATS = ("png", "svg", "pdf")
DOT_SUFFIXES = (".dot", ".gv")


class GraphvizNotFoundError(TinygradLiteError, RuntimeError):
    """``save_graph`` was asked for an image but Graphviz's ``dot`` program is not installed."""


class Graph(str):
    """The DOT text of an autograd graph (a ``str``: print it, save it, count in it) that also shows
    itself in Jupyter: as an SVG picture when Graphviz's ``dot`` is installed, else as ``text()``, one
    line per op, ``output = Op(inputs)``, from the tensor you asked about back to the leaves."""

    def __new__(cls, dot, text_lines=()):
        graph = super().__new__(cls, dot)
        graph.text_lines = tuple(text_lines)
        return graph

    def text(self):
        """The graph as plain text: what ``repr`` and a notebook without Graphviz show."""
        return "\n".join(self.text_lines)

    def render(self, fmt="svg", timeout=60):
        """The picture as bytes in ``fmt`` (png, svg, pdf), drawn by Graphviz's ``dot``."""
        if fmt not in RENDERED_FORMATS:
            raise ValueError(f"render: fmt must be one of {', '.join(RENDERED_FORMATS)}, got {fmt!r}")
        return _run_dot(str(self), fmt, timeout, f"the graph as {fmt}")

    def _repr_svg_(self):
        if shutil.which("dot") is None:
            return None                 # Jupyter falls back to __repr__, the text form
        return self.render("svg").decode("utf-8")

    def __repr__(self):
        hint = ("" if shutil.which("dot") else
                "\n(install Graphviz's `dot` to see this as a picture: apt-get install graphviz, "
                "brew install graphviz or conda install graphviz)")
        return self.text() + hint


def show(tensor, show_values=None):
    """Display the graph of ``tensor``: inline in Jupyter (a picture with Graphviz, text without),
    printed as text elsewhere."""
    graph = to_dot(tensor, show_values=show_values)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(graph)
    else:
        print(repr(graph))


def to_dot(tensor, show_values=None):  # noqa: PLR0915  (one walk of the graph sharing its tables)
    """The graph that produced ``tensor`` as DOT text (a ``Graph``, which Jupyter draws).

    ``show_values``: None shows ``data | grad`` for tensors of at most 4 elements, an int sets that limit,
    True shows them for every tensor (NumPy summarises big ones), False for none.
    Works before ``backward()`` or after ``backward(retain_graph=True)``; after a plain ``backward()`` the
    graph was freed and only the ops' names are left, which the picture says.
    Tensors are labelled by ``tensor.name``: a model's parameters carry their path ("0.weight").
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"to_dot: tensor must be a tinygrad_lite Tensor, got {type(tensor).__name__}")
    max_values = _value_limit(show_values)
    numbers = {}      # id(tensor) -> its number (each stays reachable from ``tensor``, so ids stay unique)
    ops = {}          # id(op) -> its number
    values = {}       # id(tensor) -> its values, formatted once, until its op's text line shows them
    dot, chunks = [], []    # DOT lines, joined into chunks as they come: a str object costs ~50 bytes
    text = []
    freed = False

    def tensor_node(t):
        """The number of ``t``, drawn (and, a leaf, described in ``text``) the first time; and whether
        it is new."""
        number = numbers.get(id(t))
        if number is not None:
            return number, False
        number = numbers[id(t)] = len(numbers)
        data = _format_values(t.data) if t.numel() <= max_values else None
        dot.append(_tensor_node(number, t, data, is_root=t is tensor))
        if t._creator is None:
            kind = "leaf, requires grad" if t.requires_grad else "constant"
            text.append(f"  {_with_values(_label(t, number), data)}: {kind}")
        elif data is not None:
            values[id(t)] = data
        return number, True

    stack = [tensor]
    tensor_node(tensor)
    text.clear()                          # the root is described by its op's line
    while stack:                          # no recursion: deep graphs are fine
        t = stack.pop()
        fn = t._creator
        if fn is None:
            continue
        number = numbers[id(t)]
        if id(fn) in ops:                 # (several outputs of one op never happen here, but be safe)
            dot.append(f"  f{ops[id(fn)]} -> t{number};")
            continue
        fn_number = ops[id(fn)] = len(ops)
        released = getattr(fn, "released", False)
        freed = freed or released
        dot.append(_op_node(fn_number, fn, released))
        dot.append(f"  f{fn_number} -> t{number};")
        output = _with_values(_label(t, number), values.pop(id(t), None))
        if released:
            text.append(f"{output} = {fn.name}(... freed by backward())")
            continue
        inputs = fn.inputs
        line = len(text)
        text.append(None)
        for index, x in enumerate(inputs):
            x_number, is_new = tensor_node(x)
            attrs = f' [label="{index}"]' if len(inputs) > 1 else ""
            dot.append(f"  t{x_number} -> f{fn_number}{attrs};")
            if is_new:
                stack.append(x)
        text[line] = f"{output} = {fn.name}({', '.join(_label(x, numbers[id(x)]) for x in inputs)})"
        if len(dot) >= 1000:
            chunks.append("\n".join(dot))
            dot.clear()
    head = [f"autograd graph of {_label(tensor, 0)}: {len(ops)} ops, {len(numbers)} tensors"]
    lines = ["digraph autograd {",
             "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    if freed:
        lines.append('  labelloc=t; label="graph freed by backward(): call backward(retain_graph=True) '
                     'to draw it afterwards";')
        head[0] += " (freed by backward(): call backward(retain_graph=True) to see it afterwards)"
    numbers.clear()                       # a 100,000-op graph has 35 MB of DOT: free what can be freed
    ops.clear()                           # before it is joined, and its chunks once it is; Graph() then
    whole = "\n".join(lines + chunks + dot + ["}", ""])      # copies it, so it is held twice at most
    chunks.clear()
    return Graph(whole, head + text)


def save_graph(tensor, path, show_values=None, timeout=60):
    """Write the graph of ``tensor`` to ``path``: ``.dot``/``.gv`` as text, ``.png``/``.svg``/``.pdf``
    rendered by Graphviz's ``dot`` program. The file appears atomically (temp file, then rename).
    Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in DOT_SUFFIXES and suffix[1:] not in RENDERED_FORMATS:
        raise ValueError(f"save_graph: path must end in one of {', '.join(DOT_SUFFIXES)}, "
                         f"{', '.join('.' + f for f in RENDERED_FORMATS)}; got {str(path)!r}")
    text = to_dot(tensor, show_values=show_values)
    if suffix in DOT_SUFFIXES:
        write_text(path, text)
        return path
    write_bytes(path, _run_dot(text, suffix[1:], timeout, repr(str(path)), path))
    return path


# ---- helpers ------------------------------------------------------------------------------------------

def _run_dot(text, fmt, timeout, what, path=None):
    """Graphviz's ``dot -T<fmt>`` on DOT ``text``; its output bytes. ``what`` names the result in errors."""
    dot = shutil.which("dot")
    if dot is None:
        instead = (f"; or save the DOT text instead, save_graph(tensor, {str(path.with_suffix('.dot'))!r}), "
                   f"and render it elsewhere" if path is not None else "")
        raise GraphvizNotFoundError(
            f"save_graph: rendering {what} needs Graphviz's `dot` program, which is not installed "
            f"(not on PATH). Install it with `apt-get install graphviz` (Debian/Ubuntu), "
            f"`brew install graphviz` (macOS) or `conda install graphviz`{instead}.")
    try:
        result = subprocess.run([dot, f"-T{fmt}"], input=text.encode("utf-8"), capture_output=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"save_graph: `dot` took more than {timeout} s to render {what}; "
                           f"save a .dot file instead, or pass a larger timeout=") from None
    if result.returncode != 0:
        raise RuntimeError(f"save_graph: `dot` failed (exit code {result.returncode}) rendering "
                           f"{what}: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _label(t, number):
    """'name (2, 3)', or 't7 (2, 3)' for an unnamed tensor (its node's id)."""
    return f"{t.name or f't{number}'} {tuple(t.shape)}"


def _with_values(label, values):
    """'name (2, 3)' as it is, or with ' = [values]' when the tensor is small enough to show them."""
    return label if values is None else f"{label} = {values}"


def _value_limit(show_values):
    if show_values is None:
        return DEFAULT_MAX_VALUES
    if show_values is True:
        return float("inf")
    if show_values is False:
        return -1
    if isinstance(show_values, int) and show_values >= 0:
        return show_values
    raise ValueError(f"to_dot: show_values must be None, True, False or a count >= 0, got {show_values!r}")


# Inside a DOT string a backslash starts an escape and a quote ends the string; a record label also
# gives {, }, |, < and > a meaning. A newline becomes DOT's \n (a line break in the picture).
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_RECORD_ESCAPES = str.maketrans({**{ch: "\\" + ch for ch in "\\{}|<>\""}, "\n": "\\n"})


def _escape(text):
    """``text`` as it must be written inside a DOT record label."""
    return text.translate(_RECORD_ESCAPES)


def _escape_string(text):
    """``text`` as it must be written inside a quoted DOT string (an op's label)."""
    return text.translate(_STRING_ESCAPES)


def _format_values(array):
    """The values of a (small) array on one line: '[1, 2.5]', floats to 4 significant digits."""
    array = as_numpy(array)
    if array.dtype.kind == "f" and 0 < array.size <= FAST_FORMAT_MAX:
        return _format_floats_fast(array.tolist())
    if array.dtype.kind in "fc":
        text = np.array2string(array, separator=", ", max_line_width=10 ** 6,
                               formatter={"all": lambda v: f"{v:.4g}"})
    else:
        text = np.array2string(array, separator=", ", max_line_width=10 ** 6)
    return " ".join(text.split())


def _format_floats_fast(values):
    """The fast path of ``_format_values`` for a small float array's ``tolist()``: the same text as
    ``np.array2string`` gives (tested equal), without its set-up, which costs ~60 us a call: a graph of
    100,000 ops shows 200,000 small tensors."""
    if isinstance(values, list):
        return "[" + ", ".join([_format_floats_fast(v) for v in values]) + "]"
    return f"{values:.4g}"


@functools.lru_cache(maxsize=None)
def _dtype_name(dtype):
    return str(dtype)                    # str(np.dtype) takes ~15 us; a graph has a handful of dtypes


def _tensor_node(number, t, data, is_root):
    """A tensor's record: [name] shape dtype, and when ``data`` (its formatted values) is given, those
    and its gradient's."""
    head = f"{tuple(t.shape)} {_dtype_name(t.dtype)}"
    label = _escape(f"{t.name} {head}" if t.name else head)
    if data is not None:
        grad = "None" if t.grad is None else _format_values(t.grad.data)
        label += "|{" + _escape("data " + data) + "|" + _escape("grad " + grad) + "}"
    if t._creator is None:
        style = ('style=filled, fillcolor="lightblue"' if t.requires_grad else
                 'style=filled, fillcolor="lightgrey"')
    else:
        style = "style=solid"
    if is_root:
        style += ", penwidth=2"
    return f'  t{number} [shape=record, label="{{{label}}}", {style}];'


def _op_node(number, fn, released):
    label = _escape_string(fn.name) + ("\\n(released)" if released else "")
    return f'  f{number} [shape=ellipse, label="{label}", style=filled, fillcolor="lightyellow"];'
