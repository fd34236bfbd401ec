"""NumPy or CuPy: the one place that knows which array library holds a tensor's data.

Every op asks ``array_module(array)`` (DeZero's and CuPy's idiom) and then calls ``xp.exp``,
``xp.matmul`` and so on, so the same code runs on the CPU (NumPy) and on an NVIDIA GPU (CuPy). Nothing else in
the package imports CuPy.
"""
import os
import warnings

import numpy as np

from .errors import DeviceError

DEVICES = ("cpu", "cuda")
NUMBER_KINDS = "biuf"     # bool, signed and unsigned integers, floats: the dtypes a Tensor holds
CUPY_INSTALL_HINT = ("pip install 'tinygrad_lite[cuda13]' where nvidia-smi shows CUDA Version 13.x, "
                     "'tinygrad_lite[cuda12]' where it shows 12.x (one CuPy package only: two conflict)")
_cupy = None          # the cupy module, once a CUDA tensor has been asked for
_default_dtype = np.dtype(np.float32)


def _import_cupy():
    """Import CuPy and check for a usable GPU, or raise one ``DeviceError`` naming what is missing."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError(f"device 'cuda' needs CuPy, which is not installed: {CUPY_INSTALL_HINT}; "
                          f"or use device='cpu'") from exc
    except Warning as exc:   # warnings are errors (pytest here, python -W error): CuPy's import-time
        # warnings all mean a broken install, e.g. two CuPy packages side by side
        raise DeviceError(f"device 'cuda': importing CuPy warned, and warnings are errors here: "
                          f"{' '.join(str(exc).split())[:400]}; use device='cpu'") from exc
    try:
        available = cupy.cuda.is_available()
    except Exception:  # a broken driver install raises instead of answering False
        available = False
    if not available:
        raise DeviceError("device 'cuda' needs a CUDA GPU, but CuPy finds none "
                          "(cupy.cuda.is_available() is False); use device='cpu'")
    _cupy = cupy
    return cupy


def cuda_available():
    """True when CuPy is installed *and* a GPU answers (a successful import alone proves nothing)."""
    try:
        _import_cupy()
        return True
    except DeviceError:
        return False


def default_device():
    """The device named by ``TINYGRAD_LITE_DEVICE`` (``cpu`` when unset)."""
    return os.environ.get("TINYGRAD_LITE_DEVICE", "cpu")


def resolve_device(device):
    """Check a device name ('cpu', 'cuda', 'cuda:0' or None for the default) and return 'cpu' or 'cuda'."""
    name = default_device() if device is None else device
    if not isinstance(name, str) or name.split(":")[0] not in DEVICES:
        raise DeviceError(f"device must be one of {DEVICES}, got {device!r}")
    name = name.split(":")[0]
    if name == "cuda":
        _import_cupy()
    return name


def is_cupy_array(array):
    """True for a CuPy array, recognised by its type's module (``cupy.ndarray.__module__`` is 'cupy'),
    so that it is known for one even before this process has imported CuPy."""
    module = type(array).__module__
    return module == "cupy" or module.startswith("cupy.")


def array_module(array=None, *, device=None):
    """The array module, numpy or cupy: the one that holds ``array`` (numpy for scalars and lists),
    or with ``device`` ('cpu' or 'cuda', as ``resolve_device`` returns it) the one that serves it.
    A Tensor's is ``tensor.array_module``."""
    if device is not None:
        return _import_cupy() if device == "cuda" else np
    if type(array) is not np.ndarray and is_cupy_array(array):
        return _import_cupy()
    return np


def get_array_module(array):
    """Deprecated: CuPy's name of ``array_module`` (``tl.get_array_module`` was public in 0.1)."""
    warnings.warn("tinygrad_lite.get_array_module is deprecated; use tinygrad_lite.array_module",
                  DeprecationWarning, stacklevel=2)
    return array_module(array)


def device_of(array):
    return "cuda" if array_module(array) is not np else "cpu"


def is_array(data):
    """True for a NumPy or CuPy array (not a list or a Python number)."""
    return isinstance(data, np.ndarray) or array_module(data) is not np


def array_from(data, dtype=None, device=None):
    """``data`` (a number, nested lists, a NumPy or CuPy array) as an array of a number dtype
    (``NUMBER_KINDS``) on ``device`` (None: the array's own, else the default): what ``Tensor(...)``
    stores. Python floats become the default dtype; a TypeError or ValueError says what is wrong."""
    device = resolve_device(device if device is not None else (device_of(data) if is_array(data) else None))
    xp = array_module(device=device)
    if not is_array(data):
        try:
            probe = np.asarray(data)
        except ValueError as exc:       # ragged nested lists
            raise ValueError(f"Tensor: data must be a number or a rectangular (nested) list of "
                             f"numbers; {exc}") from None
        if probe.dtype.kind not in NUMBER_KINDS:
            raise TypeError(f"Tensor: data must be a number, a (nested) list of numbers or an "
                            f"array, got {type(data).__name__} (NumPy dtype {probe.dtype})")
        if dtype is None:
            dtype = get_default_dtype() if probe.dtype.kind == "f" else probe.dtype
        data = probe
    elif data.dtype.kind not in NUMBER_KINDS:    # complex parts or strings would be dropped or parsed
        raise TypeError(f"Tensor: data must hold bool, integer or floating numbers, got an array of "
                        f"dtype {data.dtype}")
    if not (is_array(data) and device_of(data) == device):
        data = to_device(data, device)
    try:
        array = xp.asarray(data, dtype=dtype)
    except RuntimeWarning:      # 1e39 as float32: inf, as in torch
        array = without_float_warnings(xp.asarray, data, dtype)
    if array.dtype.kind not in NUMBER_KINDS:
        raise TypeError(f"Tensor: the dtype must be bool, an integer or a floating type, got {array.dtype}")
    return array


