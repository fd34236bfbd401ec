"""The engine, in one file: ``Tensor``, ``Function`` (one op of the graph) and ``backward`` (the walk back).

How it works, in four lines:
1. Calling a ``Function`` runs ``forward`` on raw arrays and, when gradients are wanted, links the
   output tensor to the function (``output._creator``) and the function to its inputs.
2. ``backward`` pops functions from a heap keyed on *generation* (depth from the leaves), so a
   function runs only after every function that uses its output has sent its gradient back.
3. Each ``Function.backward`` is written in Tensor ops; with ``create_graph=True`` those ops are
   recorded too, which is all that higher-order gradients need.
4. Gradients of broadcast inputs are summed back to the input's shape in one place, ``_deliver``.

What is not here: the ops (``x.exp()``, ``x + y``, ``x.sum(axis=1)``) live in ``ops/``, one Function
and one function each; ``ops/methods.py`` makes each op function a Tensor method when
``tinygrad_lite.ops`` is imported (``import tinygrad_lite`` does it), so this file imports no op.
``backend.py`` says NumPy or CuPy, ``hooks.py`` lets the debug tools watch the engine.
"""
from __future__ import annotations

import heapq
import itertools
import weakref
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import backend, hooks, printing
from .errors import DeviceError, ShapeError

_grad_enabled = True
_hooks = hooks.active          # the installed Hooks (hooks.py changes this list in place)
_running_backward = None       # the Function whose backward the engine runs now (see running_backward)
_tie_breaker = itertools.count()


# ---- recording the graph, or not ------------------------------------------------------------------

def is_grad_enabled() -> bool:
    return _grad_enabled


class set_grad_enabled:
    """Switch graph recording on or off, globally (a call) or for a block (``with``), like torch."""

    def __init__(self, mode: bool):
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


# ---- Tensor ---------------------------------------------------------------------------------------

