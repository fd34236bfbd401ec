"""The elementwise math of ops/transcendental.py and ops/rounding.py against torch: forward, gradient
through a random cotangent (hypothesis-drawn inputs, float64 and float32), second derivatives where
smooth, and the integer / boolean operators (``// % & | ^ ~ << >>``, ``div``'s rounding modes) with
torch's dtypes."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_oracle import (arrays, broadcastable_shapes, check_double_backward, check_op, op_settings,
                          random_array, shapes, torch)

import tinygrad_lite as tl

# name -> (the lambda run in both frameworks, the value domain that keeps it smooth and defined)
SMOOTH = {
    "sin": (lambda x: x.sin(), "real"),
    "cos": (lambda x: x.cos(), "real"),
    "tan": (lambda x: x.tan(), "unit"),
    "sinh": (lambda x: x.sinh(), "real"),
    "cosh": (lambda x: x.cosh(), "real"),
    "asin": (lambda x: (x * 0.9).asin(), "unit"),          # the slope is infinite at +-1
    "acos": (lambda x: (x * 0.9).acos(), "unit"),
    "atan": (lambda x: x.atan(), "real"),
    "log2": (lambda x: x.log2(), "positive"),
    "log10": (lambda x: x.log10(), "positive"),
    "log1p": (lambda x: (x * 0.9).log1p(), "unit"),
    "exp2": (lambda x: x.exp2(), "real"),
    "rsqrt": (lambda x: x.rsqrt(), "positive"),
}

# the same through the functions, against torch's namesakes
FUNCTIONS = [(getattr(tl, name), getattr(torch, name), domain) for name, domain in
             [("sin", "real"), ("cos", "real"), ("tan", "unit"), ("sinh", "real"), ("cosh", "real"),
              ("asin", "unit"), ("acos", "unit"), ("atan", "real"), ("log2", "positive"),
              ("log10", "positive"), ("log1p", "positive"), ("exp2", "real"), ("rsqrt", "positive")]]

BINARY = {   # (fn, domain of a, domain of b)
    "logaddexp": (lambda a, b: a.logaddexp(b), "real", "real"),
    "lerp tensor weight": (lambda a, b: a.lerp(b, b.sigmoid()), "real", "real"),
    "lerp number weight": (lambda a, b: a.lerp(b, 0.3), "real", "real"),
    "remainder": (lambda a, b: a % b, "real", "nonzero"),
    "fmod": (lambda a, b: a.fmod(b), "real", "nonzero"),
}


@pytest.mark.parametrize("name", SMOOTH)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_smooth_unary_against_torch(name, dtype, device, data):
    fn, domain = SMOOTH[name]
    check_op([data.draw(arrays(data.draw(shapes()), domain))], fn, dtype=dtype, device=device)


@pytest.mark.parametrize("ours, theirs, domain", FUNCTIONS, ids=[f[0].__name__ for f in FUNCTIONS])
def test_function_forms_match_torch(ours, theirs, domain, device):
    check_op([(3, 4)], lambda x: ours(x * 0.9), lambda x: theirs(x * 0.9), domain=domain, device=device)


@pytest.mark.parametrize("name", SMOOTH)
def test_smooth_unary_second_derivative(name, device):
    fn, domain = SMOOTH[name]
    check_double_backward([random_array((3, 4), domain)], fn, device=device)


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_binary_broadcasting_against_torch(name, dtype, device, data):
    fn, domain_a, domain_b = BINARY[name]
    shape_a, shape_b = data.draw(broadcastable_shapes())
    check_op([data.draw(arrays(shape_a, domain_a)), data.draw(arrays(shape_b, domain_b))], fn,
             dtype=dtype, device=device)


@pytest.mark.parametrize("name", ["logaddexp", "lerp tensor weight", "lerp number weight"])
def test_binary_second_derivative(name, device):
    fn = BINARY[name][0]
    check_double_backward([random_array((3, 4)), random_array((4,), rng=np.random.default_rng(1))], fn,
                          device=device)


def test_binary_function_forms(device):
    check_op([(2, 3), (3,)], tl.logaddexp, torch.logaddexp, device=device)
    check_op([(2, 3), (3,), (2, 1)], tl.lerp, lambda a, b, w: torch.lerp(a, b, w), device=device)
    check_op([(2, 3), (3,)], tl.remainder, torch.remainder, device=device, domain="nonzero")
    check_op([(2, 3), (3,)], tl.fmod, torch.fmod, device=device, domain="nonzero")
    check_op([(2, 3)], lambda a: 2.5 % a, device=device, domain="nonzero", forward_only=True)  # torch: no gradient


def test_logaddexp_far_apart_and_infinite(device):
    """Nothing overflows, a tiny term is not lost (log1p), and equal infinities give torch's answer."""
    a = np.array([0.0, 1000.0, -1000.0, -np.inf, np.inf, -np.inf, 3.0])
    b = np.array([-50.0, 999.0, -1000.0, -np.inf, np.inf, 2.0, np.inf])
    check_op([a, b], tl.logaddexp, torch.logaddexp, device=device, forward_only=True, rtol=1e-15, atol=0)
    check_op([a[:3], b[:3]], tl.logaddexp, torch.logaddexp, device=device)


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round", "trunc"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_steps_against_torch_with_zero_gradient(name, dtype, device, data):
    """Values on a half-integer grid too, so floor/ceil at whole numbers and round's ties to even occur."""
    x = data.draw(arrays(data.draw(shapes()), "real"))
    if data.draw(st.booleans()):
        x = np.round(x * 2) / 2
    check_op([x], lambda t: getattr(t, name)(), dtype=dtype, device=device)


