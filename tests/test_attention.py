"""Scaled dot-product attention against torch's ``F.scaled_dot_product_attention``: forward and gradients
(a random cotangent) in float64 and float32, every kind of mask, is_causal, scale, grouped-query heads,
broadcast batch axes, rows that see no key, dropout (with the masks replayed), second derivatives, and
hypothesis shapes; and the errors a user meets."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn.functional as F
import tinygrad_lite as tl
from nn.functional.attention import AttentionOp, attention_probabilities
from tests.torch_oracle import check_double_backward, check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional

# float32: each output is a softmax-weighted mean of S values after E-term dot products, a few dozen
# roundings of 6e-8 at most; the gradients add L or S more such terms.
TOL = {"float64": {}, "float32": {"rtol": 2e-5, "atol": 2e-6}}
DTYPES = ["float64", "float32"]


def qkv(batch=(2, 3), length=4, keys=5, features=6, value_features=3):
    return [batch + (length, features), batch + (keys, features), batch + (keys, value_features)]


def sdpa(**options):
    """The same call in both frameworks: ``options`` are keyword arguments given to each."""
    def call(q, k, v, mask=None):
        module = F if isinstance(q, tl.Tensor) else TF
        extra = {} if mask is None else {"attn_mask": mask}
        return module.scaled_dot_product_attention(q, k, v, **options, **extra)
    return call


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"scale": 0.3}, {"is_causal": True}], ids=["plain", "scale", "causal"])
def test_attention_without_a_mask_is_torch_s(dtype, options):
    check_op(qkv(), sdpa(**options), dtype=dtype, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("length, keys", [(6, 3), (2, 5)])
def test_causal_attention_is_the_lower_triangle_from_the_top_left(dtype, length, keys):
    check_op(qkv(length=length, keys=keys), sdpa(is_causal=True), dtype=dtype, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5), (3, 1, 5), (2, 3, 4, 5)], ids=["LxS", "per-batch", "full"])
def test_a_boolean_mask_keeps_the_keys_marked_true(dtype, shape):
    rng = np.random.default_rng(1)
    mask = rng.random(shape) < 0.6
    mask[..., 0] = True                        # every query sees some key
    check_op(qkv(batch=(3,) if len(shape) == 3 else (2, 3)), sdpa(), extra={"mask": mask}, dtype=dtype,
             **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_float_mask_is_added_and_gets_its_gradient(dtype):
    mask = random_array((4, 5), rng=np.random.default_rng(2))
    mask[1, 2] = -np.inf
    result = check_op(qkv(), sdpa(), extra={"mask": mask}, dtype=dtype, **TOL[dtype])
    assert np.abs(result.grads["mask"]).max() > 1e-3            # the mask really was differentiated
    assert result.grads["mask"][1, 2] == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_query_that_sees_no_key_gets_zeros_and_no_gradient_as_torch(dtype):
    mask = np.ones((4, 5), dtype=bool)
    mask[1] = False
    result = check_op(qkv(), sdpa(), extra={"mask": mask}, dtype=dtype, **TOL[dtype])
    assert not np.isnan(result.outputs[0]).any() and not result.outputs[0][..., 1, :].any()
    assert not result.grads["input 0"][..., 1, :].any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_grouped_query_heads_and_broadcast_batch_axes(dtype):
    check_op([(2, 4, 3, 6), (2, 2, 5, 6), (2, 2, 5, 4)], sdpa(enable_gqa=True), dtype=dtype, **TOL[dtype])
    check_op([(2, 4, 3, 6), (1, 1, 5, 6), (1, 1, 5, 4)], sdpa(), dtype=dtype, **TOL[dtype])
    check_op([(3, 6), (5, 6), (5, 2)], sdpa(is_causal=True), dtype=dtype, **TOL[dtype])     # no batch axes


@pytest.mark.parametrize("options, mask", [({}, None), ({}, "float"), ({"is_causal": True}, None),
                                           ({}, "bool")], ids=["plain", "float mask", "causal", "bool mask"])
def test_second_derivatives_are_torch_s(options, mask):
    rng = np.random.default_rng(3)
    arrays = [random_array(s, rng=rng) for s in qkv(batch=(2,), length=3, keys=4, features=3, value_features=2)]
    if mask == "float":
        arrays.append(random_array((3, 4), rng=rng))
    extra = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], dtype=bool)
    if mask == "bool":
        check_double_backward(arrays, lambda q, k, v: sdpa()(q, k, v, tl.Tensor(extra)),
                              lambda q, k, v: sdpa()(q, k, v, torch.tensor(extra)))
    else:
        check_double_backward(arrays, sdpa(**options))


def test_dropout_drops_attention_weights_with_the_masks_of_the_scratch_generator():
    """Torch draws its own masks, so the oracle is torch's formula with ours: (softmax(S) ⊙ M) v."""
    rng = np.random.default_rng(4)
    q, k, v = (random_array(s, rng=rng) for s in qkv())
    tl.manual_seed(5)
    ours = [tl.Tensor(a, requires_grad=True) for a in (q, k, v)]
    y = F.scaled_dot_product_attention(*ours, dropout_p=0.4)
    keep = y._creator.keep
    assert set(np.unique(keep)) == {0.0, 1 / 0.6} and 0.25 < (keep == 0).mean() < 0.55     # 120 draws of p = 0.4
    g = rng.standard_normal(y.shape)
    (y * tl.Tensor(g)).sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    weights = torch.softmax(theirs[0] @ theirs[1].transpose(-1, -2) / math.sqrt(6), dim=-1)
    expected = (weights * torch.tensor(keep)) @ theirs[2]
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-11, atol=1e-13)
    tl.manual_seed(5)
    again = F.scaled_dot_product_attention(*(tl.Tensor(a) for a in (q, k, v)), dropout_p=0.4)
    np.testing.assert_array_equal(again.numpy(), y.numpy())     # seeded: the same masks


