"""Watching the engine work: ``trace_backward()`` prints the chain rule step by step,
``detect_anomaly()`` stops at the first NaN or Inf and names the op and the line that made it.

Both are *hooks* (``hooks.Hook``): the engine announces each forward, the start of each
``backward()`` call, each backward step, each broadcast summed back and each gradient handed to a
leaf; these tools listen. With no hook installed the engine pays one ``if _hooks:`` test per event.

    >>> import tinygrad_lite as tl
    >>> from tinygrad_lite.debug import trace_backward
    >>> a = tl.Tensor([1.0, 2.0], requires_grad=True); a.name = "a"
    >>> with trace_backward():
    ...     (a * a).sum().backward()
    == backward() call #1 from a tensor of shape () ==
    Sum        grad_out ()         |g|=1         -> in0: (2,) |g|=1.414
    Mul        grad_out (2,)       |g|=1.414     -> a: (2,) |g|=2.236, a: (2,) |g|=2.236
        a (2,): .grad = contribution #1 |g|=2.236
        a (2,): .grad ACCUMULATES += contribution #2 |g|=2.236 (it held |g|=2.236 from earlier in this backward() call; now |g|=4.472)
"""  # noqa: E501  (the example is the tool's real output, one line per event)
import contextlib
import importlib.util
import math
import os
import sys
import traceback

import numpy as np

from .backend import array_module
from .core import Tensor, running_backward
from .errors import AnomalyError
from .hooks import Hook, installed


# ---- small helpers ------------------------------------------------------------------------------------

def _norm(tensor_or_array):
    """The L2 norm of a tensor's (or an array's) data, as a Python float: sqrt(x . x) in float64, where
    a float32 square cannot overflow; inf and nan pass through without a warning. (One dot product,
    not four ufuncs under ``np.errstate``: trace_backward takes two norms an op.)"""
    data = tensor_or_array.data if isinstance(tensor_or_array, Tensor) else tensor_or_array
    xp = array_module(data)
    flat = data.astype(xp.float64, copy=False).ravel()
    try:
        return math.sqrt(float(xp.vdot(flat, flat)))
    except RuntimeWarning:              # an overflow, where warnings are errors: the norm is inf
        return math.inf


def _label(tensor, fallback):
    return tensor.name if getattr(tensor, "name", None) else fallback


def _is_float(array):
    return array.dtype.kind in "fc"


def _nonfinite_summary(array):
    """'nan', '-inf', 'inf and nan', ... plus a count, for an array known to hold a non-finite value."""
    xp = array_module(array)
    kinds = []
    if bool(xp.isnan(array).any()):
        kinds.append("nan")
    if bool(xp.isposinf(array).any()):
        kinds.append("inf")
    if bool(xp.isneginf(array).any()):
        kinds.append("-inf")
    count = int((~xp.isfinite(array)).sum())
    return " and ".join(kinds), f"{count} of {array.size} values"


def _has_nonfinite(tensor):
    return tensor is not None and _is_float(tensor.data) and not bool(
        array_module(tensor.data).isfinite(tensor.data).all())


# ---- trace_backward -----------------------------------------------------------------------------------

