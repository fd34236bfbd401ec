"""The losses' torch options against torch: cross_entropy with weight, ignore_index, label_smoothing and
N-D logits; nll_loss with weight, ignore_index and N-D; binary cross-entropy of probabilities and of
logits (weight, pos_weight); smooth L1 / Huber; KL divergence. Forward, the gradient through a random
cotangent (float64 tight, float32), second derivatives, and the errors for bad arguments."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn.functional as F
import tinygrad_lite as tl
from nn.functional.losses import CrossEntropyOp
from tests.torch_oracle import check_double_backward, check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]
few = settings(op_settings, max_examples=12)      # each test is parametrised over the reductions too


def class_problem(n, classes, spatial, seed, ignore_index, ignore_some):
    """Logits (n, classes, *spatial) and labels (n, *spatial); with ``ignore_some`` about a third of the
    labels are ``ignore_index``, but never all (a mean over no label is 0/0 in both frameworks)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, classes) + spatial) * 2
    y = rng.integers(0, classes, (n,) + spatial)
    if ignore_some:
        y = np.where(rng.random(y.shape) < 0.35, ignore_index, y)
    if y.flat[0] == ignore_index:
        y.flat[0] = 0 if ignore_index else classes - 1
    return z, y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@few
@given(n=st.integers(1, 5), classes=st.integers(1, 5), spatial=st.sampled_from([(), (3,), (2, 3)]),
       weighted=st.booleans(), ignore_some=st.booleans(), ignore_index=st.sampled_from([-100, 1]),
       label_smoothing=st.sampled_from([0.0, 0.1, 0.45, 1.0]), seed=st.integers(0, 99))
def test_cross_entropy_options_match_torch(reduction, n, classes, spatial, weighted, ignore_some,
                                           ignore_index, label_smoothing, seed):
    z, y = class_problem(n, classes, spatial, seed, ignore_index, ignore_some)
    w = np.random.default_rng(seed + 1).uniform(0.2, 2.0, classes) if weighted else None
    check_op([z], lambda t: F.cross_entropy(t, y, w if w is None else tl.Tensor(w), ignore_index=ignore_index,
                                            reduction=reduction, label_smoothing=label_smoothing),
             torch_fn=lambda t: TF.cross_entropy(t, torch.from_numpy(y), None if w is None else torch.from_numpy(w),
                                                 ignore_index=ignore_index, reduction=reduction,
                                                 label_smoothing=label_smoothing))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@few
@given(n=st.integers(1, 5), classes=st.integers(1, 5), spatial=st.sampled_from([(), (3,), (2, 2)]),
       weighted=st.booleans(), label_smoothing=st.sampled_from([0.0, 0.2]), seed=st.integers(0, 99))
def test_cross_entropy_probability_targets_with_options_match_torch(reduction, n, classes, spatial, weighted,
                                                                    label_smoothing, seed):
    rng = np.random.default_rng(seed)
    p = rng.random((n, classes) + spatial)
    p /= p.sum(axis=1, keepdims=True)
    w = rng.uniform(0.2, 2.0, classes) if weighted else None
    check_op([(n, classes) + spatial], lambda t: F.cross_entropy(t, p, w, reduction=reduction,
                                                                  label_smoothing=label_smoothing),
             torch_fn=lambda t: TF.cross_entropy(t, torch.from_numpy(p), None if w is None else torch.from_numpy(w),
                                                 reduction=reduction, label_smoothing=label_smoothing))


def test_cross_entropy_options_in_float32_match_torch():
    z, y = class_problem(6, 4, (3,), 0, -100, True)
    w = np.array([0.5, 1.0, 2.0, 1.5], dtype=np.float32)
    result = check_op([z], lambda t: F.cross_entropy(t, y, w, label_smoothing=0.1),
                      torch_fn=lambda t: TF.cross_entropy(t, torch.from_numpy(y), torch.from_numpy(w),
                                                          label_smoothing=0.1), dtype="float32")
    assert result.outputs[0].dtype == np.float32 and result.grads["input 0"].dtype == np.float32


