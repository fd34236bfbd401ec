"""Scaled dot-product attention, torch's ``F.scaled_dot_product_attention``: every query row takes a
weighted mean of the value rows, weighted by how well the query matches each key.

    S = q kᵀ · scale + bias        (L queries × S keys; scale 1/√E by default)
    P = softmax(S) along the keys  (each row sums to 1)
    y = P v

``bias`` is the mask: 0 where a key may be seen and −∞ where not (a boolean ``attn_mask``, True = take
part, or ``is_causal``: query i sees keys 0..i), or a float ``attn_mask`` added as it is (differentiable,
as in torch). A query that may see no key at all gets y = 0 and no gradient, torch's answer.

``AttentionOp`` is the op (its docstring has the gradients); ``attention_probabilities`` gives P in
Tensor ops, for ``nn.MultiheadAttention(need_weights=True)`` and the attention maps.
"""
import math

import numpy as np

import tinygrad_lite as tl
from tinygrad_lite import backend
from tinygrad_lite.core import Function, Tensor

from .dropout import dropout as _dropout


class AttentionOp(Function):
    """y = (P ⊙ M) v,  P = softmax(S) over the last axis,  S = q kᵀ · scale + bias;
    M = keep / (1 − p) is the dropout mask on P (all ones without dropout), bias the optional 4th input.

    Backward, with the rows of P (the softmax's Jacobian is diag(P) − P Pᵀ):
    gv = (P ⊙ M)ᵀ gy;   gP = (gy vᵀ) ⊙ M;   gS = P ⊙ (gP − Σ_keys gP ⊙ P);
    gq = gS k · scale;   gk = gSᵀ q · scale;   gbias = gS.

    ``backward`` recomputes P from the inputs in Tensor ops, so that with ``create_graph=True`` the
    gradient is differentiable again; ``_fast_backward`` (every training step) takes the P that
    ``forward`` kept. A row of S that is −∞ everywhere has P = 0 (not 0/0).
    """
    def __init__(self, scale, keep=None):
        self.scale, self.keep = scale, keep          # keep: None, or M as an array of P's shape

    def forward(self, q, k, v, bias=None):
        xp = backend.array_module(q)
        scores = (q @ k.swapaxes(-1, -2)) * q.dtype.type(self.scale)
        if bias is not None:
            scores = scores + bias
        row_max = scores.max(axis=-1, keepdims=True)
        self.seen = row_max > -np.inf                      # rows with at least one key to look at
        weights = xp.exp(scores - xp.where(self.seen, row_max, 0))
        self.p = weights / xp.where(self.seen, weights.sum(axis=-1, keepdims=True), 1)
        return (self.p if self.keep is None else self.p * self.keep) @ v

    def backward(self, gy):
        q, k, v = self.inputs[:3]
        p = attention_probabilities(q, k, self.inputs[3] if len(self.inputs) > 3 else None, self.scale)
        keep = None if self.keep is None else Tensor._wrap(self.keep)
        g_p = gy @ v.swapaxes(-1, -2)
        if keep is not None:
            g_p = g_p * keep
        g_s = p * (g_p - (g_p * p).sum(axis=-1, keepdims=True))
        needs = self.needs_grad
        gq = (g_s @ k) * self.scale if needs[0] else None
        gk = (g_s.swapaxes(-1, -2) @ q) * self.scale if needs[1] else None
        gv = (p if keep is None else p * keep).swapaxes(-1, -2) @ gy if needs[2] else None
        return (gq, gk, gv) if len(needs) == 3 else (gq, gk, gv, g_s if needs[3] else None)

    def _fast_backward(self, gy):
        """``backward`` on arrays, from the P that ``forward`` kept."""
        q, k, v = (x.data for x in self.inputs[:3])
        p, g, needs = self.p, gy.data, self.needs_grad
        g_p = g @ v.swapaxes(-1, -2)
        if self.keep is not None:
            g_p *= self.keep
        g_s = p * (g_p - (g_p * p).sum(axis=-1, keepdims=True))
        grads = [(g_s @ k) * self.scale if needs[0] else None,
                 (g_s.swapaxes(-1, -2) @ q) * self.scale if needs[1] else None,
                 (p if self.keep is None else p * self.keep).swapaxes(-1, -2) @ g if needs[2] else None]
        if len(needs) > 3:
            grads.append(g_s if needs[3] else None)
        return tuple(None if x is None else Tensor._wrap(x) for x in grads)


