"""``Tensor``: an array (NumPy or CuPy) plus what autograd needs (``grad``, ``requires_grad``, creator).

The whole API a user calls is written here: every op is also a method with PyTorch's name, taking
NumPy's argument names or torch's (``x.sum(axis=1, keepdims=True)`` is ``x.sum(dim=1, keepdim=True)``),
so ``x.relu()`` and ``x @ w`` read as a student expects. Each method is one line that calls its op
in ``tinygrad_lite.ops`` (where the forward and the gradient are); the engine is ``tinygrad_lite.autograd``.
"""
import numpy as np

from . import autograd, backend
from .errors import DeviceError, ShapeError


NUMBER_KINDS = "biuf"     # bool, signed and unsigned integers, floats: the dtypes a Tensor holds


class Tensor:
    __slots__ = ("data", "_grad", "requires_grad", "_creator", "_generation", "name", "__weakref__")
    __array_ufunc__ = None      # numpy defers to Tensor's operators: np.float32(2) * t is a Tensor

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        device = backend.resolve_device(device if device is not None else
                                        (backend.device_of(data) if _is_array(data) else None))
        xp = backend.array_module(device=device)
        if not _is_array(data):
            try:
                probe = np.asarray(data)
            except ValueError as exc:       # ragged nested lists
                raise ValueError(f"Tensor: data must be a number or a rectangular (nested) list of "
                                 f"numbers; {exc}") from None
            if probe.dtype.kind not in NUMBER_KINDS:
                raise TypeError(f"Tensor: data must be a number, a (nested) list of numbers or an "
                                f"array, got {type(data).__name__} (NumPy dtype {probe.dtype})")
            if dtype is None:
                dtype = backend.get_default_dtype() if probe.dtype.kind == "f" else probe.dtype
            data = probe
        elif data.dtype.kind not in NUMBER_KINDS:    # complex parts or strings would be dropped or parsed
            raise TypeError(f"Tensor: data must hold bool, integer or floating numbers, got an array of "
                            f"dtype {data.dtype}")
        if not (_is_array(data) and backend.device_of(data) == device):
            data = backend.to_device(data, device)
        try:
            self.data = xp.asarray(data, dtype=dtype)
        except RuntimeWarning:      # 1e39 as float32: inf, as in torch
            self.data = autograd.without_float_warnings(xp.asarray, data, dtype)
        if self.data.dtype.kind not in NUMBER_KINDS:
            raise TypeError(f"Tensor: the dtype must be bool, an integer or a floating type, got "
                            f"{self.data.dtype}")
        self._grad = None
        self.requires_grad = False
        self._creator = None
        self._generation = 0
        self.name = None            # an optional label, shown by debug.trace_backward and viz.to_dot
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array):
        """A new leaf around an existing array, with no checks (the ops' fast path)."""
        t = object.__new__(cls)
        t.data, t._grad, t.requires_grad, t._creator, t._generation = array, None, False, None, 0
        t.name = None
        return t

    # ---- autograd -----------------------------------------------------------------------------------
    def requires_grad_(self, mode=True):
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
    def grad(self):
        """The gradient that ``backward()`` accumulated here: None, or a Tensor of this tensor's shape,
        dtype and device (an assignment is checked for that, as in torch)."""
        return self._grad

    @grad.setter
    def grad(self, value):
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

    def backward(self, grad=None, retain_graph=None, create_graph=False):
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
        autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    @property
    def grad_fn(self):
        return self._creator

    @property
    def is_leaf(self):
        return self._creator is None

    # ---- data and device ----------------------------------------------------------------------------
    @property
    def array_module(self):
        """numpy or cupy: the module that holds this tensor's data (``backend.array_module``)."""
        return backend.array_module(self.data)

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def device(self):
        return backend.device_of(self.data)

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The rows, ``t[0], t[1], ...`` (differentiable, as in torch); a 0-d tensor has none."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor (use .item() for its number)")
        return (self[i] for i in range(self.shape[0]))

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __array__(self, dtype=None, copy=None):
        """What ``np.asarray(t)``, ``np.mean(t)`` and ``plt.plot(t)`` see: the data as a NumPy array. Like
        torch, refused for a tensor that requires grad, which must be taken out of the graph first."""
        if self.requires_grad:
            raise RuntimeError("Can't convert a tensor that requires grad to a NumPy array implicitly; use "
                               "tensor.detach().numpy() (or tensor.numpy(): the values, outside the graph)")
        array = self.numpy()
        if dtype is not None and array.dtype != dtype:
            array = array.astype(dtype)
        return array.copy() if copy else array

    def numpy(self):
        """The data as a NumPy array on the host (a copy when it lives on the GPU)."""
        return backend.as_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python scalar, "
                             f"got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def to(self, device):
        """This tensor on ``device`` ('cpu' or 'cuda'); differentiable, like torch's ``.to``."""
        device = backend.resolve_device(device)
        return self if device == self.device else ops.to_device(self, device)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def astype(self, dtype):
        """Cast (differentiable: the gradient is cast back)."""
        return self if np.dtype(dtype) == self.dtype else ops.astype(self, dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def __repr__(self):
        body = _format_numbers(self.numpy())
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype != backend.get_default_dtype() and self.dtype.kind == "f":
            extras.append(f"dtype={self.dtype}")
        if self._creator is not None:
            extras.append(f"grad_fn=<{self._creator.name}Backward>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__   # __eq__ is elementwise (as in torch), hashing stays by identity

    # ---- operators (each one an op from tinygrad_lite.ops) -----------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __abs__(self): return ops.abs(self)
    def __floordiv__(self, other): return ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return ops.floor_divide(other, self)
    def __mod__(self, other): return ops.remainder(self, other)
    def __rmod__(self, other): return ops.remainder(other, self)
    # bitwise, on integer and boolean tensors (not differentiable)
    def __and__(self, other): return ops.bitwise_and(self, other)
    def __rand__(self, other): return ops.bitwise_and(other, self)
    def __or__(self, other): return ops.bitwise_or(self, other)
    def __ror__(self, other): return ops.bitwise_or(other, self)
    def __xor__(self, other): return ops.bitwise_xor(self, other)
    def __rxor__(self, other): return ops.bitwise_xor(other, self)
    def __invert__(self): return ops.bitwise_not(self)
    def __getitem__(self, index): return ops.getitem(self, index)

    # comparisons give non-differentiable boolean tensors
    def __eq__(self, other): return ops.compare(self, other, "equal")
    def __ne__(self, other): return ops.compare(self, other, "not_equal")
    def __lt__(self, other): return ops.compare(self, other, "less")
    def __le__(self, other): return ops.compare(self, other, "less_equal")
    def __gt__(self, other): return ops.compare(self, other, "greater")
    def __ge__(self, other): return ops.compare(self, other, "greater_equal")

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous; "
                             f"use .any() or .all()")
        return bool(self.data)

    def any(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
        """Whether any element over ``axis`` (None: all) is nonzero, as a boolean tensor (not differentiable)."""
        return ops.any(self, axis, keepdims, dim=dim, keepdim=keepdim, out=out)

    def all(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
        """Whether every element over ``axis`` (None: all) is nonzero, as a boolean tensor (not differentiable)."""
        return ops.all(self, axis, keepdims, dim=dim, keepdim=keepdim, out=out)

    # ---- elementwise ops (see ops/elementwise.py for each formula and its gradient) -------------------
    def abs(self):
        """|x|."""
        return ops.abs(self)

    def exp(self):
        """e^x."""
        return ops.exp(self)

    def log(self):
        """The natural logarithm."""
        return ops.log(self)

    def sqrt(self):
        """x^(1/2)."""
        return ops.sqrt(self)

    def tanh(self):
        """tanh(x)."""
        return ops.tanh(self)

    def sigmoid(self):
        """1 / (1 + e^-x)."""
        return ops.sigmoid(self)

    def relu(self):
        """max(x, 0)."""
        return ops.relu(self)

    def pow(self, exponent):
        """x ** exponent (a number or a tensor)."""
        return ops.pow(self, exponent)

    def maximum(self, other):
        """The elementwise larger of x and ``other`` (broadcasting)."""
        return ops.maximum(self, other)

    def minimum(self, other):
        """The elementwise smaller of x and ``other`` (broadcasting)."""
        return ops.minimum(self, other)

    def clip(self, min=None, max=None):  # noqa: A002  (NumPy's names)
        """x clamped to [min, max] (either may be None)."""
        return ops.clip(self, min, max)

    # ---- more elementwise math (ops/transcendental.py, ops/rounding.py) -------------------------------
    def sin(self):
        """sin x."""
        return ops.sin(self)

    def cos(self):
        """cos x."""
        return ops.cos(self)

    def tan(self):
        """tan x."""
        return ops.tan(self)

    def sinh(self):
        """sinh x."""
        return ops.sinh(self)

    def cosh(self):
        """cosh x."""
        return ops.cosh(self)

    def asin(self):
        """asin x, for x in [-1, 1]."""
        return ops.asin(self)

    def acos(self):
        """acos x, for x in [-1, 1]."""
        return ops.acos(self)

    def atan(self):
        """atan x."""
        return ops.atan(self)

    def log2(self):
        """The base-2 logarithm."""
        return ops.log2(self)

    def log10(self):
        """The base-10 logarithm."""
        return ops.log10(self)

    def log1p(self):
        """ln(1 + x), exact for tiny x."""
        return ops.log1p(self)

    def exp2(self):
        """2^x."""
        return ops.exp2(self)

    def rsqrt(self):
        """1 / sqrt(x)."""
        return ops.rsqrt(self)

    def lerp(self, end, weight):
        """x + weight * (end - x)."""
        return ops.lerp(self, end, weight)

    def logaddexp(self, other):
        """ln(e^x + e^other), without overflow."""
        return ops.logaddexp(self, other)

    def sign(self):
        """-1, 0 or 1 (gradient 0)."""
        return ops.sign(self)

    def floor(self):
        """The largest whole number <= x (gradient 0)."""
        return ops.floor(self)

    def ceil(self):
        """The smallest whole number >= x (gradient 0)."""
        return ops.ceil(self)

    def round(self, decimals=0):
        """x rounded to ``decimals`` digits, halves to even (gradient 0)."""
        return ops.round(self, decimals)

    def trunc(self):
        """x rounded towards 0 (gradient 0)."""
        return ops.trunc(self)

    def floor_divide(self, b):
        """x // b, rounded towards -inf (gradient 0)."""
        return ops.floor_divide(self, b)

    def remainder(self, b):
        """x % b, with the sign of b."""
        return ops.remainder(self, b)

    def fmod(self, b):
        """x - b * trunc(x / b), with the sign of x."""
        return ops.fmod(self, b)

    def bitwise_and(self, b):
        """x & b (integer or boolean tensors)."""
        return ops.bitwise_and(self, b)

    def bitwise_or(self, b):
        """x | b (integer or boolean tensors)."""
        return ops.bitwise_or(self, b)

    def bitwise_xor(self, b):
        """x ^ b (integer or boolean tensors)."""
        return ops.bitwise_xor(self, b)

    def bitwise_not(self):
        """~x (integer or boolean tensors)."""
        return ops.bitwise_not(self)

    def isnan(self):
        """Where x is nan, as a boolean tensor."""
        return ops.isnan(self)

    def isinf(self):
        """Where x is +-inf, as a boolean tensor."""
        return ops.isinf(self)

    def isfinite(self):
        """Where x is neither inf nor nan, as a boolean tensor."""
        return ops.isfinite(self)

    def isclose(self, b, rtol=1e-05, atol=1e-08, equal_nan=False):
        """|x - b| <= atol + rtol * |b|, as a boolean tensor."""
        return ops.isclose(self, b, rtol, atol, equal_nan)

    # ---- reductions (ops/reduce.py); NumPy's axis= / keepdims= or torch's dim= / keepdim= -----------
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
        """The sum over ``axis`` (None: all axes; an int or a tuple), in ``dtype`` when given (torch's
        ``sum(dtype=)``); ``out=``: for np.sum(t)."""
        return ops.sum(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype, out=out)

    def prod(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
        """The product over ``axis`` (None: all axes); the gradient is exact where x has zeros."""
        return ops.prod(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype, out=out)

    def cumsum(self, axis=None, *, dim=None, dtype=None, out=None):
        """The running sum along ``axis`` (None: of the flattened tensor)."""
        return ops.cumsum(self, axis, dim=dim, dtype=dtype, out=out)

    def cumprod(self, axis=None, *, dim=None, dtype=None, out=None):
        """The running product along ``axis`` (None: of the flattened tensor)."""
        return ops.cumprod(self, axis, dim=dim, dtype=dtype, out=out)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
        """The mean over ``axis`` (None: all axes)."""
        return ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim, dtype=dtype, out=out)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
        """The largest element over ``axis``; with torch's ``dim=``, torch's ``(values, indices)``."""
        return ops.max(self, axis, keepdims, dim=dim, keepdim=keepdim, out=out)

    def min(self, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
        """The smallest element over ``axis``; with torch's ``dim=``, torch's ``(values, indices)``."""
        return ops.min(self, axis, keepdims, dim=dim, keepdim=keepdim, out=out)

    def argmax(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """The index of the largest element over ``axis`` (None: of the flattened tensor)."""
        return ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """The index of the smallest element over ``axis`` (None: of the flattened tensor)."""
        return ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis=None, keepdims=False, ddof=None, *, correction=None, dim=None, keepdim=None, dtype=None,
            out=None):
        """The variance over ``axis``; ``ddof`` (torch's ``correction``) defaults to NumPy's 0 with
        ``axis=``, torch's 1 with ``dim=``."""
        return ops.var(self, axis, keepdims, ddof, correction=correction, dim=dim, keepdim=keepdim, dtype=dtype,
                       out=out)

    def std(self, axis=None, keepdims=False, ddof=None, *, correction=None, dim=None, keepdim=None, dtype=None,
            out=None):
        """sqrt(var) over ``axis``; ``correction`` (NumPy's ``ddof``) defaults to torch's 1."""
        return ops.std(self, axis, keepdims, ddof, correction=correction, dim=dim, keepdim=keepdim, dtype=dtype,
                       out=out)

    def argsort(self, axis=-1, descending=False, stable=False, *, dim=None):
        """The indices that sort x along ``axis`` (a stable sort; not differentiable)."""
        return ops.argsort(self, axis, descending, stable, dim=dim)

    def sort(self, axis=-1, descending=False, stable=False, *, dim=None):
        """torch's ``(values, indices)`` of x sorted along ``axis``."""
        return ops.sort(self, axis, descending, stable, dim=dim)

    def topk(self, k, axis=-1, largest=True, sorted=True, *, dim=None):  # noqa: A002
        """torch's ``(values, indices)`` of the ``k`` largest (or smallest) along ``axis``."""
        return ops.topk(self, k, axis, largest, sorted, dim=dim)

    def logsumexp(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """log(sum(exp(x))) over ``axis``, without overflow."""
        return ops.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def softmax(self, axis=-1, *, dim=None):
        """exp(x) / sum(exp(x)) along ``axis`` (default the last)."""
        return ops.softmax(self, axis, dim=dim)

    def log_softmax(self, axis=-1, *, dim=None):
        """x - logsumexp(x) along ``axis`` (default the last)."""
        return ops.log_softmax(self, axis, dim=dim)

    # ---- shape ops (ops/shape.py) -------------------------------------------------------------------
    def reshape(self, *shape):
        """The same elements in a new shape: ``reshape(2, 3)`` or ``reshape((2, 3))``, -1 inferred."""
        return ops.reshape(self, *shape)

    def view(self, *shape):
        """torch's name for ``reshape``."""
        return ops.reshape(self, *shape)

    def transpose(self, *axes):
        """No axes: reverse them; two: swap them (torch's ``transpose(0, 1)``); more: a permutation."""
        return ops.transpose(self, *axes)

    @property
    def T(self):
        """The axes reversed (a matrix's transpose)."""
        return ops.transpose(self)

    def permute(self, *axes):
        """The axes reordered: ``y.shape[i] == x.shape[axes[i]]``."""
        return ops.permute(self, *axes)

    def swapaxes(self, axis1, axis2):
        """Axes ``axis1`` and ``axis2`` exchanged."""
        return ops.swapaxes(self, axis1, axis2)

    def squeeze(self, axis=None, *, dim=None):
        """The axes of size 1 dropped (``axis``: only those)."""
        return ops.squeeze(self, axis, dim=dim)

    def unsqueeze(self, axis=None, *, dim=None):
        """An axis of size 1 inserted at position ``axis``."""
        return ops.unsqueeze(self, axis, dim=dim)

    def flatten(self, start_dim=0, end_dim=-1):
        """Axes ``start_dim``..``end_dim`` merged into one."""
        return ops.flatten(self, start_dim, end_dim)

    def broadcast_to(self, shape):
        """x repeated along new or size-1 axes to ``shape`` (NumPy's rules)."""
        return ops.broadcast_to(self, shape)

    def pad(self, pad_width, value=0.0, mode="constant"):
        """x padded (``value``, or torch's 'reflect', 'replicate', 'circular'), ``pad_width`` as in ``numpy.pad``."""
        return ops.pad(self, pad_width, value, mode)

    # ---- indexing and rearranging (ops/indexing.py); torch's names and arguments ---------------------
    def flip(self, dims):
        """The elements in reverse order along each axis in ``dims``."""
        return ops.flip(self, dims)

    def roll(self, shifts, dims=None):
        """The elements shifted cyclically by ``shifts`` along ``dims`` (None: the flattened tensor)."""
        return ops.roll(self, shifts, dims)

    def tril(self, diagonal=0):
        """x below and on the ``diagonal`` of the last two axes, 0 above."""
        return ops.tril(self, diagonal)

    def triu(self, diagonal=0):
        """x above and on the ``diagonal`` of the last two axes, 0 below."""
        return ops.triu(self, diagonal)

    def masked_fill(self, mask, value):
        """``value`` where ``mask`` holds, x elsewhere."""
        return ops.masked_fill(self, mask, value)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along ``dim`` of one size (the last smaller) or of the listed sizes."""
        return ops.split(self, split_size_or_sections, dim)

    def chunk(self, chunks, dim=0):
        """``chunks`` pieces of ceil(n / chunks) along ``dim``."""
        return ops.chunk(self, chunks, dim)

    def repeat(self, *sizes):
        """x tiled sizes[i] times along axis i (torch's ``repeat``, NumPy's ``tile``)."""
        return ops.repeat(self, *sizes)

    def repeat_interleave(self, repeats, dim=None):
        """Each element repeated ``repeats`` times along ``dim`` (None: flattened)."""
        return ops.repeat_interleave(self, repeats, dim)

    def gather(self, dim, index):
        """y[..., i, ...] = x[..., index[..., i, ...], ...] along ``dim`` (torch's ``gather``)."""
        return ops.gather(self, dim, index)

    def scatter(self, dim, index, src):
        """A copy with y[..., index[..., i, ...], ...] = src[..., i, ...] along ``dim`` (torch's ``scatter``)."""
        return ops.scatter(self, dim, index, src)

    def scatter_add(self, dim, index, src):
        """A copy with src[..., i, ...] added at y[..., index[..., i, ...], ...] along ``dim`` (torch's ``scatter_add``)."""
        return ops.scatter_add(self, dim, index, src)

    def diagonal(self, offset=0, dim1=0, dim2=1):
        """The diagonal of axes dim1, dim2 as a new last axis."""
        return ops.diagonal(self, offset, dim1, dim2)

    def unflatten(self, dim, sizes):
        """Axis ``dim`` split into axes of ``sizes``."""
        return ops.unflatten(self, dim, sizes)

    def masked_select(self, mask):
        """The elements where ``mask`` holds, as a 1-D tensor."""
        return ops.masked_select(self, mask)

    def nonzero(self, as_tuple=False):
        """The int64 indices of the nonzero elements (not differentiable)."""
        return ops.nonzero(self, as_tuple)

def _format_numbers(array):
    """The numbers as torch prints them: ``1.`` when all are whole, else 4 decimals, or ``1.0000e-05``
    style when they span more than three orders of magnitude."""
    options = {}
    nonzero = (np.abs(array[np.isfinite(array) & (array != 0)]).astype(np.float64)   # float64: 6e4 / 1e-3
               if array.dtype.kind == "f" else np.empty(0))                               # overflows float16
    if nonzero.size:
        whole = bool((nonzero == np.ceil(nonzero)).all())
        wide = nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8
        if wide or (not whole and nonzero.min() < 1e-4):
            width = max(len(f"{v:.4e}") for v in array.flat)
            options["formatter"] = {"float_kind": lambda v: f"{v:.4e}".rjust(width)}
        elif not whole:
            options["floatmode"] = "fixed"
    return np.array2string(array, separator=", ", prefix="tensor(", precision=4, **options)


def _is_array(data):
    return isinstance(data, np.ndarray) or backend.array_module(data) is not np


def as_tensor(value, like=None):
    """``value`` as a Tensor; plain numbers take ``like``'s dtype and device (x * 2 stays float32, and
    an integer tensor minus a Python int keeps its dtype, wrapping around as torch's: uint8 - 1 is 255).

    Next to a floating tensor a number stays a scalar, a NumPy scalar of ``like``'s dtype: NumPy
    computes with it exactly as with a 0-d array, and CuPy passes it to the kernel as an argument,
    where a 0-d array would be one more allocation and host-to-device copy per ``x * 2``."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return Tensor(value)
    if like.dtype.kind == "f" and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return Tensor._wrap(like.dtype.type(value))
    if like.dtype.kind in "iu" and type(value) is int:
        return Tensor._wrap(np.asarray(value).astype(like.dtype)[()])
    return Tensor(value, device=like.device)


# The engine's one import knot: Tensor's methods are ops, and every op makes Tensors, so ops/ imports
# this module and this module imports ops/. It is imported last, once Tensor exists, and the methods
# above look ``ops`` up at call time. (autograd.py, which Tensor.backward calls, closes the same knot.)
from . import ops  # noqa: E402