def without_float_warnings(compute, *args):
    """``compute(*args)`` with NumPy's floating-point warnings off, so overflow, 0/0 and log(0) give
    inf and nan as IEEE 754 (and torch) say, instead of raising where warnings are errors."""
    with np.errstate(all="ignore"):
        return compute(*args)


def to_device(array, device):
    """Move a NumPy or CuPy array to ``device`` ('cpu' or 'cuda'); a no-op when it is there already."""
    device = resolve_device(device)
    if device == "cuda":
        return _import_cupy().asarray(array)
    return as_numpy(array)


def as_numpy(array):
    """A NumPy array on the host, whatever the array's device."""
    if type(array) is not np.ndarray and is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def scatter_add(out, index, values):
    """out[index] += values, with repeated indices adding up (np.add.at; cupyx.scatter_add on a GPU)."""
    scatter_into(out, index, values, "add")


def scatter_into(out, index, values, how):
    """out[index] = how(out[index], values) element by element, repeated indices each taking part:
    ``how`` 'add', 'multiply', 'maximum' or 'minimum' (NumPy's ``ufunc.at``; on a GPU cupyx's
    scatter_add / scatter_max / scatter_min, and for 'multiply', which cupyx lacks, a round trip
    through the host)."""
    if array_module(out) is np:
        getattr(np, how).at(out, index, values)
        return
    import cupyx
    if how == "multiply":
        host = as_numpy(out)
        np.multiply.at(host, tuple(as_numpy(i) if is_array(i) else i for i in index), as_numpy(values))
        out[...] = to_device(host, "cuda")
        return
    getattr(cupyx, {"add": "scatter_add", "maximum": "scatter_max", "minimum": "scatter_min"}[how])(out, index, values)



def one_array_axis(index):
    """(axis, rows) when ``index`` picks along one axis by a single integer array (full slices
    before it, nothing after: ``x[rows]``, ``x[:, :, rows]``); else None."""
    items = index if isinstance(index, tuple) else (index,)
    *before, last = items or (None,)
    if (getattr(last, "dtype", None) is None or last.dtype.kind not in "iu"
            or not all(isinstance(i, slice) and i == slice(None) for i in before)):
        return None
    return len(before), last


def add_rows(out, axis, rows, values):
    """``np.add.at(out, (slice(None),) * axis + (rows,), values)`` for ``out`` full of zeros (a gather's
    gradient), faster: NumPy's ufunc.at adds one element at a time. The occurrences are sorted by row
    (a stable sort keeps their order) and each row's values summed in that order, one occurrence at
    a time across all rows at once (``take`` along the axis), then written once: the same additions
    in the same order, so the same bits, -0.0 included (a test checks it against np.add.at)."""
    flat = rows.reshape(-1)
    if not flat.size:
        return
    if flat.dtype.kind == "i" and flat.min() < 0:
        flat = np.where(flat < 0, flat + out.shape[axis], flat)
    picked = np.broadcast_to(values, out.shape[:axis] + rows.shape + out.shape[axis + 1:])
    picked = picked.reshape(out.shape[:axis] + (len(flat),) + out.shape[axis + 1:])
    order = np.argsort(flat, kind="stable")
    keys = flat[order]
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    repeats = np.diff(starts, append=len(keys))
    along = (slice(None),) * axis
    total = np.take(picked, order[starts], axis=axis)  # each row's first occurrence, then the next ...
    total += 0.0                                       # (0 + g, as add.at starts: -0.0 becomes 0.0)
    for k in range(1, int(repeats.max())):
        more = np.flatnonzero(repeats > k)
        total[along + (more,)] += np.take(picked, order[starts[more] + k], axis=axis)
    out[along + (keys[starts],)] = total


# ---- dtypes ---------------------------------------------------------------------------------------

def get_default_dtype():
    """The dtype that Python floats and float lists become (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype):
    """Set the default floating dtype globally: ``set_default_dtype('float64')`` for exact checks."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: dtype must be a floating type, got {dtype}")
    _default_dtype = dtype


# ---- random numbers -------------------------------------------------------------------------------

_seed = None
_generators = {}


def manual_seed(seed):
    """Seed every random number generator of the package (NumPy's and, when used, CuPy's)."""
    global _seed
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _seed = int(seed)
    _generators.clear()


def rng(device="cpu"):
    """The seeded random generator for ``device``.

    Weights are drawn on the host (``device='cpu'``) and then moved, so a seed gives the same model
    on NumPy and on CuPy; per-step randomness such as dropout masks is drawn where the data lives.
    (A checkpoint saves and restores its state: ``experiments.checkpoint.rng_state``.)
    """
    if device not in _generators:
        xp = array_module(device=device)
        _generators[device] = xp.random.default_rng(_seed)
    return _generators[device]
