"""Reductions and the softmax family against torch (forward, backward, ties) and finite differences.

torch spells a few of these differently (``dim``/``keepdim``, ``amax`` for several axes,
``correction`` for ``ddof``), so those tests pass a pair of lambdas.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from bounds import U32, gamma  # float32's unit roundoff; the error bound of a sum of n terms
from torch_oracle import (arrays, axes, check_double_backward, check_gradcheck, check_op, one_axis, op_settings,
                          random_array, shapes, torch)

import tinygrad_lite as tl


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def torch_extreme(x, name, axis, keepdims):
    """torch's max/min for our ``axis``: ``max(dim)`` for one int axis (gradient to one arg-max),
    ``amax`` otherwise (gradient shared among ties, like ``x.max()``)."""
    if isinstance(axis, int):
        return getattr(x, name)(dim=axis, keepdim=keepdims).values
    return getattr(x, "a" + name)(dim=torch_dims(axis, x.ndim), keepdim=keepdims)


@pytest.mark.parametrize("name", ["sum", "mean"])
@op_settings
@given(data=st.data(), keepdims=st.booleans())
def test_sum_mean(name, device, data, keepdims):
    shape = data.draw(shapes())
    axis = data.draw(axes(len(shape)))
    check_op([data.draw(arrays(shape))], lambda x: getattr(x, name)(axis=axis, keepdims=keepdims), device=device)


@pytest.mark.parametrize("name", ["max", "min"])
@op_settings
@given(data=st.data(), keepdims=st.booleans())
def test_max_min_with_ties(name, device, data, keepdims):
    """Values are rounded to a coarse grid, so ties are common: the gradient must follow torch's rules."""
    shape = data.draw(shapes())
    axis = data.draw(axes(len(shape)))
    x = np.round(data.draw(arrays(shape, "unit")) * 2) / 2
    check_op([x], lambda t: getattr(t, name)(axis=axis, keepdims=keepdims),
             lambda t: torch_extreme(t, name, axis, keepdims), device=device)


@op_settings
@given(data=st.data(), keepdims=st.booleans(), ddof=st.sampled_from([0, 1]))
def test_var(device, data, keepdims, ddof):
    shape = data.draw(shapes(min_dims=1, min_side=2))
    axis = data.draw(axes(len(shape)))
    check_op([data.draw(arrays(shape))], lambda x: x.var(axis=axis, keepdims=keepdims, ddof=ddof),
             lambda x: x.var(dim=torch_dims(axis, x.ndim), keepdim=keepdims, correction=ddof), device=device)


@op_settings
@given(data=st.data(), keepdims=st.booleans())
def test_logsumexp(device, data, keepdims):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(axes(len(shape)))
    check_op([data.draw(arrays(shape))], lambda x: x.logsumexp(axis=axis, keepdims=keepdims),
             lambda x: x.logsumexp(dim=torch_dims(axis, x.ndim), keepdim=keepdims), device=device)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@op_settings