def test_cross_entropy_plain_call_and_nd_logits_use_the_one_fused_op():
    """No weight, no smoothing, no ignored label: the fused op alone (the replayed runs' numbers);
    N-D logits are its rows with the class axis last."""
    z, y = class_problem(4, 3, (), 0, -100, False)
    loss = F.cross_entropy(tl.Tensor(z, requires_grad=True), y)
    assert isinstance(loss.grad_fn, CrossEntropyOp)
    np.testing.assert_array_equal(loss.numpy(), CrossEntropyOp(y, "mean")(tl.Tensor(z)).numpy())
    z, y = class_problem(2, 3, (2, 2), 0, -100, False)
    loss = F.cross_entropy(tl.Tensor(z, requires_grad=True), y, reduction="sum")
    assert isinstance(loss.grad_fn, CrossEntropyOp)


def test_cross_entropy_and_nll_options_second_order_match_torch():
    z, y = class_problem(4, 3, (2,), 3, -100, True)
    w = np.array([0.5, 1.0, 2.0])
    check_double_backward([z], lambda t: F.cross_entropy(t, y, tl.Tensor(w), label_smoothing=0.2),
                          lambda t: TF.cross_entropy(t, torch.from_numpy(y), torch.from_numpy(w), label_smoothing=0.2))
    check_double_backward([z], lambda t: F.nll_loss(F.log_softmax(t, axis=1), y, tl.Tensor(w)),
                          lambda t: TF.nll_loss(TF.log_softmax(t, dim=1), torch.from_numpy(y), torch.from_numpy(w)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@few
@given(n=st.integers(1, 5), classes=st.integers(1, 5), spatial=st.sampled_from([(), (3,), (2, 3)]),
       weighted=st.booleans(), ignore_some=st.booleans(), ignore_index=st.sampled_from([-100, 0]),
       seed=st.integers(0, 99))
def test_nll_loss_options_match_torch(reduction, n, classes, spatial, weighted, ignore_some, ignore_index, seed):
    z, y = class_problem(n, classes, spatial, seed, ignore_index, ignore_some)
    if classes == 1 and ignore_index == 0:
        return                               # every label is the ignored 0: nothing to average
    w = np.random.default_rng(seed + 1).uniform(0.2, 2.0, classes) if weighted else None
    check_op([z], lambda t: F.nll_loss(t, y, w, ignore_index=ignore_index, reduction=reduction),
             torch_fn=lambda t: TF.nll_loss(t, torch.from_numpy(y), None if w is None else torch.from_numpy(w),
                                            ignore_index=ignore_index, reduction=reduction))


def test_class_loss_errors_name_the_argument():
    z = tl.zeros(4, 3)
    y = np.array([0, 1, 2, 1])
    with pytest.raises(tl.ShapeError, match=r"cross_entropy: weight must have one entry per class, shape \(3,\)"):
        F.cross_entropy(z, y, np.ones(4))
    with pytest.raises(TypeError, match="reduction is keyword-only"):
        F.cross_entropy(z, y, "sum")
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\], got 1.5"):
        F.cross_entropy(z, y, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"label 7 .* outside \[0, 3\) .* not ignore_index=-100"):
        F.cross_entropy(z, np.array([0, 7, 1, 1]))
    with pytest.raises(tl.ShapeError, match=r"targets for an input of shape \(4, 3, 2\) must have shape \(4, 2\)"):
        F.cross_entropy(tl.zeros(4, 3, 2), np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(tl.ShapeError, match=r"nll_loss: weight must have one entry per class"):
        F.nll_loss(z, y, np.ones(2))


# ---- binary cross-entropy ------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", REDUCTIONS)
@few
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), weighted=st.booleans(), hard=st.booleans(),
       seed=st.integers(0, 99))
def test_binary_cross_entropy_matches_torch(reduction, shape, weighted, hard, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, shape)
    t = (rng.random(shape) < 0.5).astype(float) if hard else rng.random(shape)
    w = rng.uniform(0.2, 2.0, shape[-1:]) if weighted else None
    check_op([p], lambda x: F.binary_cross_entropy(x, t, w, reduction=reduction),
             torch_fn=lambda x: TF.binary_cross_entropy(x, torch.from_numpy(t),
                                                        None if w is None else torch.from_numpy(w),
                                                        reduction=reduction))