@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
def test_round_decimals(decimals, device):
    x = np.array([1.25, -2.35, 15.5, 0.125, 123.456, -0.5, 2.5])
    check_op([x], lambda t: t.round(decimals=decimals), device=device)
    check_op([x], lambda t: tl.round(t, decimals), lambda t: torch.round(t, decimals=decimals), device=device)


@op_settings
@given(data=st.data())
def test_float_floor_divide(device, data):
    """torch has no gradient for ``//``; ours is 0 (a step function), the forward is Python's ``//``."""
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a, b = data.draw(arrays(shape_a, "real")), data.draw(arrays(shape_b, "nonzero"))
    check_op([a, b], lambda x, y: x // y, device=device, forward_only=True)
    check_op([a], lambda x: x // 0.7, device=device, forward_only=True)
    check_op([b], lambda y: 1.5 // y, device=device, forward_only=True)
    x, y = tl.Tensor(a, requires_grad=True, device=device), tl.Tensor(b, requires_grad=True, device=device)
    (x // y).sum().backward()
    assert not x.grad.numpy().any() and not y.grad.numpy().any()
    assert tl.floor_divide(tl.Tensor(1.0), tl.Tensor(0.1)).item() == 1.0 // 0.1 == 9.0


INTEGER_DTYPES = ["int64", "int32", "int16", "uint8"]


@st.composite
def integer_pair(draw, dtype, nonzero_b=False):
    shape_a, shape_b = draw(broadcastable_shapes())
    low = 0 if dtype == "uint8" else -20
    a = draw(hnp.arrays(dtype, shape_a, elements=st.integers(low, 20)))
    b = draw(hnp.arrays(dtype, shape_b, elements=st.integers(1 if nonzero_b else low, 20)))
    if nonzero_b and dtype != "uint8":
        b = b * draw(hnp.arrays(dtype, shape_b, elements=st.sampled_from([-1, 1])))
    return a, b


INTEGER_OPS = {
    "//": (lambda a, b: a // b, True), "%": (lambda a, b: a % b, True),
    "fmod": (lambda a, b: a.fmod(b), True),
    "&": (lambda a, b: a & b, False), "|": (lambda a, b: a | b, False), "^": (lambda a, b: a ^ b, False),
    "div trunc": (lambda a, b: a.div(b, rounding_mode="trunc"), True),
    "div floor": (lambda a, b: a.div(b, rounding_mode="floor"), True),
}


@pytest.mark.parametrize("how", INTEGER_OPS)
@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@op_settings
@given(data=st.data())
def test_integer_operators_against_torch(how, dtype, device, data):
    fn, divides = INTEGER_OPS[how]
    a, b = data.draw(integer_pair(dtype, nonzero_b=divides))
    result = check_op([a, b], fn, device=device, forward_only=True)
    assert result.outputs[0].dtype == result.torch_outputs[0].dtype, (result.outputs[0].dtype, dtype)
    number = 3
    result = check_op([a], lambda t, number=number: fn(t, number), device=device, forward_only=True)
    assert result.outputs[0].dtype == result.torch_outputs[0].dtype == np.dtype(dtype)


@pytest.mark.parametrize("how", ["&", "|", "^"])
def test_bitwise_on_booleans_and_reflected(how, device):
    fn = INTEGER_OPS[how][0]
    a, b = np.array([[True, False, True, False]]), np.array([[True], [False]])
    check_op([a, b], fn, device=device, forward_only=True)
    check_op([a], lambda t: fn(True, t), device=device, forward_only=True)
    check_op([np.array([5, 6, -7])], lambda t: fn(12, t), device=device, forward_only=True)


def test_invert_and_function_forms(device):
    for x in (np.array([True, False]), np.array([0, 5, -7], dtype=np.int32), np.array([0, 200], dtype=np.uint8)):
        result = check_op([x], lambda t: ~t, device=device, forward_only=True)
        assert result.outputs[0].dtype == result.torch_outputs[0].dtype
    x = np.array([12, -7, 5])
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        check_op([x, np.array([6])], getattr(tl, name), getattr(torch, name), device=device, forward_only=True)
    check_op([x], tl.bitwise_not, torch.bitwise_not, device=device, forward_only=True)


@pytest.mark.parametrize("dtype", ["int32", "int8", "uint8", "int64"])
@pytest.mark.parametrize("constant", [0xFFFFFFFF, 300, -129, 2 ** 40 + 5])
@pytest.mark.parametrize("how", ["&", "|", "^"])
def test_bitwise_with_a_constant_wider_than_the_dtype_wraps_like_torch(dtype, constant, how):
    """int32 | 0xFFFFFFFF raised NumPy's OverflowError; torch wraps the constant into the dtype: -1."""
    x = np.array([1, -7, 100], dtype=dtype) if dtype != "uint8" else np.array([1, 7, 100], dtype=dtype)
    ours = eval(f"t {how} constant", {"t": tl.Tensor(x), "constant": constant})
    theirs = eval(f"t {how} constant", {"t": torch.from_numpy(x.copy()), "constant": constant})
    assert str(theirs.dtype) == f"torch.{ours.dtype}"
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_bitwise_on_floats_is_a_type_error():
    x = tl.Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="bitwise_and: operands must be integer or boolean tensors .* got float32"):
        x & 1
    with pytest.raises(TypeError, match="bitwise_or: .* got float"):
        tl.Tensor([1, 2]) | 1.5
    with pytest.raises(TypeError, match="bitwise_not: the tensor must be integer or boolean, got float32"):
        ~x  # noqa: B018  (the operator must raise)


@pytest.mark.parametrize("how", ["//", "%", "fmod"])
def test_integer_division_by_zero_is_an_error(how):
    with pytest.raises(ZeroDivisionError, match="integer division by zero"):
        INTEGER_OPS[how][0](tl.Tensor([4, 5]), tl.Tensor([2, 0]))
    with pytest.raises(ZeroDivisionError):
        INTEGER_OPS[how][0](tl.Tensor([4, 5]), 0)


def test_builtin_abs(device):
    check_op([(3, 4)], lambda x: abs(x), device=device, domain="nonzero")
    check_op([np.array([-3, 0, 4])], lambda x: abs(x), device=device, forward_only=True)


SPECIAL = np.array([0.0, -1.5, np.nan, np.inf, -np.inf, 1e308, -0.0])


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@op_settings
@given(data=st.data())
def test_value_tests_against_torch(name, device, data):
    x = data.draw(hnp.arrays(np.float64, data.draw(shapes()), elements=st.sampled_from(SPECIAL.tolist())))
    check_op([x], lambda t: getattr(t, name)(), device=device, forward_only=True)
    check_op([x], getattr(tl, name), getattr(torch, name), device=device, forward_only=True)
    check_op([np.array([1, -2])], lambda t: getattr(t, name)(), device=device, forward_only=True)


@pytest.mark.parametrize("equal_nan", [False, True])
@op_settings
@given(data=st.data(), rtol=st.sampled_from([1e-5, 1e-2, 0.0]), atol=st.sampled_from([1e-8, 0.1, 0.0]))
def test_isclose_against_torch(equal_nan, device, data, rtol, atol):
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a = data.draw(arrays(shape_a, "unit"))
    b = data.draw(arrays(shape_b, "unit"))
    b = np.where(data.draw(hnp.arrays(bool, shape_b)), b, 0.5 + data.draw(st.sampled_from([0.0, 1e-9, 1e-3, 0.05])))
    a = np.where(a > 0.8, np.nan, a)
    b = np.where(b < -0.8, np.nan, b)
    check_op([a, b], lambda x, y: x.isclose(y, rtol=rtol, atol=atol, equal_nan=equal_nan), device=device,
             forward_only=True)
    check_op([a, b], lambda x, y: tl.isclose(x, y, rtol, atol, equal_nan),
             lambda x, y: torch.isclose(x, y, rtol, atol, equal_nan), device=device, forward_only=True)


# ---- copysign, div's rounding modes, the shifts ----------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_copysign_against_torch(dtype, device, data):
    """|a| with b's sign bit (-0.0 negative): the gradient of a is ±gy (0 at a = 0), of b 0."""
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a, b = data.draw(arrays(shape_a, "nonzero")), data.draw(arrays(shape_b, "real"))
    if data.draw(st.booleans()):
        b = np.where(np.abs(b) < 1.0, np.copysign(0.0, b), b)         # signed zeros in b
    check_op([a, b], lambda x, y: x.copysign(y), dtype=dtype, device=device)
    check_op([a, b], tl.copysign, torch.copysign, dtype=dtype, device=device)


def test_copysign_second_derivative_zeros_and_integers(device):
    check_double_backward([random_array((3, 4), "nonzero"), random_array((4,), rng=np.random.default_rng(1))],
                          lambda a, b: a.copysign(b) ** 2, device=device)
    check_op([np.array([0.0, -0.0, 2.0, -3.0]), np.array([-1.0, 1.0, -0.0, np.inf])], tl.copysign, torch.copysign,
             device=device)
    result = check_op([np.array([1, -2, 3])], lambda t: t.copysign(-1), device=device, forward_only=True)
    assert result.outputs[0].dtype == result.torch_outputs[0].dtype == np.float32


@pytest.mark.parametrize("mode", ["trunc", "floor", None])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_div_rounding_modes_on_floats_against_torch(mode, dtype, device, data):
    """The rounded quotients have gradient 0 in both; true division (None) is ``/``."""
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a, b = data.draw(arrays(shape_a, "real")), data.draw(arrays(shape_b, "nonzero"))
    if data.draw(st.booleans()):
        a = np.round(a * 2) * np.round(b * 2) / 4      # exact multiples: the quotient is whole
    check_op([a, b], lambda x, y: x.div(y, rounding_mode=mode), dtype=dtype, device=device)
    check_op([a], lambda x: tl.div(x, 0.7, rounding_mode=mode), lambda x: torch.div(x, 0.7, rounding_mode=mode),
             dtype=dtype, device=device)


def test_div_rounding_mode_edges():
    for zero in (0.0, -0.0):     # float division by zero: inf, -inf, nan in every mode, as torch
        check_op([np.array([1.0, -1.0, 0.0])], lambda x, zero=zero: tl.divide(x, zero, rounding_mode="trunc"),
                 lambda x, zero=zero: torch.div(x, zero, rounding_mode="trunc"), forward_only=True)
    with pytest.raises(ZeroDivisionError, match="div: integer division by zero"):
        tl.Tensor([7, -7]).div(tl.Tensor([0, 1]), rounding_mode="trunc")
    with pytest.raises(NotImplementedError,
                       match=r"div: rounding_mode must be one of \(None, 'trunc', 'floor'\), got 'round'"):
        tl.Tensor([7]).div(2, rounding_mode="round")
    assert tl.div is tl.divide and tl.Tensor([7, -7]).div(2, rounding_mode="trunc").tolist() == [3, -3]


@pytest.mark.parametrize("how", ["<<", ">>"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "int8", "uint8"])
@op_settings
@given(data=st.data())
def test_shifts_against_torch(how, dtype, device, data):
    """Shift counts past the width (and negative ones) included: torch's 0, or -1 shifted right."""
    shape_a, shape_b = data.draw(broadcastable_shapes())
    low = 0 if dtype == "uint8" else -100
    a = data.draw(hnp.arrays(dtype, shape_a, elements=st.integers(low, 100)))
    b = data.draw(hnp.arrays(dtype, shape_b, elements=st.integers(0 if dtype == "uint8" else -2, 70)))
    fn = {"<<": lambda x, y: x << y, ">>": lambda x, y: x >> y}[how]
    result = check_op([a, b], fn, device=device, forward_only=True)
    assert result.outputs[0].dtype == result.torch_outputs[0].dtype == np.dtype(dtype)
    for number in (1, 3, 40):
        check_op([a], lambda t, number=number: fn(t, number), device=device, forward_only=True)
    check_op([np.abs(b) % 8], lambda t: fn(2, t), device=device, forward_only=True)


def test_shift_functions_and_refusals():
    x = np.array([1, -8, 100], np.int32)
    check_op([x, np.array([2])], tl.bitwise_left_shift, torch.bitwise_left_shift, forward_only=True)
    check_op([x, np.array([2])], tl.bitwise_right_shift, torch.bitwise_right_shift, forward_only=True)
    with pytest.raises(TypeError, match="bitwise_left_shift: operands must be integer tensors .* got float32"):
        tl.Tensor([1.0]) << 1
