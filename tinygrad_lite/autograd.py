"""The reverse-mode engine: ``Function`` (one op of the graph) and ``backward`` (the walk back).

How it works, in four lines:
1. Calling a ``Function`` runs ``forward`` on raw arrays and, when gradients are wanted, links the
   output tensor to the function (``output._creator``) and the function to its inputs.
2. ``backward`` pops functions from a heap keyed on *generation* (depth from the leaves), so a
   function runs only after every function that uses its output has sent its gradient back.
3. Each ``Function.backward`` is written in Tensor ops; with ``create_graph=True`` those ops are
   recorded too, which is all that higher-order gradients need.
4. Gradients of broadcast inputs are summed back to the input's shape in one place, ``_deliver``.

The engine announces what it does to *hooks* (``Hook``, installed with ``installed``): the debug
tools in ``debug.py`` listen. With none installed it pays one ``if _hooks:`` test per event.
"""
import contextlib
import heapq
import itertools
import weakref

import numpy as np

from .errors import ShapeError

_grad_enabled = True
_hooks = []                # the installed Hooks, in installation order
_running_backward = None   # the Function whose backward the engine runs now (see running_backward)
_tie_breaker = itertools.count()


def is_grad_enabled():
    return _grad_enabled


class set_grad_enabled:
    """Switch graph recording on or off, globally (a call) or for a block (``with``), like torch."""

    def __init__(self, mode):
        global _grad_enabled
        self.previous, _grad_enabled = _grad_enabled, bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.previous


class no_grad:
    """``with no_grad():`` (or ``@no_grad()``) runs ops without recording the graph."""

    def __enter__(self):
        self._switch = set_grad_enabled(False)

    def __exit__(self, *exc):
        self._switch.__exit__()

    def __call__(self, func):
        def wrapper(*args, **kwargs):
            with no_grad():
                return func(*args, **kwargs)
        wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
        return wrapper


class Hook:
    """An observer of the engine. Override the moments you care about; each default does nothing.

    - ``on_forward(fn, inputs, output)``: after every op's forward, recorded in the graph or not.
    - ``on_backward_start(tensor, grad)``: a ``backward()`` call begins from ``tensor``, seeded with ``grad``.
    - ``on_backward_step(fn, grad_output, grads)``: after ``fn.backward``, in the order the engine runs
      them; ``grads`` has one entry (a Tensor or None) per input, still at the broadcast shape.
    - ``on_broadcast(fn, input_index, from_shape, to_shape)``: a gradient was summed back to its input's shape.
    - ``on_accumulate(leaf, grad)``: ``grad`` is about to be added to ``leaf.grad`` (which still holds the
      old value, or None for the first contribution).
    """

    def on_forward(self, fn, inputs, output):
        pass

    def on_backward_start(self, tensor, grad):
        pass

    def on_backward_step(self, fn, grad_output, grads):
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
        raise TypeError(f"installed: hook must be a tinygrad_lite.autograd.Hook, got {type(hook).__name__}")
    _hooks.append(hook)
    try:
        yield hook
    finally:
        for i in range(len(_hooks) - 1, -1, -1):
            if _hooks[i] is hook:
                del _hooks[i]
                break


def _notify(event, *args):
    """Tell every installed hook that ``event`` happened: call its ``on_<event>(*args)``.
    The engine calls this only under ``if _hooks:``, so without hooks an event costs one test."""
    for hook in tuple(_hooks):
        getattr(hook, "on_" + event)(*args)


