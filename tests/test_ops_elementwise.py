"""Elementwise ops against torch (forward and backward, hypothesis-drawn inputs) and finite differences."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from torch_oracle import (arrays, arrays_for, broadcastable_shapes, check_gradcheck, check_op, op_settings,
                          random_array, shapes, torch)

import tinygrad_lite as tl

# name -> (the lambda run in both frameworks, the value domain that keeps it away from kinks)
UNARY = {
    "neg": (lambda x: -x, "real"),
    "exp": (lambda x: x.exp(), "real"),
    "log": (lambda x: x.log(), "positive"),
    "sqrt": (lambda x: x.sqrt(), "positive"),
    "abs": (lambda x: x.abs(), "nonzero"),
    "tanh": (lambda x: x.tanh(), "real"),
    "sigmoid": (lambda x: x.sigmoid(), "real"),
    "relu": (lambda x: x.relu(), "nonzero"),
    "pow 2": (lambda x: x ** 2, "real"),
    "pow 3": (lambda x: x ** 3, "real"),
    "pow 0": (lambda x: x ** 0, "real"),
    "pow 1": (lambda x: x ** 1, "real"),
    "pow -1": (lambda x: x ** -1, "nonzero"),
    "pow 0.5": (lambda x: x ** 0.5, "positive"),
    "pow -2.5": (lambda x: x ** -2.5, "positive"),
    "scalar base": (lambda x: 2.0 ** x, "real"),
    "clip both": (lambda x: x.clip(min=-0.55, max=0.45) * 1.0, "unit"),
    "clip min": (lambda x: x.clip(min=-0.55), "unit"),
    "clip max": (lambda x: x.clip(max=0.45), "unit"),
    "add scalar": (lambda x: x + 2.5, "real"),
    "radd scalar": (lambda x: 2.5 + x, "real"),
    "rsub scalar": (lambda x: 1.5 - x, "real"),
    "rmul scalar": (lambda x: 3 * x, "real"),
    "div scalar": (lambda x: x / 4, "real"),
    "rdiv scalar": (lambda x: 2.0 / x, "nonzero"),
}

BINARY = {
    "add": (lambda a, b: a + b, "real", "real"),
    "sub": (lambda a, b: a - b, "real", "real"),
    "mul": (lambda a, b: a * b, "real", "real"),
    "div": (lambda a, b: a / b, "real", "nonzero"),
    "pow": (lambda a, b: a ** b, "positive", "real"),
    "maximum": (lambda a, b: a.maximum(b), "real", "real"),
    "minimum": (lambda a, b: a.minimum(b), "real", "real"),
}

# the same ops through the module-level functions (torch's namesakes), one pair each
FUNCTIONS = [
    (tl.exp, torch.exp, "real"), (tl.log, torch.log, "positive"), (tl.sqrt, torch.sqrt, "positive"),
    (tl.abs, torch.abs, "nonzero"), (tl.tanh, torch.tanh, "real"), (tl.sigmoid, torch.sigmoid, "real"),
    (tl.relu, torch.relu, "nonzero"), (tl.neg, torch.neg, "real"),
]


@pytest.mark.parametrize("name", UNARY)
@op_settings
@given(data=st.data())
def test_unary_against_torch(name, device, data):
    fn, domain = UNARY[name]
    check_op([data.draw(arrays_for(shapes(), domain))], fn, device=device)


@pytest.mark.parametrize("name", BINARY)
@op_settings
@given(data=st.data())
def test_binary_broadcasting_against_torch(name, device, data):
    fn, domain_a, domain_b = BINARY[name]
    shape_a, shape_b = data.draw(broadcastable_shapes())
    check_op([data.draw(arrays(shape_a, domain_a)), data.draw(arrays(shape_b, domain_b))], fn, device=device)


@pytest.mark.parametrize("ours, theirs, domain", FUNCTIONS, ids=lambda f: getattr(f, "__name__", None))
def test_function_forms_match_torch(ours, theirs, domain, device):
    check_op([(3, 4)], ours, theirs, domain=domain, device=device)


@pytest.mark.parametrize("ours, theirs", [(tl.add, torch.add), (tl.sub, torch.sub), (tl.mul, torch.mul),
                                          (tl.div, torch.div), (tl.maximum, torch.maximum),
                                          (tl.minimum, torch.minimum)], ids=lambda f: f.__name__)
def test_binary_function_forms_match_torch(ours, theirs, device):
    check_op([(2, 1, 4), (3, 1)], ours, theirs, domain="nonzero", device=device)


def test_pow_function_with_scalar_and_tensor_exponent(device):
    check_op([(5,)], lambda x: tl.pow(x, 3), lambda x: torch.pow(x, 3), device=device)
    check_op([(2, 3), (3,)], tl.pow, torch.pow, domain="positive", device=device)


@op_settings
@given(data=st.data())
def test_where_against_torch(device, data):
    shape_c, shape_a, shape_b = data.draw(broadcastable_shapes(num_shapes=3))
    cond = data.draw(arrays(shape_c)) > 0
    check_op([data.draw(arrays(shape_a)), data.draw(arrays(shape_b))],
             lambda a, b, cond: tl.where(cond, a, b), lambda a, b, cond: torch.where(cond, a, b),
             extra={"cond": cond}, device=device)


def test_where_with_a_scalar_branch(device):
    cond = random_array((3, 4)) > 0
    check_op([(3, 4)], lambda a, cond: tl.where(cond, a, 0.0), lambda a, cond: torch.where(cond, a, 0.0),
             extra={"cond": cond}, device=device)
    check_op([(3, 4)], lambda a, cond: tl.where(cond, 1.5, a), lambda a, cond: torch.where(cond, 1.5, a),
             extra={"cond": cond}, device=device)


@pytest.mark.parametrize("how", ["<", "<=", ">", ">=", "==", "!="])
def test_comparisons_forward(how, device):
    fn = eval(f"lambda a, b: a {how} b")  # a fixed operator from the list above
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    check_op([a, np.array([2.0, 2.0, 2.0])], fn, device=device, forward_only=True)
    check_op([a], lambda x: fn(x, 2.0), device=device, forward_only=True)


COMPARISONS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
               ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@op_settings
@given(data=st.data(), how=st.sampled_from(sorted(COMPARISONS)))
def test_comparisons_broadcast_like_torch(device, data, how):
    """Coarse values, so equality happens; the result is a bool tensor that torch agrees with."""
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a, b = (np.round(data.draw(arrays(s, "unit")) * 2) for s in (shape_a, shape_b))
    check_op([a, b], COMPARISONS[how], device=device, forward_only=True)


# ---- conversions (convert.py): casts and device moves are differentiable ------------------------------

@op_settings
@given(data=st.data(), to_float32=st.booleans())
def test_astype_against_torch(device, data, to_float32):
    x = data.draw(arrays(data.draw(shapes())))
    if to_float32:
        check_op([x], lambda t: t.astype("float32") * 3, lambda t: t.to(torch.float32) * 3, device=device)
        check_op([x], lambda t: t.float(), device=device)
    else:
        check_op([x], lambda t: t.double() * t, dtype="float32", device=device)


def test_to_device_round_trip_against_torch(device):
    check_op([(2, 3)], lambda x: (x * 2).to("cpu") * x.to("cpu"), device=device)
    check_op([(2, 3)], lambda x: tl.to_device(x * 2, "cpu"), lambda x: (x * 2).to("cpu"), device=device)


def test_float32_stays_float32(device):
    check_op([(3, 4), (4,)], lambda a, b: (a * b).exp() / (b.abs() + 1), dtype="float32", device=device)


# ---- finite differences ------------------------------------------------------------------------------

GRADCHECKS = {name: (fn, [random_array((3, 4), domain)]) for name, (fn, domain) in UNARY.items()}
GRADCHECKS.update({name: (fn, [random_array((3, 1), da, np.random.default_rng(1)),
                               random_array((4,), db, np.random.default_rng(2))])
                   for name, (fn, da, db) in BINARY.items()})
GRADCHECKS["astype"] = (lambda x: tl.astype(x * x, "float64"), [random_array((3, 4))])   # float32 is too coarse
GRADCHECKS["to_device"] = (lambda x: tl.to_device(x * x, "cpu"), [random_array((3, 4))])
GRADCHECKS["where"] = (lambda a, b: tl.where(random_array((3, 4)) > 0, a, b),
                       [random_array((3, 4)), random_array((4,), rng=np.random.default_rng(3))])


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    fn, inputs = GRADCHECKS[name]
    report = check_gradcheck(fn, *inputs)
    assert report.ok and len(report.inputs) == len(inputs)


# ---- edges (each against torch): base 0, NaN in maximum/minimum, casts and conditions -----------------

@op_settings
@given(exponent=st.floats(-3, 3), zeros=st.integers(1, 3), scalar_base=st.booleans())
@example(exponent=5e-324, zeros=3, scalar_base=False)   # gy * b underflowed to 0 before meeting 0^(b-1) = inf
def test_pow_at_base_0_follows_torchs_limits(exponent, zeros, scalar_base):
    """0 ** b: the exponent's gradient is 0 for b >= 0 (not 0 * log 0 = NaN), the base's is 0 at b = 0;
    with a tensor base, a scalar base, and x ** x."""
    b = np.array([exponent, 0.0, 2.0, -1.5, 0.3])
    if scalar_base:
        check_op([b], lambda b: 0.0 ** b)
    else:
        base = np.array([0.0] * zeros + [0.5] * (5 - zeros))
        check_op([base, b], lambda a, b: a ** b)
    check_op([np.array([0.0, 0.0, 1.5])], lambda x: x ** x)


def test_pow_at_base_0_is_the_issues_repro():
    b = tl.Tensor([0.0, 1.0, 2.0], requires_grad=True)
    (0.0 ** b).sum().backward()
    assert b.grad.numpy().tolist() == [0.0, 0.0, 0.0]
    a, b = tl.Tensor([0.0], requires_grad=True), tl.Tensor([0.0], requires_grad=True)
    (a ** b).sum().backward()
    assert a.grad.numpy().tolist() == b.grad.numpy().tolist() == [0.0]


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_send_the_gradient_to_a_nan_like_torch(name):
    """Where either side is NaN the output is NaN and neither side loses: both get the gradient."""
    a = np.array([1.0, np.nan, np.nan, 3.0, 2.0])
    b = np.array([2.0, 0.0, np.nan, 3.0, np.nan])
    check_op([a, b], lambda a, b: getattr(a, name)(b))


@op_settings
@given(data=st.data(), dtype=st.sampled_from(["int8", "int32", "int64", "uint8", "bool"]))
def test_astype_to_an_integer_type_is_not_differentiable_like_torch(data, dtype):
    x = np.round(data.draw(arrays(data.draw(shapes()))) * 10, 1)     # in int8's range; no 1e-300 (bool)
    ours = tl.Tensor(x, requires_grad=True).astype(dtype)
    theirs = torch.tensor(x, requires_grad=True).to(getattr(torch, dtype))
    assert not ours.requires_grad and not theirs.requires_grad and ours.grad_fn is None
    assert ours.dtype == np.dtype(dtype)
    if dtype != "uint8":                           # a negative float to uint8 is undefined in C
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("dtype", ["object", "complex64", "<U3", "datetime64[s]"])
def test_astype_refuses_what_the_constructor_refuses(dtype):
    with pytest.raises(TypeError, match=r"astype: the dtype must be bool, an integer or a floating type, got"):
        tl.Tensor([1.5], requires_grad=True).astype(dtype)


@pytest.mark.parametrize("operand", [np.complex128(1j), 1j, "2", [1j, 2]])
def test_a_complex_or_string_operand_is_a_type_error(operand):
    """It used to be made real with a ComplexWarning (t * 1j gave zeros)."""
    with pytest.raises(TypeError, match="Tensor: data must"):
        tl.Tensor([1.0, 2.0]) * operand


@pytest.mark.parametrize("condition", [0.5, [True, False], "yes", np.array([1.0, 0.0]), np.array([1, 0])])
def test_where_refuses_a_condition_that_is_not_bool(condition):
    """torch refuses a non-tensor or non-bool condition; NumPy's truthiness would pick silently."""
    with pytest.raises(TypeError, match="where: condition must be a bool Tensor or array"):
        tl.where(condition, tl.Tensor([1.0, 3.0]), tl.Tensor([2.0, 4.0]))
    with pytest.raises((TypeError, RuntimeError)):
        torch.where(torch.from_numpy(condition) if isinstance(condition, np.ndarray) else condition,
                    torch.tensor([1.0, 3.0]), torch.tensor([2.0, 4.0]))


