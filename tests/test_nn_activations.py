"""The activations added for a deep-learning course (silu ... softmin) against torch: forward, the
gradient through a random cotangent (float64 and float32), second derivatives where smooth, the
Modules' reprs, the far tails, and bad arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.torch_oracle import arrays, check_double_backward, check_op, op_settings, random_array, shapes

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional

# name, ours, torch's, the inputs' kinks (values drawn are moved at least 0.05 away from each),
# and whether the second derivative exists (smooth)
ACTIVATIONS = [
    ("silu", F.silu, TF.silu, (), True),
    ("swish", F.swish, TF.silu, (), True),
    ("elu", F.elu, TF.elu, (), False),
    ("elu_alpha", lambda x: F.elu(x, 0.4), lambda x: TF.elu(x, 0.4), (0.0,), False),
    ("selu", F.selu, TF.selu, (0.0,), False),
    ("celu", F.celu, TF.celu, (), False),
    ("celu_alpha", lambda x: F.celu(x, 2.5), lambda x: TF.celu(x, 2.5), (), False),
    ("softplus", F.softplus, TF.softplus, (), True),
    ("softplus_beta", lambda x: F.softplus(x, beta=2.0, threshold=3.0),
     lambda x: TF.softplus(x, beta=2.0, threshold=3.0), (1.5,), False),
    ("softplus_negative_beta", lambda x: F.softplus(x, beta=-0.5), lambda x: TF.softplus(x, beta=-0.5), (), True),
    ("hardtanh", F.hardtanh, TF.hardtanh, (-1.0, 1.0), False),
    ("hardtanh_bounds", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0), (-0.5, 2.0), False),
    ("relu6", F.relu6, TF.relu6, (0.0, 6.0), False),
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid, (-3.0, 3.0), False),
    ("hardswish", F.hardswish, TF.hardswish, (-3.0, 3.0), False),
    ("mish", F.mish, TF.mish, (), True),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid, (), True),
    ("softsign", F.softsign, TF.softsign, (0.0,), False),
    ("softmin", lambda x: F.softmin(x, axis=-1), lambda x: TF.softmin(x, dim=-1), (), True),
    ("softmin_dim0", lambda x: F.softmin(x, dim=0), lambda x: TF.softmin(x, dim=0), (), True),
]
IDS = [a[0] for a in ACTIVATIONS]
# torch has no double backward for these two; the same function written with relu6 has one
TORCH_TWICE_DIFFERENTIABLE = {"hardsigmoid": lambda x: TF.relu6(x + 3.0) / 6.0,
                              "hardswish": lambda x: x * TF.relu6(x + 3.0) / 6.0}


def away_from(x, kinks):
    """``x`` with every value closer than 0.05 to a kink moved 0.1 to its right."""
    for k in kinks:
        x = np.where(np.abs(x - k) < 0.05, x + 0.1, x)
    return x


@pytest.mark.parametrize("name, fn, torch_fn, kinks, smooth", ACTIVATIONS, ids=IDS)
@op_settings
@given(data=st.data())
def test_activation_matches_torch(name, fn, torch_fn, kinks, smooth, data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    x = away_from(data.draw(arrays(shape, "real")) * 2.5, kinks)     # [-7.5, 7.5]: past relu6's 6
    check_op([x], fn, torch_fn=torch_fn)


@pytest.mark.parametrize("name, fn, torch_fn, kinks, smooth", ACTIVATIONS, ids=IDS)
def test_activation_float32_matches_torch(name, fn, torch_fn, kinks, smooth):
    x = away_from(random_array((5, 6)) * 2.5, kinks)
    result = check_op([x], fn, torch_fn=torch_fn, dtype="float32")
    assert result.outputs[0].dtype == np.float32 and result.grads["input 0"].dtype == np.float32


@pytest.mark.parametrize("name, fn, torch_fn, kinks, smooth", ACTIVATIONS, ids=IDS)
def test_activation_second_derivative_matches_torch(name, fn, torch_fn, kinks, smooth):
    """Smooth ones everywhere; the others away from their kinks (and from 0, where ELU's curvature
    jumps), where the second derivative exists on both sides."""
    x = random_array((4, 5)) * 2.5
    if not smooth:
        x = away_from(away_from(x, kinks), (0.0,))
    check_double_backward([x], fn, TORCH_TWICE_DIFFERENTIABLE.get(name, torch_fn))


def test_tails_match_torch():
    """Far from 0: no overflow in the branch not taken, log-sigmoid and softplus keep their tiny values."""
    x = np.array([-800.0, -100.0, -40.0, -20.5, -1e-8, 0.0, 1e-8, 19.5, 20.5, 40.0, 100.0, 800.0])
    for fn, torch_fn in [(F.softplus, TF.softplus), (F.logsigmoid, TF.logsigmoid), (F.elu, TF.elu),
                         (F.selu, TF.selu), (F.celu, TF.celu), (F.mish, TF.mish), (F.silu, TF.silu),
                         (F.softsign, TF.softsign)]:
        result = check_op([x], fn, torch_fn=torch_fn, rtol=1e-12, atol=1e-16)   # e^x - 1 beside expm1
        assert np.isfinite(result.outputs[0]).all() and np.isfinite(result.grads["input 0"]).all()
    for fn, torch_fn in [(F.softplus, TF.softplus), (lambda t: F.logsigmoid(-t), lambda t: TF.logsigmoid(-t))]:
        check_op([x], fn, torch_fn=torch_fn, rtol=1e-12, atol=1e-300)      # e^-100 stays 3.7e-44


def test_elu_slope_at_zero_is_alpha_as_torch():
    check_op([np.array([0.0, 0.0])], lambda x: F.elu(x, 0.3), torch_fn=lambda x: TF.elu(x, 0.3))
    check_op([np.array([0.0])], F.celu, torch_fn=TF.celu)


# torch's clamps keep an integer dtype (hardtanh, relu6): not floating ops, left out here
FLOATING_ACTIVATIONS = [a for a in ACTIVATIONS if not a[0].startswith(("hardtanh", "relu6"))] + [
    ("gelu", F.gelu, TF.gelu, (), True),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), (), True),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu, (), False),
    ("sigmoid", F.sigmoid, torch.sigmoid, (), True), ("tanh", F.tanh, torch.tanh, (), True),
    ("dropout", lambda x: F.dropout(x, 0.5, mask=np.array([1, 0, 1, 1, 0, 1])),
     lambda x: x * torch.tensor([2.0, 0.0, 2.0, 2.0, 0.0, 2.0]), (), False),
]


@pytest.mark.parametrize("default", ["float32", "float64"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("name, fn, torch_fn, kinks, smooth", FLOATING_ACTIVATIONS,
                         ids=[a[0] for a in FLOATING_ACTIVATIONS])
def test_activations_of_integers_compute_in_the_default_float_dtype(name, fn, torch_fn, kinks, smooth, dtype,
                                                                       default):
    """gelu, softplus, mish, logsigmoid, leaky_relu and dropout gave float64 on integers (NumPy's
    promotion) and a TypeError on bools; torch refuses most of these, so the answer is torch's on the
    input cast to the default float dtype, as every floating op here does (tinygrad_lite/ops/dtypes.py)."""
    values = np.array([0, 1, 1, 0, 1, 0] if dtype == "bool" else [0, 1, 2, 3, 5, 7], dtype=dtype)
    previous = tl.get_default_dtype()
    try:
        tl.set_default_dtype(default)
        got = fn(tl.Tensor(values))
    finally:
        tl.set_default_dtype(previous)
    want = torch_fn(torch.from_numpy(values.astype(default)))
    assert got.dtype == np.dtype(default), f"{name}({dtype}) is {got.dtype}, not the default {default}"
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=4 * np.finfo(default).eps, atol=0)


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8", "uint8"])
@pytest.mark.parametrize("name, fn, torch_fn", [
    ("relu6", F.relu6, TF.relu6), ("hardtanh", F.hardtanh, TF.hardtanh),
    ("hardtanh(-0.5, 2.5)", lambda x: F.hardtanh(x, -0.5, 2.5), lambda x: TF.hardtanh(x, -0.5, 2.5)),
    ("hardtanh(-2, 3.9)", lambda x: F.hardtanh(x, -2, 3.9), lambda x: TF.hardtanh(x, -2, 3.9))])
def test_clamping_activations_keep_an_integer_dtype_as_torch(name, fn, torch_fn, dtype):
    """relu6 and hardtanh are clamps: torch keeps the integer dtype, truncates the bounds toward 0,
    and refuses an unsigned tensor with a negative bound (a RuntimeError: ours is one too)."""
    values = np.array([-7, -2, -1, 0, 1, 2, 3, 6, 9], dtype=dtype) if dtype != "uint8" else \
        np.array([0, 1, 2, 3, 6, 9, 200], dtype=dtype)
    try:
        want = torch_fn(torch.from_numpy(values))
    except RuntimeError:
        with pytest.raises(RuntimeError, match="unsigned .* negative limits"):
            fn(tl.Tensor(values))
        return
    got = fn(tl.Tensor(values))
    assert got.dtype == values.dtype and want.numpy().dtype == values.dtype, name
    np.testing.assert_array_equal(got.numpy(), want.numpy())


MODULES = [(nn.SiLU(), torch.nn.SiLU()), (nn.ELU(), torch.nn.ELU()), (nn.ELU(0.5), torch.nn.ELU(0.5)),
           (nn.SELU(), torch.nn.SELU()), (nn.CELU(), torch.nn.CELU()), (nn.CELU(1.5), torch.nn.CELU(1.5)),
           (nn.Softplus(), torch.nn.Softplus()), (nn.Softplus(2, 1), torch.nn.Softplus(2, 1)),
           (nn.Hardtanh(), torch.nn.Hardtanh()), (nn.Hardtanh(-2.0, 0.5), torch.nn.Hardtanh(-2.0, 0.5)),
           (nn.ReLU6(), torch.nn.ReLU6()), (nn.Hardsigmoid(), torch.nn.Hardsigmoid()),
           (nn.Hardswish(), torch.nn.Hardswish()), (nn.Mish(), torch.nn.Mish()),
           (nn.LogSigmoid(), torch.nn.LogSigmoid()), (nn.Softsign(), torch.nn.Softsign()),
           (nn.Softmin(dim=1), torch.nn.Softmin(dim=1))]


@pytest.mark.parametrize("module, torch_module", MODULES, ids=lambda m: repr(m))
def test_modules_match_torch_and_print_like_torch(module, torch_module):
    x = away_from(random_array((3, 4, 2)) * 2.5, (-3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 3.0, 6.0))
    check_op([x], module, torch_fn=torch_module)
    assert repr(module) == repr(torch_module)


def test_bad_arguments_name_the_argument():
    x = tl.Tensor(random_array((3,)))
    with pytest.raises(TypeError, match="elu: alpha must be a number"):
        F.elu(x, "1")
    with pytest.raises(ValueError, match="celu: alpha must be nonzero"):
        F.celu(x, 0.0)
    with pytest.raises(ValueError, match="softplus: beta must be nonzero"):
        F.softplus(x, beta=0)
    with pytest.raises(TypeError, match="softplus: threshold must be a number"):
        F.softplus(x, threshold=None)
    with pytest.raises(ValueError, match="hardtanh: min_val must not exceed max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(TypeError, match="Softmin: give the axis"):
        nn.Softmin()
