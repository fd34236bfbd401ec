"""std, prod, cumsum, cumprod, cummax / cummin, logcumsumexp, any / all, argsort, sort, topk and
sum(dtype=) against torch: forward,
gradient through a random cotangent (hypothesis-drawn shapes, axes and values, zeros and ties
included), float64 and float32, and second derivatives."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import (arrays, axes, check_double_backward, check_gradcheck, check_op, one_axis, op_settings,
                          random_array, shapes, torch)

import tinygrad_lite as tl
from costs import peak_bytes


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def with_zeros(x, data):
    """Some elements set to exactly 0 (where y / x would be 0/0), chosen by hypothesis."""
    return np.where(data.draw(arrays(x.shape, "unit")) > 0.6, 0.0, x)


# ---- std ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), keepdims=st.booleans(), correction=st.sampled_from([0, 1, 2, None]))
def test_std(dtype, device, data, keepdims, correction):
    shape = data.draw(shapes(min_dims=1, min_side=3))
    axis = data.draw(axes(len(shape)))
    torch_correction = 1 if correction is None else correction
    # distinct values: at a near-constant row the variance is rounding noise, computed differently by
    # each framework, and so is the slope of its square root (exactly constant rows: see below)
    x = data.draw(arrays(shape)) + np.linspace(0.0, 3.0, math.prod(shape)).reshape(shape)
    # float32: the gradient (x - mean) / ((n - c) * std) carries both frameworks' rounding of the mean
    # and of std, different summation orders: a few float32 ulps of the O(1) terms apart, also where
    # x - mean nearly cancels to 0, so 1e-4 relative and 1e-5 absolute
    float32 = dtype == "float32"
    check_op([x], lambda x: x.std(axis=axis, keepdims=keepdims, correction=correction),
             lambda x: x.std(dim=torch_dims(axis, x.ndim), keepdim=keepdims, correction=torch_correction),
             dtype=dtype, device=device, grad_rtol=1e-4 if float32 else None, grad_atol=1e-5 if float32 else None)


def test_std_of_a_constant_has_gradient_zero(device):
    """sqrt's slope is infinite at 0 and var's is 0 there: torch's gradient is 0, not inf * 0 = nan."""
    check_op([np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 3.0]])], lambda x: x.std(dim=1), device=device)
    check_op([np.zeros((2, 3))], lambda x: x.std(), device=device)
    check_op([np.array([1.0, np.nan])], lambda x: x.std(), device=device)


def test_std_spellings_and_defaults(device):
    check_op([(3, 4)], lambda x: x.std(), device=device)                      # torch's default: correction=1
    check_op([(3, 4)], lambda x: x.std(dim=1, keepdim=True), device=device)
    check_op([(3, 4)], lambda x: x.std(0), device=device)
    check_op([(3, 4)], lambda x: tl.std(x, axis=1, ddof=0), lambda x: torch.std(x, dim=1, correction=0), device=device)
    check_op([(3, 4)], lambda x: x.var(dim=0, correction=0), device=device)
    check_double_backward([random_array((3, 4))], lambda x: x.std(dim=1), device=device)
    with pytest.raises(TypeError, match="std: got both ddof=0 and correction=1"):
        tl.zeros(2, 3).std(ddof=0, correction=1)


# ---- prod --------------------------------------------------------------------------------------------

def torch_prod(x, axis, keepdims):
    """torch's prod takes one dim or all; several axes are reduced one after another."""
    if axis is None:
        return x.prod() if not keepdims else x.prod().reshape([1] * x.ndim)
    for a in sorted({a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)}, reverse=True):
        x = x.prod(dim=a, keepdim=keepdims)
    return x


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), keepdims=st.booleans(), zeros=st.booleans())
def test_prod(dtype, device, data, keepdims, zeros):
    shape = data.draw(shapes())
    axis = data.draw(axes(len(shape)))
    x = data.draw(arrays(shape, "nonzero"))
    if zeros:
        x = with_zeros(x, data)
    check_op([x], lambda t: t.prod(axis=axis, keepdims=keepdims), lambda t: torch_prod(t, axis, keepdims),
             dtype=dtype, device=device)


