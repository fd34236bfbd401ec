"""The forward fast paths give what the readable computation they stand in for gives: bit for bit
where they make the same additions in the same order, within rounding where they sum in another
order (BLAS). Tolerance as in test_fast_backward.py: |a - b| <= terms * eps * max|a|.
"""
import numpy as np
import pytest

import nn.functional as F
import tinygrad_lite as tl
from nn.functional import upsampling
from nn.functional.normalization import dot_over, sum_over
from tinygrad_lite.backend import add_rows, one_array_axis
from tinygrad_lite.ops.einsum import contract_by_matmul


def assert_within(a, b, terms):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    bound = terms * np.finfo(np.float32).eps * max(np.abs(a).max(initial=0), 1e-30)
    assert np.abs(a - b).max(initial=0) <= bound, (np.abs(a - b).max(), bound)


@pytest.mark.parametrize("equation, shapes", [
    ("bij,bjk->bik", [(3, 4, 5), (3, 5, 2)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk->ki", [(4, 3), (3, 5)]), ("i,i->", [(7,), (7,)]), ("i,j->ji", [(3,), (4,)]),
    ("abc,cb->a", [(2, 3, 4), (4, 3)]), ("ij,kj->ikj", [(3, 4), (5, 4)])])
def test_einsum_of_two_operands_by_matmul_is_einsum(equation, shapes):
    rng = np.random.default_rng(len(equation))
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    (sa, sb), target = equation.split("->")[0].split(","), equation.split("->")[1]
    fast = contract_by_matmul(sa, sb, target, a, b)
    assert fast.dtype == np.float32
    assert_within(np.einsum(equation, a, b), fast, 2 * max(max(shapes)))


@pytest.mark.parametrize("sa, sb, target, shapes", [
    ("ii", "i", "i", [(3, 3), (3,)]),          # a letter repeated within an operand
    ("ij", "j", "", [(3, 4), (4,)]),           # i summed away by one operand alone
    ("ij", "jk", "ik", [(3, 1), (4, 5)])])     # j broadcast (1 against 4)
def test_einsum_that_is_no_matmul_keeps_numpys_einsum(sa, sb, target, shapes):
    a, b = (np.ones(s, np.float32) for s in shapes)
    assert contract_by_matmul(sa, sb, target, a, b) is None


@pytest.mark.parametrize("shape, axis, picked", [((50, 8), 0, (7, 9)), ((5, 3, 4), 0, (11,)), ((6, 2), 0, (0,)),
                                                 ((3, 4), 0, (40,)), ((2, 3, 7, 5), 2, (14,)),
                                                 ((2, 3, 7, 5), 3, (3, 4)), ((9,), 0, (20,))])
def test_a_gathers_gradient_by_sorted_rows_is_add_at_bit_for_bit(shape, axis, picked):
    """Repeated rows, negative indices and -0.0 (which np.add.at turns into 0.0) included."""
    rng = np.random.default_rng(sum(shape))
    rows = rng.integers(-shape[axis], shape[axis], picked)
    index = (slice(None),) * axis + (rows,)
    values = rng.standard_normal(np.zeros(shape)[index].shape).astype(np.float32)
    values.reshape(-1)[::3] = -0.0
    expected, fast = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    np.add.at(expected, index, values)
    add_rows(fast, *one_array_axis(index), values)
    assert expected.tobytes() == fast.tobytes()
    assert np.take(np.arange(np.prod(shape)).reshape(shape), rows, axis=axis).tolist() == \
        np.arange(np.prod(shape)).reshape(shape)[index].tolist()          # the forward's take


def test_an_index_that_is_not_one_array_keeps_the_general_scatter():
    assert one_array_axis((slice(None), np.array([1]), slice(None))) is None     # something after it
    assert one_array_axis(np.array([True, False])) is None                       # a mask
    assert one_array_axis((1, np.array([0]))) is None                            # an int before it
    assert one_array_axis((slice(1, None), np.array([0]))) is None               # a partial slice


@pytest.mark.parametrize("shape, axes", [((6, 3, 4, 5), (0, 2, 3)), ((6, 3, 20), (2,)), ((4, 5), (0,)),
                                         ((2, 3, 4), (1,))])
def test_normalisation_sums_by_blas_are_numpys_sums(shape, axes):
    rng = np.random.default_rng(len(shape))
    a, b = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    terms = int(np.prod([shape[i] for i in axes]))
    assert_within(a.sum(axis=axes, keepdims=True), sum_over(a, axes), terms)
    assert_within((a * b).sum(axis=axes, keepdims=True), dot_over(a, b, axes), terms)


@pytest.mark.parametrize("mode, size", [("bilinear", (12, 10)), ("bilinear", (5, 17)), ("linear", (9,))])
@pytest.mark.parametrize("align_corners", [False, True])
def test_linear_resizing_by_matmul_is_the_two_gathers(mode, size, align_corners):
    rng = np.random.default_rng(len(size))
    shape = (2, 3) + tuple(max(2, n // 2) for n in size)
    x = tl.Tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    fast = F.interpolate(x, size=size, mode=mode, align_corners=align_corners)
    gy = rng.standard_normal(fast.shape).astype(np.float32)
    fast.backward(gy)
    fast_grad, x.grad = x.grad.numpy(), None
    readable = x
    for axis, m in enumerate(size, start=2):
        first, second, lam0, lam1 = upsampling.linear_weights(x.shape[axis], m, None, align_corners, np.float32)
        view = (-1,) + (1,) * (x.ndim - 1 - axis)
        readable = (upsampling._along(readable, axis, first) * tl.Tensor(lam0.reshape(view))
                    + upsampling._along(readable, axis, second) * tl.Tensor(lam1.reshape(view)))
    readable.backward(gy)
    assert_within(readable.numpy(), fast.numpy(), 4)
    assert_within(x.grad.numpy(), fast_grad, 4 * max(size))


def test_an_inf_stays_where_it_is_in_bilinear_resizing():
    """Non-finite inputs take the gathers: a product would make 0 * inf = NaN of a whole row."""
    x = np.ones((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = np.inf
    y = F.interpolate(tl.Tensor(x), scale_factor=2, mode="bilinear").numpy()
    assert np.isinf(y[0, 0, 0, 0]) and np.isfinite(y[0, 0, 4:, 4:]).all() and not np.isnan(y).any()


@pytest.mark.parametrize("scale", [2, 3])
def test_nearest_at_an_integer_scale_repeats_exactly_what_the_gather_picks(scale):
    rng = np.random.default_rng(scale)
    x = tl.Tensor(rng.standard_normal((2, 3, 4, 5)).astype(np.float32), requires_grad=True)
    y = F.interpolate(x, scale_factor=scale)
    expected = x.numpy()
    for axis in (2, 3):
        expected = np.take(expected, np.arange(expected.shape[axis] * scale) // scale, axis=axis)
    assert y.numpy().tobytes() == expected.tobytes()
    y.backward(np.ones(y.shape, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(x.shape, scale * scale, np.float32))


@pytest.mark.parametrize("out", [(5, 5), (3, 4), (1, 7)])
def test_adaptive_average_pooling_by_matmul_is_the_mean_of_each_window(out):
    rng = np.random.default_rng(sum(out))
    x = tl.Tensor(rng.standard_normal((2, 3, 14, 9)).astype(np.float32), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, out)
    h, w = x.shape[2:]
    expected = np.empty(y.shape, np.float32)
    for i in range(out[0]):
        for j in range(out[1]):
            rows = slice(i * h // out[0], -(-(i + 1) * h // out[0]))
            cols = slice(j * w // out[1], -(-(j + 1) * w // out[1]))
            expected[:, :, i, j] = x.numpy()[:, :, rows, cols].mean(axis=(2, 3))
    assert_within(expected, y.numpy(), 2 * (h + w))
    x.data[0, 0, 0, 0] = np.inf                  # non-finite: the slices and means, inf kept local
    z = F.adaptive_avg_pool2d(x, out).numpy()
    assert np.isinf(z[0, 0, 0, 0]) and not np.isnan(z).any() and np.isfinite(z[1]).all()


@pytest.mark.parametrize("shape, reduction", [((3, 5, 4), "mean"), ((2, 4, 3, 2), "sum"), ((3, 6, 1), "none")])
def test_cross_entropy_along_the_class_axis_is_the_rows_route(shape, reduction):
    """N-D logits with plain labels take ClassAxisCrossEntropyOp; the same loss and gradient as the
    (N*d1*..., C) rows the general route (a class weight of ones) reads: the same sums per row, so
    equal bit for bit but for the mean's order of additions (over an (N, d1, ...) array, not a column)."""
    from nn.functional.losses import ClassAxisCrossEntropyOp
    rng = np.random.default_rng(len(shape))
    z0 = rng.standard_normal(shape).astype(np.float32) * 3
    labels = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    gy = rng.standard_normal(labels.shape).astype(np.float32) if reduction == "none" else None
    results = []
    for weight in (None, tl.ones(shape[1])):
        z = tl.Tensor(z0, requires_grad=True)
        loss = F.cross_entropy(z, labels, weight, reduction=reduction)
        assert isinstance(loss.grad_fn, ClassAxisCrossEntropyOp) == (weight is None)
        loss.backward(None if gy is None else tl.Tensor(gy))
        results.append((loss.numpy(), z.grad.numpy()))
    (fast_loss, fast_grad), (rows_loss, rows_grad) = results
    assert fast_loss.dtype == rows_loss.dtype == np.float32 and fast_grad.dtype == np.float32
    assert_within(rows_loss, fast_loss, labels.size + shape[1])
    assert_within(rows_grad, fast_grad, shape[1])
