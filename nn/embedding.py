"""``nn.Embedding``: a learned table of vectors, one row per token (torch's arguments and ``weight``)."""
import numpy as np

from tinygrad_lite import backend

from . import functional as F
from . import init as initialisers
from .functional.embedding import check_padding_idx
from .module import Module, Parameter


class Embedding(Module):
    """y = weight[input]: ``weight`` (num_embeddings, embedding_dim) drawn from N(0, 1) (torch's
    default), the ``padding_idx`` row zero and never updated; ``max_norm`` renormalises the rows read
    (see ``nn.functional.embedding``). ``Embedding.from_pretrained(weights)`` wraps an existing table.

    ``nn.init.apply`` (a run's ``init=`` name) leaves the table as drawn: its rows are vectors, not a
    layer's fan-in weights."""
    init_by_name = False

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        initialisers.check_sizes("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (sparse gradients) is not supported")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = None if padding_idx is None else check_padding_idx("Embedding", padding_idx,
                                                                              self.num_embeddings)
        if max_norm is not None and not max_norm > 0:
            raise ValueError(f"Embedding: max_norm must be a positive number or None, got {max_norm!r}")
        self.max_norm, self.norm_type = max_norm, float(norm_type)
        self.scale_grad_by_freq, self.sparse = bool(scale_grad_by_freq), False
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is None:
            self.weight = Parameter(np.zeros(shape), dtype=dtype or backend.get_default_dtype())
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != shape:
                raise ValueError(f"Embedding: _weight must have shape {shape}, got {tuple(_weight.shape)}")
            self.weight = Parameter(backend.as_numpy(getattr(_weight, "data", _weight)).copy(), dtype=dtype,
                                    requires_grad=not _freeze)
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        """weight ~ N(0, 1), then the padding row zeroed (torch's ``reset_parameters``)."""
        initialisers.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding holding a copy of ``embeddings`` (2-D), frozen (no gradient) unless ``freeze=False``;
        the padding row is kept as given (as torch)."""
        if getattr(embeddings, "ndim", np.ndim(embeddings)) != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {np.shape(embeddings)}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse, _weight=embeddings,
                   _freeze=freeze, dtype=getattr(embeddings, "dtype", None))

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq)

    def extra_repr(self):
        parts = [f"{self.num_embeddings}, {self.embedding_dim}"]
        parts += [f"{name}={value}" for name, value in (("padding_idx", self.padding_idx),
                                                        ("max_norm", self.max_norm)) if value is not None]
        if self.scale_grad_by_freq:
            parts.append("scale_grad_by_freq=True")
        return ", ".join(parts)