def test_prod_spellings_second_derivative_and_empty(device):
    check_op([(3, 4)], lambda x: x.prod(dim=1, keepdim=True), device=device)
    check_op([(3, 4)], tl.prod, torch.prod, device=device)
    x = random_array((3, 4), "nonzero")
    check_double_backward([x], lambda t: t.prod(dim=1), device=device)
    x[0, 1] = 0.0                       # one zero in a row, and two in another
    x[2, 0] = x[2, 3] = 0.0
    check_double_backward([x], lambda t: t.prod(dim=1), device=device)
    check_op([np.zeros((2, 0))], lambda t: t.prod(dim=1), device=device)


# ---- cumsum, cumprod ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), zeros=st.booleans())
def test_cumulative(name, dtype, device, data, zeros):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(one_axis(len(shape)))
    x = data.draw(arrays(shape, "nonzero"))
    if zeros:
        x = with_zeros(x, data)
    check_op([x], lambda t: getattr(t, name)(axis), lambda t: getattr(t, name)(dim=axis), dtype=dtype,
             device=device)
    check_op([x], lambda t: getattr(t, name)(dim=axis), dtype=dtype, device=device)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumulative_second_derivative_flattened_and_0d(name, device):
    x = random_array((3, 4), "nonzero")
    check_double_backward([x], lambda t: getattr(t, name)(dim=1), device=device)
    x[1, 1] = x[2, 0] = x[2, 2] = 0.0
    check_double_backward([x], lambda t: getattr(t, name)(dim=1), device=device)
    check_double_backward([x], lambda t: getattr(t, name)(dim=0), device=device)
    check_op([x], lambda t: getattr(tl, name)(t), lambda t: getattr(torch, name)(t.reshape(-1), dim=0), device=device)
    check_op([np.array(1.5)], lambda t: getattr(t, name)(dim=0), device=device)
    assert check_gradcheck(lambda t: getattr(t, name)(axis=1), x).ok


def test_cumprod_backward_with_a_zero_is_linear_in_time_and_memory():
    """n = 12,000 with one zero took 18 s and 4.5 GB (the n x n products); torch's O(n) formula now:
    the peak is a few arrays of n, and the gradient is torch's."""
    n = 12_000
    x = np.linspace(0.999, 1.001, n)
    x[n // 3] = 0.0
    g = np.random.default_rng(0).standard_normal(n)

    def gradient():
        t = tl.Tensor(x, requires_grad=True)
        t.cumprod(dim=0).backward(tl.Tensor(g))
        return t.grad.numpy()
    peak, got = peak_bytes(gradient)
    assert peak < 20 * x.nbytes, peak
    t = torch.tensor(x, requires_grad=True)
    t.cumprod(dim=0).backward(torch.tensor(g))
    np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
@pytest.mark.parametrize("values, dtype", [([100, 100, 27], "int8"), ([200, 100, 3], "uint8"), ([3, 5, 7], "int16")])
def test_integer_scans_in_a_dtype_wrap_like_torch(name, values, dtype):
    """cumsum(dtype=int8) summed in int64 (NumPy's accumulator for small integers); torch wraps in int8."""
    x = np.array(values, dtype=np.int16)
    ours = getattr(tl.Tensor(x), name)(dim=0, dtype=dtype)
    theirs = getattr(torch.from_numpy(x.copy()), name)(dim=0, dtype=getattr(torch, dtype))
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), ties=st.booleans())
def test_cummax_cummin_values_and_indices(name, dtype, device, data, ties):
    """Values and indices as torch (ties: the latest index; a NaN wins from where it stands), the
    values' gradient to the element each came from."""
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(one_axis(len(shape)))
    x = data.draw(arrays(shape, "real"))
    if ties:
        x = np.round(x)
    result = check_op([x], lambda t: tuple(getattr(t, name)(axis)), lambda t: tuple(getattr(t, name)(dim=axis)),
                      dtype=dtype, device=device)
    assert result.outputs[1].dtype == np.int64


