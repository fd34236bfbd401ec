"""MNIST and Fashion-MNIST: loaders that verify what they read, splits, normalisation, a sample.

    from tinygrad_lite.datasets import load_mnist, split_first_last, fit_zscore, normalize
    (x_train, y_train), (x_test, y_test) = load_mnist()          # uint8, (N, 28, 28) and (N,)
    (x_tr, y_tr), (x_val, y_val) = split_first_last(x_train, y_train, n_val=10_000)
    mean, std = fit_zscore(x_tr)
    x_tr = normalize(x_tr, "zscore", mean, std)                  # float32

Where files are looked for, and in which order, is described in ``sources``; every file is checked
against the SHA-256 of its uncompressed content before it is decoded.
"""
from .catalog import CLASS_NAMES, DATASETS
from .idx import parse_idx, read_idx
from .loaders import load_dataset, load_fashion_mnist, load_mnist, load_or_sample
from .sample import SampleDataWarning, load_sample
from .sources import cache_dir
from .splits import (fit_zscore, normalize, split_first_last, split_random, split_stratified,
                     stratified_indices)

__all__ = ["CLASS_NAMES", "DATASETS", "SampleDataWarning", "cache_dir", "fit_zscore",
           "load_dataset", "load_fashion_mnist", "load_mnist", "load_or_sample", "load_sample",
           "normalize", "parse_idx", "read_idx", "split_first_last", "split_random",
           "split_stratified", "stratified_indices"]
