"""Generate the bundled sample (tinygrad_lite/datasets/sample_data/<set>.npz) from the full files.

    TINYGRAD_LITE_DATA=../shared/data python scripts/make_sample.py

For each of MNIST and Fashion-MNIST it loads the full, verified set (``load_dataset``: the usual
search order, checksums included), draws a stratified subset of the training and of the test set
(the class balance of the full sets, to within one image per class) with a fixed seed, and writes
it with ``save_sample``, so the same arguments always give the same bytes. The total must stay
within 3 MB, the budget for files committed to the package.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout

from tinygrad_lite.datasets import DATASETS, load_dataset, stratified_indices
from tinygrad_lite.datasets.sample import SAMPLE_DIR, save_sample

BUDGET_BYTES = 3_000_000


def make_sample(name, data, n_train, n_test, seed, out_dir):
    """Write the sample of data set ``name``, drawn from its full ``data``; return the file's path."""
    (x_train, y_train), (x_test, y_test) = data
    rng = np.random.default_rng(seed)
    train_idx = stratified_indices(y_train, n_train, rng)
    test_idx = stratified_indices(y_test, n_test, rng)
    path = Path(out_dir) / f"{name}.npz"
    save_sample(path, x_train=x_train[train_idx], y_train=y_train[train_idx],
                x_test=x_test[test_idx], y_test=y_test[test_idx],
                train_indices=train_idx.astype(np.int32), test_indices=test_idx.astype(np.int32),
                seed=np.int64(seed))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="data folder (default: the loaders' search order)")
    parser.add_argument("--train", type=int, default=3000, help="training images per set")
    parser.add_argument("--test", type=int, default=1000, help="test images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(SAMPLE_DIR), help="output folder")
    args = parser.parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    total = 0
    for name in DATASETS:
        data = load_dataset(name, args.root)
        path = make_sample(name, data, args.train, args.test, args.seed, args.out)
        size = path.stat().st_size
        total += size
        print(f"{path}: {size / 1e6:.2f} MB ({args.train} train + {args.test} test images)")
    print(f"total {total / 1e6:.2f} MB (budget {BUDGET_BYTES / 1e6:.2f} MB)")
    if total > BUDGET_BYTES:
        sys.exit(f"the sample is {total} bytes, over the {BUDGET_BYTES}-byte budget: "
                 "use smaller --train/--test")


if __name__ == "__main__":
    main()
