"""nn.MultiheadAttention and nn.TransformerEncoderLayer against torch's, from the same weights (loaded
by torch's parameter names): outputs, attention weights, gradients of the inputs and of every
parameter for a random cotangent, in float64 and float32, with every kind of mask (boolean and float
attn_mask, (L, S) and per head, key padding, causal), batch_first or not, unbatched inputs,
self- and cross-attention; second derivatives; and the arguments refused."""
import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from tests.torch_oracle import check_double_backward, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402  (after importorskip: needs torch)


def math_kernel(forward):
    """torch's forward on its composed ('math') attention: its fused CPU kernel has no second derivative."""
    def run(*args):
        with sdpa_kernel(SDPBackend.MATH):
            return forward(*args)
    return run

E, H, N, L, S = 8, 2, 3, 4, 5
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}
DTYPES = ["float64", "float32"]


def twins(ours, theirs, dtype):
    """The torch module with the scratch module's weights, both in ``dtype``."""
    ours = ours.astype(dtype)
    theirs = theirs.to(getattr(torch, dtype))
    state = {name: torch.tensor(value) for name, value in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)
    return ours, theirs


def compare(ours, theirs, inputs, call, dtype, extra=None, seed=0):
    """Run ``call(module, *inputs, **extra)`` in both frameworks; compare every output, then, after a
    backward pass with one random cotangent per float output, the inputs' and parameters' gradients."""
    rng = np.random.default_rng(seed)
    tol = TOL[dtype]
    mine = [tl.Tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    yours = [torch.tensor(a.astype(dtype), requires_grad=True) for a in inputs]
    kw_mine = {k: (tl.Tensor(v) if isinstance(v, np.ndarray) else v) for k, v in (extra or {}).items()}
    kw_yours = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in (extra or {}).items()}
    out_mine, out_yours = call(ours, *mine, **kw_mine), call(theirs, *yours, **kw_yours)
    out_mine = out_mine if isinstance(out_mine, tuple) else (out_mine,)
    out_yours = out_yours if isinstance(out_yours, tuple) else (out_yours,)
    loss_mine, loss_yours = 0, 0
    for a, b in zip(out_mine, out_yours):
        assert (a is None) == (b is None)
        if a is None:
            continue
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), **tol)
        assert a.dtype == np.dtype(dtype)
        g = rng.standard_normal(a.shape).astype(dtype)
        loss_mine = loss_mine + (a * tl.Tensor(g)).sum()
        loss_yours = loss_yours + (b * torch.tensor(g)).sum()
    loss_mine.backward()
    loss_yours.backward()
    for a, b in zip(mine, yours):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)
    theirs_named = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None and theirs_named[name].grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), theirs_named[name].grad.numpy(), err_msg=name, **tol)


def attention_pair(dtype, **kwargs):
    tl.manual_seed(0)
    return twins(nn.MultiheadAttention(E, H, **kwargs), torch.nn.MultiheadAttention(E, H, **kwargs), dtype)


def self_attention(module, x, **kwargs):
    return module(x, x, x, **kwargs)


def cross_attention(module, q, kv, **kwargs):
    return module(q, kv, kv, **kwargs)


def _masks(rng):
    padding = rng.random((N, S)) < 0.3
    padding[:, 0] = False                            # every query sees some key
    blocked = rng.random((L, S)) < 0.4
    blocked[:, 0] = False
    per_head = rng.random((N * H, L, S)) < 0.4
    per_head[..., 0] = False
    causal = np.triu(np.ones((L, L), dtype=bool), k=1)
    return {"none": {},
            "key padding": {"key_padding_mask": padding},
            "float key padding": {"key_padding_mask": np.where(padding, -np.inf, 0.0) + rng.standard_normal((N, S))},
            "bool attn_mask": {"attn_mask": blocked},
            "per-head attn_mask": {"attn_mask": per_head},
            "float attn_mask": {"attn_mask": rng.standard_normal((L, S))},
            "both": {"attn_mask": blocked, "key_padding_mask": padding},
            "causal": {"attn_mask": causal, "is_causal": True}}


MASKS = list(_masks(np.random.default_rng(0)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)],
                         ids=["weights", "per-head weights", "no weights"])
@pytest.mark.parametrize("kind", MASKS)
def test_attention_with_every_mask_is_torch_s(kind, need_weights, average, dtype):
    rng = np.random.default_rng(MASKS.index(kind))
    masks = _masks(rng)[kind]
    masks = {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v) for k, v in masks.items()}
    ours, theirs = attention_pair(dtype, batch_first=True)
    keys = L if kind == "causal" else S
    q = random_array((N, L, E), rng=rng)
    extra = dict(masks, need_weights=need_weights, average_attn_weights=average)
    if kind == "causal":
        compare(ours, theirs, [q], self_attention, dtype, extra)
    else:
        compare(ours, theirs, [q, random_array((N, keys, E), rng=rng)], cross_attention, dtype, extra)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sequence_first_unbatched_and_separate_key_and_value(dtype):
    rng = np.random.default_rng(7)
    ours, theirs = attention_pair(dtype)                                   # batch_first=False: (L, N, E)
    compare(ours, theirs, [random_array((L, N, E), rng=rng)], self_attention, dtype)
    compare(ours, theirs, [random_array(s, rng=rng) for s in ((L, N, E), (S, N, E), (S, N, E))],
            lambda m, q, k, v: m(q, k, v), dtype)
    compare(ours, theirs, [random_array((L, E), rng=rng)], self_attention, dtype,
            {"key_padding_mask": np.array([False, True, False, False])})
    no_bias, no_bias_torch = attention_pair(dtype, bias=False, batch_first=True)
    compare(no_bias, no_bias_torch, [random_array((N, L, E), rng=rng)], self_attention, dtype)


