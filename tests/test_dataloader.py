"""DataLoader, Dataset, TensorDataset: coverage of every row once per epoch, seeded order, drop_last, len,
errors, NaN check; torch's names at the top level and in tl.utils.data; general datasets, collation.

Most tests use a synthetic set whose rows hold their own index, so each batch can be traced back.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_lite import backend
from tinygrad_lite.dataloader import DataLoader, Dataset, TensorDataset, default_collate
from tinygrad_lite.datasets import load_sample, normalize
from tinygrad_lite.errors import DataError, DeviceError
from tinygrad_lite.core import Tensor


def traced(n, features=3):
    """x whose row i is filled with i (float32), and y = i."""
    return np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1), np.arange(n)


def epoch_rows(loader):
    """The y values of one full pass, batch by batch (a list of NumPy arrays)."""
    return [yb.data.copy() for _, yb in loader]


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 200), batch_size=st.integers(1, 64), shuffle=st.booleans(),
       drop_last=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_every_row_exactly_once_per_epoch(n, batch_size, shuffle, drop_last, seed):
    if drop_last and batch_size > n:
        with pytest.raises(ValueError, match="batch_size must be at most the number of samples"):
            DataLoader(TensorDataset(*traced(n)), batch_size, drop_last=True)
        return
    x, y = traced(n)
    loader = DataLoader(TensorDataset(x, y), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    for epoch in range(2):
        batches = [(xb.data, yb.data) for xb, yb in loader]
        assert len(batches) == len(loader) == (n // batch_size if drop_last
                                                else math.ceil(n / batch_size))
        assert all(len(yb) == batch_size for _, yb in batches[:-1])
        seen = np.concatenate([yb for _, yb in batches])
        assert len(np.unique(seen)) == len(seen)               # no row twice
        assert len(seen) == (n - n % batch_size if drop_last else n)
        np.testing.assert_array_equal(seen, loader.epoch_order(epoch)[: len(seen)])
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb)        # x and y stay paired
        if not shuffle:
            np.testing.assert_array_equal(seen, np.arange(len(seen)))
        assert loader.epoch == epoch + 1


def test_batches_are_tensors_on_the_device_with_the_dtype():
    x = np.arange(10 * 4, dtype=np.uint8).reshape(10, 4)
    loader = DataLoader(TensorDataset(x, np.arange(10)), 4, dtype="float32")
    xb, yb = next(iter(loader))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.data.dtype == np.float32 and yb.data.dtype == np.arange(1).dtype
    assert backend.device_of(xb.data) == "cpu" and not xb.requires_grad
    assert [len(yb.data) for _, yb in loader] == [4, 4, 2]


def test_same_seed_same_order_and_epochs_differ():
    a = DataLoader(TensorDataset(*traced(100)), 10, shuffle=True, seed=7)
    b = DataLoader(TensorDataset(*traced(100)), 10, shuffle=True, seed=7)
    first_a, first_b = epoch_rows(a), epoch_rows(b)
    np.testing.assert_array_equal(np.concatenate(first_a), np.concatenate(first_b))
    assert not np.array_equal(np.concatenate(epoch_rows(a)), np.concatenate(first_a))
    np.testing.assert_array_equal(a.epoch_order(3), np.random.default_rng(7 + 3).permutation(100))
    c = DataLoader(TensorDataset(*traced(100)), 10, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate(epoch_rows(c)), np.concatenate(first_a))


def test_unseeded_shuffle_draws_a_seed_and_keeps_it():
    loader = DataLoader(TensorDataset(*traced(50)), 8, shuffle=True)
    assert isinstance(loader.seed, int)
    replay = DataLoader(TensorDataset(*traced(50)), 8, shuffle=True, seed=loader.seed)
    np.testing.assert_array_equal(np.concatenate(epoch_rows(loader)),
                                  np.concatenate(epoch_rows(replay)))


def test_epoch_advances_only_after_a_full_pass_and_set_epoch_resumes():
    loader = DataLoader(TensorDataset(*traced(30)), 4, shuffle=True, seed=1)
    for _ in loader:
        break
    assert loader.epoch == 0                                    # an interrupted pass
    for _ in range(3):
        list(loader)
    assert loader.epoch == 3
    fourth = epoch_rows(loader)
    resumed = DataLoader(TensorDataset(*traced(30)), 4, shuffle=True, seed=1)
    resumed.set_epoch(3)
    np.testing.assert_array_equal(np.concatenate(epoch_rows(resumed)), np.concatenate(fourth))
    with pytest.raises(ValueError, match="epoch must be an int >= 0, got -1"):
        resumed.set_epoch(-1)


def test_the_torch_reference_replays_the_same_batches():
    x, y = traced(103)
    loader = DataLoader(TensorDataset(x, y), 16, shuffle=True, seed=42)
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    for epoch in range(2):
        ours = [(xb.data, yb.data) for xb, yb in loader]
        reference = torch.utils.data.DataLoader(dataset, batch_size=16,
                                                sampler=loader.epoch_order(epoch).tolist())
        theirs = [(xb.numpy(), yb.numpy()) for xb, yb in reference]
        assert len(ours) == len(theirs)
        for (ox, oy), (tx, ty) in zip(ours, theirs):
            np.testing.assert_array_equal(ox, tx)
            np.testing.assert_array_equal(oy, ty)


@pytest.mark.parametrize("arrays, batch_size, kwargs, match", [
    ((np.zeros((0, 3)), np.zeros(0)), 4, {}, r"at least one sample, got an empty data set \(len\(dataset\)=0\)"),
    ((np.zeros((5, 3)), np.zeros(5)), 0, {}, "batch_size must be an int >= 1, got 0"),
    ((np.zeros((5, 3)), np.zeros(5)), -2, {}, "batch_size must be an int >= 1, got -2"),
    ((np.zeros((5, 3)), np.zeros(5)), 2.0, {}, "batch_size must be an int >= 1, got 2.0"),
    ((np.zeros((5, 3)), np.zeros(5)), 2, {"shuffle": True, "seed": -1}, "seed must be an int >= 0, got -1"),
    ((np.zeros((5, 3)), np.zeros(5)), 6, {"drop_last": True}, r"at most the number of samples \(5\).*got 6"),
])
def test_argument_errors_name_the_argument(arrays, batch_size, kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataLoader(TensorDataset(*arrays), batch_size, **kwargs)
    with pytest.raises(ValueError, match=r"the same number of samples \(their first dimension\), got lengths \[5, 4\]"):
        TensorDataset(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one tensor"):
        TensorDataset()
    with pytest.raises(TypeError, match=r"takes one dataset: DataLoader\(TensorDataset\(x, y\), batch_size=...\)"):
        DataLoader(np.zeros((5, 3)), np.zeros(5), 2)
    with pytest.raises(TypeError, match="dataset must have __getitem__ and __len__"):
        DataLoader(iter(range(5)), 2)


def test_unknown_device_is_refused():
    with pytest.raises(DeviceError, match=r"device must be one of \('cpu', 'cuda'\), got 'tpu'"):
        DataLoader(TensorDataset(*traced(5)), 2, device="tpu")


def test_nan_in_a_batch_is_refused_naming_the_batch():
    x, y = traced(20)
    x[13, 1] = np.nan
    loader = DataLoader(TensorDataset(x, y), 4)                                 # row 13 is in the 4th batch
    with pytest.raises(DataError, match=r"batch 4 of 5 in epoch 1 \(both counted from 1\) holds NaN or Inf "
                                        r"values \(data rows \[13\]\)"):
        list(loader)
    assert len(list(DataLoader(TensorDataset(x, y), 4, check_finite=False))) == 5
    targets = y.astype(np.float64)
    targets[2] = np.inf                                          # targets are checked too
    with pytest.raises(DataError, match="batch 1 of 5 in epoch 1 "):
        list(DataLoader(TensorDataset(traced(20)[0], targets), 4))


def test_integer_data_needs_no_finiteness_check():
    loader = DataLoader(TensorDataset(np.zeros((6, 2), dtype=np.uint8), np.zeros(6, dtype=np.uint8)), 4)
    assert loader._bad_rows.size == 0 and len(list(loader)) == 2


def test_the_bundled_sample_through_a_loader():
    (x_train, y_train), _ = load_sample("mnist")
    loader = DataLoader(TensorDataset(normalize(x_train, "unit").reshape(len(x_train), -1), y_train), 128,
                        shuffle=True, seed=0)
    assert len(loader) == math.ceil(len(x_train) / 128)
    xb, yb = next(iter(loader))
    assert xb.shape == (128, 784) and xb.data.dtype == np.float32 and yb.data.dtype == np.uint8


def test_cuda_batches_match_the_cpu_ones(cuda_device):
    x, y = traced(77)
    cpu = DataLoader(TensorDataset(x, y), 10, shuffle=True, seed=3)
    gpu = DataLoader(TensorDataset(x, y), 10, shuffle=True, seed=3, device="cuda")
    assert backend.device_of(gpu.arrays[0]) == "cuda"                    # moved once, at construction
    for (cx, cy), (gx, gy) in zip(cpu, gpu):
        assert backend.device_of(gx.data) == "cuda"
        np.testing.assert_array_equal(cx.data, backend.as_numpy(gx.data))
        np.testing.assert_array_equal(cy.data, backend.as_numpy(gy.data))


# ---- torch's names: Dataset, TensorDataset, DataLoader, at the top level and in tl.utils.data --------

def test_torchs_names_are_exported_at_the_top_level_and_under_utils_data():
    import tinygrad_lite as tl
    for name in ("DataLoader", "Dataset", "TensorDataset"):
        assert getattr(tl, name) is getattr(tl.utils.data, name) is globals()[name]
        assert hasattr(torch.utils.data, name)
    assert tl.utils.data.default_collate is default_collate


def test_a_tensor_dataset_indexes_like_torchs():
    x, y = traced(7)
    ours, theirs = TensorDataset(x, y), torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == len(theirs) == 7 and all(isinstance(t, Tensor) for t in ours.tensors)
    for index in (3, -1, slice(1, 4)):
        for mine, reference in zip(ours[index], theirs[index]):
            np.testing.assert_array_equal(mine.numpy(), reference.numpy())


class Squares(Dataset):
    """A general dataset: sample i is (an image of i's, the number i, a dict)."""

    def __len__(self):
        return 11

    def __getitem__(self, i):
        return np.full((2, 2), i, np.float32), i, {"half": i / 2}


def test_a_general_dataset_is_collated_like_torchs():
    loader = DataLoader(Squares(), batch_size=4, shuffle=True, seed=5)
    reference = torch.utils.data.DataLoader(Squares(), batch_size=4, sampler=loader.epoch_order(0).tolist())
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    for (images, numbers, extra), (t_images, t_numbers, t_extra) in zip(batches, reference):
        assert images.shape == tuple(t_images.shape) and images.dtype == np.float32
        np.testing.assert_array_equal(images.numpy(), t_images.numpy())
        assert numbers.dtype == np.int64 and str(t_numbers.dtype) == "torch.int64"
        np.testing.assert_array_equal(numbers.numpy(), t_numbers.numpy())
        assert extra["half"].dtype == np.float64 and t_extra["half"].dtype == torch.float64
        np.testing.assert_array_equal(extra["half"].numpy(), t_extra["half"].numpy())


def test_a_general_dataset_takes_collate_fn_dtype_and_the_finite_check():
    loader = DataLoader(Squares(), batch_size=5, dtype="float64", collate_fn=lambda s: default_collate(s)[:2])
    images, numbers = next(iter(loader))
    assert images.dtype == np.float64 and numbers.dtype == np.int64

    class Broken(Squares):
        def __getitem__(self, i):
            image, number, _ = super().__getitem__(i)
            return (image * np.nan if i == 7 else image), number
    with pytest.raises(DataError, match=r"batch 2 of 3 in epoch 1 \(both counted from 1\) holds NaN or Inf "
                                        r"values \(samples \[5, 6, 7, 8, 9\]\)"):
        list(DataLoader(Broken(), batch_size=5))
    assert len(list(DataLoader(Broken(), batch_size=5, check_finite=False))) == 3
    with pytest.raises(TypeError, match="cannot put samples of type object into a batch"):
        default_collate([object(), object()])


def test_a_training_loop_written_for_torch_runs_unchanged():
    import nn
    import tinygrad_lite as tl
    x, y = traced(32)
    loader = tl.utils.data.DataLoader(tl.utils.data.TensorDataset(tl.Tensor(x / 32), tl.Tensor(y % 3)),
                                      batch_size=8, shuffle=True, seed=0)
    model, criterion = nn.Linear(3, 3), nn.CrossEntropyLoss()
    optimizer = nn.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
    assert loader.epoch == 1 and np.isfinite(loss.item())