def test_comparing_with_none_is_false_like_torch():
    t = tl.Tensor([1.0, 2.0])
    assert (t == None) is (torch.tensor([1.0, 2.0]) == None) is False      # noqa: E711  (the point)
    assert (t != None) is (torch.tensor([1.0, 2.0]) != None) is True       # noqa: E711  (the point)
    assert t is not None and None not in [t]


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32"])
@pytest.mark.parametrize("number", [1, -1, 100, 300, -300])
def test_an_integer_tensor_and_a_python_int_keep_the_tensors_dtype_like_torch(dtype, number):
    """uint8 - 1 was int64 -1; torch (and NumPy 2, in range) keep uint8 and wrap around."""
    values = np.array([0, 5, 100], dtype=dtype)
    for op in (lambda t: t - number, lambda t: number - t, lambda t: t + number, lambda t: t * number):
        ours, theirs = op(tl.Tensor(values)), op(torch.from_numpy(values.copy()))
        assert ours.dtype == np.dtype(dtype) and str(theirs.dtype) == f"torch.{dtype}"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---- torch's dtype rules where NumPy's differ (ops/dtypes.py) ---------------------------------------

OPERANDS = {        # name -> (array, how it is passed: a tensor with axes, a 0-d tensor or a plain number)
    "int64": (np.array([3, -2, 5]), "tensor"), "int8": (np.array([3, -2, 5], np.int8), "tensor"),
    "uint8": (np.array([3, 2, 5], np.uint8), "tensor"), "bool": (np.array([True, False, True]), "tensor"),
    "float32": (np.array([0.5, -1.5, 2.0], np.float32), "tensor"),
    "float16": (np.array([0.5, -1.5, 2.0], np.float16), "tensor"),
    "float64": (np.array([0.5, -1.5, 2.0]), "tensor"), "0-d float64": (np.array(2.5), "tensor"),
    "0-d int64": (np.array(4), "tensor"), "0-d float32": (np.array(2.5, np.float32), "tensor"),
    "0.5": (0.5, "number"), "3": (3, "number"), "True": (True, "number"),
}
BINARY_OPS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "sub": lambda a, b: a - b,
              "div": lambda a, b: a / b,
              "maximum": lambda a, b: (tl if isinstance(a, tl.Tensor) else torch).maximum(a, b)}