class BackwardTracer(Hook):
    """Prints one line per op as the engine runs its backward, and keeps the same facts in ``records``.

    ``records`` is a list of tuples, one per printed line:
    ``("start", root_shape, call_number)`` when a ``backward()`` call begins,
    ``("backward", op_name, grad_output_shape, [input_grad_shape or None, ...])``,
    ``("broadcast", op_name, input_index, from_shape, to_shape)`` and
    ``("accumulate", leaf_label, shape, contribution_number)`` (1 = the first gradient this leaf got in
    this ``backward()`` call, 2 = a second one, *added* to the first, ...).
    """

    def __init__(self, file=None):
        self.file = file
        self.records = []
        self.lines = []
        self._calls = 0
        self._contributions = {}     # id(leaf) -> (leaf, gradients it received in this backward() call)

    def _print(self, line):
        self.lines.append(line)
        print(line, file=self.file if self.file is not None else sys.stdout)

    def close(self):
        self._contributions.clear()  # let go of the leaves

    def on_backward_start(self, tensor, grad):
        self._calls += 1
        self._contributions.clear()
        shape = tuple(tensor.shape)
        self.records.append(("start", shape, self._calls))
        self._print(f"== backward() call #{self._calls} from {_label(tensor, 'a tensor')} of shape {shape} ==")

    def on_backward_step(self, fn, grad_output, grads):
        inputs = getattr(fn, "inputs", ())
        parts = []
        for i, g in enumerate(grads):
            label = _label(inputs[i], f"in{i}") if i < len(inputs) else f"in{i}"
            if g is None:
                parts.append(f"{label}: none (needs no grad)")
            else:
                parts.append(f"{label}: {tuple(g.shape)} |g|={_norm(g):.4g}")
        self.records.append(("backward", fn.name, tuple(grad_output.shape),
                             [None if g is None else tuple(g.shape) for g in grads]))
        self._print(f"{fn.name:<10} grad_out {str(tuple(grad_output.shape)):<10} "
                    f"|g|={_norm(grad_output):<9.4g} -> " + ", ".join(parts))

    def on_broadcast(self, fn, input_index, from_shape, to_shape):
        self.records.append(("broadcast", fn.name, input_index, tuple(from_shape), tuple(to_shape)))
        self._print(f"    broadcast: {fn.name} input {input_index}'s gradient summed "
                    f"{tuple(from_shape)} -> {tuple(to_shape)}")

    def on_accumulate(self, leaf, grad):
        _, count = self._contributions.get(id(leaf), (leaf, 0))
        count += 1
        self._contributions[id(leaf)] = (leaf, count)   # the leaf is kept so its id stays unique
        label = _label(leaf, "leaf")
        shape = tuple(leaf.shape)
        self.records.append(("accumulate", label, shape, count))
        head = f"    {label} {shape}" if leaf.name else f"    leaf {shape}"
        if leaf.grad is None:
            self._print(f"{head}: .grad = contribution #{count} |g|={_norm(grad):.4g}")
            return
        where = ("earlier in this backward() call" if count > 1 else
                 "an EARLIER backward() call: zero the grads between steps unless you mean to sum them")
        self._print(f"{head}: .grad ACCUMULATES += contribution #{count} |g|={_norm(grad):.4g} "
                    f"(it held |g|={_norm(leaf.grad):.4g} from {where}; "
                    f"now |g|={_norm(leaf.grad.data + grad.data):.4g})")


@contextlib.contextmanager
def trace_backward(file=None):
    """Print every backward step inside the block; yields the tracer (``.records``, ``.lines``).

    One line per op in engine order: the op, the incoming gradient's shape and L2 norm, and each input's
    gradient (its shape and norm, labelled by ``tensor.name`` when set). Indented lines show where a
    broadcast gradient was summed back and each gradient delivered to a leaf; a leaf used twice shows two
    contributions, the second one *accumulating*. ``file`` defaults to ``sys.stdout``.
    """
    tracer = BackwardTracer(file)
    try:
        with installed(tracer):
            yield tracer
    finally:
        tracer.close()


# ---- detect_anomaly -----------------------------------------------------------------------------------

LIBRARY_PACKAGES = ("tinygrad_lite", "nn")    # code in these is the library's, not the line to show


def _package_folders(names):
    """The folders the import system loads ``names`` from (none for a package it cannot find)."""
    folders = []
    for name in names:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            folders.append(os.path.abspath(folder) + os.sep)
    return tuple(folders)


_library_folders = None
_library_file_cache = {}


def _is_library_file(filename):
    global _library_folders
    hit = _library_file_cache.get(filename)
    if hit is None:
        if _library_folders is None:
            _library_folders = _package_folders(LIBRARY_PACKAGES)
        hit = _library_file_cache[filename] = os.path.abspath(filename).startswith(_library_folders)
    return hit


def _notebook_cell(filename):
    """'Cell In[3]' when ``filename`` is the temporary file IPython (Jupyter's kernel) compiled a cell
    under, as its own tracebacks name it; else None."""
    ipython = sys.modules.get("IPython")          # never imported here: only asked when already loaded
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    name_of = getattr(getattr(shell, "compile", None), "format_code_name", None)
    found = name_of(filename) if name_of is not None else None
    return " ".join(found) if found else None


