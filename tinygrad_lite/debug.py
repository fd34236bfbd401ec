"""Watching the engine work: ``trace_backward()`` prints the chain rule step by step,
``detect_anomaly()`` stops at the first NaN or Inf and names the op and the line that made it.

Both are *hooks*: objects in ``autograd._hooks`` that the engine calls at four moments
(see ``Hook``). With no hook installed the engine pays one ``if _hooks:`` test per op.

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
"""
import contextlib
import linecache
import os
import sys

import numpy as np

from . import autograd
from .backend import get_array_module
from .errors import AnomalyError
from .tensor import Tensor


class Hook:
    """An observer of the engine. Override the moments you care about; each default does nothing.

    - ``on_forward(fn, inputs, output)``: after every op's forward, recorded in the graph or not.
    - ``on_backward(fn, grad_output, grads)``: after ``fn.backward``, in the order the engine runs them;
      ``grads`` has one entry (a Tensor or None) per input, still at the broadcast shape.
    - ``on_broadcast(fn, input_index, from_shape, to_shape)``: a gradient was summed back to its input's shape.
    - ``on_accumulate(leaf, grad)``: ``grad`` is about to be added to ``leaf.grad`` (which still holds the
      old value, or None for the first contribution).
    """

    def on_forward(self, fn, inputs, output):
        pass

    def on_backward(self, fn, grad_output, grads):
        pass

    def on_broadcast(self, fn, input_index, from_shape, to_shape):
        pass

    def on_accumulate(self, leaf, grad):
        pass


@contextlib.contextmanager
def installed(hook):
    """Install ``hook`` for the ``with`` block and remove exactly that hook afterwards (even on error).

    Nesting is fine: each block removes only its own hook, so inner and outer hooks both see every op.
    """
    if not isinstance(hook, Hook):
        raise TypeError(f"installed: hook must be a tinygrad_lite.debug.Hook, got {type(hook).__name__}")
    autograd._hooks.append(hook)          # in place: the engine holds this very list
    try:
        yield hook
    finally:
        for i in range(len(autograd._hooks) - 1, -1, -1):
            if autograd._hooks[i] is hook:
                del autograd._hooks[i]
                break


# ---- small helpers ------------------------------------------------------------------------------------

_BACKWARD_CODE = autograd.backward.__code__     # finds the engine's frame on the stack

def _norm(tensor_or_array):
    """The L2 norm of a tensor's (or an array's) data, as a Python float (inf/nan pass through silently)."""
    data = tensor_or_array.data if isinstance(tensor_or_array, Tensor) else tensor_or_array
    xp = get_array_module(data)
    with np.errstate(all="ignore"):
        return float(xp.sqrt((data.astype(xp.float64) ** 2).sum()))


def _label(tensor, fallback):
    return tensor.name if getattr(tensor, "name", None) else fallback


def _is_float(array):
    return array.dtype.kind in "fc"


def _nonfinite_summary(array):
    """'nan', '-inf', 'inf and nan', ... plus a count, for an array known to hold a non-finite value."""
    xp = get_array_module(array)
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
        get_array_module(tensor.data).isfinite(tensor.data).all())


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
        self._backward_frame = None  # the engine's frame of the backward() call being traced
        self._calls = 0
        self._contributions = {}     # id(leaf) -> (leaf, gradients it received in this backward() call)

    def _print(self, line):
        self.lines.append(line)
        print(line, file=self.file if self.file is not None else sys.stdout)

    def _note_backward_call(self):
        """Print a header when these events belong to a backward() call not seen before."""
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not _BACKWARD_CODE:
            frame = frame.f_back
        if frame is None or frame is self._backward_frame:
            return
        self._backward_frame = frame
        self._calls += 1
        self._contributions.clear()
        root = frame.f_locals.get("tensor")
        shape = tuple(root.shape) if root is not None else ()
        self.records.append(("start", shape, self._calls))
        self._print(f"== backward() call #{self._calls} from {_label(root, 'a tensor')} of shape {shape} ==")

    def close(self):
        self._backward_frame = None  # let go of the engine's frame (and the tensors it holds)
        self._contributions.clear()

    def on_backward(self, fn, grad_output, grads):
        self._note_backward_call()
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
        self._note_backward_call()
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

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_LIBRARY_DIRS = (_PACKAGE_DIR + os.sep, os.path.join(os.path.dirname(_PACKAGE_DIR), "nn") + os.sep)
_library_file_cache = {}


def _is_library_file(filename):
    hit = _library_file_cache.get(filename)
    if hit is None:
        path = os.path.abspath(filename)
        hit = _library_file_cache[filename] = path.startswith(_LIBRARY_DIRS)
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


def _where_created():
    """(user code site, op whose backward is running) for an op being created now.

    The site is 'file:line (in function: source line)' of the innermost frame outside tinygrad_lite/ and
    nn/. When the op is created by the engine's backward (create_graph=True) the second item is the
    Function whose backward is running, and the site is None.
    """
    frame = sys._getframe(2)
    site = None
    while frame is not None:
        code = frame.f_code
        if code is _BACKWARD_CODE:
            return None, frame.f_locals.get("fn")
        if site is None and not _is_library_file(code.co_filename):
            source = linecache.getline(code.co_filename, frame.f_lineno).strip()
            site = f"{_place(code.co_filename, frame.f_lineno)} (in {code.co_name}" + \
                (f": {source})" if source else ")")
        frame = frame.f_back
    return site, None


def _site_of(fn):
    site = fn.__dict__.get("_anomaly_site")
    return site if site else ("an unknown place: the op was created before detect_anomaly() was entered "
                              "(enter it before the forward pass to see the line)")


class AnomalyDetector(Hook):
    """Raises ``AnomalyError`` at the first NaN/Inf in a forward output or in a gradient."""

    def on_forward(self, fn, inputs, output):
        site, running = _where_created()
        if running is not None:          # an op inside some backward: its gradient is checked there
            fn.__dict__["_anomaly_site"] = (f"the backward of {running.name} "
                                            f"(created at {_site_of(running)})")
            return
        fn.__dict__["_anomaly_site"] = site
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

    def on_backward(self, fn, grad_output, grads):
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
