"""One first-order path per op: where an op has a ``_fast_backward`` (the engine's choice when no
graph of the gradient is wanted, i.e. every training step), it gives what the op's ``backward`` (in
Tensor ops, the one higher-order gradients and the exercises use) gives: same dtypes and shapes,
the same values up to rounding. And ``conv2d_simple``, the composed convolution, equals ``conv2d``.

Tolerance: both paths compute the same sums in a different order (or exp(log_softmax) against
softmax), so they may differ by a few roundings per summed term: |a - b| <= terms * eps * max|a|.
LinearOp's fast path makes the very NumPy calls its backward's ops make: terms = 0, equal to the bit.
"""
import numpy as np
import pytest

import nn
import nn.functional as F
import tinygrad_lite as tl
from tinygrad_lite.core import Function, no_grad

DTYPES = [np.float32, np.float64]


def _ops_with_a_fast_path():
    found, todo = set(), [Function]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub._fast_backward is not None and sub.__module__.split(".")[0] in ("tinygrad_lite", "nn"):
                found.add(sub.__name__)
    return found


def _cross_entropy(rng, dtype, case):
    """logits (N, C) with labels or probabilities, one reduction per case."""
    n, c = 7, 5
    logits = tl.Tensor(rng.standard_normal((n, c)) * 3, dtype=dtype, requires_grad=True)
    targets = rng.integers(0, c, n) if case % 2 == 0 else rng.dirichlet(np.ones(c), n).astype(dtype)
    return F.cross_entropy(logits, targets, reduction=("mean", "sum", "none")[case % 3]), c


def _class_axis_cross_entropy(rng, dtype, case):
    """logits (N, C, d1) and (N, C, d1, d2) with class labels, one reduction per case."""
    shape = ((4, 5, 3), (2, 4, 3, 2))[case % 2]
    logits = tl.Tensor(rng.standard_normal(shape) * 3, dtype=dtype, requires_grad=True)
    labels = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    return F.cross_entropy(logits, labels, reduction=("mean", "sum", "none")[case % 3]), shape[1]


def _conv2d(rng, dtype, case):
    """few channels (gx's offset-major product) and more than 32 (one product); strides, padding,
    dilation, with and without bias."""
    channels, stride, padding, dilation, bias = [(3, 1, 1, 1, True), (40, 2, 0, 1, True), (4, 1, 2, 2, False),
                                                 (33, 1, 1, 1, False), (16, 2, 1, 1, True), (2, 1, 0, 1, True)][case]
    x = tl.Tensor(rng.standard_normal((2, channels, 7, 6)), dtype=dtype, requires_grad=True)
    w = tl.Tensor(rng.standard_normal((5, channels, 3, 3)), dtype=dtype, requires_grad=True)
    b = tl.Tensor(rng.standard_normal(5), dtype=dtype, requires_grad=True) if bias else None
    return F.conv2d(x, w, b, stride, padding, dilation), channels * 9 + 2 * 7 * 6