def _place(filename, line):
    """'Cell In[3], line 5' in a notebook, else 'path:line' (relative to the current folder when below it)."""
    cell = _notebook_cell(filename)
    if cell is not None:
        return f"{cell}, line {line}"
    try:
        rel = os.path.relpath(filename)
        if not rel.startswith(".."):
            filename = rel
    except ValueError:       # another drive on Windows
        pass
    return f"{filename}:{line}"


def _user_site():
    """'file:line (in function: source line)' of the innermost caller outside the library packages:
    the line of the user's code that is running the op now (None when there is none)."""
    calls = traceback.StackSummary.extract(traceback.walk_stack(None), lookup_lines=False)
    for call in calls:      # innermost first
        if not _is_library_file(call.filename):
            source = (call.line or "").strip()
            return f"{_place(call.filename, call.lineno)} (in {call.name}" + (f": {source})" if source else ")")
    return None


def _site_of(fn):
    site = fn.__dict__.get("_anomaly_site")
    return site if site else ("an unknown place: the op was created before detect_anomaly() was entered "
                              "(enter it before the forward pass to see the line)")


class AnomalyDetector(Hook):
    """Raises ``AnomalyError`` at the first NaN/Inf in a forward output or in a gradient."""

    def on_forward(self, fn, inputs, output):
        running = running_backward()
        if running is not None:          # an op of some op's gradient: that gradient is checked there
            fn.__dict__["_anomaly_site"] = (f"the backward of {running.name} "
                                            f"(created at {_site_of(running)})")
            return
        site = fn.__dict__["_anomaly_site"] = _user_site()
        if not _has_nonfinite(output):
            return
        kinds, count = _nonfinite_summary(output.data)
        shapes = ", ".join(str(tuple(x.shape)) for x in inputs)
        message = (f"{fn.name} produced {kinds} in its forward output ({count}); input shapes: [{shapes}]; "
                   f"created at {site}")
        bad_inputs = [i for i, x in enumerate(inputs) if _has_nonfinite(x)]
        if bad_inputs:
            message += (f". Note: input(s) {bad_inputs} already held NaN/Inf, so the problem started "
                        f"earlier (in the data, or before detect_anomaly() was entered)")
        raise AnomalyError(message)

    def on_backward_step(self, fn, grad_output, grads):
        shapes = ", ".join(str(tuple(x.shape)) for x in getattr(fn, "inputs", ()))
        if _has_nonfinite(grad_output):
            kinds, count = _nonfinite_summary(grad_output.data)
            raise AnomalyError(
                f"the gradient flowing into {fn.name}'s backward already holds {kinds} ({count}): the seed "
                f"passed to backward(grad=...) or a sum of gradients overflowed; {fn.name} has input "
                f"shapes [{shapes}] and was created at {_site_of(fn)}")
        for index, g in enumerate(grads):
            if _has_nonfinite(g):
                kinds, count = _nonfinite_summary(g.data)
                raise AnomalyError(
                    f"{fn.name}'s backward produced {kinds} in the gradient of its input {index} ({count}) "
                    f"although the gradient flowing in was finite; {fn.name} has input shapes [{shapes}] "
                    f"and was created at {_site_of(fn)}")

    def on_accumulate(self, leaf, grad):
        if leaf.grad is not None and _has_nonfinite(leaf.grad):
            kinds, _ = _nonfinite_summary(leaf.grad.data)
            raise AnomalyError(f"the leaf {_label(leaf, 'tensor')} of shape {tuple(leaf.shape)} already "
                               f"held a gradient with {kinds} from an earlier backward(); zero its .grad")


@contextlib.contextmanager
def detect_anomaly():
    """Check every forward output and every gradient inside the block; raise ``AnomalyError`` at the first
    NaN or Inf, naming the op, its input shapes and the line of your code that created it.

    While active, NumPy's own divide/overflow/invalid warnings are silenced: this check replaces them
    with an error that says which op, and where. Costs a stack walk per op: a debugging tool, not for
    training runs.
    """
    with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
        with installed(AnomalyDetector()) as detector:
            yield detector