def _both(name):
    value, _ = OPERANDS[name]
    if isinstance(value, np.ndarray):
        return tl.Tensor(value), torch.from_numpy(value.copy())
    return value, value


@pytest.mark.parametrize("op", sorted(BINARY_OPS))
@pytest.mark.parametrize("left", ["int64", "int8", "uint8", "bool", "float32", "float16", "float64"])
@pytest.mark.parametrize("right", sorted(OPERANDS))
def test_binary_ops_give_torchs_result_dtype(op, left, right):
    """int64 + float32 is float32, int * 0.5 the default float dtype, float32 + a 0-d float64 tensor
    float32, int / int the default float dtype: torch's promotion, where NumPy's differs."""
    (a, ta), (b, tb) = _both(left), _both(right)
    if op == "maximum" and not isinstance(b, tl.Tensor):
        return                                      # torch.maximum takes tensors only
    if op == "sub" and "bool" in (left, right) or (op == "sub" and right == "True"):
        return                                      # bool subtraction: refused by both
    want = BINARY_OPS[op](ta, tb)
    got = BINARY_OPS[op](a, b) if isinstance(a, tl.Tensor) else None
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch.")), \
        f"{left} {op} {right}: {got.dtype}, torch {want.dtype}"
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.numpy().astype(np.float64), rtol=1e-3)


