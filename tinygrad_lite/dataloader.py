"""``Dataset``, ``TensorDataset`` and ``DataLoader``: torch's three names for feeding a model batches.

    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=128, shuffle=True, seed=0, device="cuda")
    for epoch in range(10):
        for xb, yb in loader:          # Tensors on the loader's device
            ...

``TensorDataset`` holds in-memory arrays (NumPy, CuPy or Tensors), row i of each being sample i: the
fast path, where the whole data set is moved to the device once, at construction, and each batch is
one indexing there (only the permutation crosses to the GPU, once per epoch). Any other ``Dataset``
(anything with ``__getitem__`` and ``__len__``) is read sample by sample and each batch put together
by ``collate_fn`` (``default_collate``: stacks Tensors, arrays and numbers, column by column).

Reproducibility: the shuffled order of epoch ``e`` is
``numpy.random.default_rng(seed + e).permutation(n)``, drawn on the host whatever the device, so a
seed gives the same batches on NumPy and on CuPy, and a PyTorch reference can replay them from
``loader.epoch_order(e)``. The epoch counter advances after each complete pass; ``set_epoch`` sets
it when resuming from a checkpoint.
"""
import math

import numpy as np

from .backend import array_module, as_numpy, resolve_device, to_device
from .core import Tensor
from .errors import DataError


class Dataset:
    """A map-style data set, torch's protocol: ``dataset[i]`` is sample i (a Tensor, an array, a
    number, or a tuple / dict of them), ``len(dataset)`` the number of samples. Subclass it and write
    both; a ``DataLoader`` draws the indices and puts the samples together into batches."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), the sample at index")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__(), the number of samples")


class TensorDataset(Dataset):
    """Samples from in-memory arrays of one length: sample i is ``(t[i] for t in tensors)``, as torch's.
    ``arrays`` holds them as given (NumPy or CuPy; Tensors' and lists' arrays), ``tensors`` as Tensors."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor, got none")
        arrays = [_array(t) for t in tensors]
        if any(a.ndim == 0 for a in arrays):
            raise ValueError(f"TensorDataset: every tensor needs a first (sample) dimension, got shapes "
                             f"{[tuple(a.shape) for a in arrays]}")
        if len({len(a) for a in arrays}) > 1:
            raise ValueError(f"TensorDataset: the tensors must hold the same number of samples (their first "
                             f"dimension), got lengths {[len(a) for a in arrays]}")
        self.arrays = tuple(arrays)

    @property
    def tensors(self):
        return tuple(Tensor(a) for a in self.arrays)

    def __getitem__(self, index):
        return tuple(Tensor(a[index]) for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])