def test_dropout_off_in_evaluation_and_on_in_training():
    ours, theirs = attention_pair("float64", dropout=0.5, batch_first=True)
    x = random_array((N, L, E))
    ours.eval()
    theirs.eval()
    compare(ours, theirs, [x], self_attention, "float64")
    ours.train()
    tl.manual_seed(1)
    out, weights = ours(*(tl.Tensor(x),) * 3, average_attn_weights=False)
    assert (weights.numpy() == 0).mean() > 0.2                # dropped attention weights
    assert not np.allclose(out.numpy(), ours.eval()(*(tl.Tensor(x),) * 3)[0].numpy())


def test_second_derivatives_through_attention_are_torch_s():
    ours, theirs = attention_pair("float64", batch_first=True)
    mask = np.triu(np.ones((3, 3), dtype=bool), k=1)

    def mine(x):
        return ours(x, x, x, attn_mask=tl.Tensor(mask), need_weights=False)[0]

    def yours(x):
        return theirs(x, x, x, attn_mask=torch.tensor(mask), need_weights=False)[0]
    check_double_backward([random_array((2, 3, E))], mine, math_kernel(yours))


def test_the_state_dict_is_torch_s_and_torch_weights_load():
    theirs = torch.nn.MultiheadAttention(E, H, batch_first=True).double()
    ours = nn.MultiheadAttention(E, H, batch_first=True, dtype="float64")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = random_array((N, L, E))
    np.testing.assert_allclose(ours(*(tl.Tensor(x),) * 3)[0].numpy(),
                               theirs(*(torch.tensor(x),) * 3)[0].detach().numpy(), rtol=1e-10, atol=1e-12)


def test_initialisation_is_torch_s():
    """in_proj_weight Xavier-uniform, the biases zero; nn.init.apply leaves attention's own init alone."""
    tl.manual_seed(0)
    model = nn.Sequential(nn.MultiheadAttention(64, 4))
    attention = model[0]
    w = attention.in_proj_weight.numpy()
    bound = np.sqrt(6 / (64 + 3 * 64))
    assert 0.95 * bound < np.abs(w).max() <= bound and abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound
    assert not attention.in_proj_bias.numpy().any() and not attention.out_proj.bias.numpy().any()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    nn.init.apply(model, "glorot_uniform")
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(embed_dim=8, num_heads=3), ValueError, "divisible by num_heads"),
    (dict(embed_dim=8, num_heads=2, add_bias_kv=True), NotImplementedError, "add_bias_kv"),
    (dict(embed_dim=8, num_heads=2, kdim=4), NotImplementedError, "kdim"),
    (dict(embed_dim=8, num_heads=2, dropout=2.0), ValueError, "dropout"),
])
def test_unsupported_arguments_are_refused_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.MultiheadAttention(**kwargs)


def test_is_causal_needs_the_mask_as_in_torch():
    attention = nn.MultiheadAttention(E, H, batch_first=True)
    x = tl.Tensor(random_array((N, L, E)), dtype="float32")
    with pytest.raises(ValueError, match="is_causal=True .* needs that mask"):
        attention(x, x, x, is_causal=True)
    with pytest.raises(tl.ShapeError, match="attn_mask must be"):
        attention(x, x, x, attn_mask=tl.Tensor(np.ones((1, 1, L, L), bool)))


# ---- the transformer block -----------------------------------------------------------------------

def block_pair(dtype, **kwargs):
    tl.manual_seed(0)
    options = dict(dim_feedforward=16, dropout=0.0, batch_first=True, **kwargs)
    return twins(nn.TransformerEncoderLayer(E, H, **options), torch.nn.TransformerEncoderLayer(E, H, **options),
                 dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first, activation", [(True, "gelu"), (False, "relu")], ids=["gpt", "original"])
@pytest.mark.parametrize("masks", ["none", "causal", "key padding"])
def test_the_block_is_torch_s(masks, norm_first, activation, dtype):
    rng = np.random.default_rng(3)
    ours, theirs = block_pair(dtype, norm_first=norm_first, activation=activation)
    extra = {}
    if masks == "causal":
        mask = nn.transformer.generate_square_subsequent_mask(L, dtype=dtype).numpy()
        np.testing.assert_array_equal(mask, torch.nn.Transformer.generate_square_subsequent_mask(L).numpy())
        extra = {"src_mask": mask, "is_causal": True}
    elif masks == "key padding":
        padding = rng.random((N, L)) < 0.3
        padding[:, 0] = False
        extra = {"src_key_padding_mask": padding}
    compare(ours, theirs, [random_array((N, L, E), rng=rng)], lambda m, x, **kw: m(x, **kw), dtype, extra)


def test_second_derivatives_through_the_block_are_torch_s():
    ours, theirs = block_pair("float64", norm_first=True, activation="gelu")
    mask = nn.transformer.generate_square_subsequent_mask(3, dtype="float64")
    check_double_backward([random_array((2, 3, E))], lambda x: ours(x, src_mask=mask, is_causal=True),
                          math_kernel(lambda x: theirs(x, src_mask=torch.tensor(mask.numpy()), is_causal=True)))


def test_the_block_s_state_dict_is_torch_s():
    ours, theirs = block_pair("float32", norm_first=True, activation="gelu")
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    with pytest.raises(ValueError, match="activation must be 'relu', 'gelu' or a callable"):
        nn.TransformerEncoderLayer(E, H, activation="tanh")