class Function:
    """One op. Subclasses write ``forward(*arrays) -> array`` and ``backward(grad_output) -> grads``.

    ``backward`` receives the output's gradient as a Tensor and returns one Tensor (or None) per
    input, written in Tensor ops. It may return a gradient of the *broadcast* shape: the engine sums
    it back to the input's shape. ``self.inputs`` are the input Tensors, ``self.needs_grad[i]`` says
    whether input i wants a gradient (skip the work when it does not), ``self.output()`` is the output.
    """

    def __call__(self, *inputs):
        for x in inputs:
            if not isinstance(x, Tensor):     # an ndarray's .data is a memoryview: never let it through
                raise TypeError(f"{self.name}: every input must be a tinygrad_lite.Tensor, got "
                                f"{type(x).__name__}; wrap arrays with tl.Tensor(...)")
        arrays = [x.data for x in inputs]
        try:
            result = self.forward(*arrays)
        except RuntimeWarning:          # warnings are errors (pytest, python -W error): see there
            result = without_float_warnings(self.forward, *arrays)
        if isinstance(result, Tensor) or not hasattr(result, "dtype"):
            raise TypeError(f"{self.name}.forward must return an array (it works on the inputs' raw "
                            f"arrays, x.data), got {type(result).__name__}")
        output = Tensor._wrap(result)
        if _grad_enabled:
            needs_grad = tuple([x.requires_grad for x in inputs])
            if True in needs_grad:
                self.inputs = inputs
                self.needs_grad = needs_grad
                self.generation = max([x._generation for x in inputs])
                self.output = weakref.ref(output)   # weak: the output owns its creator, not the reverse
                output.requires_grad = True
                output._creator = self
                output._generation = self.generation + 1
        if _hooks:
            _notify("forward", self, inputs, output)
        return output

    @property
    def name(self):
        return type(self).__name__

    def forward(self, *arrays):
        raise NotImplementedError(f"{self.name} has no forward: a Function subclass must define "
                                  f"forward(self, *arrays) returning the output array")

    def backward(self, grad_output):
        raise NotImplementedError(f"{self.name} has no backward: a Function subclass must define "
                                  f"backward(self, grad_output) returning one gradient Tensor (or None) "
                                  f"per input")

    def release(self):
        """Free the inputs and every array this op saved; a second backward then says so."""
        self.__dict__.clear()
        self.released = True


def backward(tensor, grad, retain_graph=None, create_graph=False):
    """Accumulate d(tensor)/d(leaf) * grad into ``leaf.grad`` for every leaf that requires grad.

    No recursion: a heap ordered by generation (deepest first) replaces the recursive topological
    sort, so a 100,000-op chain is fine and each function runs exactly once.
    ``retain_graph`` defaults to ``create_graph`` (as in torch): the graph of the gradients points
    into this graph (e.g. tanh's backward uses its output), so it must survive for a second backward.
    """
    global _running_backward
    if retain_graph is None:
        retain_graph = create_graph
    if _hooks:
        _notify("backward_start", tensor, grad)
    creator = tensor._creator
    if creator is None:                      # a leaf: its gradient is the seed itself
        _accumulate(tensor, grad)
        return
    pending = {creator: grad}                # gradient of each queued function's output
    handed_out = {id(grad.data)}             # arrays a leaf may not keep without a copy (see _accumulate)
    # The heap entries hold each queued function's output tensor, so ops whose backward reads
    # ``self.output()`` still find it after the function that consumed it has been released.
    heap = [(-getattr(creator, "generation", 0), next(_tie_breaker), creator, tensor)]   # released: see below
    outer = _running_backward                # not None when this backward runs inside another one's step
    try:
        with set_grad_enabled(create_graph):
            while heap:
                _, _, fn, output = heapq.heappop(heap)   # output: kept alive while fn runs
                if getattr(fn, "released", False):
                    raise RuntimeError(
                        "Trying to backward through the graph a second time: its saved arrays were "
                        "freed by the first backward(). Pass retain_graph=True to the first call.")
                grad_output = pending.pop(fn)
                _running_backward = fn
                try:
                    grads = fn.backward(grad_output)
                except RuntimeWarning:
                    grads = without_float_warnings(fn.backward, grad_output)
                grads = _checked_grads(fn, grads)
                if _hooks:
                    _notify("backward_step", fn, grad_output, grads)
                for index, (x, gx) in enumerate(zip(fn.inputs, grads)):
                    if gx is None or not x.requires_grad:
                        continue
                    gx = _deliver(fn, index, x, gx)
                    parent = x._creator
                    if parent is None:
                        _accumulate(x, gx, handed_out)
                    elif parent in pending:
                        pending[parent] = pending[parent] + gx
                    else:
                        pending[parent] = gx
                        # a released parent has no generation left; the check above reports it when popped
                        heapq.heappush(heap, (-getattr(parent, "generation", 0), next(_tie_breaker), parent, x))
                if not retain_graph:
                    fn.release()
    finally:
        _running_backward = outer


