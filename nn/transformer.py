"""``nn.TransformerEncoderLayer``: attention, then a two-layer MLP, each with a residual connection and a
LayerNorm, with torch's arguments and parameter names (``self_attn.in_proj_weight``, ``linear1.weight``,
``norm1.weight``, ...), so torch's weights load unchanged.

With ``norm_first=True``, ``activation='gelu'`` and the causal mask this is the block of GPT (minGPT's
``Block``): every position reads only itself and the positions before it, and

    x = x + attention(LayerNorm₁(x))
    x = x + Linear₂(GELU(Linear₁(LayerNorm₂(x))))

``norm_first=False`` (torch's default, the original Transformer) normalises after each residual sum.
"""
import numpy as np

import tinygrad_lite as tl

from .attention import MultiheadAttention
from .layers import GELU, Dropout, Linear, ReLU
from .module import Module
from .normalization import LayerNorm

ACTIVATIONS = {"relu": ReLU, "gelu": GELU}


def generate_square_subsequent_mask(sz, device=None, dtype=None):
    """The (sz, sz) causal mask as torch's ``nn.Transformer.generate_square_subsequent_mask`` makes it:
    0 on and below the diagonal, −∞ above (query i may not see the keys after i)."""
    dtype = np.dtype(dtype or tl.get_default_dtype())
    upper = np.triu(np.ones((sz, sz), dtype=bool), k=1)
    return tl.Tensor(np.where(upper, -np.inf, 0.0).astype(dtype), device=device)


class TransformerEncoderLayer(Module):
    """torch's ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``;
    ``activation`` is 'relu', 'gelu' or a callable. The formulas are in the module docstring; dropout
    (in training) follows the attention, the MLP's activation and the MLP.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``: the masks are
    ``MultiheadAttention``'s (``src_mask`` (L, L), True or −∞ = not attended)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        if isinstance(activation, str) and activation not in ACTIVATIONS:
            raise ValueError(f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, got "
                             f"{activation!r}")
        kinds = {"dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **kinds)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kinds)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kinds)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kinds)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kinds)
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        self.activation = ACTIVATIONS[activation]() if isinstance(activation, str) else activation
        if device is not None:
            self.to(device)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x = src
        if self.norm_first:
            x = x + self._attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._attention(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._feed_forward(x))

    def _attention(self, x, mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False,
                                is_causal=is_causal)
        return self.dropout1(out)

    def _feed_forward(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))
