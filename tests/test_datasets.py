"""The data layer against the real files: decoding, verification, splits, normalisation, sample.

The full files come from conftest's ``data_root``: ``TINYGRAD_LITE_DATA`` (CI: ``../shared/data``), or
``../shared/data`` beside the checkout; the tests that need them skip, saying so, otherwise.
"""
import gzip
import hashlib
import importlib.util
import shutil
import socket
import tracemalloc
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lite.datasets import (CLASS_NAMES, DATASETS, SampleDataWarning, fit_zscore,
                                    load_dataset, load_fashion_mnist, load_mnist, load_or_sample,
                                    load_sample, normalize, parse_idx, read_idx, split_first_last,
                                    split_random, split_stratified)
from tinygrad_lite.datasets import sources
from tinygrad_lite.datasets.catalog import get_spec
from tinygrad_lite.datasets.sample import SAMPLE_DIR, read_sample, save_sample
from tinygrad_lite.errors import CorruptDataError, DataError

REPO = Path(__file__).resolve().parents[1]
LABEL_COUNTS = {   # from the shared data README (MNIST); Fashion-MNIST is balanced by design
    "mnist": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
              [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    "fashion-mnist": ([6000] * 10, [1000] * 10),
}
TORCHVISION_SKIP = ("torchvision is not importable here (its only build needs CUDA torch); "
                    "runs on the GPU machine")


# ---- fixtures (data_root comes from conftest.py) ------------------------------------------------

@pytest.fixture(scope="module")
def full(data_root):
    """Both full sets, decoded once for the whole module: {name: ((x_train, y_train), (x_test, y_test))}."""
    return {name: load_dataset(name, data_root, download=False) for name in DATASETS}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No data anywhere: no $TINYGRAD_LITE_DATA, an empty cache, no system folders, no mirrors."""
    monkeypatch.delenv("TINYGRAD_LITE_DATA", raising=False)
    monkeypatch.delenv("TINYGRAD_LITE_MIRRORS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in DATASETS:
        monkeypatch.setitem(sources.SYSTEM_DIRS, name, [])
        monkeypatch.setitem(sources.MIRRORS, name, [])
    return tmp_path


def _raw(data_root, name, file):
    """The uncompressed bytes of one shared file."""
    return gzip.decompress((data_root / name / f"{file}.gz").read_bytes())


def _copy_set(data_root, name, dest):
    """A folder ``dest`` holding the four gzipped files of ``name``; returns it."""
    dest.mkdir(parents=True, exist_ok=True)
    for file in get_spec(name).files.values():
        shutil.copy(data_root / name / f"{file.name}.gz", dest)
    return dest


# ---- the real files -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(DATASETS))
def test_shapes_and_dtypes(full, name):
    (x_train, y_train), (x_test, y_test) = full[name]
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert x_train.flags.writeable and x_train.flags.c_contiguous


@pytest.mark.parametrize("name", list(DATASETS))
def test_label_counts(full, name):
    (_, y_train), (_, y_test) = full[name]
    train_counts, test_counts = LABEL_COUNTS[name]
    assert np.bincount(y_train, minlength=10).tolist() == train_counts
    assert np.bincount(y_test, minlength=10).tolist() == test_counts


def test_mnist_mean_and_std(full):
    (x_train, _), _ = full["mnist"]
    mean, std = fit_zscore(x_train)
    assert (round(mean, 4), round(std, 4)) == (0.1307, 0.3081)


def test_fit_zscore_float_path_agrees_with_exact_count(full):
    (x_train, _), _ = full["mnist"]
    subset = x_train[:2000]
    np.testing.assert_allclose(fit_zscore(subset.astype(np.float64)), fit_zscore(subset),
                               rtol=1e-12)
    np.testing.assert_allclose(fit_zscore(subset)[0], subset.mean() / 255, rtol=1e-12)


def test_named_loader_and_aliases(data_root, full):
    (_, _), (_, y_test) = load_fashion_mnist(data_root / "fashion-mnist", download=False)
    np.testing.assert_array_equal(y_test, full["fashion-mnist"][1][1])
    assert get_spec("Fashion_MNIST") is get_spec("fashion") is DATASETS["fashion-mnist"]
    with pytest.raises(ValueError, match=r"name must be one of .*'cifar'"):
        load_dataset("cifar")


def test_raw_files_are_accepted(data_root, full, tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    for file in DATASETS["mnist"].files.values():
        (folder / file.name).write_bytes(_raw(data_root, "mnist", file.name))
    (_, _), (x_test, _) = load_mnist(folder, download=False)
    np.testing.assert_array_equal(x_test, full["mnist"][1][0])


def test_class_names():
    assert CLASS_NAMES["mnist"] == [str(d) for d in range(10)]
    assert len(CLASS_NAMES["fashion-mnist"]) == 10
    assert CLASS_NAMES["fashion-mnist"][0] == "T-shirt/top"
    assert CLASS_NAMES["fashion-mnist"][9] == "Ankle boot"


def test_torchvision_reads_the_same_arrays(data_root, full, tmp_path):
    try:
        import torchvision.datasets as tvd
    except Exception:      # installed but broken (CPU torch) counts as not importable
        pytest.skip(TORCHVISION_SKIP)
    for name, cls, folder in [("mnist", tvd.MNIST, "MNIST"),
                              ("fashion-mnist", tvd.FashionMNIST, "FashionMNIST")]:
        raw = tmp_path / folder / "raw"
        raw.mkdir(parents=True)
        for file in DATASETS[name].files.values():   # torchvision wants them uncompressed
            (raw / file.name).write_bytes(_raw(data_root, name, file.name))
        for train, (x, y) in [(True, full[name][0]), (False, full[name][1])]:
            ds = cls(str(tmp_path), train=train, download=False)
            assert ds.data.numpy().tobytes() == x.tobytes()
            assert ds.data.numpy().shape == x.shape
            assert ds.targets.numpy().astype(np.uint8).tobytes() == y.tobytes()


# ---- bad files ----------------------------------------------------------------------------------

def _idx_file(tmp_path, data, name="t10k-labels-idx1-ubyte", compress=False):
    path = tmp_path / (name + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_read_idx_gzip_and_raw_agree(data_root, tmp_path):
    raw = _raw(data_root, "mnist", "t10k-labels-idx1-ubyte")
    from_raw = read_idx(_idx_file(tmp_path, raw))
    from_gz = read_idx(data_root / "mnist" / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(from_raw, from_gz)
    assert from_raw.dtype == np.uint8 and from_raw.shape == (10000,)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_file_is_refused(data_root, tmp_path, compress):
    raw = _raw(data_root, "mnist", "t10k-labels-idx1-ubyte")
    path = _idx_file(tmp_path, raw[:-100], compress=compress)
    with pytest.raises(DataError, match=r"truncated.*expected 10008 bytes, got 9908") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream_is_refused(data_root, tmp_path):
    packed = (data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="gzip stream is truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_wrong_magic_is_refused(tmp_path):
    path = _idx_file(tmp_path, b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(DataError, match=r"not an IDX file: expected magic 0x000008NN, got 0x12340801"):
        read_idx(path)


def test_wrong_dtype_is_refused(tmp_path):
    path = _idx_file(tmp_path, b"\x00\x00\x0d\x01" + (2).to_bytes(4, "big") + bytes(8))
    with pytest.raises(DataError, match=r"expected code 0x08 \(uint8\), got 0x0d \(float32\)") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_trailing_bytes_are_refused(tmp_path):
    path = _idx_file(tmp_path, b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes(4))
    with pytest.raises(DataError, match="trailing bytes.*expected 11 bytes, got 12"):
        read_idx(path)


def test_a_flipped_byte_in_gzip_data_is_called_corrupt_never_trailing_bytes(tmp_path):
    """One bit flipped inside the deflate data of a labels file, at each of 400 places: always refused as
    corrupt gzip data (a checksum, a bad code, or inflating past what the header and gzip's trailer both
    record), never as "truncated" or "trailing bytes"; it used to be "trailing bytes" for ~1 flip in 12."""
    labels = b"\x00\x00\x08\x01" + (10000).to_bytes(4, "big") + np.random.default_rng(0).integers(
        0, 10, 10000, dtype=np.uint8).tobytes()
    packed = gzip.compress(labels, mtime=0)             # 10-byte header (no file name), 8-byte trailer
    rng = np.random.default_rng(1)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    for at in rng.integers(10, len(packed) - 8, 400):
        damaged = bytearray(packed)
        damaged[at] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(damaged))
        with pytest.raises(DataError) as info:
            read_idx(path)
        assert str(info.value).startswith(f"{path}: the gzip data is corrupt"), (at, str(info.value))


def test_a_data_folder_that_is_a_symlink_loop_is_one_error_never_the_sample(isolated, monkeypatch):
    """$TINYGRAD_LITE_DATA (or root=) naming a symbolic link loop: one line naming it, never Python's
    RuntimeError from pathlib, and never a reason to train on the bundled sample instead."""
    loop = isolated / "loop"
    loop.symlink_to(loop)
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(loop))
    for call in (lambda: load_mnist(download=False), lambda: load_or_sample("mnist", download=False)):
        with pytest.raises(CorruptDataError) as info:
            call()
        assert str(info.value).startswith(f"$TINYGRAD_LITE_DATA '{loop}' cannot be used as the data folder (")
        assert "\n" not in str(info.value) and "point it at the folder holding mnist/" in str(info.value)
    monkeypatch.delenv("TINYGRAD_LITE_DATA")
    with pytest.raises(CorruptDataError, match=rf"^root= '{loop}' cannot be used as the data folder"):
        load_mnist(loop)


def _gzip_bomb(path, head, inflated_bytes):
    """A gzip file of ``head`` followed by ``inflated_bytes`` zeros, written in 1 MiB pieces."""
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(packer.compress(head))
        for _ in range(inflated_bytes >> 20):
            f.write(packer.compress(zeros))
        f.write(packer.flush())
    return path


def _peak_traced_bytes(call):
    """The most memory Python allocated while ``call()`` ran (it must raise ``DataError``)."""
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as info:
            call()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("head", [b"", b"\x00\x00\x08\x01" + (10000).to_bytes(4, "big")],
                         ids=["only zeros", "labels header, then zeros"])
def test_a_gzip_bomb_in_the_data_folder_is_refused_before_it_inflates(isolated, monkeypatch, head):
    """A small .gz that inflates to 256 MiB, under a published file's name: decompression stops at
    the size the header (and the published file, 10,008 bytes) allows."""
    folder = isolated / "data" / "mnist"
    folder.mkdir(parents=True)
    bomb = _gzip_bomb(folder / "t10k-labels-idx1-ubyte.gz", head, 256 << 20)
    assert bomb.stat().st_size < 1 << 20
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(isolated / "data"))
    peak, message = _peak_traced_bytes(lambda: load_mnist(download=False))
    assert peak < 16 << 20, f"{peak} bytes allocated reading a bomb"
    assert f"{bomb}: " in message and "10008" in message


def test_a_header_declaring_more_than_the_published_file_is_refused_unread(isolated, monkeypatch):
    folder = isolated / "data" / "mnist"
    folder.mkdir(parents=True)
    huge = b"\x00\x00\x08\x03" + b"".join((60000 * 1000).to_bytes(4, "big") for _ in range(3))
    (folder / "train-images-idx3-ubyte").write_bytes(huge + bytes(100))
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(isolated / "data"))
    peak, message = _peak_traced_bytes(lambda: load_mnist(download=False))
    assert peak < 16 << 20
    assert "more than the 47040016 bytes of the published file; refused before reading it" in message


def test_a_header_declaring_terabytes_reads_only_what_is_there(tmp_path):
    """Without a published size (``read_idx`` on any file), memory follows the data, not the header."""
    path = _gzip_bomb(tmp_path / "x.gz", b"\x00\x00\x08\x02" + (2**32 - 1).to_bytes(4, "big") * 2,
                      8 << 20)
    peak, message = _peak_traced_bytes(lambda: read_idx(path))
    assert peak < 64 << 20
    assert "truncated" in message


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_parse_idx_round_trip(shape, seed):
    values = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    header = bytes([0, 0, 8, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    decoded = parse_idx(header + values.tobytes())
    assert decoded.shape == tuple(shape)
    np.testing.assert_array_equal(decoded, values)


def test_wrong_hash_is_refused_naming_the_file(data_root, isolated):
    folder = _copy_set(data_root, "mnist", isolated / "bad")
    raw = bytearray(_raw(data_root, "mnist", "t10k-labels-idx1-ubyte"))
    raw[-1] = (raw[-1] + 1) % 10                    # a plausible label, but not the right one
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError) as info:
        load_mnist(folder, download=False)
    message = str(info.value)
    assert f"{folder / 't10k-labels-idx1-ubyte.gz'}: SHA-256 mismatch" in message
    assert "expected ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in message
    assert hashlib.sha256(bytes(raw)).hexdigest() in message
    assert "train-images-idx3-ubyte:" not in message          # only the bad file is reported


def test_bad_copy_falls_through_to_a_good_one_with_a_warning(data_root, full, isolated,
                                                             monkeypatch):
    folder = _copy_set(data_root, "mnist", isolated / "bad")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01"))
    _copy_set(data_root, "mnist", isolated / "cache" / "tinygrad_lite" / "mnist")
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(folder))
    with pytest.warns(UserWarning, match=r"train-labels-idx1-ubyte: used .*refused"):
        (_, y_train), _ = load_mnist(download=False)
    np.testing.assert_array_equal(y_train, full["mnist"][0][1])


def test_a_corrupt_copy_is_an_error_naming_the_file_digests_and_a_good_source(data_root, isolated,
                                                                              monkeypatch):
    """One byte off in $TINYGRAD_LITE_DATA and no good copy elsewhere: a ``CorruptDataError`` whose
    first line (what the command prints) says which file, both digests and where to get it."""
    folder = _copy_set(data_root, "mnist", isolated / "data" / "mnist")
    raw = bytearray(_raw(data_root, "mnist", "t10k-labels-idx1-ubyte"))
    raw[-1] = (raw[-1] + 1) % 10
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(isolated / "data"))
    monkeypatch.setitem(sources.MIRRORS, "mnist", list(DATASETS["mnist"].mirrors))
    with pytest.raises(CorruptDataError) as info:
        load_mnist(download=False)
    first = str(info.value).splitlines()[0]
    assert first.startswith(f"{folder / 't10k-labels-idx1-ubyte.gz'}: SHA-256 mismatch")
    assert DATASETS["mnist"].files["test_labels"].sha256 in first
    assert hashlib.sha256(bytes(raw)).hexdigest() in first
    assert f"{DATASETS['mnist'].mirrors[0]}t10k-labels-idx1-ubyte.gz" in first
    with pytest.raises(CorruptDataError):        # the offline fallback does not hide it either
        load_or_sample("mnist", download=False)


def test_an_explicit_root_is_the_only_place_looked_at(data_root, isolated, monkeypatch):
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(data_root))     # a good copy that must not be used
    _copy_set(data_root, "mnist", isolated / "cache" / "tinygrad_lite" / "mnist")
    empty = isolated / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as info:
        load_mnist(empty)
    message = str(info.value)
    assert "root= argument" in message and str(empty) in message
    assert "$TINYGRAD_LITE_DATA:" not in message and "user cache:" not in message
    assert "not tried (root= is the only place looked at)" in message


def test_missing_everywhere_is_one_error_listing_every_place(isolated, monkeypatch):
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(isolated / "nowhere"))
    with pytest.raises(DataError) as info:
        load_fashion_mnist(download=False)
    assert not isinstance(info.value, CorruptDataError)        # missing, not corrupt
    message = str(info.value)
    for file in DATASETS["fashion-mnist"].files.values():
        assert f"  {file.name}:" in message
    assert "$TINYGRAD_LITE_DATA" in message and "user cache" in message
    assert str(isolated / "cache" / "tinygrad_lite" / "fashion-mnist") in message
    assert "disabled (download=False)" in message
    assert "To supply the files by hand" in message and "TINYGRAD_LITE_DATA=<folder>" in message


def test_system_folder_is_searched(data_root, full, isolated, monkeypatch):
    system = _copy_set(data_root, "fashion-mnist", isolated / "usr-share-datasets")
    monkeypatch.setitem(sources.SYSTEM_DIRS, "fashion-mnist", [str(system)])
    (_, y_train), _ = load_fashion_mnist(download=False)
    np.testing.assert_array_equal(y_train, full["fashion-mnist"][0][1])
    assert sources.SYSTEM_DIRS["mnist"] == []             # only Fashion-MNIST has a Debian package
    assert DATASETS["fashion-mnist"].system_dirs == ("/usr/share/datasets/fashion-mnist",)


# ---- splits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n_val, n_train", [(10_000, 50_000), (12_000, 48_000)])
def test_coursework_first_last_splits(full, n_val, n_train):
    (x, y), _ = full["mnist"]
    (x_tr, y_tr), (x_val, y_val) = split_first_last(x, y, n_val)
    assert len(x_tr) == len(y_tr) == n_train and len(x_val) == len(y_val) == n_val
    np.testing.assert_array_equal(x_tr, x[:n_train])
    np.testing.assert_array_equal(y_val, y[n_train:])


@st.composite
def labelled(draw):
    """(x, y) where x holds each row's own index, so a split's rows can be traced back."""
    n = draw(st.integers(2, 300))
    y = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), dtype=np.uint8)
    return np.arange(n), y


@settings(max_examples=60, deadline=None)
@given(data=labelled(), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 2**32 - 1),
       stratified=st.booleans())
def test_random_splits_partition_the_rows(data, fraction, seed, stratified):
    x, y = data
    n_val = round(len(x) * fraction)
    if not 0 < n_val < len(x):
        with pytest.raises(ValueError, match="val_fraction"):
            split_random(x, y, fraction, seed)
        return
    split = split_stratified if stratified else split_random
    (x_tr, y_tr), (x_val, y_val) = split(x, y, fraction, seed)
    assert len(x_val) == n_val
    assert np.intersect1d(x_tr, x_val).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([x_tr, x_val])), x)
    np.testing.assert_array_equal(y_tr, y[x_tr])               # labels stay with their rows
    assert np.all(np.diff(x_tr) > 0) and np.all(np.diff(x_val) > 0)   # original order kept
    again = split(x, y, fraction, seed)
    np.testing.assert_array_equal(again[1][0], x_val)          # same seed, same split
    if stratified:
        counts, val_counts = np.bincount(y, minlength=5), np.bincount(y_val, minlength=5)
        assert np.all(np.abs(val_counts - counts * n_val / len(y)) < 1)


def test_stratified_split_of_mnist_keeps_proportions(full):
    (x, y), _ = full["mnist"]
    (_, y_tr), (_, y_val) = split_stratified(x, y, 1 / 6, seed=0)
    assert len(y_val) == 10_000
    expected = np.bincount(y) * 10_000 / 60_000
    assert np.all(np.abs(np.bincount(y_val) - expected) < 1)


@pytest.mark.parametrize("call, match", [
    (lambda x, y: split_first_last(x, y, 0), r"n_val must be an int with 0 < n_val < len\(x\) = 10, got 0"),
    (lambda x, y: split_first_last(x, y, 10), "got 10"),
    (lambda x, y: split_random(x, y, 1.5, 0), "val_fraction must be a number with 0 < val_fraction < 1, got 1.5"),
    (lambda x, y: split_stratified(x, y[:-1], 0.2, 0), r"same length, got len\(x\)=10, len\(y\)=9"),
])
def test_split_argument_errors(call, match):
    x, y = np.arange(10), np.arange(10) % 2
    with pytest.raises(ValueError, match=match):
        call(x, y)


# ---- normalisation ------------------------------------------------------------------------------

def test_normalize_modes():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    unit = normalize(x, "unit")
    assert unit.dtype == np.float32
    np.testing.assert_allclose(unit, [[0, 0.2, 1]], rtol=1e-6)
    np.testing.assert_allclose(normalize(x, "symmetric"), [[-1, -0.6, 1]], rtol=1e-6)
    z = normalize(x, "zscore", mean=0.2, std=0.5, dtype=np.float64)
    assert z.dtype == np.float64
    np.testing.assert_allclose(z, [[-0.4, 0, 1.6]], rtol=1e-6)
    with pytest.raises(ValueError, match="needs mean= and std= from fit_zscore"):
        normalize(x, "zscore")
    with pytest.raises(ValueError, match=r"mode must be one of .*got 'minmax'"):
        normalize(x, "minmax")


def test_zscore_with_training_statistics(full):
    (x, y), _ = full["mnist"]
    (x_tr, _), (x_val, _) = split_first_last(x, y, 10_000)
    mean, std = fit_zscore(x_tr)                       # the training split only
    z = normalize(x_tr[:5000], "zscore", mean, std)
    assert z.dtype == np.float32
    assert abs(float(z.mean(dtype=np.float64)) - (x_tr[:5000].mean() / 255 - mean) / std) < 1e-4
    assert normalize(x_val, "zscore", mean, std).shape == x_val.shape


# ---- the bundled sample -------------------------------------------------------------------------

def test_sample_fits_the_budget():
    files = sorted(SAMPLE_DIR.glob("*.npz"))
    assert [f.name for f in files] == sorted(f"{name}.npz" for name in DATASETS)
    assert sum(f.stat().st_size for f in files) <= 3_000_000


@pytest.mark.parametrize("name", list(DATASETS))
def test_sample_is_a_stratified_subset_of_the_full_set(full, name):
    stored = read_sample(name)
    (x_train, y_train), (x_test, y_test) = full[name]
    for split, x, y in [("train", x_train, y_train), ("test", x_test, y_test)]:
        rows = stored[f"{split}_indices"]
        assert len(np.unique(rows)) == len(rows)
        np.testing.assert_array_equal(stored[f"x_{split}"], x[rows])   # byte for byte
        np.testing.assert_array_equal(stored[f"y_{split}"], y[rows])
        expected = np.bincount(y, minlength=10) * len(rows) / len(y)
        assert np.all(np.abs(np.bincount(stored[f"y_{split}"], minlength=10) - expected) < 1)


def test_sample_regenerates_from_the_full_set(full, tmp_path):
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "scripts" / "make_sample.py")
    make_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_sample)
    stored = read_sample("mnist")
    path = make_sample.make_sample("mnist", full["mnist"], len(stored["y_train"]),
                                   len(stored["y_test"]), int(stored["seed"]), tmp_path)
    with np.load(path, allow_pickle=False) as regenerated:
        assert sorted(regenerated.files) == sorted(stored)
        for key in stored:
            np.testing.assert_array_equal(regenerated[key], stored[key])
            assert regenerated[key].dtype == stored[key].dtype


def test_save_sample_is_reproducible(tmp_path):
    arrays = {"x": np.arange(1000, dtype=np.uint8).reshape(10, 100), "seed": np.int64(3)}
    save_sample(tmp_path / "a.npz", **arrays)
    save_sample(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as loaded:
        assert loaded["seed"].shape == () and int(loaded["seed"]) == 3


def _no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the network was used")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("name", list(DATASETS))
def test_sample_loads_offline(name, monkeypatch):
    _no_network(monkeypatch)
    (x_train, y_train), (x_test, y_test) = load_sample(name)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert x_train.shape[1:] == x_test.shape[1:] == (28, 28)
    assert len(x_train) == len(y_train) >= 1000 and len(x_test) == len(y_test) >= 100
    assert set(np.unique(y_train)) == set(range(10))


def test_load_or_sample_falls_back_with_a_warning(isolated, monkeypatch):
    _no_network(monkeypatch)
    with pytest.warns(SampleDataWarning, match="bundled SAMPLE") as record:
        data, used_sample = load_or_sample("mnist", download=False)
    assert used_sample is True
    assert "disabled (download=False)" in str(record[0].message)   # says why
    np.testing.assert_array_equal(data[0][1], load_sample("mnist")[0][1])


def test_load_or_sample_prefers_the_full_set(data_root):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SampleDataWarning)
        ((x_train, _), _), used_sample = load_or_sample("mnist", data_root, download=False)
    assert used_sample is False and len(x_train) == 60000