def test_binary_cross_entropy_at_zero_and_one_matches_torch():
    """log clamped at -100 and the gradient's denominator at 1e-12, as torch: finite everywhere."""
    p = np.array([0.0, 0.0, 1.0, 1.0, 1e-300, 0.5])
    t = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.25])
    result = check_op([p], lambda x: F.binary_cross_entropy(x, t, reduction="none"),
                      torch_fn=lambda x: TF.binary_cross_entropy(x, torch.from_numpy(t), reduction="none"))
    assert np.isfinite(result.outputs[0]).all() and np.isfinite(result.grads["input 0"]).all()


def test_binary_cross_entropy_float32_and_second_order_match_torch():
    rng = np.random.default_rng(0)
    p, t = rng.uniform(0.05, 0.95, (4, 3)), rng.random((4, 3))
    check_op([p], lambda x: F.binary_cross_entropy(x, t), dtype="float32",
             torch_fn=lambda x: TF.binary_cross_entropy(x, torch.from_numpy(t.astype(np.float32))))
    check_double_backward([p], lambda x: F.binary_cross_entropy(x, t, reduction="none"),
                          lambda x: TF.binary_cross_entropy(x, torch.from_numpy(t), reduction="none"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@few
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), weighted=st.booleans(), pos_weighted=st.booleans(),
       scale=st.sampled_from([1.0, 30.0]), seed=st.integers(0, 99))
