"""Elementwise ops against torch (forward and backward, hypothesis-drawn inputs) and finite differences."""
import numpy as np
import pytest
from hypothesis import given
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
    fn = eval(f"lambda a, b: a {how} b")  # noqa: S307  (a fixed operator from the list above)
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
