"""Fuzzing the public Tensor API: random data, dtypes, shapes, axes and argument values.

The contract under test (docs/reliability.md, "Hostile input"): every call either returns the right
answer (torch is the referee where torch accepts the call, NumPy where torch refuses it) or raises one
of the documented errors:

* ``ShapeError`` (a ValueError, and a RuntimeError as torch's): shapes that do not fit (broadcasting,
  matmul, reshape), an axis out of range (an ``AxisError``, also an IndexError as torch's), an invalid
  permutation, squeezing an axis that is not 1, max/min over an empty axis;
* ``TypeError``: data that are not numbers (strings, objects, complex, None), arguments of the wrong
  type (a float axis), NumPy's refusals for bool arithmetic;
* ``ValueError``: values out of range (negative sizes, ragged nested lists, ...);
* ``IndexError``: indexing out of range or with an invalid index, as in Python, NumPy and torch.

Nothing else may escape: not an AttributeError or ZeroDivisionError from deep inside, and not a NumPy
RuntimeWarning (each example runs with warnings as errors). Floating-point edge cases follow IEEE and
torch: log(0) = -inf, 0/0 = nan, exp(1000) = inf, silently.
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_lite as tl
from tinygrad_lite.errors import ShapeError, TinygradLiteError

torch = pytest.importorskip("torch", reason="torch is the oracle of the fuzz tests: pip install '.[dev]'")

DOCUMENTED = (ValueError, TypeError, IndexError, TinygradLiteError)
fuzz = settings(max_examples=max(100, settings().max_examples), deadline=None)

DTYPES = ["float32", "float64", "float16", "int32", "int64", "uint8", "bool"]
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-30, -1e-30, 1e30, -1e30, 700.0, -700.0,
           float("inf"), float("-inf"), float("nan")]


class Refused(Exception):
    """What ``attempt`` returns (not raises) when a call raised one of the documented errors."""

    def __init__(self, error):
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def attempt(fn, *args):
    """fn(*args) with warnings as errors: the result, or a ``Refused`` for a documented error.
    Any other exception (a RuntimeWarning included) propagates and fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return fn(*args)
        except DOCUMENTED as exc:
            return Refused(exc)


def oracle(fn, *args):
    """fn(*args) in torch or NumPy (warnings silenced): the result, or None when it refuses."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return fn(*args)
        except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError, OverflowError):
            return None


def without_dof_warning(call):
    """``call()`` without var's warning that nothing is left to divide by (n - correction <= 0): torch
    warns there too, and its answer, inf or nan, is ours; every other warning still fails the test."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "var: degrees of freedom", UserWarning)
        return call()


def as_numpy(value):
    if isinstance(value, tl.Tensor):
        return value.numpy()
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    return np.asarray(value)


# float16 results are float32 (or NumPy's float16) arithmetic rounded once to float16 on each side: two
# correct roundings of values that straddle a rounding boundary are one float16 ulp apart (at most 2u
# relative, u = 2^-11); two ulps (4u) leave room for the float32 steps before the rounding.
FLOAT16_RTOL = 4 * 2.0 ** -11


def tolerance(*dtypes):
    names = {np.dtype(d).name for d in dtypes}
    if "float16" in names:
        return FLOAT16_RTOL
    return 1e-5 if "float32" in names or not names & {"float64"} else 1e-11


