"""Draw the autograd graph: ``to_dot(tensor)`` gives Graphviz DOT text, ``save_graph`` writes or renders it,
``show(tensor)`` displays it (inline in Jupyter, where ``to_dot``'s result also draws itself).

Each op (``Function``) is an ellipse, each tensor a record box with its name (when ``tensor.name`` is
set), shape and dtype, and, for small tensors, its ``data | grad`` values. Edges follow the forward
pass: input tensor -> op -> output tensor. Leaves that require grad (the parameters) are blue,
constants grey, the tensor you asked about bold.

No Python graphviz package is needed; rendering to PNG/SVG/PDF runs the ``dot`` program
(Debian/Ubuntu: ``apt-get install graphviz``, macOS: ``brew install graphviz``).
"""
import shutil
import subprocess
from pathlib import Path

import numpy as np

from .backend import as_numpy
from .errors import TinygradLiteError
from .files import write_bytes, write_text
from .tensor import Tensor

DEFAULT_MAX_VALUES = 4          # tensors with at most this many elements show their values
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


def to_dot(tensor, show_values=None):
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
    tensor_ids, fn_ids = {}, {}
    nodes, edges = [], []
    text = []

    def tensor_node(t):
        if id(t) not in tensor_ids:
            tensor_ids[id(t)] = (f"t{len(tensor_ids)}", t)     # t kept: its id stays unique
            nodes.append(_tensor_node(tensor_ids[id(t)][0], t, max_values, is_root=t is tensor))
            if t._creator is None:
                kind = "leaf, requires grad" if t.requires_grad else "constant"
                text.append(f"  {_text_label(t, tensor_ids[id(t)][0], max_values)}: {kind}")
            return tensor_ids[id(t)][0], True
        return tensor_ids[id(t)][0], False

    stack = [tensor]
    tensor_node(tensor)
    text.clear()                          # the root is described by its op's line
    while stack:                          # no recursion: deep graphs are fine
        t = stack.pop()
        fn = t._creator
        if fn is None:
            continue
        if id(fn) in fn_ids:              # (several outputs of one op never happen here, but be safe)
            edges.append(f"  {fn_ids[id(fn)][0]} -> {tensor_ids[id(t)][0]};")
            continue
        fn_name = f"f{len(fn_ids)}"
        fn_ids[id(fn)] = (fn_name, fn)
        released = getattr(fn, "released", False)
        nodes.append(_op_node(fn_name, fn, released))
        edges.append(f"  {fn_name} -> {tensor_ids[id(t)][0]};")
        output = _text_label(t, tensor_ids[id(t)][0], max_values)
        if released:
            text.append(f"{output} = {fn.name}(... freed by backward())")
            continue
        inputs = fn.inputs
        line = len(text)
        text.append(None)
        for index, x in enumerate(inputs):
            x_name, is_new = tensor_node(x)
            attrs = f' [label="{index}"]' if len(inputs) > 1 else ""
            edges.append(f"  {x_name} -> {fn_name}{attrs};")
            if is_new:
                stack.append(x)
        text[line] = f"{output} = {fn.name}({', '.join(_text_label(x, tensor_ids[id(x)][0], -1) for x in inputs)})"
    lines = ["digraph autograd {",
             "  rankdir=LR;",
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    head = f"autograd graph of {_text_label(tensor, 't0', -1)}: {len(fn_ids)} ops, {len(tensor_ids)} tensors"
    if any(getattr(fn, "released", False) for _, fn in fn_ids.values()):
        lines.append('  labelloc=t; label="graph freed by backward(): call backward(retain_graph=True) '
                     'to draw it afterwards";')
        head += " (freed by backward(): call backward(retain_graph=True) to see it afterwards)"
    return Graph("\n".join(lines + nodes + edges + ["}"]) + "\n", [head] + text)


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


def _text_label(t, node_id, max_values):
    """'name (2, 3)' (or the node id for an unnamed tensor), with its values when it is small."""
    label = f"{t.name or node_id} {tuple(t.shape)}"
    if t.numel() <= max_values:
        label += f" = {_format_values(t.data)}"
    return label


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


def _escape(text):
    """Escape the characters that mean something inside a DOT record label."""
    for ch in "\\{}|<>\"":
        text = text.replace(ch, "\\" + ch)
    return text


def _format_values(array):
    array = as_numpy(array)
    if array.dtype.kind in "fc":
        return np.array2string(array, separator=", ", max_line_width=10 ** 6,
                               formatter={"all": lambda v: f"{v:.4g}"}).replace("\n", "")
    return np.array2string(array, separator=", ", max_line_width=10 ** 6).replace("\n", "")


def _tensor_node(node_id, t, max_values, is_root):
    head = [_escape(t.name)] if t.name else []
    head.append(_escape(f"{tuple(t.shape)} {t.dtype}"))
    fields = [" ".join(head)]
    if t.numel() <= max_values:
        grad = "None" if t.grad is None else _format_values(t.grad.data)
        fields.append("{" + _escape("data " + _format_values(t.data)) + "|" + _escape("grad " + grad) + "}")
    label = "{" + "|".join(fields) + "}"
    if t._creator is None:
        style = ('style=filled, fillcolor="lightblue"' if t.requires_grad else
                 'style=filled, fillcolor="lightgrey"')
    else:
        style = "style=solid"
    if is_root:
        style += ", penwidth=2"
    return f'  {node_id} [shape=record, label="{label}", {style}];'


def _op_node(node_id, fn, released):
    label = fn.name + ("\\n(released)" if released else "")
    return f'  {node_id} [shape=ellipse, label="{label}", style=filled, fillcolor="lightyellow"];'


