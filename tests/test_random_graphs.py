"""Random compositions: hypothesis writes small programs over the op set, in which later steps reuse
earlier nodes (so gradients meet and add up), runs them in both frameworks and compares every node
and every leaf's gradient with torch."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import arrays, check_op, op_settings, shapes, torch

import tinygrad_lite as tl

# (name, ours, torch's or None when the same lambda works in both); unary ops take (a, b) and ignore b.
# Every op keeps the node's shape and is bounded or shifted so chains never overflow or leave its domain.
OPS = [
    ("neg", lambda a, b: -a, None),
    ("exp", lambda a, b: a.tanh().exp(), None),
    ("log", lambda a, b: (a * a + 1).log(), None),
    ("sqrt", lambda a, b: (a * a + 0.25).sqrt(), None),
    ("pow", lambda a, b: (a * a + 0.5) ** 1.5, None),
    ("tanh", lambda a, b: a.tanh(), None),
    ("sigmoid", lambda a, b: a.sigmoid(), None),
    ("relu", lambda a, b: a.relu(), None),
    ("abs", lambda a, b: a.abs(), None),
    ("clip", lambda a, b: a.clip(min=-0.5, max=0.8), None),
    ("add", lambda a, b: a + b, None),
    ("sub", lambda a, b: a - b, None),
    ("mul", lambda a, b: a * b, None),
    ("div", lambda a, b: a / (b * b + 1), None),
    ("maximum", lambda a, b: a.maximum(b), None),
    ("minimum", lambda a, b: a.minimum(b), None),
    ("where", lambda a, b: tl.where(a > b, a * 2, b), lambda a, b: torch.where(a > b, a * 2, b)),
    ("centre", lambda a, b: a - a.mean(axis=0, keepdims=True), None),
    ("row sum", lambda a, b: b + a.sum(axis=-1, keepdims=True) * 0.5, None),
    ("max", lambda a, b: a * a.max(axis=-1, keepdims=True), lambda a, b: a * a.max(dim=-1, keepdim=True).values),
    ("var", lambda a, b: a * a.var(axis=0, keepdims=True),
     lambda a, b: a * a.var(dim=0, keepdim=True, correction=0)),
    ("softmax", lambda a, b: a.softmax(axis=-1), lambda a, b: a.softmax(dim=-1)),
    ("log_softmax", lambda a, b: a.log_softmax(axis=0), lambda a, b: a.log_softmax(dim=0)),
    ("logsumexp", lambda a, b: b - a.logsumexp(axis=-1, keepdims=True),
     lambda a, b: b - a.logsumexp(dim=-1, keepdim=True)),
    ("matmul", lambda a, b: (a @ b.T @ a) * 0.5, None),
    ("transpose", lambda a, b: (a.T * b.T).T, None),
    ("reshape", lambda a, b: a.reshape(-1).reshape(b.shape) + b, None),
    ("getitem", lambda a, b: a[[0] * a.shape[0]] * b, None),
    ("concatenate", lambda a, b: tl.concatenate([a, b], axis=0)[1:a.shape[0] + 1],
     lambda a, b: torch.cat([a, b], dim=0)[1:a.shape[0] + 1]),
    ("stack", lambda a, b: tl.stack([a, b * 2]).sum(axis=0), lambda a, b: torch.stack([a, b * 2]).sum(dim=0)),
    ("pad", lambda a, b: a.pad(1)[1:-1, 2:] * b,      # a shifted left by one column, zero filled
     lambda a, b: torch.nn.functional.pad(a, (1, 1, 1, 1))[1:-1, 2:] * b),
]

steps = st.lists(st.tuples(st.integers(0, len(OPS) - 1), st.integers(0, 63), st.integers(0, 63)),
                 min_size=1, max_size=8)


def run_program(program, leaves, framework):
    """Apply each step to earlier nodes (indices wrap round), returning every computed node."""
    nodes = list(leaves)
    for op, i, j in program:
        _, ours, theirs = OPS[op]
        fn = theirs if framework == "torch" and theirs is not None else ours
        nodes.append(fn(nodes[i % len(nodes)], nodes[j % len(nodes)]))
    return nodes[len(leaves):]


@op_settings
@given(data=st.data(), program=steps, n_leaves=st.integers(1, 3))
def test_random_graph_gradients_match_torch(device, data, program, n_leaves):
    shape = data.draw(shapes(min_dims=2, max_dims=2))
    leaves = [data.draw(arrays(shape, "unit")) for _ in range(n_leaves)]
    check_op(leaves, lambda *xs: run_program(program, xs, "tl"), lambda *xs: run_program(program, xs, "torch"),
             device=device, rtol=1e-6, atol=1e-9)


def test_a_diamond_with_heavy_reuse(device):
    """One node feeding many paths, several of which meet again."""
    def diamond(x):
        h = x.tanh()
        a, b = h * h, h.exp()
        return ((a + b) * h - a / (b + 1)).sum(axis=0) + h.max(axis=0) if isinstance(x, tl.Tensor) else \
            ((a + b) * h - a / (b + 1)).sum(axis=0) + h.max(dim=0).values
    check_op([np.linspace(-1, 1, 12).reshape(3, 4)], diamond, device=device)


@pytest.mark.parametrize("op", range(len(OPS)), ids=[name for name, _, _ in OPS])
def test_every_graph_op_composes_with_itself(op):
    """Each op of the table at least once, fed its own output (hypothesis may not draw them all)."""
    x, y = np.linspace(-0.9, 0.8, 12).reshape(3, 4), np.cos(np.arange(12.0)).reshape(3, 4)
    program = [(op, 0, 1), (op, 2, 0), (op, 3, 2)]
    check_op([x, y], lambda *xs: run_program(program, xs, "tl"), lambda *xs: run_program(program, xs, "torch"))
