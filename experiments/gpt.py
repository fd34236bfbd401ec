"""A tiny GPT out of the layer table's rows, and what a run shows of it: its answers and its attention.

    ("tokens", vocab, width, context)   token embedding + learned position embedding (GPT's wte + wpe)
    ("block", heads, hidden)            a causal pre-LayerNorm GELU block (nn.TransformerEncoderLayer)
    ("layernorm",) ("dense", vocab)     the final LayerNorm and the head: logits of the next token

``TokenAndPosition`` and ``CausalBlock`` are the two rows' scratch modules (their torch twins:
``experiments.torch_gpt``). ``generate`` answers prompts greedily, one token at a time;
``attention_maps`` gives every head's attention weights on one example; ``showcase`` both, for the
run's metrics.json and REPORT.md.
"""
import contextlib

import numpy as np

import nn
import tinygrad_lite as tl
from tinygrad_lite import backend

from .targets import IGNORE

SAMPLES = 8              # test problems shown in the report
WRONG_SAMPLES = 4        # and as many of the wrong answers, if any


class TokenAndPosition(nn.Module):
    """x (N, T) tokens -> tokens(x) + positions(0..T-1), (N, T, width): what a token is, plus where."""

    def __init__(self, vocab, width, context):
        super().__init__()
        self.context = context
        self.tokens = nn.Embedding(vocab, width)
        self.positions = nn.Embedding(context, width)

    def forward(self, x):
        length = x.shape[-1]
        if length > self.context:
            raise tl.ShapeError(f"TokenAndPosition: {length} tokens, more than the {self.context} positions learned")
        return self.tokens(x) + self.positions(backend.to_device(np.arange(length), x.device))


class CausalBlock(nn.TransformerEncoderLayer):
    """GPT's block: ``nn.TransformerEncoderLayer(width, heads, hidden, dropout, GELU, batch_first=True,
    norm_first=True)`` whose attention is causal (position i reads positions 0..i). The GELU is the
    tanh approximation, as GPT-2 and minGPT use it."""

    def __init__(self, width, heads, hidden, dropout=0.0):
        super().__init__(width, heads, hidden, dropout, activation=nn.GELU(approximate="tanh"), batch_first=True,
                         norm_first=True)

    def forward(self, x):
        return super().forward(x, src_mask=causal_mask(x), is_causal=True)

    def attention(self, x):
        """Every head's attention weights (N, heads, T, T) on the block's input ``x``."""
        h = self.norm1(x)
        return self.self_attn(h, h, h, attn_mask=causal_mask(x), need_weights=True, average_attn_weights=False)[1]


def causal_mask(x):
    """The (T, T) causal mask for ``x`` (N, T, width): 0 where a position may read, −∞ after it."""
    return nn.transformer.generate_square_subsequent_mask(x.shape[1], device=x.device, dtype=x.dtype)


@contextlib.contextmanager
def _evaluating(model):
    """The model in evaluation mode, no graph recorded; its mode given back after."""
    was = model.training
    model.eval()
    try:
        with tl.no_grad():
            yield model
    finally:
        model.train(was)


def generate(model, prompts, answer_length):
    """Greedy answers (N, answer_length) to ``prompts`` (N, prompt length): each step feeds everything so
    far and appends the most likely next token."""
    sequence = np.asarray(prompts, dtype=np.int64)
    device = next(iter(model.parameters())).device
    with _evaluating(model):
        for _ in range(answer_length):
            logits = model(tl.Tensor(backend.to_device(sequence, device))).numpy()
            sequence = np.concatenate([sequence, logits[:, -1].argmax(axis=-1)[:, None]], axis=1)
    return sequence[:, -answer_length:]


def attention_maps(model, x):
    """The attention weights (heads, T, T) of every CausalBlock of ``model`` (a Sequential), in order,
    on one example ``x`` (T,) tokens."""
    device = next(iter(model.parameters())).device
    h, maps = tl.Tensor(backend.to_device(np.asarray(x, dtype=np.int64)[None], device)), []
    with _evaluating(model):
        for layer in model:
            if isinstance(layer, CausalBlock):
                maps.append(layer.attention(h).numpy()[0])
            h = layer(h)
    return maps


def showcase(model, data, example=0):
    """What REPORT.md shows of a sequence run (JSON): greedy answers to test problems (the first
    ``SAMPLES`` and up to ``WRONG_SAMPLES`` wrong ones) beside the right answers, the share of test
    problems answered right by generation, and the attention maps of test problem ``example``."""
    task = data.task
    x, y = data.x_test, data.y_test
    prompts = x[:, :task.prompt_length]
    targets = y[:, task.prompt_length - 1:]
    answers = generate(model, prompts, task.answer_length)
    right = (answers == targets).all(axis=1)
    shown = list(range(min(SAMPLES, len(x)))) + [int(i) for i in np.flatnonzero(~right)[:WRONG_SAMPLES]
                                                  if i >= SAMPLES]
    samples = [{"problem": task.show(prompts[i], targets[i]), "output": task.show(prompts[i], answers[i]),
                "right": bool(right[i])} for i in shown]
    tokens = [task.vocabulary[t] for t in x[example]]
    predicts = [task.vocabulary[t] if t != IGNORE else "" for t in y[example]]
    return {"task": task.name, "generated_test_acc": float(right.mean()), "samples": samples,
            "attention": {"example": task.show(prompts[example], targets[example]), "tokens": tokens,
                          "predicts": predicts,
                          "blocks": [weights.round(4).tolist() for weights in attention_maps(model, x[example])]}}
