"""Numerically hard inputs, ties, kinks and the error messages a student sees.

pytest turns every warning into an error here (setup.cfg), so an overflow inside exp fails the test.
"""
import numpy as np
import pytest
from bounds import U32, assert_within, float16_spacing
from torch_oracle import check_op, torch

import tinygrad_lite as tl

HUGE_LOGITS = np.array([[1e4, -1e4, 0.0, 1e4 - 1.0], [-1e4, -1e4, -1e4 + 2.0, -1e4], [5e3, 1e4, -3.0, 1e4]])


@pytest.mark.parametrize("name, ours, theirs", [
    ("softmax", lambda x: x.softmax(axis=-1), lambda x: x.softmax(dim=-1)),
    ("softmax axis 0", lambda x: x.softmax(axis=0), lambda x: x.softmax(dim=0)),
    ("log_softmax", lambda x: x.log_softmax(axis=-1), lambda x: x.log_softmax(dim=-1)),
    ("log_softmax axis 0", lambda x: x.log_softmax(axis=0), lambda x: x.log_softmax(dim=0)),
    ("logsumexp", lambda x: x.logsumexp(axis=-1), lambda x: x.logsumexp(dim=-1)),
    ("logsumexp all", lambda x: x.logsumexp(), lambda x: x.logsumexp(dim=(0, 1))),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_softmax_family_on_huge_logits_is_finite_and_matches_torch(name, ours, theirs, dtype, device):
    result = check_op([HUGE_LOGITS], ours, theirs, dtype=dtype, device=device)
    assert np.isfinite(result.outputs[0]).all() and all(np.isfinite(g).all() for g in result.grads.values())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sigmoid_and_tanh_saturate_without_overflow(dtype, device):
    x = np.array([-1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0])
    for fn in (lambda t: t.sigmoid(), lambda t: t.tanh()):
        result = check_op([x], fn, dtype=dtype, device=device)
        assert not np.isnan(result.outputs[0]).any() and not np.isnan(result.grads["input 0"]).any()
    assert tl.Tensor(x, dtype=dtype).sigmoid().numpy()[[0, -1]].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_sigmoid_far_below_zero_is_torchs(dtype):
    """Where e^-x overflows, 1 / (1 + e^-x) is exactly 0, as torch's; float16 goes through float32,
    so its small values (6e-8 at x = -17) are not flushed to 0 early."""
    x = np.array([-1000.0, -120.0, -95.0, -88.0, -50.0, -17.0, -15.0, -12.0, 0.0, 0.5, 20.0, 1000.0])
    ours = tl.Tensor(x, dtype=dtype).sigmoid().numpy()
    theirs = torch.sigmoid(torch.tensor(x, dtype=getattr(torch, dtype))).numpy()
    assert ours.dtype == theirs.dtype and ((ours == 0) == (theirs == 0)).all()
    if dtype == "float16":
        # both compute in float32 (a few ulps, 8 u32 allowed) and round once to float16: two values near
        # a rounding boundary may land on neighbouring float16s, one spacing apart, on any CPU
        assert_within(ours, theirs, float16_spacing(theirs) + 8 * U32 * np.abs(theirs.astype(np.float64)),
                      "float16 sigmoid")
    else:
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=0)     # element-wise: a few ulps


# ---- ties ------------------------------------------------------------------------------------------

TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 1.0, 2.0], [-1.0, -1.0, -1.0, -1.0]])


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_over_everything_shares_the_gradient_among_ties(name):
    x = tl.Tensor(TIES, requires_grad=True)
    getattr(x, name)().backward()
    tx = torch.tensor(TIES, requires_grad=True)
    getattr(tx, name)().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    winners = TIES == getattr(TIES, name)()
    np.testing.assert_array_equal(x.grad.numpy(), winners / winners.sum())


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_reduction_over_one_axis_gives_the_gradient_to_torchs_arg_extreme(name, axis, device):
    result = check_op([TIES], lambda x: getattr(x, name)(axis=axis),
                      lambda x: getattr(x, name)(dim=axis).values, device=device)
    assert (np.count_nonzero(result.grads["input 0"], axis=axis) == 1).all()   # one winner per slice
    check_op([TIES], lambda x: getattr(x, name)(axis=axis, keepdims=True),
             lambda x: getattr(x, name)(dim=axis, keepdim=True).values, device=device)


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_over_several_axes_shares_ties_like_amax(name, device):
    ties3 = np.stack([TIES, TIES[::-1]])
    check_op([ties3], lambda x: getattr(x, name)(axis=(0, 2)), lambda x: getattr(x, "a" + name)(dim=(0, 2)),
             device=device)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_elementwise_maximum_minimum_split_ties_in_half(name, device):
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 5.0])
    result = check_op([a, b], lambda a, b: getattr(a, name)(b).sum(), device=device)
    ga, gb = result.grads["input 0"], result.grads["input 1"]
    seed = ga[1] + gb[1]                       # element 1 has one winner, which takes the whole seed
    assert seed != 0 and ga[0] == gb[0] == seed / 2
    x = tl.Tensor([2.0], requires_grad=True)
    getattr(x, name)(x).sum().backward()       # the same node on both sides: halves add back to 1
    assert x.grad.numpy().tolist() == [1.0]


def test_kinks_follow_torchs_conventions(device):
    """relu'(0) = abs'(0) = 0, and clip passes the gradient at its bounds, as in torch."""
    x = np.array([-1.0, 0.0, 0.0, 1.0, 2.0])
    check_op([x], lambda t: t.relu() + 2 * t.abs() + 3 * t.clip(min=0.0, max=1.0), device=device)
    check_op([x], lambda t: t.clip(min=0.0), device=device)
    check_op([x], lambda t: t.clip(max=1.0), device=device)


def test_empty_and_zero_dim_tensors(device):
    check_op([(0, 3)], lambda x: x.sum(axis=0), device=device)
    check_op([(0, 3)], lambda x: (x * 2).reshape(3, 0), device=device)
    check_op([()], lambda x: (x * x).exp().sum(), device=device)


# ---- error messages --------------------------------------------------------------------------------

@pytest.mark.parametrize("op, fn", [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
                                    ("mul", lambda a, b: a * b), ("div", lambda a, b: a / b),
                                    ("pow", lambda a, b: a ** b), ("maximum", tl.maximum),
                                    ("minimum", tl.minimum)])
def test_broadcast_mismatch_names_the_op_and_both_shapes(op, fn):
    with pytest.raises(tl.ShapeError, match=rf"^{op}: shapes \(2, 3\) and \(4,\) cannot be broadcast together$"):
        fn(tl.ones(2, 3), tl.ones(4))
    with pytest.raises(ValueError):          # ShapeError is a ValueError, as NumPy's own error
        fn(tl.ones(2, 3), tl.ones(4))


def test_where_mismatch_names_the_op_and_the_shapes():
    with pytest.raises(tl.ShapeError, match=r"where: .*\(2, 3\).*\(4,\)"):
        tl.where(np.ones((2, 3), bool), tl.ones(4), 1.0)


def test_matmul_mismatch_names_the_op_and_both_shapes():
    with pytest.raises(tl.ShapeError, match=r"^matmul: shapes \(5, 3\) and \(2, 7\) do not line up"):
        tl.ones(5, 3) @ tl.ones(2, 7)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(2, 7\)"):
        tl.matmul(tl.ones(3), tl.ones(2, 7))