def attention_probabilities(query, key, bias=None, scale=None):
    """P = softmax(q kᵀ · scale + bias) over the keys, in Tensor ops (differentiable to any order);
    a row whose keys are all masked (−∞) is 0. ``scale`` defaults to 1/√E."""
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.swapaxes(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    seen = scores.data.max(axis=-1, keepdims=True) > -np.inf
    if bool(seen.all()):
        return scores.softmax(axis=-1)
    return tl.where(seen, scores, 0.0).softmax(axis=-1) * Tensor._wrap(seen.astype(scores.dtype))


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(q kᵀ · scale + mask) v (torch's ``F.scaled_dot_product_attention``).

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the leading axes broadcast.
    ``attn_mask``: bool (True = the key takes part) or float (added to the scores; it gets a gradient
    if it requires one), broadcastable to (..., L, S). ``is_causal``: query i sees keys 0..i (the
    lower triangle from the top left, as torch; not together with ``attn_mask``). ``dropout_p``:
    dropout on the attention weights, always applied when > 0 (torch's rule: pass 0 in evaluation),
    masks drawn from ``tinygrad_lite.backend.rng``. ``scale``: default 1/√E. ``enable_gqa``: key and
    value may have fewer heads (axis −3) than query, a divisor of them; each serves a group of heads.
    """
    _check(query, key, value, attn_mask, dropout_p, is_causal)
    if enable_gqa and key.ndim >= 3 and query.shape[-3] != key.shape[-3]:
        heads, kv_heads = query.shape[-3], key.shape[-3]
        if kv_heads == 0 or heads % kv_heads or value.shape[-3] != kv_heads:
            raise tl.ShapeError(f"scaled_dot_product_attention: with enable_gqa the key and value heads "
                                f"({kv_heads}, {value.shape[-3]}) must be equal and divide the query's {heads}")
        key, value = (x.repeat_interleave(heads // kv_heads, dim=-3) for x in (key, value))
    length, keys = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    bias = _bias(attn_mask, is_causal, query, length, keys)
    batch = np.broadcast_shapes(query.shape[:-2], key.shape[:-2], () if bias is None else bias.shape[:-2])
    keep = None
    if dropout_p > 0:
        ones = Tensor._wrap(query.array_module.ones(batch + (length, keys), dtype=query.dtype))
        keep = _dropout(ones, dropout_p).data          # the scaled mask M, drawn as F.dropout draws it
    inputs = (query, key, value) if bias is None else (query, key, value, bias)
    try:
        return AttentionOp(scale, keep)(*inputs)
    except ValueError as error:
        raise tl.ShapeError(f"scaled_dot_product_attention: query {query.shape}, key {key.shape} and value "
                            f"{value.shape} do not fit together ({error})") from None


def causal_mask(length, keys=None, device="cpu"):
    """The boolean (L, S) mask of causal attention: True where key j <= query i (torch's tril)."""
    keys = length if keys is None else keys
    return backend.to_device(np.tril(np.ones((length, keys), dtype=bool)), device)


def _bias(attn_mask, is_causal, query, length, keys):
    """The mask as a Tensor added to the scores: 0 / −∞ from a boolean mask, a float mask as it is."""
    if is_causal:
        attn_mask = causal_mask(length, keys, query.device)
    if attn_mask is None:
        return None
    if not isinstance(attn_mask, Tensor):
        attn_mask = Tensor(attn_mask, device=query.device)
    if attn_mask.dtype == bool:
        xp = query.array_module
        return Tensor._wrap(xp.where(attn_mask.data, query.dtype.type(0), query.dtype.type(-np.inf)))
    return attn_mask


def _check(query, key, value, attn_mask, dropout_p, is_causal):
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, Tensor):
            raise TypeError(f"scaled_dot_product_attention: {name} must be a Tensor, got {type(x).__name__}")
        if x.ndim < 2 or x.dtype.kind != "f":
            raise tl.ShapeError(f"scaled_dot_product_attention: {name} must be a floating tensor of shape "
                                f"(..., length, features), got shape {x.shape} of dtype {x.dtype}")
    if key.dtype != query.dtype or value.dtype != query.dtype:
        raise TypeError(f"scaled_dot_product_attention: query, key and value must have one dtype, got "
                        f"{query.dtype}, {key.dtype} and {value.dtype}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise tl.ShapeError(f"scaled_dot_product_attention: query (..., L, E) {query.shape}, key (..., S, E) "
                            f"{key.shape} and value (..., S, Ev) {value.shape} must share E and S")
    if isinstance(dropout_p, bool) or not (isinstance(dropout_p, (int, float)) and 0.0 <= dropout_p <= 1.0):
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be a probability in [0, 1], got "
                         f"{dropout_p!r}")
    if attn_mask is None:
        return
    if is_causal:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal=True, not both "
                         "(torch refuses both too)")
    mask_dtype = attn_mask.dtype if hasattr(attn_mask, "dtype") else np.asarray(attn_mask).dtype
    if mask_dtype.kind != "b" and mask_dtype != query.dtype:
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or of the query's dtype "
                        f"{query.dtype}, got {mask_dtype}")
    shape = tuple(np.shape(attn_mask))
    target = query.shape[:-1] + (key.shape[-2],)
    try:
        np.broadcast_shapes(shape, target)
    except ValueError:
        raise tl.ShapeError(f"scaled_dot_product_attention: attn_mask of shape {shape} does not broadcast "
                            f"to the scores' (..., L, S) = {target}") from None