def test_cummax_cummin_nan_integers_0d_and_second_derivative(device):
    x = np.array([[1.0, 3.0, 3.0, 2.0, np.nan, 5.0, np.nan], [2.0, 2.0, -1.0, 7.0, 7.0, 0.0, 1.0]])
    for name in ("cummax", "cummin"):
        check_op([x], lambda t, name=name: tuple(getattr(tl, name)(t, dim=1)),
                 lambda t, name=name: tuple(getattr(torch, name)(t, dim=1)),
                 device=device, forward_only=True)
        check_op([np.array([[3, 3, 1, 5], [0, -2, -2, 9]])], lambda t, name=name: tuple(getattr(t, name)(dim=1)),
                 device=device)
        check_op([np.array(2.5)], lambda t, name=name: tuple(getattr(t, name)(dim=0)), device=device)
        check_double_backward([random_array((3, 5))], lambda t, name=name: getattr(t, name)(dim=1).values ** 2,
                              device=device)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), spread=st.sampled_from([1.0, 30.0, 1000.0]))
def test_logcumsumexp(dtype, device, data, spread):
    """log(cumsum(exp(x))) without overflow or underflow, however far apart the values (spread).

    The gradient dx_j = sum_{i >= j} gy_i e^(x_j - y_i) is, in both frameworks, the difference of a
    part for gy's positive entries and one for its negative entries. Each term e^(x - y) carries the
    error of a few roundings of |x|, |y| <= spread + log n in its exponent, that relative error in the
    term; so each side is within that of M = the gradient for |gy| (in float64), and the two sides
    within twice that. Not relative to the result: the parts may cancel (x all equal, gy of mixed sign).
    """
    shape = data.draw(shapes(min_dims=1, max_side=6))
    axis = data.draw(one_axis(len(shape)))
    x = data.draw(arrays(shape, "unit")) * spread
    check_op([x], lambda t: t.logcumsumexp(axis), lambda t: t.logcumsumexp(dim=axis), dtype=dtype, device=device,
             forward_only=True)
    exponent = max(8 * (spread + 2) * np.finfo(dtype).eps, 1e-6 if dtype == "float64" else 1e-5)
    gy = data.draw(arrays(shape, "real"))

    def gradient(framework, values, cotangent, dtype):
        if framework is tl:
            t = tl.Tensor(values, dtype=dtype, requires_grad=True, device=device)
            (t.logcumsumexp(axis) * tl.Tensor(cotangent, dtype=dtype, device=device)).sum().backward()
            assert t.grad.dtype == np.dtype(dtype) and t.grad.shape == t.shape
            return t.grad.numpy().astype(np.float64)
        t = torch.tensor(values, dtype=getattr(torch, dtype), requires_grad=True)
        (t.logcumsumexp(axis) * torch.tensor(cotangent, dtype=getattr(torch, dtype))).sum().backward()
        return t.grad.numpy().astype(np.float64)

    ours, theirs = gradient(tl, x, gy, dtype), gradient(torch, x, gy, dtype)
    scale = gradient(torch, x, np.abs(gy), "float64")
    limit = 2 * exponent * scale + np.finfo(dtype).tiny
    assert np.all(np.abs(ours - theirs) <= limit), (np.abs(ours - theirs) - limit).max()


def test_logcumsumexp_second_derivative_infinities_and_integers(device):
    check_double_backward([random_array((3, 6))], lambda t: t.logcumsumexp(dim=1), device=device)
    check_double_backward([random_array((5, 2))], lambda t: tl.logcumsumexp(t, dim=0) ** 2,
                          lambda t: torch.logcumsumexp(t, dim=0) ** 2, device=device)
    x = np.array([-np.inf, -1000.0, 0.0, 1000.0, -np.inf, np.inf])
    check_op([x], lambda t: t.logcumsumexp(dim=0), device=device, forward_only=True)
    t = tl.Tensor([0.5, -1.0, 2.0], requires_grad=True)        # a zero cotangent: zeros of x's shape, as torch
    t.logcumsumexp(dim=0).backward(tl.zeros(3))
    u = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    u.logcumsumexp(dim=0).backward(torch.zeros(3))
    assert t.grad.shape == (3,) and t.grad.numpy().tolist() == u.grad.tolist() == [0.0, 0.0, 0.0]
    ours = tl.Tensor([1, 2, 3]).logcumsumexp(dim=0)          # torch refuses integers; the default float dtype
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), torch.tensor([1.0, 2.0, 3.0]).logcumsumexp(0).numpy(), rtol=1e-6)