def default_collate(samples):
    """One batch from a list of samples, torch's rule: Tensors, arrays and numbers are stacked into a
    Tensor with a new first axis (Python ints give int64, floats float64, as in torch); tuples and lists
    are collated position by position (a tuple back), dicts key by key."""
    first = samples[0]
    if isinstance(first, Tensor):
        xp = array_module(first.data)
        return Tensor(xp.stack([s.data for s in samples]))
    if isinstance(first, (tuple, list)):
        if len({len(s) for s in samples}) > 1:
            raise ValueError(f"default_collate: samples of different lengths {sorted({len(s) for s in samples})}")
        return tuple(default_collate(list(column)) for column in zip(*samples))
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (np.ndarray, np.generic, bool, int, float)):
        return Tensor(np.stack([np.asarray(s) for s in samples]))
    raise TypeError(f"default_collate: cannot put samples of type {type(first).__name__} into a batch; "
                    f"return Tensors, arrays, numbers, or tuples / dicts of them, or pass collate_fn=")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples, torch's way.

    dataset     a ``TensorDataset`` (the fast path), or any object with ``__getitem__`` and ``__len__``.
    batch_size  samples per batch (the last may be smaller).
    shuffle     reorder the samples each epoch (seeded, see the module docstring); else keep the order.
    seed        the shuffle seed, a non-negative int; ``None`` draws one (see ``loader.seed``).
    drop_last   drop the last batch when it is smaller than ``batch_size``.
    collate_fn  how a list of samples becomes a batch (``default_collate``; not used by the fast path).
    device      'cpu' or 'cuda' (``DeviceError`` if CUDA is not available here): where batches are.
    dtype       convert the inputs (a sample's first element) to this dtype (e.g. 'float32'); the rest
                (the labels) is kept.
    check_finite  refuse (``DataError`` naming the batch) to yield a batch holding NaN or Inf. A
                  ``TensorDataset`` is checked once, at construction, so its batches cost nothing extra.

    A batch of a ``TensorDataset`` is a tuple of Tensors, one per tensor (``for xb, yb in loader``).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, *, seed=None, drop_last=False, collate_fn=None,
                 device="cpu", dtype=None, check_finite=True):
        if hasattr(batch_size, "shape") or isinstance(batch_size, (list, tuple)):
            raise TypeError("DataLoader takes one dataset: DataLoader(TensorDataset(x, y), batch_size=...) "
                            f"(got a {type(batch_size).__name__} as batch_size, as in the older "
                            "DataLoader(x, y, batch_size))")
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"DataLoader: dataset must have __getitem__ and __len__ (a Dataset), got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.n_samples = _check_length(dataset)
        self.batch_size = _check_int("batch_size", batch_size, low=1)
        if drop_last and self.batch_size > self.n_samples:
            raise ValueError(f"batch_size must be at most the number of samples "
                             f"({self.n_samples}) when drop_last=True, got {batch_size}: "
                             "every epoch would be empty")
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = _check_seed(seed)
        self.device, self.dtype, self.check_finite = resolve_device(device), dtype, bool(check_finite)
        self.collate_fn = collate_fn or default_collate
        self.arrays = None                  # the fast path's arrays, on the device
        if isinstance(dataset, TensorDataset) and collate_fn is None:
            self.arrays = [to_device(a, self.device) for a in dataset.arrays]
            if dtype is not None:
                self.arrays[0] = self.arrays[0].astype(dtype, copy=False)
        self._bad_rows = (_nonfinite_rows(*self.arrays) if self.arrays is not None and check_finite
                          else np.empty(0, int))
        self.epoch = 0

    def __len__(self):
        """The number of batches per epoch."""
        if self.drop_last:
            return self.n_samples // self.batch_size
        return math.ceil(self.n_samples / self.batch_size)

    def epoch_order(self, epoch):
        """The sample order of ``epoch`` as a NumPy array of indices (a permutation when shuffling)."""
        if not self.shuffle:
            return np.arange(self.n_samples)
        return np.random.default_rng(self.seed + epoch).permutation(self.n_samples)

    def set_epoch(self, epoch):
        """Make the next pass epoch ``epoch`` (its shuffle order), e.g. when resuming training."""
        self.epoch = _check_int("epoch", epoch, low=0)

    def __iter__(self):
        """Yield the batches of the current epoch, then advance the epoch counter."""
        epoch = self.epoch
        order = self.epoch_order(epoch)
        order_on_device = to_device(order, self.device) if self.arrays is not None else None
        for b in range(len(self)):
            rows = slice(b * self.batch_size, (b + 1) * self.batch_size)
            if self.arrays is not None:
                self._check_finite(order[rows], b, epoch)
                index = order_on_device[rows]
                yield tuple(Tensor(a[index], device=self.device) for a in self.arrays)
            else:
                yield self._collated(order[rows], b, epoch)
        self.epoch = epoch + 1

    def _collated(self, indices, batch, epoch):
        """The batch of samples ``indices`` of a general dataset, on the device, its inputs cast."""
        collated = self.collate_fn([self.dataset[int(i)] for i in indices])
        collated = _map_tensors(collated, lambda t: t.to(self.device))
        if self.dtype is not None:
            if isinstance(collated, tuple) and collated and isinstance(collated[0], Tensor):
                collated = (collated[0].astype(self.dtype),) + collated[1:]
            elif isinstance(collated, Tensor):
                collated = collated.astype(self.dtype)
        if self.check_finite:
            tensors = _tensors(collated)
            if any(t.dtype.kind in "fc" and not bool(t.array_module.isfinite(t.data).all()) for t in tensors):
                raise DataError(f"batch {batch + 1} of {len(self)} in epoch {epoch + 1} (both counted from 1) "
                                f"holds NaN or Inf values (samples {indices[:10].tolist()}"
                                f"{' ...' if len(indices) > 10 else ''}); fix the data, or pass check_finite=False")
        return collated

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


def _map_tensors(batch, fn):
    """``batch`` with every Tensor in it (through tuples, lists and dicts) replaced by ``fn(tensor)``."""
    if isinstance(batch, Tensor):
        return fn(batch)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_map_tensors(b, fn) for b in batch)
    if isinstance(batch, dict):
        return {k: _map_tensors(v, fn) for k, v in batch.items()}
    return batch


def _tensors(batch):
    """Every Tensor in ``batch`` (through tuples, lists and dicts)."""
    if isinstance(batch, Tensor):
        yield batch
    elif isinstance(batch, (tuple, list, dict)):
        for item in (batch.values() if isinstance(batch, dict) else batch):
            yield from _tensors(item)


# ---- argument checks ----------------------------------------------------------------------------

def _array(a):
    """The array inside a Tensor, a NumPy/CuPy array as is, anything else through np.asarray."""
    if isinstance(a, Tensor):
        return a.data
    return a if hasattr(a, "shape") and hasattr(a, "dtype") else np.asarray(a)


def _check_length(dataset):
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset must hold at least one sample, got an empty data set (len(dataset)=0)")
    return n


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
            xp = array_module(a)
            bad |= as_numpy(~xp.isfinite(a.reshape(len(a), -1)).all(axis=1))
    return np.flatnonzero(bad)
