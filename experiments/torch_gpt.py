"""The torch twins of ``experiments.gpt``'s two layer rows, built from torch's own modules (torch's
``nn.Embedding`` and ``nn.TransformerEncoderLayer``), with the scratch modules' parameter names, so
the weights move across by name. Imported only by ``experiments.models.build_torch``."""
import torch


class TokenAndPosition(torch.nn.Module):
    """tokens(x) + positions(0..T-1), as ``experiments.gpt.TokenAndPosition``."""

    def __init__(self, vocab, width, context):
        super().__init__()
        self.tokens = torch.nn.Embedding(vocab, width)
        self.positions = torch.nn.Embedding(context, width)

    def forward(self, x):
        return self.tokens(x) + self.positions(torch.arange(x.shape[-1], device=x.device))


class CausalBlock(torch.nn.TransformerEncoderLayer):
    """torch's TransformerEncoderLayer(width, heads, hidden, dropout, GELU (tanh), batch_first=True,
    norm_first=True) with the causal mask, as ``experiments.gpt.CausalBlock``."""

    def __init__(self, width, heads, hidden, dropout=0.0):
        super().__init__(width, heads, hidden, dropout, activation=torch.nn.GELU(approximate="tanh"),
                         batch_first=True, norm_first=True)

    def forward(self, x):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)
        return super().forward(x, src_mask=mask, is_causal=True)