def assert_same(got, want, what, rtol, atol=None):
    got, want = as_numpy(got), as_numpy(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    if want.dtype == bool or got.dtype == bool:
        assert got.dtype == want.dtype and (got == want).all(), f"{what}: {got} != {want}"
        return
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    if np.float16 in (got.dtype, want.dtype):     # NumPy computes small integers in float16
        rtol = max(rtol, FLOAT16_RTOL)
    # float16 results overflow to inf where the float32 oracle still has a finite value: compare those
    # against what float16 holds
    if got.dtype == np.float16:
        with np.errstate(over="ignore"):
            want64 = want64.astype(np.float16).astype(np.float64)
    atol = rtol * 1e-3 if atol is None else max(atol, rtol * 1e-3)
    np.testing.assert_allclose(got64, want64, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def assert_refused_or_matches(ours, reference, what, rtol, atol=None):
    """The documented contract: a documented error, or the oracle's answer."""
    if isinstance(ours, Refused):
        return
    assert reference is not None, f"{what}: returned {ours!r} where both torch and NumPy refuse the call"
    assert_same(ours, reference, what, rtol, atol)


def summation_error_bound(array, reduced):
    """Two correct float sums of the same numbers may differ by up to n * eps * max|x| (1e30 - 1e30 + 1
    is 1 or 0 depending on the order): the absolute tolerance for sums and means with cancellation."""
    finite = np.abs(array[np.isfinite(array)].astype(np.float64))
    return 2 * max(reduced, 1) * np.finfo(array.dtype).eps * (finite.max() if finite.size else 0.0)


def referee(torch_call, numpy_call):
    """The oracle's answer: torch's (whose type promotion we follow, integer inputs included:
    ops/dtypes.py), NumPy's where torch refuses; None when both refuse."""
    for call in (torch_call, numpy_call):
        reference = oracle(call)
        if reference is not None:
            return reference
    return None


def check(name, ours_fn, torch_fn, numpy_fn, array, *, expect_success=None):
    """Run one op three ways and hold ours to the contract (and to ``expect_success`` when given).
    Integer and bool inputs follow torch's type promotion too (exp of an int32 is float32, the
    default float dtype, where NumPy gives float64), so torch is the referee of every input."""
    ours = attempt(ours_fn, tl.Tensor(array))
    reference = referee(lambda: torch_fn(torch.from_numpy(array.copy())), lambda: numpy_fn(array))
    if expect_success is True and isinstance(ours, Refused):
        raise AssertionError(f"{name}: refused a valid call: {ours}")
    if expect_success is False:
        assert isinstance(ours, Refused), f"{name}: accepted an invalid call, returned {ours!r}"
    assert_refused_or_matches(ours, reference, name, tolerance(array.dtype))
    return ours


# ---- strategies ---------------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)


@st.composite
def hostile_arrays(draw, shape=None, dtypes=DTYPES):
    """An array of a random dtype whose values include zeros, huge numbers, inf and nan."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(shapes) if shape is None else shape
    if dtype.kind == "f":
        elements = st.one_of(st.sampled_from(SPECIAL), st.floats(-10, 10, width=32))
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(max(info.min, -1000), min(info.max, 1000))
    values = draw(st.lists(elements, min_size=math.prod(shape), max_size=math.prod(shape)))
    with np.errstate(over="ignore"):
        return np.array(values, dtype=np.float64 if dtype.kind == "f" else None).astype(dtype).reshape(shape)


def axis_values(ndim):
    """Axes in range, out of range, negative, tuples (with duplicates), None, and wrong types."""
    one = st.integers(-ndim - 2, ndim + 1)
    return st.one_of(st.none(), one, st.tuples(one), st.tuples(one, one), st.just(1.0), st.just("0"))


def axis_ok(axis, ndim):
    items = axis if isinstance(axis, tuple) else (axis,)
    if axis is None:
        return True
    if not all(isinstance(a, int) for a in items) or not all(-max(ndim, 1) <= a < max(ndim, 1) for a in items):
        return False
    return len({a % max(ndim, 1) for a in items}) == len(items)


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))


# ---- construction -------------------------------------------------------------------------------

nested = st.recursive(st.one_of(st.integers(-2**40, 2**40), st.floats(allow_nan=True), st.booleans()),
                      lambda children: st.lists(children, max_size=3), max_leaves=12)


@fuzz
@given(data=st.one_of(nested, st.text(max_size=3), st.none(), st.complex_numbers(),
                      st.dictionaries(st.integers(), st.integers(), max_size=1)))
def test_tensor_from_python_data_is_the_numpy_array_or_refused(data):
    ours = attempt(tl.Tensor, data)
    expected = oracle(np.asarray, data)
    if isinstance(ours, Refused):
        assert expected is None or expected.dtype.kind not in "biuf", f"refused {data!r}: {ours}"
        return
    assert expected is not None and expected.dtype.kind in "biuf", f"accepted {data!r}"
    with np.errstate(over="ignore"):
        want = expected.astype(tl.get_default_dtype()) if expected.dtype.kind == "f" else expected
    assert ours.dtype == want.dtype and ours.shape == want.shape
    np.testing.assert_array_equal(ours.numpy(), want)


@fuzz
@given(shape=shapes, dtype=st.sampled_from(DTYPES + ["complex64", "<U2", "object", "datetime64[s]"]),
       requires_grad=st.booleans())
def test_tensor_from_arrays_keeps_numbers_and_refuses_the_rest(shape, dtype, requires_grad):
    array = np.zeros(shape, dtype=dtype)
    ours = attempt(lambda: tl.Tensor(array, requires_grad=requires_grad))
    numeric = np.dtype(dtype).kind in "biuf"
    if not numeric or (requires_grad and np.dtype(dtype).kind != "f"):
        assert isinstance(ours, Refused) and isinstance(ours.error, TypeError), ours
        assert str(np.dtype(dtype)) in str(ours.error)
        return
    assert not isinstance(ours, Refused), ours
    assert ours.dtype == array.dtype and ours.shape == shape and ours.requires_grad == requires_grad


@fuzz
@given(array=hostile_arrays())
def test_any_tensor_prints(array):
    """repr is what a student sees first: it must work for every dtype, shape and value (no warning)."""
    text = attempt(repr, tl.Tensor(array))
    assert isinstance(text, str) and text.startswith("tensor("), text


# ---- elementwise --------------------------------------------------------------------------------

UNARY = {
    "neg": (tl.neg, torch.neg, np.negative),
    "exp": (tl.exp, torch.exp, np.exp),
    "log": (tl.log, torch.log, np.log),
    "sqrt": (tl.sqrt, torch.sqrt, np.sqrt),
    "abs": (tl.abs, torch.abs, np.abs),
    "tanh": (tl.tanh, torch.tanh, np.tanh),
    "sigmoid": (tl.sigmoid, torch.sigmoid, lambda a: 1 / (1 + np.exp(-a.astype(np.float64)))),
    "relu": (tl.relu, torch.relu, lambda a: np.maximum(a, 0)),
    "square": (lambda t: t ** 2, lambda t: t ** 2, np.square),
    "reciprocal": (lambda t: t ** -1.0, lambda t: t ** -1.0, lambda a: a ** -1.0),
}


@fuzz
@given(name=st.sampled_from(sorted(UNARY)), array=hostile_arrays())
def test_unary_ops_match_torch_on_hostile_values(name, array):
    ours_fn, torch_fn, numpy_fn = UNARY[name]
    ours = check(name, ours_fn, torch_fn, numpy_fn, array,
                 expect_success=True if array.dtype.kind == "f" else None)
    if array.dtype == np.float64 and not isinstance(ours, Refused):
        # the backward pass through the same hostile values: inf/nan like torch, never a warning
        x = tl.Tensor(array, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = ours_fn(x)
            y.backward(tl.ones_like(y))
        xt = torch.from_numpy(array.copy()).requires_grad_(True)
        torch_fn(xt).backward(torch.ones(array.shape, dtype=torch.float64))
        defined = ~np.isnan(array)          # a gradient at a NaN input is a convention (torch: 0 or 1)
        assert_same(x.grad.numpy()[defined], xt.grad.numpy()[defined], f"d{name}/dx", 1e-10)


BINARY = {
    "add": (tl.add, torch.add, np.add),
    "sub": (tl.sub, torch.sub, np.subtract),
    "mul": (tl.mul, torch.mul, np.multiply),
    "div": (tl.div, torch.div, np.true_divide),
    "pow": (tl.pow, torch.pow, np.power),
    "maximum": (tl.maximum, torch.maximum, np.maximum),
    "minimum": (tl.minimum, torch.minimum, np.minimum),
    "less": (lambda a, b: a < b, torch.lt, np.less),
    "equal": (lambda a, b: a == b, torch.eq, np.equal),
}


@st.composite
def shape_pairs(draw):
    """Two shapes that broadcast (most of the time) or not."""
    if draw(st.booleans()):
        pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4))
        return pair.input_shapes
    return draw(shapes), draw(shapes)


@fuzz
@given(name=st.sampled_from(sorted(BINARY)), pair=shape_pairs(), data=st.data(),
       scalar=st.sampled_from([None, 0, 2, -1, 0.5, float("inf"), True]))
def test_binary_ops_broadcast_like_torch_or_name_both_shapes(name, pair, data, scalar):
    ours_fn, torch_fn, numpy_fn = BINARY[name]
    dtypes = ["float32", "float64", "int64", "bool"]
    a = data.draw(hostile_arrays(pair[0], dtypes))
    b = data.draw(hostile_arrays(pair[1], dtypes))
    try:
        np.broadcast_shapes(a.shape, b.shape)
        fits = True
    except ValueError:
        fits = False
    if scalar is not None:       # tensor op Python number: a number never changes the shape
        ours = attempt(lambda: ours_fn(tl.Tensor(a), scalar))
        reference = referee(lambda: torch_fn(torch.from_numpy(a.copy()), scalar), lambda: numpy_fn(a, scalar))
        assert_refused_or_matches(ours, reference, f"{name}(a, {scalar})", tolerance(a.dtype))
        return
    ours = attempt(lambda: ours_fn(tl.Tensor(a), tl.Tensor(b)))
    if not fits:
        assert isinstance(ours, Refused), f"{name}{a.shape, b.shape}: {ours!r}"
        if not isinstance(ours.error, ShapeError):   # refused for its dtypes first, as torch is (bool - bool)
            fitting = attempt(lambda: ours_fn(tl.Tensor(a), tl.Tensor(np.zeros(a.shape, b.dtype))))
            assert isinstance(fitting, Refused) and type(fitting.error) is type(ours.error), f"{name}: {ours!r}"
            return
        assert str(a.shape) in str(ours.error) and str(b.shape) in str(ours.error), str(ours.error)
        return
    reference = referee(lambda: torch_fn(torch.from_numpy(a.copy()), torch.from_numpy(b.copy())),
                        lambda: numpy_fn(a, b))
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        assert not isinstance(ours, Refused), f"{name}{a.shape, b.shape}: refused {ours}"
    assert_refused_or_matches(ours, reference, name, tolerance(a.dtype, b.dtype))


@fuzz
@given(a_shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4),
       b_shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), data=st.data())
def test_matmul_matches_torch_or_names_both_shapes(a_shape, b_shape, data):
    a = data.draw(hostile_arrays(a_shape, ["float32", "float64"]))
    b = data.draw(hostile_arrays(b_shape, ["float32", "float64"]))
    ours = attempt(lambda: tl.Tensor(a) @ tl.Tensor(b))
    reference = oracle(lambda: np.matmul(a, b))
    if reference is None:
        assert isinstance(ours, Refused) and isinstance(ours.error, ShapeError), ours
        assert str(a.shape) in str(ours.error) and str(b.shape) in str(ours.error)
        return
    assert not isinstance(ours, Refused), f"{a.shape} @ {b.shape}: {ours}"
    # NumPy is the oracle here: torch refuses mixed float32/float64 matmuls, NumPy promotes
    assert_same(ours, reference, f"{a.shape} @ {b.shape}", tolerance(a.dtype, b.dtype) * 10)


# ---- reductions and softmax ---------------------------------------------------------------------

def _torch_max(t, axis, keepdim):
    if isinstance(axis, int):
        return t.max(dim=axis, keepdim=keepdim).values
    return t.amax(dim=torch_dims(axis, t.ndim), keepdim=keepdim)


def _torch_min(t, axis, keepdim):
    if isinstance(axis, int):
        return t.min(dim=axis, keepdim=keepdim).values
    return t.amin(dim=torch_dims(axis, t.ndim), keepdim=keepdim)


REDUCTIONS = {
    "sum": (lambda t, ax, k: t.sum(axis=ax, keepdims=k),
            lambda t, ax, k: t.sum(dim=torch_dims(ax, t.ndim), keepdim=k),
            lambda a, ax, k: a.sum(axis=ax, keepdims=k)),
    "mean": (lambda t, ax, k: t.mean(axis=ax, keepdims=k),
             lambda t, ax, k: t.mean(dim=torch_dims(ax, t.ndim), keepdim=k),
             lambda a, ax, k: a.mean(axis=ax, keepdims=k)),
    "max": (lambda t, ax, k: t.max(axis=ax, keepdims=k),
            _torch_max,
            lambda a, ax, k: a.max(axis=ax, keepdims=k)),
    "min": (lambda t, ax, k: t.min(axis=ax, keepdims=k),
            _torch_min,
            lambda a, ax, k: a.min(axis=ax, keepdims=k)),
    "logsumexp": (lambda t, ax, k: t.logsumexp(axis=ax, keepdims=k),
                  lambda t, ax, k: torch.logsumexp(t, dim=torch_dims(ax, t.ndim), keepdim=k),
                  None),
    "var": (lambda t, ax, k: without_dof_warning(lambda: t.var(axis=ax, keepdims=k)),
            lambda t, ax, k: torch.var(t, dim=torch_dims(ax, t.ndim), keepdim=k, correction=0),
            lambda a, ax, k: a.var(axis=ax, keepdims=k)),
}


@fuzz
@given(name=st.sampled_from(sorted(REDUCTIONS)), array=hostile_arrays(dtypes=["float32", "float64"]),
       keepdims=st.booleans(), data=st.data())
def test_reductions_over_random_axes(name, array, keepdims, data):
    axis = data.draw(axis_values(array.ndim))
    ours_fn, torch_fn, numpy_fn = REDUCTIONS[name]
    ours = attempt(lambda: ours_fn(tl.Tensor(array), axis, keepdims))
    if not axis_ok(axis, array.ndim):
        assert isinstance(ours, Refused), f"{name}(axis={axis!r}) on {array.shape}: returned {ours!r}"
        assert isinstance(ours.error, (ShapeError, TypeError)) and repr(axis) in str(ours.error), ours
        return
    reference = oracle(lambda: torch_fn(torch.from_numpy(array.copy()), axis, keepdims))
    if reference is None and numpy_fn is not None:
        reference = oracle(lambda: numpy_fn(array, axis, keepdims))
    reduced = [array.shape[a] for a in (torch_dims(axis, array.ndim) if array.ndim else ())]
    if name in ("max", "min", "logsumexp") and 0 in reduced:
        if isinstance(ours, Refused):
            assert isinstance(ours.error, ShapeError) and "empty" in str(ours.error), ours
            return
    elif name == "var" and 0 in reduced:
        pass           # var over nothing: a documented ValueError (ddof too large) or torch's nan
    else:
        assert not isinstance(ours, Refused), f"{name}(axis={axis!r}) on {array.shape}: {ours}"
    atol = summation_error_bound(array, math.prod(reduced)) if name in ("sum", "mean") else None
    assert_refused_or_matches(ours, reference, f"{name}(axis={axis!r}, keepdims={keepdims})",
                              tolerance(array.dtype) * 100, atol)


@fuzz
@given(name=st.sampled_from(["softmax", "log_softmax"]), array=hostile_arrays(dtypes=["float32", "float64"]),
       axis=st.integers(-4, 3))
def test_softmax_family_over_random_axes(name, array, axis):
    ours = attempt(lambda: getattr(tl, name)(tl.Tensor(array), axis=axis))
    if not -max(array.ndim, 1) <= axis < max(array.ndim, 1):      # a 0-d tensor takes 0 and -1 (torch)
        assert isinstance(ours, Refused) and isinstance(ours.error, ShapeError), ours
        return
    if array.ndim and array.shape[axis] == 0:
        if isinstance(ours, Refused):
            assert isinstance(ours.error, ShapeError) and "empty" in str(ours.error), ours
            return
    reference = oracle(lambda: getattr(torch, name)(torch.from_numpy(array.copy()), dim=axis))
    assert not isinstance(ours, Refused) or reference is None, f"{name}: {ours}"
    assert_refused_or_matches(ours, reference, name, tolerance(array.dtype) * 10)


# ---- shapes and indexing ------------------------------------------------------------------------

@fuzz
@given(array=hostile_arrays(dtypes=["float32", "int64", "bool"]),
       new_shape=st.lists(st.integers(-2, 6), max_size=4).map(tuple))
def test_reshape_to_random_shapes(array, new_shape):
    ours = attempt(lambda: tl.Tensor(array).reshape(new_shape))
    reference = oracle(lambda: torch.from_numpy(array.copy()).reshape(new_shape))
    if reference is None:
        assert isinstance(ours, Refused) or oracle(lambda: array.reshape(new_shape)) is not None, ours
    if isinstance(ours, Refused):
        assert reference is None, f"reshape{new_shape} of {array.shape}: refused {ours}"
        if isinstance(ours.error, ShapeError):
            assert str(array.shape) in str(ours.error) and str(new_shape) in str(ours.error)
        return
    assert_same(ours, reference if reference is not None else array.reshape(new_shape),
                f"reshape{new_shape}", 0)


SHAPE_OPS = {
    # name: (ours, torch); torch decides which axes are valid
    "swapaxes": (lambda t, a, b: t.swapaxes(a, b), lambda t, a, b: t.swapaxes(a, b)),
    "permute": (lambda t, a, b: t.permute(*range(t.ndim - 1), a), lambda t, a, b: t.permute(*range(t.ndim - 1), a)),
    "squeeze": (lambda t, a, b: t.squeeze(a), lambda t, a, b: t.squeeze(a)),
    "unsqueeze": (lambda t, a, b: t.unsqueeze(a), lambda t, a, b: t.unsqueeze(a)),
    "flatten": (lambda t, a, b: t.flatten(a, b), lambda t, a, b: t.flatten(a, b)),
    "concatenate": (lambda t, a, b: tl.concatenate([t, t], axis=a), lambda t, a, b: torch.cat([t, t], dim=a)),
    "stack": (lambda t, a, b: tl.stack([t, t], axis=a), lambda t, a, b: torch.stack([t, t], dim=a)),
}


@fuzz
@given(name=st.sampled_from(sorted(SHAPE_OPS)), array=hostile_arrays(dtypes=["float64", "int64"]),
       a=st.integers(-5, 4), b=st.integers(-5, 4))
def test_shape_ops_with_random_axes(name, array, a, b):
    """Where torch refuses an axis, ours must refuse too (never wrap it around silently); where torch
    accepts, ours gives torch's result. Documented differences: squeezing an axis whose size is not 1
    is a ShapeError (NumPy's rule; torch ignores it), and axes of 0-d tensors may be refused."""
    ours_fn, torch_fn = SHAPE_OPS[name]
    ours = attempt(lambda: ours_fn(tl.Tensor(array), a, b))
    reference = oracle(lambda: torch_fn(torch.from_numpy(array.copy()), a, b))
    what = f"{name}({a}, {b}) on {array.shape}"
    if reference is None:
        assert isinstance(ours, Refused), f"{what}: torch refuses, ours returned {ours!r}"
        assert isinstance(ours.error, (ShapeError, TypeError)), what
        return
    if isinstance(ours, Refused):
        squeezing_a_non_unit_axis = name == "squeeze" and array.ndim and array.shape[a] != 1
        legacy_empty_cat = name == "concatenate" and array.shape == (0,)   # torch skips (0,) tensors in cat
        assert squeezing_a_non_unit_axis or legacy_empty_cat or array.ndim == 0, f"{what}: refused {ours}"
        assert isinstance(ours.error, ShapeError), f"{what}: {ours}"
        return
    assert_same(ours, reference, what, 0)


index_items = st.one_of(st.integers(-6, 5), st.slices(5), st.none(), st.just(Ellipsis),
                        st.lists(st.integers(-6, 5), min_size=1, max_size=3), st.just(1.5))


@fuzz
@given(array=hostile_arrays(dtypes=["float64"]), index=st.tuples(index_items, index_items))
def test_indexing_returns_numpys_result_or_an_index_error(array, index):
    index = tuple(np.asarray(i) if isinstance(i, list) else i for i in index)
    ours = attempt(lambda: tl.Tensor(array)[index])
    reference = oracle(lambda: array[index])
    if reference is None:
        assert isinstance(ours, Refused) and isinstance(ours.error, IndexError), \
            f"{array.shape}[{index}]: {ours!r}"
        return
    assert not isinstance(ours, Refused), f"{array.shape}[{index}]: {ours}"
    assert_same(ours, reference, f"[{index}]", 0)


@fuzz
@given(array=hostile_arrays(dtypes=["float64"]), target=shapes)
def test_broadcast_to_random_shapes(array, target):
    ours = attempt(lambda: tl.broadcast_to(tl.Tensor(array), target))
    reference = oracle(lambda: np.broadcast_to(array, target))
    if reference is None:
        assert isinstance(ours, Refused) and isinstance(ours.error, ShapeError), ours
        assert str(array.shape) in str(ours.error) and str(target) in str(ours.error)
        return
    assert_same(ours, reference, f"broadcast_to{target}", 0)


@fuzz
@given(array=hostile_arrays(dtypes=["float32", "float64", "int64"]),
       low=st.one_of(st.none(), st.sampled_from([-1, 0, 0.5, float("-inf"), float("nan")])),
       high=st.one_of(st.none(), st.sampled_from([1, 0, 2.5, float("inf")])))
def test_clip_with_random_bounds(array, low, high):
    ours = attempt(lambda: tl.clip(tl.Tensor(array), low, high))
    if low is None and high is None:
        assert isinstance(ours, Refused) and "min" in str(ours.error) and "max" in str(ours.error)
        return
    reference = oracle(lambda: torch.clamp(torch.from_numpy(array.copy()), low, high))
    assert_refused_or_matches(ours, reference, f"clip({low}, {high})", tolerance(array.dtype))


@fuzz
@given(array=hostile_arrays(dtypes=["float64"]),
       width=st.one_of(st.integers(-1, 2), st.tuples(st.integers(-1, 2), st.integers(0, 2)),
                       st.just("1"), st.just(((1, 1),) * 5)))
def test_pad_with_random_widths(array, width):
    """NumPy's pad, where a negative width first crops that many elements (torch's rule)."""
    def crop_then_pad(array, width):
        widths = np.broadcast_to(np.asarray(width), (array.ndim, 2))
        if widths.dtype.kind not in "iu" or any(n + min(b, 0) + min(a, 0) < 0
                                                for (b, a), n in zip(widths, array.shape)):
            return None
        cropped = array[tuple(slice(-min(b, 0), n + min(a, 0)) for (b, a), n in zip(widths, array.shape))]
        return np.pad(cropped, np.maximum(widths, 0)) if array.ndim else array
    ours = attempt(lambda: tl.pad(tl.Tensor(array), width))
    reference = oracle(lambda: crop_then_pad(array, width))
    assert_refused_or_matches(ours, reference, f"pad({width!r})", 0)
    if reference is not None:
        assert not isinstance(ours, Refused), ours


# ---- creation -----------------------------------------------------------------------------------

@fuzz
@given(factory=st.sampled_from(["zeros", "ones", "rand", "randn"]),
       shape=st.lists(st.one_of(st.integers(-2, 4), st.just(2.0), st.just("3")), max_size=3))
def test_factories_take_only_non_negative_int_sizes(factory, shape):
    ours = attempt(getattr(tl, factory), *shape)
    valid = all(isinstance(n, int) and n >= 0 for n in shape)
    if not valid:
        assert isinstance(ours, Refused) and str(tuple(shape)) in str(ours.error), ours
        return
    assert ours.shape == tuple(shape) and ours.dtype == tl.get_default_dtype()


@fuzz
@given(start=st.integers(-5, 5), stop=st.integers(-5, 5), step=st.sampled_from([-2, -1, 0, 1, 3, 0.5]))
def test_arange_matches_torch_or_refuses_a_zero_step(start, stop, step):
    ours = attempt(lambda: tl.arange(start, stop, step))
    reference = oracle(lambda: torch.arange(start, stop, step))
    if step == 0:
        assert isinstance(ours, Refused) and "step" in str(ours.error), ours
        return
    if reference is None:      # torch refuses a step pointing away from stop; NumPy gives an empty range
        reference = np.arange(start, stop, step)
    assert_same(ours, reference, f"arange({start}, {stop}, {step})", 1e-6)