@given(data=st.data())
def test_softmax_family(name, device, data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(one_axis(len(shape)))
    check_op([data.draw(arrays(shape))], lambda x: getattr(x, name)(axis=axis),
             lambda x: getattr(x, name)(dim=axis), device=device)


def test_default_axes_and_function_forms(device):
    check_op([(3, 5)], tl.softmax, lambda x: torch.softmax(x, dim=-1), device=device)
    check_op([(3, 5)], tl.log_softmax, lambda x: torch.log_softmax(x, dim=-1), device=device)
    check_op([(3, 5)], lambda x: tl.logsumexp(x, axis=-1), lambda x: torch.logsumexp(x, dim=-1), device=device)
    check_op([(3, 5)], tl.sum, torch.sum, device=device)
    check_op([(3, 5)], tl.mean, torch.mean, device=device)
    check_op([(3, 5)], tl.max, torch.max, device=device)
    check_op([(3, 5)], tl.min, torch.min, device=device)
    check_op([(3, 5)], tl.var, lambda x: torch.var(x, correction=0), device=device)


def test_reduce_float32(device):
    check_op([(4, 6)], lambda x: x.softmax(axis=0).var(axis=1) + x.logsumexp(axis=1),
             lambda x: x.softmax(dim=0).var(dim=1, correction=0) + x.logsumexp(dim=1), dtype="float32",
             device=device)


def test_bad_axis_is_a_clear_error():
    with pytest.raises(tl.ShapeError, match=r"sum: axis .* 2-d tensor, got 5"):
        tl.zeros(2, 3).sum(axis=5)
    with pytest.raises(IndexError, match=r"sum: axis .* 2-d tensor, got 5"):
        tl.zeros(2, 3).sum(axis=5)          # an AxisError: torch's IndexError too


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("values, kwargs", [([1.0, 2.0], {"correction": 2}), ([1.0, 2.0], {"correction": 5}),
                                            ([3.0], {"dim": 0}),
                                            ([[1.0, 2.0], [3.0, 3.0]], {"dim": 1, "correction": 2}),
                                            ([], {"correction": 1}),
                                            ([[1.0, 4.0], [2.0, 2.0]], {"dim": 0, "correction": 7})])
def test_correction_past_the_count_gives_torchs_inf_and_nan_with_its_warning(op, values, kwargs):
    """torch: the sum of squares divided by max(n - correction, 0) = 0, so inf, or nan where every
    value is equal (0 / 0), and a UserWarning; we raised a ValueError."""
    with pytest.warns(UserWarning, match=rf"{op}\(\): degrees of freedom is <= 0"):
        want = getattr(torch.tensor(values), op)(**kwargs).numpy()
    with pytest.warns(UserWarning, match=rf"{op}: degrees of freedom n - correction = \d+ - \d+ <= 0"):
        got = getattr(tl.Tensor(values), op)(**kwargs).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", ["var_mean", "std_mean"])
@pytest.mark.parametrize("kwargs", [{}, {"dim": 1}, {"dim": (0, 2), "keepdim": True}, {"dim": -1, "correction": 0},
                                    {"dim": 0, "unbiased": False}])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_var_mean_and_std_mean_match_torch(op, kwargs, dtype):
    """torch's pair (spread, mean): forward, gradients of both, and second derivatives."""
    check_op([(3, 4, 2)], lambda x: getattr(tl, op)(x, **kwargs), lambda x: getattr(torch, op)(x, **kwargs),
             dtype=dtype)
    check_double_backward([random_array((3, 4, 2))], lambda x: sum(o.sum() for o in getattr(tl, op)(x, **kwargs)),
                          lambda x: sum(o.sum() for o in getattr(torch, op)(x, **kwargs)), dtype=dtype)


@pytest.mark.filterwarnings("ignore:(var|std)(_mean)?.*degrees of freedom:UserWarning")   # one element reduced
@op_settings
@given(shape=shapes(min_dims=1), data=st.data(), op=st.sampled_from(["var_mean", "std_mean"]))
def test_var_mean_on_random_shapes_matches_torch(shape, data, op):
    dim = data.draw(axes(len(shape), allow_none=True, allow_tuple=True))
    check_op([shape], lambda x: getattr(tl, op)(x, dim), lambda x: getattr(torch, op)(x, dim))


# ---- finite differences ------------------------------------------------------------------------------

X = random_array((3, 4))
GRADCHECKS = {
    "sum": lambda x: x.sum(axis=1), "sum all": lambda x: x.sum(), "mean": lambda x: x.mean(axis=(0, 1)),
    "mean keepdims": lambda x: x.mean(axis=0, keepdims=True),
    "max axis": lambda x: x.max(axis=1), "max all": lambda x: x.max(), "min axis": lambda x: x.min(axis=0),
    "min keepdims": lambda x: x.min(axis=-1, keepdims=True),
    "var": lambda x: x.var(axis=1), "var ddof": lambda x: x.var(ddof=1),
    "logsumexp": lambda x: x.logsumexp(axis=1), "logsumexp all": lambda x: x.logsumexp(),
    "softmax": lambda x: x.softmax(axis=0), "log_softmax": lambda x: x.log_softmax(axis=-1),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    assert check_gradcheck(GRADCHECKS[name], X).ok


# ---- edges: 0-d and empty tensors, NaN, float16 (each against torch) ----------------------------------

ZERO_D = {
    "sum": (lambda x, a: x.sum(axis=a), lambda x, a: x.sum(dim=a)),
    "mean": (lambda x, a: x.mean(axis=a), lambda x, a: x.mean(dim=a)),
    "max": (lambda x, a: x.max(axis=a), lambda x, a: x.max(dim=a).values),
    "min": (lambda x, a: x.min(axis=a), lambda x, a: x.min(dim=a).values),
    "logsumexp": (lambda x, a: x.logsumexp(axis=a), lambda x, a: x.logsumexp(dim=a)),
    "softmax": (lambda x, a: x.softmax(axis=a), lambda x, a: x.softmax(dim=a)),
    "log_softmax": (lambda x, a: x.log_softmax(axis=a), lambda x, a: x.log_softmax(dim=a)),
    "var": (lambda x, a: x.var(axis=a), lambda x, a: x.var(dim=a, correction=0)),
}


@pytest.mark.parametrize("name", ZERO_D)
@op_settings
@given(value=st.floats(-10, 10), axis=st.sampled_from([0, -1, (0,), (-1,)]))
def test_a_0d_tensor_takes_axis_0_and_minus_1_like_torch(name, device, value, axis):
    ours, theirs = ZERO_D[name]
    check_op([np.array(value)], lambda x: ours(x, axis), lambda x: theirs(x, axis if isinstance(axis, int)
                                                                         else axis[0]), device=device)


@pytest.mark.parametrize("name", ["sum", "mean"])
@op_settings
@given(shape=shapes(min_dims=1, min_side=0).filter(lambda s: 0 in s), data=st.data(), keepdims=st.booleans())
def test_sum_and_mean_of_empty_tensors_have_an_empty_gradient(name, device, shape, data, keepdims):
    """The mean of nothing is NaN and its backward works, as in torch (it divided by zero)."""
    axis = data.draw(axes(len(shape)))
    check_op([np.zeros(shape)], lambda x: getattr(x, name)(axis=axis, keepdims=keepdims),
             lambda x: getattr(x, name)(dim=torch_dims(axis, x.ndim), keepdim=keepdims), device=device)


def test_mean_of_an_empty_tensor_backward_is_torchs():
    """The issue's repro: both used to divide by zero in Mean.backward."""
    for reduce in (lambda t: t.mean(axis=1).sum(), lambda t: t.mean()):
        x, tx = tl.zeros((2, 0), requires_grad=True), torch.zeros((2, 0), requires_grad=True)
        y, ty = reduce(x), reduce(tx)
        assert np.isnan(y.item()) == np.isnan(ty.item())
        y.backward()
        ty.backward()
        assert x.grad.shape == tuple(tx.grad.shape) == (2, 0) and x.grad.dtype == np.float32


NAN_ROWS = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, 5.0, 0.0], [np.nan, 1.0, -1.0, 4.0]])


