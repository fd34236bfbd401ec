"""nn.Embedding and F.embedding against torch's: the lookup and its gradient (repeated indices add up)
for a random cotangent in float64 and float32, padding_idx (no gradient, a zero row at init),
scale_grad_by_freq, max_norm (the rows read renormalised in place, every norm_type), from_pretrained
(frozen or not), torch's state dict name, second derivatives, hypothesis shapes, and the errors."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.torch_oracle import check_double_backward, check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional
INDEX = np.array([[1, 4, 4, 0], [2, 1, 9, 4]])        # repeats and the padding row 0


def lookup(**options):
    def call(weight, index):
        return (F if isinstance(weight, tl.Tensor) else TF).embedding(index, weight, **options)
    return call


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", [{}, {"padding_idx": 0}, {"padding_idx": -1}, {"scale_grad_by_freq": True},
                                     {"padding_idx": 4, "scale_grad_by_freq": True}],
                         ids=["plain", "padding", "negative padding", "by frequency", "both"])
def test_the_lookup_and_its_gradient_are_torch_s(options, dtype):
    result = check_op([(10, 3), INDEX], lookup(**options), dtype=dtype)
    if "padding_idx" in options:
        assert not result.grads["input 0"][options["padding_idx"]].any()


@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (0.5, 1.0), (2.0, 3.0), (0.3, np.inf)])
def test_max_norm_renormalises_the_rows_read_in_place_as_torch(max_norm, norm_type):
    weight = random_array((10, 3), rng=np.random.default_rng(1))
    ours, theirs = tl.Tensor(weight.copy(), requires_grad=True), torch.tensor(weight.copy(), requires_grad=True)
    y = F.embedding(tl.Tensor(INDEX), ours, max_norm=max_norm, norm_type=norm_type)
    z = TF.embedding(torch.tensor(INDEX), theirs, max_norm=max_norm, norm_type=norm_type)
    np.testing.assert_allclose(y.numpy(), z.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12)      # the weight, changed
    unread = [r for r in range(10) if r not in INDEX]
    np.testing.assert_array_equal(ours.numpy()[unread], weight[unread])
    assert not np.array_equal(ours.numpy(), weight)
    g = np.random.default_rng(2).standard_normal(y.shape)
    (y * tl.Tensor(g)).sum().backward()
    (z * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_second_derivatives_are_torch_s():
    """The lookup is linear in the weight: the second derivative is zero, the first passes through
    the scatter-add's own backward."""
    check_double_backward([random_array((6, 2))], lambda w: F.embedding(tl.Tensor(INDEX % 6), w, padding_idx=1) ** 2,
                          lambda w: TF.embedding(torch.tensor(INDEX % 6), w, padding_idx=1) ** 2)


@op_settings
@given(data=st.data())
def test_lookups_of_drawn_shapes(data):
    rows, dim = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    shape = data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple))
    index = np.asarray(data.draw(st.lists(st.integers(0, rows - 1), min_size=int(np.prod(shape)),
                                          max_size=int(np.prod(shape))))).reshape(shape).astype(np.int64)
    padding = data.draw(st.one_of(st.none(), st.integers(0, rows - 1)))
    dtype = data.draw(st.sampled_from(["float64", "float32"]))
    check_op([(rows, dim), index], lookup(padding_idx=padding), dtype=dtype)


def test_the_module_is_torch_s_init_state_dict_and_repr():
    tl.manual_seed(0)
    layer = nn.Embedding(1000, 16, padding_idx=3)
    w = layer.weight.numpy()
    assert list(layer.state_dict()) == list(torch.nn.Embedding(5, 2).state_dict()) == ["weight"]
    assert w.shape == (1000, 16) and w.dtype == np.float32 and not w[3].any()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02                      # N(0, 1), torch's default
    assert repr(layer) == "Embedding(1000, 16, padding_idx=3)"
    theirs = torch.nn.Embedding(1000, 16, padding_idx=3)
    layer.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    index = np.array([[3, 5, 999]])
    np.testing.assert_array_equal(layer(tl.Tensor(index)).numpy(), theirs(torch.tensor(index)).detach().numpy())
    model = nn.Sequential(layer, nn.Linear(16, 2))
    nn.init.apply(model, "torch_default")                   # a run's init: the table stays as drawn
    np.testing.assert_array_equal(layer.weight.numpy(), theirs.weight.detach().numpy())


def test_from_pretrained_copies_and_freezes_as_torch():
    table = random_array((4, 3))
    frozen = nn.Embedding.from_pretrained(table, padding_idx=1)
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64
    np.testing.assert_array_equal(frozen.weight.numpy(), table)                  # the padding row kept
    table[0, 0] = 99.0
    assert frozen.weight.numpy()[0, 0] != 99.0                                    # a copy
    trainable = nn.Embedding.from_pretrained(tl.Tensor(table), freeze=False)
    trainable(tl.Tensor(np.array([0, 0, 2]))).sum().backward()
    np.testing.assert_array_equal(trainable.weight.grad.numpy()[:, 0], [2, 0, 1, 0])
    assert [p for p in frozen.parameters() if p.requires_grad] == []


@pytest.mark.parametrize("call, error, match", [
    (lambda w: F.embedding(tl.Tensor(np.array([0, 10])), w), IndexError, "index 10 is out of range"),
    (lambda w: F.embedding(tl.Tensor(np.array([-1])), w), IndexError, "index -1 is out of range"),
    (lambda w: F.embedding(tl.Tensor(np.array([0.0])), w), TypeError, "integer indices"),
    (lambda w: F.embedding(tl.Tensor(np.array([0])), w, sparse=True), NotImplementedError, "sparse"),
    (lambda w: F.embedding(tl.Tensor(np.array([0])), w, padding_idx=10), ValueError, "padding_idx"),
    (lambda w: nn.Embedding(10, 2, padding_idx=-11), ValueError, "padding_idx"),
    (lambda w: nn.Embedding(10, 0), ValueError, "embedding_dim must be a positive int"),
    (lambda w: nn.Embedding(10, 2, sparse=True), NotImplementedError, "sparse"),
    (lambda w: nn.Embedding(10, 2, max_norm=-1.0), ValueError, "max_norm"),
])
def test_bad_arguments_say_what_is_wrong(call, error, match):
    with pytest.raises(error, match=match):
        call(tl.Tensor(random_array((10, 2))))
