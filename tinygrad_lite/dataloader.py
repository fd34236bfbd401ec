"""``DataLoader``: mini-batches of ``Tensor``s from in-memory arrays, on the CPU or the GPU.

    loader = DataLoader(x_train, y_train, batch_size=128, shuffle=True, seed=0, device="cuda")
    for epoch in range(10):
        for xb, yb in loader:          # Tensors on the loader's device
            ...

Reproducibility: the shuffled order of epoch ``e`` is
``numpy.random.default_rng(seed + e).permutation(n)``, drawn on the host whatever the device, so a
seed gives the same batches on NumPy and on CuPy, and a PyTorch reference can replay them from
``loader.epoch_order(e)``. The epoch counter advances after each complete pass; ``set_epoch`` sets
it when resuming from a checkpoint.

Speed: the whole data set is moved to the device once, at construction, and batches are indexed
there; only the permutation crosses to the GPU, once per epoch.
"""
import math

import numpy as np

from .backend import as_numpy, get_array_module, resolve_device, to_device
from .errors import DataError
from .tensor import Tensor


class DataLoader:
    """Iterate over ``(x, y)`` in batches of ``batch_size`` rows, as ``(Tensor, Tensor)`` pairs.

    x, y        arrays (NumPy, CuPy, or Tensors) with the same first dimension, at least one row.
    shuffle     reorder the rows each epoch (seeded, see the module docstring); else keep the order.
    seed        the shuffle seed, a non-negative int; ``None`` draws one (see ``loader.seed``).
    drop_last   drop the last batch when it is smaller than ``batch_size``.
    device      'cpu' or 'cuda' (``DeviceError`` if CUDA is not available here).
    dtype       convert ``x`` to this dtype once, on the device (e.g. 'float32'); ``y`` is kept.
    check_finite  refuse (``DataError`` naming the batch) to yield a float batch holding NaN or Inf.
                  The rows are checked once, at construction, so batches cost nothing extra.
    """

    def __init__(self, x, y, batch_size, shuffle=False, seed=None, drop_last=False,
                 device="cpu", dtype=None, check_finite=True):
        x, y = _array(x), _array(y)
        self.n_samples = _check_lengths(x, y)
        self.batch_size = _check_int("batch_size", batch_size, low=1)
        if drop_last and self.batch_size > self.n_samples:
            raise ValueError(f"batch_size must be at most the number of samples "
                             f"({self.n_samples}) when drop_last=True, got {batch_size}: "
                             "every epoch would be empty")
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = _check_seed(seed)
        self.device = resolve_device(device)
        self.x = to_device(x, self.device)
        self.y = to_device(y, self.device)
        if dtype is not None:
            self.x = self.x.astype(dtype, copy=False)
        self._bad_rows = _nonfinite_rows(self.x, self.y) if check_finite else np.empty(0, int)
        self.epoch = 0

    def __len__(self):
        """The number of batches per epoch."""
        if self.drop_last:
            return self.n_samples // self.batch_size
        return math.ceil(self.n_samples / self.batch_size)

    def epoch_order(self, epoch):
        """The row order of ``epoch`` as a NumPy array of indices (a permutation when shuffling)."""
        if not self.shuffle:
            return np.arange(self.n_samples)
        return np.random.default_rng(self.seed + epoch).permutation(self.n_samples)

    def set_epoch(self, epoch):
        """Make the next pass epoch ``epoch`` (its shuffle order), e.g. when resuming training."""
        self.epoch = _check_int("epoch", epoch, low=0)

    def __iter__(self):
        """Yield the ``(x, y)`` Tensor batches of the current epoch, then advance the epoch counter."""
        epoch = self.epoch
        order = self.epoch_order(epoch)
        order_on_device = to_device(order, self.device)
        for b in range(len(self)):
            rows = slice(b * self.batch_size, (b + 1) * self.batch_size)
            self._check_finite(order[rows], b, epoch)
            index = order_on_device[rows]
            yield (Tensor(self.x[index], device=self.device),
                   Tensor(self.y[index], device=self.device))
        self.epoch = epoch + 1

    def _check_finite(self, rows, batch, epoch):
        if self._bad_rows.size and np.isin(rows, self._bad_rows).any():
            bad = np.intersect1d(rows, self._bad_rows)
            raise DataError(f"batch {batch + 1} of {len(self)} in epoch {epoch + 1} (both counted from 1) "
                            f"holds NaN or Inf values (data rows "
                            f"{bad[:10].tolist()}{' ...' if bad.size > 10 else ''}); fix the "
                            "data or its normalisation, or pass check_finite=False")

    def __repr__(self):
        return (f"DataLoader({self.n_samples} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, device={self.device!r})")


# ---- argument checks ----------------------------------------------------------------------------

def _array(a):
    """The array inside a Tensor, a NumPy/CuPy array as is, anything else through np.asarray."""
    if isinstance(a, Tensor):
        return a.data
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def _check_lengths(x, y):
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"x and y must be arrays with a batch dimension, got shapes "
                         f"{x.shape} and {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got len(x)={len(x)}, len(y)={len(y)}")
    if len(x) == 0:
        raise ValueError("x must hold at least one sample, got an empty data set (len(x)=0)")
    return len(x)


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_seed(seed):
    if seed is None:
        return int(np.random.SeedSequence().entropy)   # random, but then fixed for this loader
    return _check_int("seed", seed, low=0)


def _nonfinite_rows(*arrays):
    """Sorted indices (NumPy) of the rows holding NaN or Inf in any of the float ``arrays``."""
    bad = np.zeros(len(arrays[0]), dtype=bool)
    for a in arrays:
        if a.dtype.kind in "fc":
            xp = get_array_module(a)
            bad |= as_numpy(~xp.isfinite(a.reshape(len(a), -1)).all(axis=1))
    return np.flatnonzero(bad)