# ---- any, all ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["any", "all"])
@op_settings
@given(data=st.data(), keepdims=st.booleans(), as_bool=st.booleans())
def test_any_all(name, device, data, keepdims, as_bool):
    shape = data.draw(shapes())
    axis = data.draw(axes(len(shape)))
    x = np.round(data.draw(arrays(shape, "unit")))            # -1, 0, 1: zeros are common
    x = x != 0 if as_bool else x
    if axis is None:
        torch_fn = (lambda t: getattr(t, name)()) if not keepdims else \
            (lambda t: getattr(t, name)(dim=tuple(range(t.ndim)), keepdim=True) if t.ndim else getattr(t, name)())
    else:
        def torch_fn(t):
            return getattr(t, name)(dim=axis, keepdim=keepdims)
    result = check_op([x], lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), torch_fn, device=device,
                      forward_only=True)
    assert result.outputs[0].dtype == np.bool_
    if axis is not None:
        check_op([x], lambda t: getattr(t, name)(dim=axis, keepdim=keepdims), device=device, forward_only=True)


def test_any_all_functions(device):
    x = np.array([[0.0, 1.0], [0.0, 0.0]])
    check_op([x], lambda t: tl.any(t, dim=1), lambda t: torch.any(t, dim=1), device=device, forward_only=True)
    check_op([x], lambda t: tl.all(t, dim=0), lambda t: torch.all(t, dim=0), device=device, forward_only=True)


# ---- argsort, sort, topk -------------------------------------------------------------------------------

@st.composite
def sortable(draw, ties):
    """An array of at least one axis: distinct values, or values on a coarse grid (many ties)."""
    shape = draw(shapes(min_dims=1))
    x = draw(arrays(shape, "unit"))
    if ties:
        return np.round(x * 2) / 2
    return (np.argsort(np.argsort(x.reshape(-1), kind="stable"), kind="stable").reshape(shape) + x / 4).astype(float)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), descending=st.booleans(), ties=st.booleans())
def test_sort_and_argsort(dtype, device, data, descending, ties):
    """torch's stable=True order, ties included: the same values, indices and gradient."""
    x = data.draw(sortable(ties))
    axis = data.draw(one_axis(x.ndim))
    check_op([x], lambda t: t.sort(axis, descending=descending),
             lambda t: t.sort(dim=axis, descending=descending, stable=True), dtype=dtype, device=device)
    check_op([x], lambda t: t.sort(dim=axis, descending=descending, stable=True), dtype=dtype, device=device)
    check_op([x], lambda t: t.argsort(dim=axis, descending=descending, stable=True), dtype=dtype, device=device,
             forward_only=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), largest=st.booleans())
def test_topk(dtype, device, data, largest):
    x = data.draw(sortable(ties=False))
    axis = data.draw(one_axis(x.ndim))
    k = data.draw(st.integers(0, x.shape[axis]))
    check_op([x], lambda t: t.topk(k, dim=axis, largest=largest), dtype=dtype, device=device)
    check_op([x], lambda t: tl.topk(t, k, axis, largest), lambda t: torch.topk(t, k, axis, largest),
             dtype=dtype, device=device)


@op_settings
@given(data=st.data())
def test_topk_with_ties_picks_tied_values(device, data):
    """With ties torch may pick either of two equal elements; the values agree, each index points at
    its value, and the gradient lands on the picked elements only."""
    x = data.draw(sortable(ties=True))
    k = data.draw(st.integers(0, x.shape[-1]))
    check_op([x], lambda t: t.topk(k).values, device=device, forward_only=True)
    values, indices = (r.numpy() for r in tl.Tensor(x, dtype="float64", device=device).topk(k))
    np.testing.assert_array_equal(np.take_along_axis(x, indices, axis=-1), values)
    t = tl.Tensor(x, requires_grad=True, dtype="float64", device=device)
    t.topk(k).values.sum().backward()
    expected = np.zeros_like(x)
    np.put_along_axis(expected, indices, 1.0, axis=-1)
    np.testing.assert_array_equal(t.grad.numpy(), expected)


