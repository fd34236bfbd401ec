"""Embedding lookup, torch's ``F.embedding``: each integer index picks one row of a weight matrix.

    y[..., :] = weight[index[...], :]        dweight[r] = Σ over the positions holding r of gy

The lookup is a table read, and its gradient adds every position's gradient onto the row it read
(a row read twice gets both). ``padding_idx``: that row gets no gradient; ``scale_grad_by_freq``: each
position's gradient is divided by how often its index occurs in the input; ``max_norm``: the rows read
are first rescaled in place to a norm of at most ``max_norm`` (torch's ``embedding_renorm_``).
"""
import numpy as np

import tinygrad_lite as tl
from tinygrad_lite import backend
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.ops.shape import GetItemGradOp


class EmbeddingOp(Function):
    """y = weight[index];  dweight = zeros with (gy · w) added at each index's row, where the
    per-position factor w is 0 at ``padding_idx`` and 1 / count(index) with ``scale_grad_by_freq``
    (1 otherwise). The scatter-add is an op whose own gradient is the lookup again, so second
    derivatives work."""
    def __init__(self, index, padding_idx=None, scale_grad_by_freq=False):
        self.index, self.padding_idx, self.scale_grad_by_freq = index, padding_idx, scale_grad_by_freq

    def forward(self, weight):
        return weight[self.index]

    def backward(self, gy):
        weight, = self.inputs
        factor = self._factor(gy.dtype)
        if factor is not None:
            gy = gy * Tensor._wrap(factor[..., None])
        return GetItemGradOp(self.index, weight.shape)(gy)

    def _factor(self, dtype):
        """Each position's share of its gradient, or None when every share is 1."""
        if self.padding_idx is None and not self.scale_grad_by_freq:
            return None
        xp = backend.array_module(self.index)
        factor = xp.ones(self.index.shape, dtype=dtype)
        if self.scale_grad_by_freq:
            counts = xp.bincount(self.index.reshape(-1), minlength=self.inputs[0].shape[0])
            factor = factor / counts[self.index].astype(dtype)
        if self.padding_idx is not None:
            factor = factor * (self.index != self.padding_idx)
        return factor


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """The rows of ``weight`` (num_embeddings, dim) at the integer ``input`` (any shape) -> (*input.shape, dim).

    ``padding_idx`` (may be negative: counted from the end): no gradient to that row.
    ``max_norm``: the rows ``input`` reads are rescaled in place, outside the graph, to a ``norm_type``
    norm of at most ``max_norm`` (scale max_norm / (norm + 1e-7), as torch). ``scale_grad_by_freq``:
    see ``EmbeddingOp``. ``sparse=True`` (sparse gradients) is not supported.
    """
    if sparse:
        raise NotImplementedError("embedding: sparse=True (sparse gradients) is not supported; the "
                                  "gradient is a dense array of the weight's shape")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise tl.ShapeError(f"embedding: weight must be a 2-D Tensor (num_embeddings, embedding_dim), got "
                            f"{getattr(weight, 'shape', type(weight).__name__)}")
    rows = weight.shape[0]
    index = input.data if isinstance(input, Tensor) else backend.to_device(
        input if hasattr(input, "dtype") else np.asarray(input), weight.device)
    if index.dtype.kind not in "iu":
        raise TypeError(f"embedding: input must hold integer indices (int64 or int32), got dtype {index.dtype}")
    if index.size and (int(index.min()) < 0 or int(index.max()) >= rows):
        bad = int(index.min()) if int(index.min()) < 0 else int(index.max())
        raise IndexError(f"embedding: index {bad} is out of range for a weight of {rows} rows (0..{rows - 1})")
    if padding_idx is not None:
        padding_idx = check_padding_idx("embedding", padding_idx, rows)
    if max_norm is not None:
        renorm_(weight, index, max_norm, norm_type)
    return EmbeddingOp(index, padding_idx, bool(scale_grad_by_freq))(weight)


def check_padding_idx(where, padding_idx, rows):
    """``padding_idx`` in 0..rows-1 (a negative one counted from the end), or a ValueError naming it."""
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
            or not -rows <= padding_idx < rows:
        raise ValueError(f"{where}: padding_idx must be an int within num_embeddings ({rows}), counted from "
                         f"the end when negative, got {padding_idx!r}")
    return int(padding_idx) % rows


def renorm_(weight, index, max_norm, norm_type=2.0):
    """Rescale, in place and outside the graph, every row of ``weight`` that ``index`` names and whose
    ``norm_type`` norm exceeds ``max_norm``, to max_norm / (norm + 1e-7) of itself (torch's rule)."""
    xp = weight.array_module
    rows = xp.unique(index.reshape(-1))
    picked = weight.data[rows]
    if norm_type == np.inf:
        norms = xp.abs(picked).max(axis=1)
    else:
        norms = (xp.abs(picked) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
    over = norms > max_norm
    scale = max_norm / (norms[over] + 1e-7)
    weight.data[rows[over]] = picked[over] * scale[:, None].astype(weight.dtype)
    return weight
