"""Initialisers: fans and gains equal torch's; the drawn values have the intended bounds, mean and std."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import tinygrad_lite as tl
from nn import init

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")


@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=5).map(tuple))
def test_fans_equal_torchs(shape):
    want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init.calculate_fan_in_and_fan_out(tl.zeros(shape)) == want


def test_fans_need_two_axes():
    with pytest.raises(ValueError, match=r"at least 2 axes, got shape \(5,\)"):
        init.calculate_fan_in_and_fan_out(tl.zeros(5))


@pytest.mark.parametrize("nonlinearity, param", [("linear", None), ("sigmoid", None), ("tanh", None),
                                                 ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
                                                 ("leaky_relu", math.sqrt(5)), ("conv2d", None)])
def test_gains_equal_torchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(
        torch.nn.init.calculate_gain(nonlinearity, param), rel=1e-15)


def _check_uniform(values, bound):
    """Inside [-bound, bound], reaching near both ends, mean 0 and std bound/sqrt(3) within sampling error."""
    n = values.size
    assert np.abs(values).max() <= bound
    assert values.max() > 0.99 * bound and values.min() < -0.99 * bound
    assert abs(values.mean()) < 5 * bound / math.sqrt(3 * n)
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)


def _check_normal(values, std):
    n = values.size
    assert abs(values.mean()) < 5 * std / math.sqrt(n)
    assert values.std() == pytest.approx(std, rel=0.03)


SHAPES = [(300, 200), (64, 16, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_xavier_uniform_bound(shape):
    w = tl.zeros(shape)
    init.xavier_uniform_(w)
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(w)
    _check_uniform(w.numpy(), math.sqrt(6 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape", SHAPES)
def test_xavier_normal_std(shape):
    w = tl.zeros(shape)
    init.xavier_normal_(w)
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(w)
    _check_normal(w.numpy(), math.sqrt(2 / (fan_in + fan_out)))


@pytest.mark.parametrize("shape", SHAPES)
def test_kaiming_uniform_and_normal(shape):
    w = tl.zeros(shape)
    fan_in, _ = init.calculate_fan_in_and_fan_out(w)
    init.kaiming_uniform_(w)
    _check_uniform(w.numpy(), math.sqrt(6 / fan_in))
    init.kaiming_normal_(w, nonlinearity="relu")
    _check_normal(w.numpy(), math.sqrt(2 / fan_in))


def test_uniform_normal_zeros_ones():
    w = tl.zeros(200, 300, dtype="float64")
    init.uniform_(w, -0.2, 0.6)
    assert w.numpy().min() >= -0.2 and w.numpy().max() < 0.6
    assert w.numpy().mean() == pytest.approx(0.2, abs=5 * 0.8 / math.sqrt(12 * w.numel()))
    init.normal_(w, 1.0, 0.5)
    _check_normal(w.numpy() - 1.0, 0.5)
    init.zeros_(w)
    assert not w.numpy().any()
    init.ones_(w)
    assert (w.numpy() == 1).all()
    with pytest.raises(ValueError, match="low must not exceed high"):
        init.uniform_(w, 1.0, 0.0)


def test_initialisers_write_in_place_keeping_dtype():
    layer = nn.Dense(30, 20)
    array = layer.weight.data
    init.xavier_uniform_(layer.weight)
    assert layer.weight.data is array and array.dtype == np.float32


def test_dense_default_init_has_torchs_distribution():
    """torch's Linear: weight and bias U(-1/sqrt(in), 1/sqrt(in)). Same bounds, same spread here."""
    n_in, n_out = 400, 300
    ours = nn.Dense(n_in, n_out)
    torch.manual_seed(0)
    theirs = torch.nn.Linear(n_in, n_out)
    bound = 1 / math.sqrt(n_in)
    for values in (ours.weight.numpy(), theirs.weight.detach().numpy()):
        _check_uniform(values, bound)
    ours_bias, theirs_bias = ours.bias.numpy(), theirs.bias.detach().numpy()
    assert np.abs(ours_bias).max() <= bound and np.abs(theirs_bias).max() <= bound
    assert ours_bias.std() == pytest.approx(bound / math.sqrt(3), rel=0.2)


def test_torch_default_on_a_conv_shaped_layer():
    class ConvLike(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(np.zeros((64, 16, 3, 3)))
            self.bias = nn.Parameter(np.zeros(64))
    layer = init.torch_default_(ConvLike())
    torch.manual_seed(0)
    theirs = torch.nn.Conv2d(16, 64, 3)
    bound = 1 / math.sqrt(16 * 9)
    _check_uniform(layer.weight.numpy(), bound)
    _check_uniform(theirs.weight.detach().numpy(), bound)
    assert np.abs(layer.bias.numpy()).max() <= bound and layer.bias.numpy().any()


@pytest.mark.parametrize("name", sorted(init.INITIALISERS))
def test_apply_by_name_initialises_every_dense_layer(name):
    model = nn.Sequential(nn.Dense(100, 80), nn.ReLU(), nn.Dense(80, 60))
    for p in model.parameters():
        p.data[...] = 7.0
    init.apply(model, name)
    for layer in (model[0], model[2]):
        w, b = layer.weight.numpy(), layer.bias.numpy()
        assert (w != 7.0).all() and w.std() > 0
        if name == "torch_default":
            assert np.abs(b).max() <= 1 / math.sqrt(layer.in_features) and b.any()
        else:
            assert not b.any()
    if name in ("glorot_uniform", "xavier_uniform"):
        _check_uniform(model[0].weight.numpy(), math.sqrt(6 / 180))


def test_dense_takes_an_initialiser_by_name_or_callable():
    layer = nn.Dense(50, 40, init="he_uniform")
    assert np.abs(layer.weight.numpy()).max() <= math.sqrt(6 / 50) and not layer.bias.numpy().any()
    layer = nn.Dense(5, 4, init=lambda m: init.ones_(m.weight))
    assert (layer.weight.numpy() == 1).all()
    with pytest.raises(ValueError, match="unknown initialiser 'glorot'"):
        nn.Dense(5, 4, init="glorot")


def test_the_seed_fixes_the_model():
    tl.manual_seed(3)
    a = nn.Dense(6, 5).state_dict()
    tl.manual_seed(3)
    b = nn.Dense(6, 5).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