def test_binary_cross_entropy_with_logits_matches_torch_in_input_and_target(reduction, shape, weighted,
                                                                            pos_weighted, scale, seed):
    """Logits and target get gradients, as in torch (which refuses them for weight and pos_weight)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 2.0, shape) if weighted else None
    pw = rng.uniform(0.2, 3.0, shape[-1:]) if pos_weighted else None
    check_op([rng.standard_normal(shape) * scale, rng.random(shape)],
             lambda x, t: F.binary_cross_entropy_with_logits(x, t, w, reduction, pw),
             torch_fn=lambda x, t: TF.binary_cross_entropy_with_logits(
                 x, t, None if w is None else torch.from_numpy(w), reduction=reduction,
                 pos_weight=None if pw is None else torch.from_numpy(pw)))


def test_binary_cross_entropy_with_logits_float32_huge_logits_and_second_order():
    x = np.array([[-800.0, -30.0, 0.0, 30.0, 800.0]])
    t = np.array([[0.0, 1.0, 0.5, 0.0, 1.0]])
    pw = np.array([0.5, 2.0, 1.0, 3.0, 1.5])
    for dtype in ("float64", "float32"):
        result = check_op([x], lambda z, dtype=dtype: F.binary_cross_entropy_with_logits(
                              z, t, pos_weight=tl.Tensor(pw, dtype=dtype), reduction="none"),
                          torch_fn=lambda z, dtype=dtype: TF.binary_cross_entropy_with_logits(
                              z, torch.from_numpy(t.astype(dtype)), pos_weight=torch.from_numpy(pw.astype(dtype)),
                              reduction="none"), dtype=dtype)
        assert np.isfinite(result.outputs[0]).all()
    z = random_array((3, 4))
    tt = np.random.default_rng(1).random((3, 4))
    check_double_backward([z, tt], lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=tl.Tensor(pw[:4])),
                          lambda a, b: TF.binary_cross_entropy_with_logits(a, b, pos_weight=torch.from_numpy(pw[:4])))


def test_binary_losses_errors_name_the_argument():
    p = tl.Tensor([0.2, 0.7])
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must be probabilities in \[0, 1\]"):
        F.binary_cross_entropy(tl.Tensor([0.2, 1.5]), [0.0, 1.0])
    with pytest.raises(tl.ShapeError, match=r"input has shape \(2,\) but target has shape \(3,\)"):
        F.binary_cross_entropy(p, [0.0, 1.0, 1.0])
    with pytest.raises(tl.ShapeError, match=r"pos_weight of shape \(3,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(p, [0.0, 1.0], pos_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.binary_cross_entropy_with_logits(p, [0.0, 1.0], reduction="batchmean")


# ---- smooth L1, Huber, KL divergence ---------------------------------------------------------------

def regression_pair(shape, size, seed, kinks):
    """input and target whose differences stay at least 0.05 away from each kink."""
    rng = np.random.default_rng(seed)
    target = rng.standard_normal(shape)
    diff = rng.uniform(-3.0, 3.0, shape)
    for k in kinks:
        diff = np.where(np.abs(diff - k) < 0.05, diff + 0.1, diff)
    return target + diff, target


@pytest.mark.parametrize("reduction", REDUCTIONS)
@few
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), beta=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
       seed=st.integers(0, 99))
def test_smooth_l1_and_huber_match_torch_in_both_arguments(reduction, shape, beta, seed):
    x, t = regression_pair(shape, 3.0, seed, (-beta, 0.0, beta))
    check_op([x, t], lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
             torch_fn=lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta))
    if beta:
        check_op([x, t], lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=beta),
                 torch_fn=lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=beta))


def test_smooth_l1_and_huber_float32_and_second_order_match_torch():
    x, t = regression_pair((4, 3), 3.0, 0, (-0.7, 0.0, 0.7))
    for ours, theirs in [(lambda a, b: F.smooth_l1_loss(a, b, beta=0.7),
                          lambda a, b: TF.smooth_l1_loss(a, b, beta=0.7)),
                         (lambda a, b: F.huber_loss(a, b, delta=0.7), lambda a, b: TF.huber_loss(a, b, delta=0.7))]:
        check_op([x, t], ours, torch_fn=theirs, dtype="float32")
        check_double_backward([x, t], ours, theirs)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")     # torch's advice
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
@few
@given(shape=st.sampled_from([(5,), (3, 4), (2, 3, 2)]), seed=st.integers(0, 99))
def test_kl_div_matches_torch_in_both_arguments(reduction, log_target, shape, seed):
    rng = np.random.default_rng(seed)
    q = np.log(rng.dirichlet(np.ones(shape[-1]), shape[:-1]))
    p = rng.dirichlet(np.ones(shape[-1]), shape[:-1])
    target = np.log(p) if log_target else p
    check_op([q, target], lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
             torch_fn=lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target))


def test_kl_div_zero_target_float32_and_second_order_match_torch():
    q = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    p = np.array([[0.0, 0.4, 0.6], [1.0, 0.0, 0.0]])       # zeros: t ln t is 0 there
    check_op([q], lambda a: F.kl_div(a, p, reduction="batchmean"),
             torch_fn=lambda a: TF.kl_div(a, torch.from_numpy(p), reduction="batchmean"))
    check_op([q], lambda a: F.kl_div(a, p, reduction="sum"), dtype="float32",
             torch_fn=lambda a: TF.kl_div(a, torch.from_numpy(p.astype(np.float32)), reduction="sum"))
    pos = np.array([[0.1, 0.4, 0.5], [0.7, 0.2, 0.1]])
    check_double_backward([q, pos], lambda a, b: F.kl_div(a, b, reduction="none"),
                          lambda a, b: TF.kl_div(a, b, reduction="none"))
    check_double_backward([q, np.log(pos)], lambda a, b: F.kl_div(a, b, reduction="none", log_target=True),
                          lambda a, b: TF.kl_div(a, b, reduction="none", log_target=True))


def test_regression_and_kl_errors_name_the_argument():
    a = tl.Tensor([0.2, 0.7])
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be a non-negative number, got -1"):
        F.smooth_l1_loss(a, [0.0, 1.0], beta=-1)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(a, [0.0, 1.0], delta=0)
    with pytest.raises(tl.ShapeError, match=r"huber_loss: input has shape \(2,\) but target has shape \(1,\)"):
        F.huber_loss(a, [0.0])
    with pytest.raises(ValueError, match="kl_div: target must hold probabilities"):
        F.kl_div(a, [-0.5, 1.5])
    with pytest.raises(ValueError, match="kl_div: reduction must be one of"):
        F.kl_div(a, [0.5, 0.5], reduction="avg")
