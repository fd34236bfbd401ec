"""``nn.MultiheadAttention``, torch's module with torch's arguments, masks and parameter names.

One head is scaled dot-product attention (``nn.functional.scaled_dot_product_attention``) of projected
queries, keys and values; H heads split the model's E features into H groups of E/H, attend in each
group on their own, and join again:

    q, k, v = query Wqᵀ + bq,  key Wkᵀ + bk,  value Wvᵀ + bv        (Wq, Wk, Wv: the rows of in_proj_weight)
    q, k, v -> (N, H, L, E/H): each head's slice of the features
    o = softmax(q kᵀ / √(E/H) + mask) v                           (every head at once)
    y = join(o) Woutᵀ + bout                                       (out_proj)

The state dict is torch's (``in_proj_weight`` (3E, E), ``in_proj_bias`` (3E,), ``out_proj.weight``,
``out_proj.bias``), so torch's weights load unchanged.
"""
import math

import numpy as np

import tinygrad_lite as tl
from tinygrad_lite.core import Tensor

from . import functional as F
from . import init as initialisers
from .functional.attention import attention_probabilities
from .layers import Linear
from .module import Module, Parameter


class NonDynamicallyQuantizableLinear(Linear):
    """The output projection: a Linear under torch's name, whose weight torch draws as a Linear's and
    whose bias it zeroes; ``nn.init.apply`` leaves both so."""
    init_by_name = False