def test_the_probabilities_are_the_softmax_of_the_scores():
    rng = np.random.default_rng(6)
    q, k = (tl.Tensor(random_array(s, rng=rng)) for s in ((2, 3, 4), (2, 5, 4)))
    p = attention_probabilities(q, k)
    expected = TF.softmax(torch.tensor(q.numpy()) @ torch.tensor(k.numpy()).transpose(-1, -2) / 2, dim=-1)
    np.testing.assert_allclose(p.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(p.numpy().sum(axis=-1), 1.0, rtol=1e-12)


@op_settings
@given(data=st.data())
def test_attention_on_drawn_shapes(data):
    batch = data.draw(st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple))
    length, keys, features, value_features = (data.draw(st.integers(1, 5)) for _ in range(4))
    causal = data.draw(st.booleans())
    dtype = data.draw(st.sampled_from(DTYPES))
    check_op(qkv(batch, length, keys, features, value_features), sdpa(is_causal=causal), dtype=dtype,
             seed=data.draw(st.integers(0, 100)), **TOL[dtype])


def test_one_op_holds_the_graph():
    q, k, v = (tl.Tensor(random_array(s), requires_grad=True) for s in qkv())
    y = F.scaled_dot_product_attention(q, k, v)
    assert isinstance(y._creator, AttentionOp) and y._creator.inputs == (q, k, v)


@pytest.mark.parametrize("call, error, match", [
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), bool), is_causal=True),
     ValueError, "not both"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 5), np.int64)),
     TypeError, "attn_mask must be bool or of the query's dtype float64, got int64"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((3, 5), bool)),
     tl.ShapeError, r"attn_mask of shape \(3, 5\) does not broadcast"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k[..., :2], v), tl.ShapeError, "must share E and S"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k, v, dropout_p=1.5), ValueError, "dropout_p"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k.astype("float32"), v), TypeError, "one dtype"),
    (lambda q, k, v: F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], enable_gqa=True), tl.ShapeError,
     "enable_gqa"),
    (lambda q, k, v: F.scaled_dot_product_attention(q.numpy(), k, v), TypeError, "query must be a Tensor"),
], ids=["mask and causal", "int mask", "mask shape", "features", "dropout", "dtypes", "gqa", "array"])
def test_bad_arguments_say_what_is_wrong(call, error, match):
    q, k, v = (tl.Tensor(random_array(s)) for s in [(2, 3, 4, 6), (2, 3, 5, 6), (2, 3, 5, 3)])
    with pytest.raises(error, match=match):
        call(q, k, v)