def test_sort_function_forms_nan_and_0d(device):
    x = np.array([[3.0, np.nan, 1.0, 2.0], [np.nan, 0.5, 0.5, -1.0]])
    for descending in (False, True):
        check_op([x], lambda t, descending=descending: tl.sort(t, descending=descending),
                 lambda t, descending=descending: torch.sort(t, descending=descending, stable=True),
                 device=device, forward_only=True)
        check_op([x], lambda t, descending=descending: tl.argsort(t, 0, descending),
                 lambda t, descending=descending: torch.argsort(t, dim=0, descending=descending, stable=True),
                 device=device, forward_only=True)
    check_op([np.array(2.5)], lambda t: t.sort(), device=device)
    check_op([np.array(2.5)], lambda t: t.topk(1), device=device)
    check_op([np.array(2.5)], lambda t: t.argsort(), device=device, forward_only=True)


def test_sort_topk_second_derivative():
    x = random_array((3, 5))
    check_double_backward([x], lambda t: t.sort(dim=1).values ** 3, lambda t: t.sort(dim=1).values ** 3)
    check_double_backward([x], lambda t: t.topk(2, dim=0).values ** 3, lambda t: t.topk(2, dim=0).values ** 3)


def test_topk_bad_k_is_a_clear_error():
    with pytest.raises(tl.ShapeError, match=r"topk: k must be an int in \[0, 3\] .* got 4"):
        tl.zeros(2, 3).topk(4)
    with pytest.raises(tl.ShapeError, match=r"topk: k must be an int .* got -1"):
        tl.zeros(2, 3).topk(-1)


# ---- sum(dtype=) ---------------------------------------------------------------------------------------

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32, "int64": torch.int64}


@op_settings
@given(data=st.data(), to=st.sampled_from(["float64", "float32"]), keepdims=st.booleans())
def test_sum_dtype(device, data, to, keepdims):
    shape = data.draw(shapes())
    axis = data.draw(axes(len(shape)))
    dims = torch_dims(axis, len(shape))
    check_op([data.draw(arrays(shape))], lambda x: x.sum(axis=axis, keepdims=keepdims, dtype=to),
             lambda x: x.sum(dim=dims, keepdim=keepdims, dtype=TORCH_DTYPES[to]) if dims != () else
             x.to(TORCH_DTYPES[to]), dtype="float32", device=device)


def test_sum_dtype_of_integers_and_booleans(device):
    ints = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    result = check_op([ints], lambda x: x.sum(dim=1, dtype="float32"), lambda x: x.sum(dim=1, dtype=torch.float32),
                      device=device)
    assert result.outputs[0].dtype == np.float32
    result = check_op([ints > 2], lambda x: x.sum(), device=device)
    assert result.outputs[0].dtype == result.torch_outputs[0].dtype == np.int64
    check_op([ints], lambda x: tl.sum(x, dtype="int64"), lambda x: torch.sum(x, dtype=torch.int64), device=device)


def test_numpy_functions_call_the_methods():
    """np.prod(t), np.std(t), np.cumsum(t), np.any(t) call the methods with NumPy's arguments and get
    NumPy's answers (np.std passes ddof=0)."""
    data = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, 6.0]])
    t = tl.Tensor(data)
    for f in (np.prod, np.std, np.cumsum, np.cumprod, np.any, np.all):
        np.testing.assert_allclose(f(t).numpy(), f(data), rtol=1e-6)
        np.testing.assert_allclose(f(t, axis=1).numpy(), f(data, axis=1), rtol=1e-6)
    with pytest.raises(TypeError, match="prod: out= is not supported"):
        np.prod(t, out=np.empty(()))