class Tensor:
    """An array (NumPy or CuPy: ``.data``) plus what autograd needs: ``grad``, ``requires_grad`` and
    the Function that made it. Every op is also a method with PyTorch's name (``ops/methods.py``),
    taking NumPy's argument names or torch's: ``x.sum(axis=1)`` is ``x.sum(dim=1)``."""
    __slots__ = ("data", "_grad", "requires_grad", "_creator", "_generation", "name", "__weakref__")
    __array_ufunc__ = None      # numpy defers to Tensor's operators: np.float32(2) * t is a Tensor
    __hash__ = object.__hash__  # __eq__ is elementwise (as in torch), hashing stays by identity

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: Optional[str] = None):
        self.data = backend.array_from(data.data if isinstance(data, Tensor) else data, dtype, device)
        self._grad = None
        self.requires_grad = False
        self._creator = None
        self._generation = 0
        self.name = None            # an optional label, shown by debug.trace_backward and viz.to_dot
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array) -> Tensor:
        """A new leaf around an existing array, with no checks (the ops' fast path)."""
        t = object.__new__(cls)
        t.data, t._grad, t.requires_grad, t._creator, t._generation = array, None, False, None, 0
        t.name = None
        return t

    # ---- autograd -----------------------------------------------------------------------------------
    def requires_grad_(self, mode: bool = True) -> Tensor:
        if mode and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype "
                            f"{self.data.dtype}; create it with dtype='float32' or 'float64'")
        if not mode and self._creator is not None:
            raise RuntimeError(f"requires_grad_(False): only a leaf tensor's flag can be changed, this one "
                               f"was computed by {self._creator.name}; use .detach() for a copy of it "
                               f"outside the graph (as in torch)")
        self.requires_grad = bool(mode)
        return self

    @property
    def grad(self) -> Optional[Tensor]:
        """The gradient that ``backward()`` accumulated here: None, or a Tensor of this tensor's shape,
        dtype and device (an assignment is checked for that, as in torch)."""
        return self._grad

    @grad.setter
    def grad(self, value: Optional[Tensor]):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: assigned grad expected to be a Tensor or None, got "
                                f"{type(value).__name__}; wrap it: tl.Tensor(array)")
            if value.shape != self.shape:
                raise ShapeError(f"grad: a gradient of shape {value.shape} cannot be assigned to a tensor of "
                                 f"shape {self.shape}; they must be the same")
            if value.dtype != self.dtype:
                raise TypeError(f"grad: a gradient of dtype {value.dtype} cannot be assigned to a tensor of "
                                f"dtype {self.dtype}; cast it with .astype({str(self.dtype)!r})")
            if type(value.data) is not type(self.data) and value.device != self.device:
                raise DeviceError(f"grad: a gradient on {value.device} cannot be assigned to a tensor on "
                                  f"{self.device}; move it with .to({self.device!r})")
        self._grad = value

    def backward(self, grad: Any = None, retain_graph: Optional[bool] = None, create_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf and add it to ``leaf.grad`` (accumulates, like torch).

        ``retain_graph`` defaults to ``create_graph``, as in torch."""
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn; "
                               "create the inputs with requires_grad=True")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicitly created only for a tensor with "
                                   f"one element, this one has shape {self.shape}; pass grad=")
            grad = Tensor._wrap(self.array_module.ones_like(self.data))
        elif not isinstance(grad, Tensor):
            grad = Tensor(grad, dtype=self.dtype, device=self.device)
        if grad.shape != self.shape:
            raise ValueError(f"backward: grad must have the tensor's shape {self.shape}, got {grad.shape}")
        backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    @property
    def grad_fn(self) -> Optional[Function]:
        return self._creator

    @property
    def is_leaf(self) -> bool:
        return self._creator is None

    # ---- data and device ----------------------------------------------------------------------------
    @property
    def array_module(self) -> Any:
        """numpy or cupy: the module that holds this tensor's data (``backend.array_module``)."""
        return backend.array_module(self.data)

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The rows, ``t[0], t[1], ...`` (differentiable, as in torch); a 0-d tensor has none."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor (use .item() for its number)")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous; "
                             f"use .any() or .all()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """What ``np.asarray(t)``, ``np.mean(t)`` and ``plt.plot(t)`` see: the data as a NumPy array. Like
        torch, refused for a tensor that requires grad, which must be taken out of the graph first."""
        if self.requires_grad:
            raise RuntimeError("Can't convert a tensor that requires grad to a NumPy array implicitly; use "
                               "tensor.detach().numpy() (or tensor.numpy(): the values, outside the graph)")
        array = self.numpy()
        if dtype is not None and array.dtype != dtype:
            array = array.astype(dtype)
        return array.copy() if copy else array

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array on the host (a copy when it lives on the GPU)."""
        return backend.as_numpy(self.data)

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python scalar, "
                             f"got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __repr__(self) -> str:
        return printing.tensor_repr(self.numpy(), self.device, self.dtype, backend.get_default_dtype(),
                                    self._creator, self.requires_grad)


Operand = Union[Tensor, int, float]      # what a binary op takes: x + 2, 2 ** x


# ---- Function -------------------------------------------------------------------------------------