@pytest.mark.parametrize("name", ["max", "min"])
def test_a_nan_takes_the_gradient_of_max_and_min_as_in_torch(name):
    """A NaN result came from a NaN, so the gradient goes to the NaN(s), not to the largest number:
    over everything (and over several axes, per slice) shared among the NaNs like torch's
    ``x.max()``; over one axis to the first NaN like torch's ``max(dim)``."""
    check_op([NAN_ROWS], lambda x: getattr(x, name)(), lambda x: getattr(x, name)())
    check_op([NAN_ROWS], lambda x: getattr(x, name)(axis=1), lambda x: getattr(x, name)(dim=1).values)
    cube = np.stack([NAN_ROWS, NAN_ROWS[::-1] * 2])                      # (2, 3, 4): slices along axis 1
    check_op([cube], lambda x: getattr(x, name)(axis=(0, 2)),
             lambda x: torch.stack([getattr(x[:, j, :], name)() for j in range(x.shape[1])]))


def half_ulp16(values):
    """Half the float16 spacing at each value: the most one final rounding to float16 moves it."""
    return np.spacing(np.abs(np.asarray(values, np.float16))).astype(np.float64) / 2


def float16_softmax_family_recipe(name, x, y16, g16):
    """torch's recipe for half softmax / log_softmax, evaluated exactly (float64), with the bound of its
    float32 arithmetic: forward from x in float32, rounded once to float16; backward from the rounded
    output ``y16`` and the float16 gradient ``g16`` in float32, rounded once. Sums of n terms err by
    gamma(n) of the sum of their magnitudes; exp is allowed two float32 ulps (4u), each other step one
    rounding (u). Returns (exact forward, its bound, exact backward, its bound), the final rounding to
    float16 not yet included."""
    x, y, g = (np.asarray(a, np.float64) for a in (x, y16, g16))
    n = x.shape[-1]
    shifted = x - x.max(axis=-1, keepdims=True)
    total = np.exp(shifted).sum(axis=-1, keepdims=True)
    if name == "softmax":
        forward = np.exp(shifted) / total
        forward_bound = np.abs(forward) * (gamma(n) + 8 * U32)
        s = (g * y).sum(axis=-1, keepdims=True)         # products of two float16s are exact in float32
        backward = y * (g - s)
        backward_bound = np.abs(y) * (gamma(n) * np.abs(g * y).sum(axis=-1, keepdims=True)
                                      + 3 * U32 * (np.abs(g) + np.abs(s)))
    else:
        forward = shifted - np.log(total)
        forward_bound = gamma(n + 8) * (1 + np.abs(np.log(total)) + np.abs(forward))
        s = g.sum(axis=-1, keepdims=True)
        backward = g - np.exp(y) * s
        backward_bound = (np.exp(y) * (gamma(n) * np.abs(g).sum(axis=-1, keepdims=True) + 6 * U32 * np.abs(s))
                          + 2 * U32 * np.abs(g))
    return forward, forward_bound, backward, backward_bound


