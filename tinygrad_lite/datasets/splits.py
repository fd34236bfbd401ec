"""Validation splits and pixel normalisation.

Splits are always taken from the **training** set: the test set is only for the final number, and
a validation set carved out of it would leak. Every split returns ``(x_train, y_train), (x_val,
y_val)`` with disjoint rows that together cover the input exactly once; the random splits keep the
rows in their original order (they select, they do not shuffle: that is the DataLoader's job).

Normalisation takes raw pixels (0..255) and returns floats. The z-score uses one mean and one std
fitted on the training split only (``fit_zscore``), in the [0, 1] scale, so MNIST gives the familiar
0.1307 and 0.3081.
"""
import numpy as np

NORMALIZE_MODES = ("unit", "symmetric", "zscore")


def split_first_last(x, y, n_val):
    """The first ``len(x) - n_val`` rows for training, the last ``n_val`` for validation.

    The coursework's splits of the 60,000 training images: ``n_val=10_000`` gives 50,000/10,000,
    ``n_val=12_000`` gives 48,000/12,000. Returns views, not copies.
    """
    n = _check_pair(x, y)
    if isinstance(n_val, bool) or not isinstance(n_val, (int, np.integer)) or not 0 < n_val < n:
        raise ValueError(f"n_val must be an int with 0 < n_val < len(x) = {n}, got {n_val!r}")
    cut = n - int(n_val)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def split_random(x, y, val_fraction, seed):
    """A uniformly random ``val_fraction`` of the rows for validation, the rest for training."""
    n = _check_pair(x, y)
    n_val = _n_val(n, val_fraction)
    val_idx = np.random.default_rng(seed).permutation(n)[:n_val]
    return _split_at(x, y, val_idx)


def split_stratified(x, y, val_fraction, seed):
    """Like ``split_random``, but every class gives the same fraction (within one row)."""
    n = _check_pair(x, y)
    val_idx = stratified_indices(y, _n_val(n, val_fraction), np.random.default_rng(seed))
    return _split_at(x, y, val_idx)


def stratified_indices(y, n, rng):
    """Sorted indices of ``n`` rows drawn without replacement, keeping the class shares of ``y``.

    Class ``c`` with ``n_c`` of the ``N`` rows gets ``n * n_c / N`` rows rounded by the largest-
    remainder rule, so each class is within one row of its exact share and the total is ``n``.
    Also used to draw the bundled sample (scripts/make_sample.py).
    """
    y = np.asarray(y)
    classes, labels = np.unique(y, return_inverse=True)
    counts = np.bincount(labels, minlength=len(classes))
    quotas = counts * (n / len(y))
    take = np.floor(quotas).astype(np.int64)
    leftover = n - int(take.sum())
    take[np.argsort(take - quotas, kind="stable")[:leftover]] += 1   # largest remainders first
    chosen = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
              for c, k in enumerate(take)]
    return np.sort(np.concatenate(chosen))


def fit_zscore(x_train):
    """Mean and std (population) of the training pixels in the [0, 1] scale, as Python floats.

    Call it on the training split only, then pass the result to ``normalize(..., "zscore")`` for
    every split. For ``uint8`` images it counts pixel values (exact, and no float copy of the set).
    """
    x_train = np.asarray(x_train)
    if x_train.size == 0:
        raise ValueError("x_train must hold at least one value, got an empty array")
    if x_train.dtype == np.uint8:
        counts = np.bincount(x_train.ravel(), minlength=256)
        values = np.arange(256) / 255.0
        mean = float(counts @ values / x_train.size)
        var = float(counts @ (values - mean) ** 2 / x_train.size)
    else:
        unit = x_train.astype(np.float64) / 255.0
        mean, var = float(unit.mean()), float(unit.var())
    return mean, var ** 0.5


def normalize(x, mode, mean=None, std=None, eps=1e-8, dtype=np.float32):
    """Raw pixels (0..255) to floats of ``dtype``.

    ``"unit"``: x / 255, in [0, 1]. ``"symmetric"``: x / 127.5 - 1, in [-1, 1].
    ``"zscore"``: (x / 255 - mean) / (std + eps), with ``mean, std = fit_zscore(x_train)``; they are
    required, so that statistics of the test set can never slip in.
    """
    if mode not in NORMALIZE_MODES:
        raise ValueError(f"mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    unit = np.asarray(x).astype(dtype) * np.asarray(1 / 255, dtype=dtype)
    if mode == "unit":
        return unit
    if mode == "symmetric":
        return unit * np.asarray(2, dtype=dtype) - np.asarray(1, dtype=dtype)
    if mean is None or std is None:
        raise ValueError("mode 'zscore' needs mean= and std= from fit_zscore(x_train) "
                         f"of the training split, got mean={mean!r}, std={std!r}")
    return ((unit - np.asarray(mean, dtype=dtype)) / np.asarray(std + eps, dtype=dtype))


# ---- helpers ------------------------------------------------------------------------------------

def _check_pair(x, y):
    """len(x), after checking that x and y are non-empty and of the same length."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got len(x)={len(x)}, len(y)={len(y)}")
    if len(x) < 2:
        raise ValueError(f"x must hold at least 2 rows to be split, got {len(x)}")
    return len(x)


def _n_val(n, val_fraction):
    """round(n * val_fraction), checked to leave at least one row on each side."""
    if not isinstance(val_fraction, (float, int, np.floating)) or not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be a number with 0 < val_fraction < 1, "
                         f"got {val_fraction!r}")
    n_val = int(round(n * val_fraction))
    if not 0 < n_val < n:
        raise ValueError(f"val_fraction={val_fraction} of {n} rows gives {n_val} validation rows; "
                         f"expected between 1 and {n - 1}")
    return n_val


def _split_at(x, y, val_idx):
    """Rows ``val_idx`` for validation, every other row for training, both in original order."""
    is_val = np.zeros(len(x), dtype=bool)
    is_val[val_idx] = True
    train_idx, val_idx = np.flatnonzero(~is_val), np.flatnonzero(is_val)
    return (x[train_idx], y[train_idx]), (x[val_idx], y[val_idx])