class Function:
    """One op of the graph. Subclasses (named ``...Op``: ``MulOp``, ``ReLUOp``) write two methods:

    - ``forward(*arrays) -> array`` computes the output from the inputs' raw arrays (``x.data``, NumPy
      or CuPy), never from Tensors, and returns a new array. It may keep on ``self`` what its backward
      needs (a mask, the statistics of a batch); the op's settings come in through ``__init__``. It
      must be safe to run twice and must not change its inputs: where a floating-point warning is an
      error, the engine runs it once more with the warnings off (``_rerun_quietly``).
    - ``backward(gy) -> grads`` receives the output's gradient as a Tensor and returns one Tensor (or
      None) per input, written in Tensor ops, so that with ``create_graph=True`` it is recorded and
      higher-order gradients work. It may return the *broadcast* shape: the engine sums it back.
      ``self.inputs`` are the input Tensors, ``self.needs_grad[i]`` says whether input i wants a
      gradient (skip the work when it does not), ``self.output()`` is the output.

    An op where speed needs more may add ``_fast_backward(gy)``: the same gradients computed on arrays
    or from what ``forward`` kept. The engine takes it when no graph of the gradient is wanted
    (``create_graph=False``, every training step); tests check that it agrees with ``backward``.
    """
    _fast_backward = None

    def __call__(self, *inputs: Tensor) -> Tensor:
        for x in inputs:
            if not isinstance(x, Tensor):     # an ndarray's .data is a memoryview: never let it through
                raise TypeError(f"{type(self).__name__}: every input must be a tinygrad_lite.Tensor, got "
                                f"{type(x).__name__}; wrap arrays with tl.Tensor(...)")
        result = _rerun_quietly(self.forward, *[x.data for x in inputs])
        if isinstance(result, Tensor) or not hasattr(result, "dtype"):
            raise TypeError(f"{type(self).__name__}.forward must return an array (it works on the inputs' "
                            f"raw arrays, x.data), got {type(result).__name__}")
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
            hooks.notify("forward", self, inputs, output)
        return output

    @property
    def name(self) -> str:
        """The op's name as printed (``grad_fn=<MulBackward>``, traces, graphs): the class name without ``Op``."""
        name = type(self).__name__
        return name[:-2] if name.endswith("Op") and len(name) > 2 else name

    def forward(self, *arrays: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward: a Function subclass must define "
                                  f"forward(self, *arrays) returning the output array")

    def backward(self, grad_output: Tensor) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no backward: a Function subclass must define "
                                  f"backward(self, grad_output) returning one gradient Tensor (or None) "
                                  f"per input")

    def release(self) -> None:
        """Free the inputs and every array this op saved; a second backward then says so."""
        self.__dict__.clear()
        self.released = True


def _rerun_quietly(compute, *args):
    """``compute(*args)``, and if NumPy raised a floating-point warning, once more with the warnings off.

    Why: where warnings are errors (pytest here, ``python -W error``), overflow, 0/0 and log(0) would
    raise instead of giving inf and nan as IEEE 754 and torch do. Switching the warnings off before
    every op costs a few microseconds each, so ops run plain and only a complaint pays for a rerun."""
    try:
        return compute(*args)
    except RuntimeWarning:
        return backend.without_float_warnings(compute, *args)


# ---- backward -------------------------------------------------------------------------------------

def backward(tensor: Tensor, grad: Tensor, retain_graph: Optional[bool] = None, create_graph: bool = False) -> None:
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
        hooks.notify("backward_start", tensor, grad)
    creator = tensor._creator
    if creator is None:                      # a leaf: its gradient is the seed itself
        _accumulate(tensor, grad)
        return
    pending = {creator: grad}                # gradient of each queued function's output
    handed_out = {id(grad.data)}             # arrays a leaf may not keep without a copy (see _owned)
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
                step = fn.backward if create_graph or fn._fast_backward is None else fn._fast_backward
                grads = _checked_grads(fn, _rerun_quietly(step, grad_output))
                if _hooks:
                    hooks.notify("backward_step", fn, grad_output, grads)
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


def running_backward() -> Optional[Function]:
    """The Function whose gradient the engine is computing now (its ``backward``, and the summing and
    accumulating of what it returned), or None outside ``backward()``. Ops created meanwhile are part
    of that gradient: ``debug.detect_anomaly`` names them so."""
    return _running_backward


