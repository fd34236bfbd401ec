"""Stand-ins shaped like CuPy's objects, so the code paths CuPy takes run on a machine without a GPU.

Each copies only the part of CuPy's interface that the code under test touches (CuPy 13.6 / 14.2):

- ``XORWOW`` / ``Generator``: ``cupy.random.default_rng()`` returns a ``Generator`` whose
  ``bit_generator.state`` is a *method* returning a device pointer (NumPy's is a dict property), and
  whose cuRAND states live in the int8 device array ``bit_generator._state``. Here the buffer is a
  NumPy int8 array; every draw is made from it and advances it, as cuRAND's kernels do.
- ``ndarray``: a class whose module is ``cupy`` (as ``type(cupy_array).__module__`` is), holding a
  NumPy array; ``.get()`` copies it to the host, ``.data`` is not the values (a ``MemoryPointer``).
"""
import numpy as np


class XORWOW:
    """cupy.random._bit_generator.XORWOW's shape: ``state()`` a method, the states in ``_state``."""

    def __init__(self, seed, size=256):
        self._state = np.random.default_rng(seed).integers(-128, 128, size, dtype=np.int8)

    def state(self):
        return self._state.ctypes.data        # CuPy: self._state.data.ptr, a device address


class Generator:
    """cupy.random.Generator's shape: a ``bit_generator`` attribute and NumPy's drawing methods."""

    def __init__(self, seed, size=256):
        self.bit_generator = XORWOW(seed, size)

    def __getattr__(self, name):                 # random, uniform, normal, ...
        def draw(*args, **kwargs):
            states = self.bit_generator._state
            numpy_rng = np.random.default_rng(states.view(np.uint8))
            values = getattr(numpy_rng, name)(*args, **kwargs)
            states[...] = numpy_rng.integers(-128, 128, states.size, dtype=np.int8)
            return values
        return draw


class MemoryPointer:
    """What ``cupy_array.data`` is: a device pointer, not the array's values."""
    ptr = 0


class ndarray:  # CuPy's class name
    """A device array stand-in: module ``cupy``, NumPy values inside, ``.get()`` to the host."""
    __module__ = "cupy"

    def __init__(self, values):
        self._values = np.asarray(values)
        self.shape, self.dtype, self.ndim = self._values.shape, self._values.dtype, self._values.ndim
        self.data = MemoryPointer()

    def __getitem__(self, index):       # as CuPy does: an out-of-range integer index wraps (idx % n)
        return ndarray(self._values[_wrapped(_host(index), self.shape)])

    def __len__(self):
        return len(self._values)

    def get(self):
        ndarray.syncs += 1
        return self._values.copy()

    # what the device-side code paths use; a result read on the host counts as one sync
    syncs = 0

    def __bool__(self):
        ndarray.syncs += 1
        return bool(self._values)

    def __int__(self):
        ndarray.syncs += 1
        return int(self._values)

    def any(self): return ndarray(self._values.any())
    def argmax(self): return ndarray(self._values.argmax())
    def min(self): return ndarray(self._values.min())
    def max(self): return ndarray(self._values.max())
    def __lt__(self, other): return ndarray(self._values < _host(other))
    def __ge__(self, other): return ndarray(self._values >= _host(other))
    def __or__(self, other): return ndarray(self._values | _host(other))

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
                        "construct a NumPy array explicitly.")          # CuPy's own message


def _host(index):
    if isinstance(index, tuple):
        return tuple(_host(i) for i in index)
    return index._values if isinstance(index, ndarray) else index


def _wrapped(index, shape):
    """``index`` (ints, integer arrays, slices, one Ellipsis; no None) with every integer taken
    modulo its axis's size, which is what CuPy's take-based indexing does."""
    items = list(index) if isinstance(index, tuple) else [index]
    if any(i is Ellipsis for i in items):
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items[at:at + 1] = [slice(None)] * (len(shape) - len(items) + 1)
    out = []
    for item, n in zip(items, shape):
        is_integer = isinstance(item, int) or getattr(item, "dtype", np.dtype(bool)).kind in "iu"
        out.append(np.asarray(item) % n if is_integer and n else item)
    return tuple(out)