def running_backward():
    """The Function whose gradient the engine is computing now (its ``backward``, and the summing and
    accumulating of what it returned), or None outside ``backward()``. Ops created meanwhile are part
    of that gradient: ``debug.detect_anomaly`` names them so."""
    return _running_backward


def _checked_grads(fn, grads):
    """``fn.backward``'s answer as a tuple with one Tensor or None per input, or a TypeError naming
    the op and what it returned (custom Functions are where students meet this)."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(fn.inputs):
        raise TypeError(f"{fn.name}.backward returned {len(grads)} gradient(s) for {len(fn.inputs)} "
                        f"input(s); return one Tensor (or None) per input of forward")
    for index, gx in enumerate(grads):
        if gx is not None and not isinstance(gx, Tensor):
            raise TypeError(f"{fn.name}.backward returned a value of type {type(gx).__name__} as the gradient "
                            f"of input {index}; return a Tensor (or None), computed with Tensor ops from "
                            f"grad_output, so that higher-order gradients work")
    return tuple(grads)


def without_float_warnings(compute, *args):
    """``compute(*args)`` with NumPy's floating-point warnings off, so overflow, 0/0 and log(0) give
    inf and nan as IEEE 754 (and torch) say, instead of raising where warnings are errors. The ops
    first run without this (it costs a few microseconds) and come here only when NumPy complained."""
    with np.errstate(all="ignore"):
        return compute(*args)


def _deliver(fn, index, x, gx):
    """Bring an input's gradient to the input's shape and dtype: the one place broadcasts are undone."""
    if gx.data.shape != x.data.shape:
        summed = sum_to(gx, x.shape)
        if summed.shape != x.shape:
            raise ShapeError(f"{fn.name}.backward returned a gradient of shape {gx.shape} for input "
                             f"{index} of shape {x.shape}; it cannot be summed back to that shape")
        if _hooks:
            _notify("broadcast", fn, index, gx.shape, x.shape)
        gx = summed
    if gx.dtype != x.dtype:
        gx = gx.astype(x.dtype)
    return gx


def _accumulate(leaf, gx, handed_out=None):
    """leaf.grad += gx, out of place, so a gradient tensor handed out earlier is never changed.

    A leaf's first gradient must be an array of its own: ops may hand one array to several inputs
    (``a + b``), or a read-only broadcast view (``sum``), or the caller's seed. So it is copied,
    unless the array owns its memory (not a view) and no other leaf got it in this backward:
    ``handed_out`` holds the ids of the seed and of every array a leaf already kept.
    """
    if _hooks:
        _notify("accumulate", leaf, gx)     # before the update: the hook still sees the old leaf.grad
    if leaf.grad is not None:
        leaf.grad = leaf.grad + gx
    elif _grad_enabled:                     # create_graph: the gradient keeps its graph
        leaf.grad = gx
    elif handed_out is not None and gx.data.flags.owndata and id(gx.data) not in handed_out:
        handed_out.add(id(gx.data))         # kept without a copy (saves a pass over every weight)
        leaf.grad = type(gx)._wrap(gx.data)
    else:
        leaf.grad = type(gx)._wrap(gx.data.copy())


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``, undoing NumPy broadcasting (leading axes, then axes of size 1)."""
    from .ops.shape import SumTo     # at call time: ops/ imports this module (the tensor/ops/autograd knot)
    if x.shape == tuple(shape):
        return x
    return SumTo(shape)(x)


from .tensor import Tensor  # noqa: E402  (tensor.py imports this module first)