def _checked_grads(fn: Function, grads: Any) -> Tuple[Optional[Tensor], ...]:
    """``fn``'s backward's answer as a tuple with one Tensor or None per input, or a TypeError naming
    the op and what it returned (custom Functions are where students meet this)."""
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    op = type(fn).__name__
    if len(grads) != len(fn.inputs):
        raise TypeError(f"{op}.backward returned {len(grads)} gradient(s) for {len(fn.inputs)} "
                        f"input(s); return one Tensor (or None) per input of forward")
    for index, gx in enumerate(grads):
        if gx is not None and not isinstance(gx, Tensor):
            raise TypeError(f"{op}.backward returned a value of type {type(gx).__name__} as the gradient "
                            f"of input {index}; return a Tensor (or None), computed with Tensor ops from "
                            f"grad_output, so that higher-order gradients work")
    return tuple(grads)


def _deliver(fn: Function, index: int, x: Tensor, gx: Tensor) -> Tensor:
    """Bring an input's gradient to the input's shape and dtype: the one place broadcasts are undone."""
    if gx.data.shape != x.data.shape:
        summed = sum_to(gx, x.shape)
        if summed.shape != x.shape:
            raise ShapeError(f"{type(fn).__name__}.backward returned a gradient of shape {gx.shape} for input "
                             f"{index} of shape {x.shape}; it cannot be summed back to that shape")
        if _hooks:
            hooks.notify("broadcast", fn, index, gx.shape, x.shape)
        gx = summed
    if gx.dtype != x.dtype:
        gx = gx.astype(x.dtype)
    return gx


def _accumulate(leaf: Tensor, gx: Tensor, handed_out: Optional[set] = None) -> None:
    """leaf.grad += gx, out of place, so a gradient tensor handed out earlier is never changed."""
    if _hooks:
        hooks.notify("accumulate", leaf, gx)     # before the update: the hook still sees the old leaf.grad
    if leaf.grad is not None:
        leaf.grad = leaf.grad + gx
    elif _grad_enabled:                     # create_graph: the gradient keeps its graph
        leaf.grad = gx
    else:
        leaf.grad = Tensor._wrap(_owned(gx.data, handed_out))


def _owned(array, handed_out: Optional[set]):
    """``array`` itself when a leaf may keep it as its first gradient, else a copy of it.

    Why: a leaf's gradient must be an array of its own, and ops may hand one array to several inputs
    (``a + b``), return a read-only broadcast view (``sum``), or pass the caller's seed on. Copying
    always would cost a pass over every weight per step, so an array that owns its memory (not a
    view) and that no other leaf kept in this backward is kept as it is: ``handed_out`` holds the ids
    of the seed and of every array a leaf already kept."""
    if handed_out is not None and array.flags.owndata and id(array) not in handed_out:
        handed_out.add(id(array))
        return array
    return array.copy()


# ---- the undo of broadcasting: the engine's own two ops --------------------------------------------

def sum_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """Sum ``x`` down to ``shape``, undoing NumPy broadcasting (leading axes, then axes of size 1)."""
    if x.shape == tuple(shape):
        return x
    return SumToOp(shape)(x)


class SumToOp(Function):
    """y = x summed down to ``shape`` (the inverse of broadcasting);  dx = gy broadcast back"""
    def __init__(self, shape): self.shape = tuple(shape)

    def forward(self, x):
        lead = x.ndim - len(self.shape)
        if lead < 0:
            return x   # cannot be summed to a larger rank; the engine reports the mismatch
        axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(self.shape)
                                          if n == 1 and x.shape[lead + i] != 1)
        y = x.sum(axis=axes, keepdims=True) if axes else x
        return y.reshape(self.shape) if lead else y

    def backward(self, gy): return BroadcastToOp(self.inputs[0].shape)(gy)


class BroadcastToOp(Function):
    """y = x repeated along broadcast axes;  dx = gy summed back over them"""
    def __init__(self, shape): self.shape = shape
    def forward(self, x): return backend.array_module(x).broadcast_to(x, self.shape)
    def backward(self, gy): return gy   # the engine sums it back to x's shape