def test_the_default_float_dtype_is_what_integers_become():
    """With float64 as the default, integers meeting a float (or a floating op) become float64."""
    previous = tl.get_default_dtype()
    try:
        tl.set_default_dtype("float64")
        i = tl.Tensor([1, 2, 3])
        assert {(i / i).dtype, (i * 0.5).dtype, i.exp().dtype, (0.7 ** i).dtype} == {np.dtype("float64")}
    finally:
        tl.set_default_dtype(previous)


FLOATING_UNARY = ["exp", "log", "sqrt", "sin", "cos", "tan", "sinh", "cosh", "asin", "acos", "atan", "tanh", "sigmoid",
                  "log2", "log10", "log1p", "exp2", "rsqrt", "logsumexp"]


@pytest.mark.parametrize("name", FLOATING_UNARY)
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_floating_ops_of_integers_give_the_default_float_dtype(name, dtype):
    """exp(int) was float64 (NumPy's rule); torch gives its default float dtype, float32."""
    values = np.array([0, 1, 1, 0] if dtype == "bool" else [0, 1, 2, 5], dtype=dtype)
    args = (0,) if name == "logsumexp" else ()
    want = getattr(torch.from_numpy(values.copy()), name)(*args)
    got = getattr(tl.Tensor(values), name)(*args)
    assert got.dtype == np.float32 and want.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("expression", ["i ** 0.5", "0.7 ** i", "2 ** i", "i ** 2", "i.clip(0.5, 2)", "i // 1.5",
                                        "i % 1.5", "tl_or_torch.where(i > 2, i, 0.5)", "i / 2", "i * True"])
