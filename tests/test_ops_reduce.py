"""Reductions and the softmax family against torch (forward, backward, ties) and finite differences.

torch spells a few of these differently (``dim``/``keepdim``, ``amax`` for several axes,
``correction`` for ``ddof``), so those tests pass a pair of lambdas.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import arrays, axes, check_gradcheck, check_op, one_axis, op_settings, random_array, shapes, torch

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
    with pytest.raises(ValueError, match=r"var: ddof .* \(1\), got ddof=1"):
        tl.zeros(3, 1).var(axis=1, ddof=1)


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
