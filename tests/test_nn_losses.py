"""Cross-entropy, NLL, MSE and the L1/L2 penalties against torch (float64, values and gradients)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.bounds import gamma
from tests.torch_oracle import check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def labels(n, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@op_settings
@given(n=st.integers(1, 7), classes=st.integers(1, 6), scale=st.sampled_from([1.0, 10.0]))
def test_cross_entropy_with_class_labels_matches_torch(reduction, n, classes, scale):
    y = labels(n, classes)
    check_op([random_array((n, classes)) * scale], lambda z: F.cross_entropy(z, y, reduction=reduction),
             torch_fn=lambda z: TF.cross_entropy(z, torch.from_numpy(y), reduction=reduction))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["one_hot", "soft"])
def test_cross_entropy_with_probability_targets_matches_torch(reduction, kind):
    n, classes = 6, 4
    if kind == "one_hot":
        targets = np.eye(classes)[labels(n, classes)]
    else:
        targets = np.random.default_rng(2).random((n, classes))
        targets /= targets.sum(axis=1, keepdims=True)
    check_op([(n, classes)], lambda z: F.cross_entropy(z, targets, reduction=reduction),
             torch_fn=lambda z: TF.cross_entropy(z, torch.from_numpy(targets), reduction=reduction))


def test_one_hot_and_class_labels_give_the_same_loss_and_gradient():
    y = labels(5, 3)
    z1, z2 = (tl.Tensor(random_array((5, 3)), requires_grad=True) for _ in range(2))
    a, b = F.cross_entropy(z1, y), F.cross_entropy(z2, np.eye(3)[y])
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)
    np.testing.assert_allclose(z1.grad.numpy(), z2.grad.numpy(), rtol=1e-14, atol=1e-16)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [3e5, 3e5 + 1, -7e5], [-1e300, 0.0, 1e300]])
    y = np.array([1, 0, 2])
    result = check_op([z], lambda t: F.cross_entropy(t, y, reduction="none"),
                      torch_fn=lambda t: TF.cross_entropy(t, torch.from_numpy(y), reduction="none"))
    assert np.isfinite(result.outputs[0]).all()


def test_cross_entropy_float32_stays_float32_and_matches_torch():
    y = labels(8, 5)
    result = check_op([(8, 5)], lambda z: F.cross_entropy(z, y),
                      torch_fn=lambda z: TF.cross_entropy(z, torch.from_numpy(y)), dtype="float32")
    assert result.grads["input 0"].dtype == np.float32


def test_cross_entropy_second_order_matches_torch():
    """With create_graph=True the backward is built from Tensor ops, so it can be differentiated."""
    z, y = random_array((4, 3)), labels(4, 3)
    ours, theirs = tl.Tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    F.cross_entropy(ours, y).backward(create_graph=True)
    g = ours.grad
    ours.grad = None
    (g * g).sum().backward()
    gt, = torch.autograd.grad(TF.cross_entropy(theirs, torch.from_numpy(y)), theirs, create_graph=True)
    (gt * gt).sum().backward()
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_rejects_labels_outside_the_classes():
    z = tl.zeros(4, 10)
    with pytest.raises(ValueError, match=r"label 10 \(at position 2\) is outside \[0, 10\)"):
        F.cross_entropy(z, np.array([1, 2, 10, 3]))
    with pytest.raises(ValueError, match=r"label -1 \(at position 0\) is outside \[0, 10\)"):
        F.cross_entropy(z, [-1, 2, 3, 3])


def test_cross_entropy_shape_and_type_errors():
    z = tl.zeros(4, 3)
    with pytest.raises(tl.ShapeError, match=r"labels of shape \(4,\).*got \(5,\)"):
        F.cross_entropy(z, np.zeros(5, dtype=np.int64))
    with pytest.raises(tl.ShapeError, match=r"must have the logits' shape \(4, 3\), got \(4, 2\)"):
        F.cross_entropy(z, np.zeros((4, 2)))
    with pytest.raises(tl.ShapeError,
                       match=r"logits must have shape \(batch, classes\) or \(batch, classes, d1, ...\), got \(3,\)"):
        F.cross_entropy(tl.zeros(3), np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="must be integers, got dtype float64"):
        F.cross_entropy(z, np.zeros(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(z, np.zeros(4, dtype=np.int64), reduction="avg")


def test_cross_entropy_accepts_label_tensors():
    z = tl.Tensor(random_array((3, 4)))
    np.testing.assert_allclose(F.cross_entropy(z, tl.Tensor([0, 3, 1])).numpy(),
                               F.cross_entropy(z, np.array([0, 3, 1])).numpy())


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(reduction):
    y = labels(6, 4, seed=1)
    check_op([(6, 4)], lambda z: F.nll_loss(F.log_softmax(z, axis=1), y, reduction=reduction),
             torch_fn=lambda z: TF.nll_loss(TF.log_softmax(z, dim=1), torch.from_numpy(y), reduction=reduction))
    with pytest.raises(ValueError, match=r"label 4 .* outside \[0, 4\)"):
        F.nll_loss(tl.zeros(2, 4), [0, 4])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction):
    check_op([(5, 3), (5, 3)], lambda a, b: F.mse_loss(a, b, reduction=reduction),
             torch_fn=lambda a, b: TF.mse_loss(a, b, reduction=reduction))


def test_mse_loss_takes_arrays_and_refuses_mismatched_shapes():
    pred = tl.Tensor(random_array((4, 1)), dtype="float32")
    target = random_array((4, 1))
    loss = F.mse_loss(pred, target)
    assert loss.dtype == np.float32
    # a mean of 4 non-negative float32 squares, each a difference and a product (2 roundings), summed in
    # any order then divided (1 more): within gamma(4 + 3) relative of the exact value, on each side
    want = np.mean((pred.numpy() - target.astype(np.float32)) ** 2)
    np.testing.assert_allclose(loss.numpy(), want, rtol=2 * gamma(4 + 3), atol=0)
    with pytest.raises(tl.ShapeError, match=r"pred has shape \(4, 1\) but target has shape \(4,\)"):
        F.mse_loss(pred, np.zeros(4))


def _mlp_pair():
    ours = nn.Sequential(nn.Dense(3, 4, dtype="float64"), nn.Tanh(), nn.Dense(4, 2, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("which", ["l1", "l2"])
def test_penalties_cover_weights_only_and_match_torch(which):
    alpha = 0.37
    ours, theirs = _mlp_pair()
    penalty = F.l1_penalty if which == "l1" else F.l2_penalty
    term = (lambda w: w.abs().sum()) if which == "l1" else (lambda w: (w * w).sum())
    value = penalty(ours, alpha)
    want = alpha * sum(term(p) for name, p in theirs.named_parameters() if name.endswith("weight"))
    np.testing.assert_allclose(value.numpy(), want.detach().numpy(), rtol=1e-13)
    value.backward()
    want.backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        if name.endswith("bias"):
            assert p.grad is None and q.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-13)


def test_penalty_added_to_the_loss_trains_like_torch_weight_decay():
    """The L2 term's gradient is 2 * alpha * w: the same as weight_decay = 2 * alpha on the weights."""
    ours, _ = _mlp_pair()
    x = tl.Tensor(random_array((5, 3)))
    y = labels(5, 2)
    (F.cross_entropy(ours(x), y) + F.l2_penalty(ours, 0.1)).backward()
    with_penalty = ours[0].weight.grad.numpy()
    ours.zero_grad()
    F.cross_entropy(ours(x), y).backward()
    np.testing.assert_allclose(with_penalty, ours[0].weight.grad.numpy() + 0.2 * ours[0].weight.numpy(),
                               rtol=1e-12)


def test_penalties_take_tensors_or_named_pairs_and_check_alpha():
    w = tl.Tensor([[1.0, -2.0]], requires_grad=True)
    b = tl.Tensor([5.0], requires_grad=True)
    assert F.l1_penalty([w], 0.5).item() == pytest.approx(1.5)
    assert F.l2_penalty([("weight", w), ("bias", b)], 2.0).item() == pytest.approx(10.0)
    with pytest.raises(ValueError, match="alpha must be a non-negative number"):
        F.l2_penalty([w], -1.0)
    with pytest.raises(ValueError, match="no weights"):
        F.l1_penalty([("bias", b)], 1.0)


def test_cross_entropy_on_every_device(device):
    y = labels(6, 4)
    check_op([(6, 4)], lambda z: F.cross_entropy(z, y),
             torch_fn=lambda z: TF.cross_entropy(z, torch.from_numpy(y)), device=device)
