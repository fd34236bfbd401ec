"""The factories of issue 24 against torch: eye, linspace, empty and the *_like forms value for value
(shape, dtype, device); the random ones by what torch fixes (shape, dtype) and by their statistics
(their numbers come from this package's seeded generator, not torch's), seeded like rand and randn."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import op_settings, torch

import tinygrad_lite as tl

TORCH_DTYPE = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64,
               np.dtype("int64"): torch.int64, np.dtype("int32"): torch.int32, np.dtype("bool"): torch.bool}


def assert_same(ours, theirs, device, rtol=0.0, atol=0.0):
    assert ours.device == device
    assert TORCH_DTYPE[ours.dtype] == theirs.dtype, (ours.dtype, theirs.dtype)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=rtol, atol=atol)


@op_settings
@given(n=st.integers(0, 5), m=st.none() | st.integers(0, 5), dtype=st.sampled_from([None, "float64", "int32"]))
def test_eye(device, n, m, dtype):
    ours = tl.eye(n, m, dtype=dtype, device=device)
    theirs = torch.eye(n, n if m is None else m, dtype=None if dtype is None else TORCH_DTYPE[np.dtype(dtype)])
    assert_same(ours, theirs, device)


@op_settings
@given(start=st.floats(-100, 100), end=st.floats(-100, 100), steps=st.integers(0, 50),
       dtype=st.sampled_from(["float32", "float64"]))
def test_linspace(device, start, end, steps, dtype):
    ours = tl.linspace(start, end, steps, dtype=dtype, device=device)
    theirs = torch.linspace(start, end, steps, dtype=TORCH_DTYPE[np.dtype(dtype)])
    tolerance = 1e-12 if dtype == "float64" else 1e-5
    assert_same(ours, theirs, device, rtol=tolerance, atol=tolerance * max(abs(start), abs(end), 1))
    if steps:
        assert ours.numpy()[0] == np.asarray(start, dtype)
    if steps > 1:
        assert ours.numpy()[-1] == np.asarray(end, dtype)


def test_linspace_of_one_step_is_the_start():
    assert tl.linspace(2.0, 5.0, 1).tolist() == torch.linspace(2.0, 5.0, 1).tolist() == [2.0]


def test_empty_has_torchs_shape_and_dtype(device):
    assert_same(tl.empty(2, 3, device=device) * 0, torch.empty(2, 3) * 0, device)
    assert tl.empty((4,), dtype="float64", device=device).dtype == np.float64
    assert tl.empty(2, requires_grad=True).requires_grad


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
def test_like_factories(dtype, device):
    source = tl.Tensor(np.ones((2, 3)), dtype=dtype, device=device)
    reference = torch.ones((2, 3), dtype=TORCH_DTYPE[np.dtype(dtype)])
    assert_same(tl.zeros_like(source), torch.zeros_like(reference), device)
    assert_same(tl.ones_like(source), torch.ones_like(reference), device)
    assert_same(tl.full_like(source, 1), torch.full_like(reference, 1), device)
    assert_same(tl.zeros_like(source, dtype="float64"), torch.zeros_like(reference, dtype=torch.float64), device)
    assert_same(tl.full_like(tl.zeros(3), 2.5), torch.full_like(torch.zeros(3), 2.5), "cpu")
    if dtype.startswith("float"):
        for ours, theirs in ((tl.rand_like, torch.rand_like), (tl.randn_like, torch.randn_like)):
            drawn = ours(source, requires_grad=True)
            assert drawn.requires_grad and drawn.shape == (2, 3) and drawn.device == device
            assert TORCH_DTYPE[drawn.dtype] == theirs(reference).dtype
    else:
        with pytest.raises(TypeError, match="rand: dtype must be a floating type"):
            tl.rand_like(source)


def test_random_factories_have_torchs_dtypes_and_shapes(device):
    cases = [(tl.randint(10, (3, 4), device=device), torch.randint(10, (3, 4))),
             (tl.randint(-5, 5, (2,), device=device), torch.randint(-5, 5, (2,))),
             (tl.randperm(7, device=device), torch.randperm(7)),
             (tl.normal(0.0, 1.0, (2, 5), device=device), torch.normal(0.0, 1.0, (2, 5))),
             (tl.normal(tl.zeros(3, device=device), tl.ones(3, device=device)),
              torch.normal(torch.zeros(3), torch.ones(3))),
             (tl.uniform(-1.0, 1.0, (4,), device=device), torch.empty(4).uniform_(-1.0, 1.0))]
    for ours, theirs in cases:
        assert ours.shape == tuple(theirs.shape) and TORCH_DTYPE[ours.dtype] == theirs.dtype and ours.device == device


N = 200_000     # the sample mean of N draws is within 5 standard errors of the truth


def test_random_factories_have_the_right_statistics():
    x = tl.normal(2.0, 3.0, (N,)).numpy().astype(np.float64)
    assert abs(x.mean() - 2.0) < 5 * 3.0 / N ** 0.5 and abs(x.std() - 3.0) < 0.05
    u = tl.uniform(-2.0, 6.0, (N,)).numpy().astype(np.float64)
    assert u.min() >= -2.0 and u.max() < 6.0 and abs(u.mean() - 2.0) < 5 * 8 / 12 ** 0.5 / N ** 0.5
    r = tl.randint(-3, 4, (N,)).numpy()
    counts = np.bincount(r + 3, minlength=7)
    assert r.min() == -3 and r.max() == 3 and np.all(np.abs(counts / N - 1 / 7) < 5 * (1 / 7 * 6 / 7 / N) ** 0.5)
    p = tl.randperm(1000).numpy()
    assert sorted(p.tolist()) == list(range(1000)) and not (p == np.arange(1000)).all()
    assert tl.randperm(0).shape == (0,)
    means = tl.normal(tl.Tensor([0.0, 100.0]), tl.Tensor([1.0, 0.0])).numpy()
    assert means[1] == 100.0 and abs(means[0]) < 6


def test_seeded_like_rand_and_randn(device):
    """One seed, the same numbers: normal and uniform are randn and rand shifted and scaled, and every
    factory repeats itself after manual_seed, on every device."""
    tl.manual_seed(3)
    z = tl.randn(5, dtype="float64").numpy()
    tl.manual_seed(3)
    np.testing.assert_allclose(tl.normal(1.0, 2.0, (5,), dtype="float64").numpy(), 1.0 + 2.0 * z, rtol=1e-15)
    tl.manual_seed(3)
    u = tl.rand(5, dtype="float64").numpy()
    tl.manual_seed(3)
    np.testing.assert_allclose(tl.uniform(-1.0, 3.0, (5,), dtype="float64").numpy(), -1.0 + 4.0 * u, rtol=1e-15)
    for make in (lambda: tl.randint(100, (6,), device=device), lambda: tl.randperm(6, device=device),
                 lambda: tl.normal(0.0, 1.0, (6,), device=device), lambda: tl.uniform(size=(6,), device=device),
                 lambda: tl.rand_like(tl.zeros(6, device=device)), lambda: tl.randn_like(tl.zeros(6, device=device))):
        tl.manual_seed(11)
        first = make().numpy()
        tl.manual_seed(11)
        np.testing.assert_array_equal(make().numpy(), first)
    tl.manual_seed(11)
    on_cpu = tl.normal(0.0, 1.0, (6,)).numpy()
    tl.manual_seed(11)
    np.testing.assert_array_equal(tl.normal(0.0, 1.0, (6,), device=device).numpy(), on_cpu)


@pytest.mark.parametrize("value", [4, -3, True, False, 4.0, 2.5])
@pytest.mark.parametrize("dtype", [None, "float64", "int32"])
def test_full_infers_its_dtype_from_the_fill_like_torch(value, dtype):
    """full(shape, 4) was float32; torch: int64 from an int, bool from a bool, the default float
    dtype from a float, and ``dtype=`` over all of them."""
    ours = tl.full((2, 3), value, dtype=dtype)
    theirs = torch.full((2, 3), value, dtype=None if dtype is None else getattr(torch, dtype))
    assert TORCH_DTYPE[ours.dtype] == theirs.dtype
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("low, high, dtype", [(0, 300, "uint8"), (-5, 5, "uint8"), (0, 3, "bool"), (-1, 1, "bool"),
                                              (0, 2 ** 20, "float16"), (-129, 0, "int8"), (0, 2 ** 31 + 1, "int32")])
def test_randint_refuses_a_range_its_dtype_cannot_hold_like_torch(low, high, dtype):
    """randint(0, 300, dtype=uint8) gave [140, 60, 60] (wrapped) and (-5, 5) [0, 255, 0]; torch refuses."""
    with pytest.raises(RuntimeError, match="out of bounds"):
        torch.randint(low, high, (3,), dtype=getattr(torch, dtype))
    with pytest.raises(ValueError, match=rf"randint: \[low, high\) = \[{low}, {high}\) does not fit dtype {dtype}"):
        tl.randint(low, high, (3,), dtype=dtype)


@pytest.mark.parametrize("low, high, dtype", [(0, 256, "uint8"), (-128, 128, "int8"), (0, 2, "bool"),
                                              (-2048, 2049, "float16"), (0, 10, "float32")])
def test_randint_fills_the_whole_range_a_dtype_holds(low, high, dtype):
    tl.manual_seed(0)
    got = tl.randint(low, high, (4000,), dtype=dtype).numpy()
    assert got.dtype == np.dtype(dtype) and got.min() == low and got.max() == high - 1
    torch.randint(low, high, (3,), dtype=getattr(torch, dtype))        # torch takes it too


def test_linspace_refuses_bool_like_torch():
    with pytest.raises(NotImplementedError):
        torch.linspace(0, 1, 5, dtype=torch.bool)
    with pytest.raises(NotImplementedError, match="linspace: dtype bool is not supported"):
        tl.linspace(0, 1, 5, dtype=bool)


@pytest.mark.parametrize("call, error, message", [
    (lambda: tl.randint(5, 5, (2,)), ValueError, r"randint: high must be larger than low, got low=5, high=5"),
    (lambda: tl.randint(5), TypeError, r"randint: size is required"),
    (lambda: tl.randint(1.5, (2,)), TypeError, r"randint: high must be an int, got 1.5"),
    (lambda: tl.normal(0.0, -1.0, (2,)), ValueError, r"normal: std must be >= 0, got -1.0"),
    (lambda: tl.uniform(1.0, 0.0, (2,)), ValueError, r"uniform: high must be >= low"),
    (lambda: tl.randperm(-1), ValueError, r"randperm: n must be a non-negative int, got -1"),
    (lambda: tl.eye(-2), ValueError, r"eye: n must be a non-negative int, got -2"),
    (lambda: tl.linspace(0, 1, 2.5), ValueError, r"linspace: steps must be a non-negative int, got 2.5"),
    (lambda: tl.empty(2, -1), ValueError, r"empty: shape must be non-negative ints"),
])
def test_bad_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