def assert_within(got, exact, bound, what):
    error = np.abs(np.asarray(got, np.float64) - exact)
    allowed = bound + half_ulp16(got)
    worst = np.unravel_index(np.argmax(error - allowed), error.shape)
    assert (error <= allowed).all(), (f"{what}: {int((error > allowed).sum())} elements outside the bound; at "
                                      f"{worst}: got {got[worst]}, exact {exact[worst]}, allowed {allowed[worst]:.3g}")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_float16_softmax_family_computes_in_float32_like_torch(name):
    """torch computes half softmax in float32: forward from x, backward from the rounded output, each
    rounded once to float16. Ours and torch's each keep within that recipe's error bound, computed from
    the arithmetic (the sums' length, float32's roundoff, one float16 rounding), not from one machine's
    result: two CPUs may round a value near a float16 tie apart. The same recipe with float16 sums
    misses the bound, so the check can tell the two apart."""
    rng = np.random.default_rng(0)
    x = (3 * rng.uniform(-1, 1, (4, 2000))).astype(np.float16)
    seed = (rng.standard_normal((4, 2000)) + 3).astype(np.float16)
    ours, theirs = tl.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = getattr(ours, name)(axis=-1), getattr(theirs, name)(dim=-1)
    (y * tl.Tensor(seed)).sum().backward()
    (ty * torch.tensor(seed)).sum().backward()
    assert y.dtype == ours.grad.dtype == np.float16 and ty.dtype == theirs.grad.dtype == torch.float16
    for who, out, grad in (("ours", y.numpy(), ours.grad.numpy()),
                           ("torch", ty.detach().numpy(), theirs.grad.numpy())):
        forward, forward_bound, backward, backward_bound = float16_softmax_family_recipe(name, x, out, seed)
        if who == "torch" and name == "log_softmax":
            # torch's CPU kernel also rounds its two terms, x - max and log(sum), to float16 on the way
            # (measured: up to 1.2x the one-rounding bound); ours rounds once, at the end
            forward_bound = forward_bound + half_ulp16(x.astype(np.float64) - x.max(-1, keepdims=True)) \
                + half_ulp16(forward - x.astype(np.float64) + x.max(-1, keepdims=True))
        assert_within(out, forward, forward_bound, f"{who} {name} forward")
        assert_within(grad, backward, backward_bound, f"{who} {name} backward")
    # the same backward with its sum accumulated in float16 (one rounding per term) breaks the bound
    out = y.numpy()
    terms = seed * out if name == "softmax" else seed
    s16 = np.cumsum(terms, axis=-1, dtype=np.float16)[..., -1:]
    in_float16 = out * (seed - s16) if name == "softmax" else seed - np.exp(out) * s16
    _, _, backward, backward_bound = float16_softmax_family_recipe(name, x, out, seed)
    with pytest.raises(AssertionError, match="outside the bound"):
        assert_within(in_float16.astype(np.float16), backward, backward_bound, "float16 sums")


def test_a_numpy_integer_axis_is_an_axis():
    check_op([(2, 3)], lambda x: x.sum(axis=np.int64(1)) + x.mean(axis=(np.int32(0), 1)),
             lambda x: x.sum(dim=1) + x.mean(dim=(0, 1)))
    with pytest.raises(TypeError, match=r"sum: axis must be None, an int or a tuple of ints, got \(0, 1.0\)"):
        tl.zeros(2, 3).sum(axis=(0, 1.0))


@pytest.mark.parametrize("values, dtype", [([100, 100], "int8"), ([200, 100], "uint8"), ([2 ** 15 - 1, 2], "int16"),
                                           ([True, True], "int8")])
@pytest.mark.parametrize("op", ["sum", "prod"])
def test_integer_reductions_in_a_dtype_wrap_like_numpy_and_torch(values, dtype, op):
    """Tensor(int8 [100, 100]).sum(dtype='int8') was int64 200; NumPy and torch wrap: int8 -56."""
    x = np.array(values, dtype=np.int8 if dtype == "int8" and values[0] is not True else None)
    ours = getattr(tl.Tensor(x), op)(dtype=dtype)
    theirs = getattr(torch.from_numpy(x.copy()), op)(dtype=getattr(torch, dtype))
    assert ours.dtype == np.dtype(dtype) and ours.item() == theirs.item() == getattr(x, op)(dtype=dtype)