def _grouped_conv2d(rng, dtype, case):
    """groups of several channels, depthwise (one in, one out per group), one output per group of
    several; strides, padding, dilation, with and without bias."""
    channels, out, groups, stride, padding, dilation, bias = [
        (8, 4, 4, 1, 1, 1, True), (6, 6, 6, 2, 1, 1, False), (4, 8, 2, 1, 0, 2, True), (6, 3, 3, 1, 1, 1, True),
        (8, 8, 8, 1, 2, 2, True), (4, 4, 2, 2, 0, 1, False)][case]
    x = tl.Tensor(rng.standard_normal((2, channels, 7, 6)), dtype=dtype, requires_grad=True)
    w = tl.Tensor(rng.standard_normal((out, channels // groups, 3, 3)), dtype=dtype, requires_grad=True)
    b = tl.Tensor(rng.standard_normal(out), dtype=dtype, requires_grad=True) if bias else None
    return F.conv2d(x, w, b, stride, padding, dilation, groups), channels // groups * 9 + 2 * 7 * 6


def _normalise(rng, dtype, case):
    """batch norm in training (axes N, H, W; weight and bias, or none) and layer norm (the last
    axes; weight and bias, weight alone, or none)."""
    x = tl.Tensor(rng.standard_normal((6, 3, 4, 5)) * 2 + 1, dtype=dtype, requires_grad=True)
    if case % 2 == 0:
        model = nn.BatchNorm2d(3, dtype=dtype, affine=case != 4)
        if case != 4:
            model.weight.data[...] = rng.standard_normal(3)
        return model(x), 6 * 4 * 5
    weight = tl.Tensor(rng.standard_normal((4, 5)), dtype=dtype, requires_grad=True)
    bias = tl.Tensor(rng.standard_normal((4, 5)), dtype=dtype, requires_grad=True) if case == 1 else None
    return F.layer_norm(x, (4, 5), weight if case != 5 else None, bias), 6 * 3 * 4 * 5


def _cumprod(rng, dtype, case):
    """no zero, one, two, a zero first or last, and zeros drawn at random along the middle axis of a 3-D x."""
    x = rng.uniform(0.5, 1.5, (3, 9, 4)) * rng.choice([-1, 1], (3, 9, 4))
    zeros = [[], [4], [2, 6], [0], [8], list(np.flatnonzero(rng.random(9) < 0.4))][case]
    x[:, zeros] = 0.0
    return tl.Tensor(x, dtype=dtype, requires_grad=True).cumprod(dim=1), 4 * 9


def _attention(rng, dtype, case):
    """plain, causal, a float mask that requires grad, a boolean mask hiding a whole row, dropout, and
    key and value broadcast over the query's batch axis."""
    q = tl.Tensor(rng.standard_normal((2, 3, 4, 5)), dtype=dtype, requires_grad=True)
    k, v = (tl.Tensor(rng.standard_normal((1 if case == 5 else 2, 3, 6, n)), dtype=dtype, requires_grad=True)
            for n in (5, 3))
    mask = None
    if case == 2:
        mask = tl.Tensor(rng.standard_normal((4, 6)), dtype=dtype, requires_grad=True)
    elif case == 3:
        mask = rng.random((4, 6)) < 0.5
        mask[1] = False
    tl.manual_seed(case)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=case == 1,
                                          dropout_p=0.3 if case == 4 else 0.0), 6 * 5 + 2 * 6


def _linear(rng, dtype, case):
    """x (N, in), (in,) and (N, L, in); with and without bias; the weight alone or the input alone
    requiring a gradient."""
    shape, bias, x_grad, w_grad = [((5, 6), True, True, True), ((6,), True, True, True), ((2, 3, 6), True, True, True),
                                   ((5, 6), False, True, True), ((5, 6), True, False, True),
                                   ((2, 3, 6), False, True, False)][case]
    x = tl.Tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=x_grad)
    w = tl.Tensor(rng.standard_normal((4, 6)), dtype=dtype, requires_grad=w_grad)
    b = tl.Tensor(rng.standard_normal(4), dtype=dtype, requires_grad=True) if bias else None
    return F.linear(x, w, b), 0       # the same NumPy calls as backward's ops: equal to the bit


CASES = {"CrossEntropyOp": _cross_entropy, "LinearOp": _linear, "ClassAxisCrossEntropyOp": _class_axis_cross_entropy,
         "Conv2dOp": _conv2d, "GroupedConv2dOp": _grouped_conv2d,
         "NormaliseOp": _normalise, "CumprodOp": _cumprod, "AttentionOp": _attention}


def test_every_fast_path_is_tested_here():
    assert _ops_with_a_fast_path() == set(CASES)


def _the_op(output, name):
    """The op of kind ``name`` nearest the output (a layer may add a bias or a scale after it)."""
    todo = [output._creator]
    while todo:
        fn = todo.pop(0)
        if type(fn).__name__ == name:
            return fn
        todo.extend(x._creator for x in fn.inputs if x._creator is not None)
    raise AssertionError(f"no {name} in the graph")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_fast_backward_agrees_with_the_readable_one(name, case, dtype):
    rng = np.random.default_rng(100 * case + len(name))
    output, terms = CASES[name](rng, dtype, case)
    fn = _the_op(output, name)
    out = fn.output()
    gy = tl.Tensor(rng.standard_normal(out.shape), dtype=out.dtype)
    with no_grad():
        readable, fast = fn.backward(gy), fn._fast_backward(gy)
    readable = readable if isinstance(readable, tuple) else (readable,)
    fast = fast if isinstance(fast, tuple) else (fast,)
    assert len(readable) == len(fast) == len(fn.inputs)
    eps = np.finfo(dtype).eps
    for i, (a, b) in enumerate(zip(readable, fast)):
        assert (a is None) == (b is None), (name, i)
        if a is None:
            continue
        assert a.dtype == b.dtype == fn.inputs[i].dtype and a.shape == b.shape, (name, i, a.dtype, b.dtype)
        a, b = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
        bound = terms * eps * max(np.abs(a).max(), 1e-30)
        assert np.abs(a - b).max() <= bound, (name, case, i, np.abs(a - b).max(), bound)


def test_training_takes_the_fast_path_and_create_graph_the_readable_one():
    calls = []

    class TwiceOp(Function):
        """y = 2x;  dx = 2 gy"""
        def forward(self, x): return x * 2

        def backward(self, gy):
            calls.append("backward")
            return gy * 2

        def _fast_backward(self, gy):
            calls.append("fast")
            return tl.Tensor(gy.data * 2)

    x = tl.Tensor([1.0, 2.0], requires_grad=True)
    TwiceOp()(x).sum().backward()
    TwiceOp()(x).sum().backward(create_graph=True)
    assert calls == ["fast", "backward"]
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])