class MultiheadAttention(Module):
    """Multi-head attention (torch's ``nn.MultiheadAttention``; formulas in the module docstring).

    ``embed_dim`` E, ``num_heads`` H (a divisor of E), ``dropout`` on the attention weights in training,
    ``bias``, ``batch_first`` (inputs (N, L, E) instead of (L, N, E); unbatched (L, E) works too).
    Not supported: ``add_bias_kv``, ``add_zero_attn`` and key/value sizes (``kdim``, ``vdim``) other
    than E (NotImplementedError). Initialisation as torch: in_proj_weight Xavier-uniform, the biases 0.

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` -> (output, weights or None), with torch's masks:
    ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N·H, L, S) are bool, True = NOT attended
    (the opposite of scaled_dot_product_attention's), or float, added to the scores. ``is_causal`` is
    torch's hint that ``attn_mask`` is the causal mask; it needs the mask. ``need_weights``: also return
    the attention weights (after dropout, as torch), averaged over the heads unless
    ``average_attn_weights=False``. A query that may see no key gets zeros (torch's need_weights path
    gives NaN there).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        initialisers.check_sizes("MultiheadAttention", embed_dim=embed_dim, num_heads=num_heads)
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                             f"({num_heads})")
        for name, value in (("add_bias_kv", add_bias_kv), ("add_zero_attn", add_zero_attn)):
            if value:
                raise NotImplementedError(f"MultiheadAttention: {name}=True is not supported")
        for name, value in (("kdim", kdim), ("vdim", vdim)):
            if value is not None and value != embed_dim:
                raise NotImplementedError(f"MultiheadAttention: {name} other than embed_dim ({embed_dim}) is "
                                          f"not supported, got {value}")
        if isinstance(dropout, bool) or not (isinstance(dropout, (int, float)) and 0.0 <= dropout <= 1.0):
            raise ValueError(f"MultiheadAttention: dropout must be a probability in [0, 1], got {dropout!r}")
        self.embed_dim, self.num_heads, self.head_dim = int(embed_dim), int(num_heads), embed_dim // num_heads
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        dtype = np.dtype(dtype or tl.get_default_dtype())
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        self.in_proj_weight = Parameter(np.zeros((3 * embed_dim, embed_dim)), dtype=dtype)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim), dtype=dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        """torch's ``_reset_parameters``: in_proj_weight Xavier-uniform, in_proj_bias and out_proj.bias 0."""
        initialisers.xavier_uniform_(self.in_proj_weight)
        for bias in (self.in_proj_bias, self.out_proj.bias):
            if bias is not None:
                initialisers.zeros_(bias)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention: is_causal=True is a hint that attn_mask is the causal mask "
                             "and needs that mask (torch's rule): pass attn_mask=nn.transformer."
                             "generate_square_subsequent_mask(L)")
        batched = query.ndim == 3
        if not batched:                                # (L, E) -> (1, L, E)
            query, key, value = (x.unsqueeze(0) for x in (query, key, value))
            key_padding_mask = None if key_padding_mask is None else _as_tensor(key_padding_mask,
                                                                                query.device).unsqueeze(0)
        elif not self.batch_first:                     # (L, N, E) -> (N, L, E)
            query, key, value = (x.swapaxes(0, 1) for x in (query, key, value))
        if query.shape[-1] != self.embed_dim or key.shape != value.shape or key.shape[0] != query.shape[0]:
            raise tl.ShapeError(f"MultiheadAttention: query {query.shape}, key {key.shape} and value "
                                f"{value.shape} must share the batch and have {self.embed_dim} features")
        q, k, v = self._project(query, key, value)
        bias = self._mask(attn_mask, key_padding_mask, q)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if need_weights:
            weights = attention_probabilities(q, k, bias, 1.0 / math.sqrt(self.head_dim))
            weights = F.dropout(weights, dropout) if dropout else weights
            heads = weights @ v
        else:
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout)
        n, _, length, _ = heads.shape
        output = self.out_proj(heads.swapaxes(1, 2).reshape(n, length, self.embed_dim))
        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)
        if not batched:
            return output.squeeze(0), None if weights is None else weights.squeeze(0)
        return (output if self.batch_first else output.swapaxes(0, 1)), weights

    def _project(self, query, key, value):
        """(q, k, v), each (N, H, L or S, E/H): one product for self-attention, three otherwise."""
        w, b, e = self.in_proj_weight, self.in_proj_bias, self.embed_dim
        if query is key and key is value:
            q, k, v = F.linear(query, w, b).split(e, dim=-1)
        else:
            q, k, v = (F.linear(x, w[i * e:(i + 1) * e], None if b is None else b[i * e:(i + 1) * e])
                       for i, x in enumerate((query, key, value)))
        return tuple(x.reshape(x.shape[0], x.shape[1], self.num_heads, self.head_dim).swapaxes(1, 2)
                     for x in (q, k, v))

    def _mask(self, attn_mask, key_padding_mask, q):
        """The scores' additive mask, (N, H, L, S) or broadcastable to it, or None: torch's boolean masks
        (True = not attended) become −∞ there, float masks are added as they are."""
        n, heads, length = q.shape[0], self.num_heads, q.shape[2]
        bias = None
        if attn_mask is not None:
            bias = _additive(attn_mask, q, "attn_mask")
            if bias.ndim == 3:
                bias = bias.reshape(n, heads, length, bias.shape[-1])
            elif bias.ndim != 2:
                raise tl.ShapeError(f"MultiheadAttention: attn_mask must be (L, S) or (N*num_heads, L, S), got "
                                    f"{bias.shape}")
        if key_padding_mask is not None:
            padding = _additive(key_padding_mask, q, "key_padding_mask")
            if padding.ndim != 2 or padding.shape[0] != n:
                raise tl.ShapeError(f"MultiheadAttention: key_padding_mask must be (N, S) = ({n}, S), got "
                                    f"{padding.shape}")
            padding = padding.reshape(n, 1, 1, padding.shape[-1])
            bias = padding if bias is None else bias + padding
        return bias


def _as_tensor(mask, device):
    """A mask given as an array or a list, as a Tensor on ``device``."""
    return mask if isinstance(mask, Tensor) else Tensor(mask if hasattr(mask, "dtype") else np.asarray(mask),
                                                        device=device)


def _additive(mask, like, name):
    """A boolean mask (True = masked) as 0 / −∞ in ``like``'s dtype; a float mask as it is."""
    mask = _as_tensor(mask, like.device)
    if mask.dtype == bool:
        xp = like.array_module
        return Tensor._wrap(xp.where(mask.data, like.dtype.type(-np.inf), like.dtype.type(0)))
    if mask.dtype != like.dtype:
        raise TypeError(f"MultiheadAttention: {name} must be bool or of the inputs' dtype {like.dtype}, got "
                        f"{mask.dtype}")
    return mask