def test_powers_clips_and_where_of_integers_follow_torch(expression):
    values = np.array([1, 2, 3, 4])
    results = []
    for module in (tl, torch):
        i = tl.Tensor(values) if module is tl else torch.from_numpy(values.copy())
        results.append(eval(expression, {"i": i, "tl_or_torch": module}))
    got, want = results
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch.")), \
        f"{expression}: {got.dtype}, torch {want.dtype}"
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("exponent", [True, False, 2, 0, 2.5])
def test_powers_of_bools_follow_torch(exponent):
    """bool ** True was int8 (NumPy's rule); torch keeps bool for a bool exponent, int64 for an int."""
    values = np.array([False, True])
    got, want = tl.Tensor(values) ** exponent, torch.from_numpy(values.copy()) ** exponent
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch.")), f"{got.dtype}, torch {want.dtype}"
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_float32_gradient_stays_float32_next_to_a_float64_number_tensor():
    """float32 + a 0-d float64 tensor is float32 (torch): the 0-d tensor is cast, and its gradient
    comes back in its own dtype."""
    x, s = tl.Tensor([1.0, 2.0], requires_grad=True), tl.Tensor(3.0, dtype="float64", requires_grad=True)
    y = x * s
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and s.grad.dtype == np.float64
    np.testing.assert_allclose(s.grad.numpy(), 3.0)


@pytest.mark.parametrize("name", ["mean", "var", "std"])
@pytest.mark.parametrize("dtype", ["int64", "uint8", "bool"])
def test_mean_var_std_of_integers_are_the_default_float_dtype_where_torch_refuses(name, dtype):
    """A deliberate difference (README, "dtypes"): torch refuses these for integers; the answer in
    the default float dtype is the one a student expects, so we give torch's answer for the floats."""
    values = np.array([0, 1, 1, 0] if dtype == "bool" else [0, 1, 2, 5], dtype=dtype)
    with pytest.raises(RuntimeError):
        getattr(torch.from_numpy(values.copy()), name)()
    got = getattr(tl.Tensor(values), name)(dim=0)
    want = getattr(torch.from_numpy(values.astype(np.float32)), name)(dim=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