@pytest.mark.parametrize("groups, out", [(2, 4), (4, 4), (4, 8)])
def test_the_grouped_conv_op_is_the_grouped_composition(groups, out):
    """GroupedConv2dOp (conv2d's path for groups > 1) against ``grouped_conv2d`` composed of ops."""
    from nn.functional.conv import grouped_conv2d
    rng = np.random.default_rng(groups + out)
    x0, w0 = rng.standard_normal((2, 4, 8, 7)), rng.standard_normal((out, 4 // groups, 3, 2))
    b0 = rng.standard_normal(out)
    results = []
    for conv in (lambda x, w, b: F.conv2d(x, w, b, 2, 1, 1, groups),
                 lambda x, w, b: grouped_conv2d(x, w, b, groups, ((3, 2), (2, 2), (1, 1), (1, 1)))):
        x, w, b = (tl.Tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = conv(x, w, b)
        (y * y).sum().backward()
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=0, atol=3 * 6 * 2 * 8 * 7 * np.finfo(np.float64).eps * np.abs(a).max())


@pytest.mark.parametrize("stride, padding, dilation, bias", [(1, 0, 1, True), (2, 1, 1, False), (1, 2, 2, True)])
def test_conv2d_simple_is_conv2d_composed(stride, padding, dilation, bias):
    rng = np.random.default_rng(stride + 3 * padding + 7 * dilation)
    x0, w0, b0 = rng.standard_normal((2, 3, 8, 7)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    results = []
    for conv in (F.conv2d, F.conv2d_simple):
        x, w = tl.Tensor(x0, requires_grad=True), tl.Tensor(w0, requires_grad=True)
        b = tl.Tensor(b0, requires_grad=True) if bias else None
        y = conv(x, w, b, stride, padding, dilation)
        (y * y).sum().backward()
        results.append([y.numpy(), x.grad.numpy(), w.grad.numpy()] + ([b.grad.numpy()] if bias else []))
    for a, b in zip(*results):
        assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=3 * 6 * 2 * 8 * 7 * np.finfo(np.float64).eps * np.abs(a).max())
