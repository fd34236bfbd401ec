"""The workloads, each written once against the interface of ``frameworks.py`` and run for every framework.

A ``Case`` knows how to set itself up for one framework (``setup(fw) -> run``, where ``run()`` does
one timed repetition), how many reported units one repetition is (``units_per_run``: an MLP epoch is
timed whole, a CNN epoch is extrapolated from ``steps`` steps), and how many floating-point operations
one unit costs (``flops_per_unit``, counted analytically from the matmuls and convolutions only: a
multiply-add is 2 FLOPs; elementwise work, pooling and the loss are not counted).

Sizes come in three modes: ``full`` (the numbers to cite), ``quick`` (shorter runs, same shapes) and
``tiny`` (tiny layers, a few steps: the smoke test's mode, numbers meaningless).
"""
import math
import os
from dataclasses import dataclass, field

import numpy as np

from experiments.config import cnn, mlp
from experiments.models import output_shape

MNIST_SHAPE = (1, 28, 28)
MLP_EPOCH = 60_000          # MNIST's training set (report A trains on all of it)
CNN_EPOCH = 48_000          # Fashion-MNIST's 60,000 minus the 12,000 validation images (reports B, C)
LR = 0.01

# Report C's wide CNN (16..256 filters, 3x3, pad 1, max-pool after all but the last block, head 512)
# and report B's backbone (49..784 filters, kernels 3 then four 2x2, pad 1, max-pool every block).
SMALL_CNN = dict(channels=(16, 32, 64, 128, 256), kernels=3, pooling="max", padding=1, hidden=(512,),
                 pool_last=False)
BIG_CNN = dict(channels=(49, 98, 196, 392, 784), kernels=(3, 2, 2, 2, 2), pooling="max", padding=1,
               hidden=(128,))
MLP_SIZES = (784, 500, 250, 100, 10)

TINY_CNN_SMALL = dict(channels=(4, 8), kernels=3, pooling="max", padding=1, hidden=(16,), pool_last=False)
TINY_CNN_BIG = dict(channels=(4, 8), kernels=(3, 2), pooling="max", padding=1, hidden=(16,))
TINY_MLP_SIZES = (784, 32, 16, 10)


@dataclass(frozen=True)
class Sizes:
    """How long each kind of case runs per repetition, per mode."""
    batch: int = 64
    mlp_rows: int = MLP_EPOCH         # rows of the MLP epoch actually run (the rest is extrapolated)
    cnn_small_steps: int = 30
    cnn_big_steps: int = 8
    layer_calls: int = 3              # conv forward+backward calls per repetition
    pool_calls: int = 10
    autograd_calls: int = 2000
    matmul_n: int = 1024
    matmul_calls: int = 5
    memory_steps: int = 5             # training steps of the peak-memory child process
    repeat: int = 9                  # a shared VM drifts 1.5-2x within seconds: more runs, steadier medians
    warmup: int = 1
    tiny: bool = False


MODES = {
    "full": Sizes(),
    "quick": Sizes(mlp_rows=6_400, cnn_small_steps=8, cnn_big_steps=2, layer_calls=1, pool_calls=3,
                   autograd_calls=500, matmul_calls=2, memory_steps=3, repeat=3),
    "tiny": Sizes(batch=8, mlp_rows=24, cnn_small_steps=2, cnn_big_steps=2, layer_calls=1, pool_calls=1,
                  autograd_calls=20, matmul_n=64, matmul_calls=1, memory_steps=1, repeat=2, tiny=True),
}

# ratio targets (scratch / torch, same run): the training workloads and the ops' rows from issue 35
# (every training workload also faster than each peer), the overhead from issue 5
TARGETS = {"mlp-sigmoid": 1.0, "mlp-relu": 1.0, "cnn-small": 1.0, "cnn-big": 1.0, "autograd-overhead": 1.0}
LAYER_TARGET = 1.5
MEMORY_TARGET = 1.0
# the groups a full run times again with one thread (the coursework's conv layers and pooling rows
# only at all cores: their per-call times are a few ms, where one thread adds little to read)
SETTING_GROUPS = ("training", "op", "overhead", "ceiling")


@dataclass
class Case:
    name: str                 # stable row key, e.g. "cnn-small" or "conv-C-2"
    group: str                # "training", "conv layer", "pooling", "overhead", "ceiling"
    title: str
    unit: str                 # what one reported unit is: "epoch", "step", "call"
    units_per_run: float      # reported units done by one run() (0.1 = a tenth of an epoch)
    flops_per_unit: float     # 0 when FLOPs are not meaningful for the row
    setup: callable = field(repr=False)   # setup(fw) -> run()
    target: float = None


# ---- architectures ----------------------------------------------------------------------------------

def architectures(sizes):
    """{name: layer specs} of the three trained models at this mode's size."""
    if sizes.tiny:
        return {"mlp-sigmoid": mlp(TINY_MLP_SIZES, "sigmoid"), "mlp-relu": mlp(TINY_MLP_SIZES, "relu"),
                "cnn-small": cnn(**TINY_CNN_SMALL), "cnn-big": cnn(**TINY_CNN_BIG)}
    return {"mlp-sigmoid": mlp(MLP_SIZES, "sigmoid"), "mlp-relu": mlp(MLP_SIZES, "relu"),
            "cnn-small": cnn(**SMALL_CNN), "cnn-big": cnn(**BIG_CNN)}


def training_flops(layers, input_shape, batch):
    """FLOPs of one training step (forward, backward, no optimiser) counted from the dense and conv
    layers: forward 2*MACs, weight gradient 2*MACs, input gradient 2*MACs except for the first layer
    with weights, whose input (the data) needs no gradient."""
    shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
    total, input_needs_grad = 0, False
    for spec, in_shape, out_shape in zip(layers, shapes, shapes[1:]):
        if spec[0] == "dense":
            macs = batch * in_shape[0] * spec[1]
        elif spec[0] == "conv":
            k = spec[2]
            macs = batch * out_shape[1] * out_shape[2] * spec[1] * in_shape[0] * k * k
        else:
            continue
        total += 2 * macs * (3 if input_needs_grad else 2)
        input_needs_grad = True
    return total


def conv_layers(layers, input_shape):
    """(in_shape, spec, needs input grad) of each conv layer, in order."""
    shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
    found = []
    for index, spec in enumerate(layers):
        if spec[0] == "conv":
            found.append((shapes[index], spec, bool(found)))
    return found


def pool_inputs(layers, input_shape):
    """(in_shape, kernel) of each pooling layer, in order."""
    shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
    return [(shapes[i], spec[1]) for i, spec in enumerate(layers) if spec[0] in ("maxpool", "avgpool")]


# ---- data -------------------------------------------------------------------------------------------

_data_cache = {}


def data(kind, rows):
    """(x, y) float32 in [0, 1] and int64 labels, ``rows`` of them: real MNIST ("mlp") or
    Fashion-MNIST ("cnn") when ``TINYGRAD_LITE_DATA`` is set, else synthetic uniform noise with
    random labels of the same shape (speed does not depend on the values)."""
    key = (kind, rows)
    if key not in _data_cache:
        _data_cache[key] = _real_data(kind, rows) or _synthetic_data(kind, rows)
    return _data_cache[key]


def data_source():
    root = os.environ.get("TINYGRAD_LITE_DATA")
    if root:
        return f"MNIST (MLP) and Fashion-MNIST (CNN) training images from TINYGRAD_LITE_DATA={root}, /255"
    return "synthetic: uniform [0, 1) float32 images of MNIST's shape, random labels (TINYGRAD_LITE_DATA unset)"


def _synthetic_data(kind, rows):
    rng = np.random.default_rng(0)
    x = rng.random((rows,) + MNIST_SHAPE, dtype=np.float32)
    y = rng.integers(0, 10, size=rows).astype(np.int64)
    return (x.reshape(rows, -1) if kind == "mlp" else x), y


def _real_data(kind, rows):
    root = os.environ.get("TINYGRAD_LITE_DATA")
    if not root:
        return None
    from tinygrad_lite.datasets import load_dataset
    (x, y), _ = load_dataset("mnist" if kind == "mlp" else "fashion-mnist", root, download=False)
    reps = math.ceil(rows / len(x))
    x = np.concatenate([x] * reps)[:rows].astype(np.float32) / np.float32(255)
    y = np.concatenate([y] * reps)[:rows].astype(np.int64)
    return (x.reshape(rows, -1) if kind == "mlp" else x.reshape((rows,) + MNIST_SHAPE)), y


# ---- the workloads, written once -------------------------------------------------------------------

def training_setup(layers, input_shape, kind, rows, batch, steps):
    """setup(fw): a model, plain SGD (lr 0.01) and ``rows`` of data cut into batches (moved to the
    device and sliced at setup, so no data loading is timed); run() does ``steps`` training steps
    (forward, cross-entropy, zero_grad, backward, SGD step), cycling over the batches."""
    def setup(fw):
        model = fw.build(layers, input_shape)
        opt = fw.sgd(model, LR)
        data_batches = fw.batches(*data(kind, rows), batch)

        def step(xb, yb):
            loss = fw.cross_entropy(model(xb), yb)
            opt.zero_grad()
            fw.backward(loss)
            opt.step()
            return loss
        step = fw.compile(step)

        def run():
            for i in range(steps):
                step(*data_batches[i % len(data_batches)])
        return run
    return setup


def op_setup(arrays, needs_grad, call, gy, calls):
    """setup(fw): ``call(fw, *inputs)`` forward and backward, ``calls`` times. ``arrays`` are the inputs
    (integer arrays become labels / indices), ``needs_grad`` says which want a gradient (as in
    training: a network's first layer gets none for its input), ``gy`` is the fixed output gradient
    (None for a scalar output, a loss)."""
    def setup(fw):
        inputs = [fw.labels(a) if a.dtype.kind in "iu" else fw.tensor(a, g) for a, g in zip(arrays, needs_grad)]
        leaves = [t for t, g in zip(inputs, needs_grad) if g]
        gyt = None if gy is None else fw.tensor(gy)

        def step():
            fw.backward(call(fw, *inputs), gyt, leaves)
            fw.clear_grads(leaves)
        step = fw.compile(step)

        def run():
            for _ in range(calls):
                step()
        return run
    return setup


def conv_setup(in_shape, spec, batch, calls, input_needs_grad):
    """setup(fw): one Conv2d's forward and backward (dy fixed), weights and bias requiring grad."""
    out, k, stride, pad = spec[1:]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch,) + tuple(in_shape), dtype=np.float32)
    w = rng.standard_normal((out, in_shape[0], k, k), dtype=np.float32) / np.float32(math.sqrt(in_shape[0] * k * k))
    b = rng.standard_normal(out, dtype=np.float32)
    oh, ow = (in_shape[1] + 2 * pad - k) // stride + 1, (in_shape[2] + 2 * pad - k) // stride + 1
    gy = rng.standard_normal((batch, out, oh, ow), dtype=np.float32)
    return op_setup((x, w, b), (input_needs_grad, True, True),
                    lambda fw, *inputs: fw.conv2d(*inputs, stride=stride, padding=pad), gy, calls)


def pool_setup(in_shape, kernel, batch, calls, kind):
    """setup(fw): max or average pooling, forward and backward (dy fixed)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch,) + tuple(in_shape), dtype=np.float32)
    gy = rng.standard_normal((batch, in_shape[0], in_shape[1] // kernel, in_shape[2] // kernel),
                             dtype=np.float32)
    if kind == "max":
        return op_setup((x,), (True,), lambda fw, x: fw.max_pool2d(x, kernel), gy, calls)
    return op_setup((x,), (True,), lambda fw, x: fw.avg_pool2d(x, kernel), gy, calls)


def autograd_setup(calls):
    """setup(fw): ``(a*b + c).sum().backward()`` on 1x1 tensors, ``calls`` times: pure overhead."""
    a, b, c = (np.full((1, 1), v, dtype=np.float32) for v in (2.0, 3.0, 4.0))
    return op_setup((a, b, c), (True, True, True), lambda fw, a, b, c: (a * b + c).sum(), None, calls)


def matmul_setup(n, calls):
    """setup(fw): an (n, n) @ (n, n) float32 product without autograd, ``calls`` times: the ceiling."""
    rng = np.random.default_rng(3)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)

    def setup(fw):
        at, bt = fw.tensor(a), fw.tensor(b)

        def step():
            with fw.no_grad():
                return fw.matmul(at, bt)
        step = fw.compile(step)

        def run():
            for _ in range(calls):
                step()
        return run
    return setup


# ---- the ops a course uses beyond the coursework --------------------------------------------------

@dataclass(frozen=True)
class OpRow:
    """One op, forward and backward, as ``op_setup`` runs it: ``inputs`` (name, shape, wants a
    gradient; a shape with an int upper bound in place of "grad" is an index / label array),
    ``call(fw, *inputs)``, the output's shape (None: a scalar loss) and its multiply-adds (forward;
    the row's FLOPs count forward and each gradient as one product of that size)."""
    name: str
    title: str
    inputs: tuple
    call: callable
    out: tuple = None
    macs: int = 0


def op_rows(batch, tiny):
    """The rows, sized for ``batch`` (channels, lengths and vocabulary shrink in tiny mode)."""
    c, hw, length, vocab, dim, classes = (4, 6, 12, 50, 8, 5) if tiny else (32, 14, 256, 5000, 128, 100)
    half, heads, seq = hw // 2, 2 if tiny else 4, 8 if tiny else 64
    image = (batch, c, hw, hw)
    pooled = 5 if not tiny else 4
    rows = [
        OpRow("conv-grouped", f"conv2d groups=4: {_shape(image)} -> {c}, 3x3 pad 1", (
            ("x", image, True), ("w", (c, c // 4, 3, 3), True), ("b", (c,), True)),
            lambda fw, x, w, b: fw.conv2d(x, w, b, padding=1, groups=4), image, batch * c * hw * hw * c // 4 * 9),
        OpRow("conv-depthwise", f"conv2d depthwise (groups={c}): {_shape(image)}, 3x3 pad 1", (
            ("x", image, True), ("w", (c, 1, 3, 3), True), ("b", (c,), True)),
            lambda fw, x, w, b: fw.conv2d(x, w, b, padding=1, groups=c), image, batch * c * hw * hw * 9),
        OpRow("conv-dilated", f"conv2d dilation=2: {_shape(image)} -> {c}, 3x3 pad 2", (
            ("x", image, True), ("w", (c, c, 3, 3), True), ("b", (c,), True)),
            lambda fw, x, w, b: fw.conv2d(x, w, b, padding=2, dilation=2), image, batch * c * hw * hw * c * 9),
        OpRow("conv-stride2", f"conv2d stride=2: {_shape((batch, c // 2, 2 * hw, 2 * hw))} -> {c}, 3x3 pad 1", (
            ("x", (batch, c // 2, 2 * hw, 2 * hw), True), ("w", (c, c // 2, 3, 3), True), ("b", (c,), True)),
            lambda fw, x, w, b: fw.conv2d(x, w, b, stride=2, padding=1), image, batch * c * hw * hw * c // 2 * 9),
        OpRow("conv1d", f"conv1d: {_shape((batch, c, length))} -> {2 * c}, k 3 pad 1", (
            ("x", (batch, c, length), True), ("w", (2 * c, c, 3), True), ("b", (2 * c,), True)),
            lambda fw, x, w, b: fw.conv1d(x, w, b, padding=1), (batch, 2 * c, length), batch * 2 * c * length * c * 3),
        OpRow("conv-transpose", f"conv_transpose2d: {_shape((batch, c, half, half))} -> {c // 2}, 4x4 stride 2 "
              f"pad 1", (("x", (batch, c, half, half), True), ("w", (c, c // 2, 4, 4), True), ("b", (c // 2,), True)),
              lambda fw, x, w, b: fw.conv_transpose2d(x, w, b, stride=2, padding=1),
              (batch, c // 2, hw, hw), batch * c * half * half * c // 2 * 16),
        OpRow("batch-norm", f"batch_norm (training) on {_shape(image)}", (
            ("x", image, True), ("running_mean", (c,), False), ("running_var", (c,), False),
            ("w", (c,), True), ("b", (c,), True)),
            lambda fw, *inputs: fw.batch_norm(*inputs), image),
        OpRow("layer-norm", f"layer_norm over the last {hw * hw} of {_shape((batch, c, hw * hw))}", (
            ("x", (batch, c, hw * hw), True), ("w", (hw * hw,), True), ("b", (hw * hw,), True)),
            lambda fw, x, w, b: fw.layer_norm(x, (hw * hw,), w, b), (batch, c, hw * hw)),
        OpRow("interp-nearest", f"interpolate nearest x2: {_shape(image)}", (("x", image, True),),
              lambda fw, x: fw.interpolate(x, 2, "nearest"), (batch, c, 2 * hw, 2 * hw)),
        OpRow("interp-bilinear", f"interpolate bilinear x2: {_shape(image)}", (("x", image, True),),
              lambda fw, x: fw.interpolate(x, 2, "bilinear"), (batch, c, 2 * hw, 2 * hw)),
        OpRow("adaptive-avgpool", f"adaptive_avg_pool2d {_shape(image)} -> {pooled}x{pooled}", (("x", image, True),),
              lambda fw, x: fw.adaptive_avg_pool2d(x, pooled), (batch, c, pooled, pooled)),
        OpRow("einsum-bmm", f"einsum bij,bjk->bik: {_shape((batch, 2 * seq, seq))} @ {_shape((batch, seq, 2 * seq))}",
              (("a", (batch, 2 * seq, seq), True), ("b", (batch, seq, 2 * seq), True)),
              lambda fw, a, b: fw.einsum("bij,bjk->bik", a, b), (batch, 2 * seq, 2 * seq), batch * 4 * seq ** 3),
        OpRow("einsum-attention", f"einsum bhqd,bhkd->bhqk: 2 x {_shape((batch, heads, seq, dim // 4))}",
              (("q", (batch, heads, seq, dim // 4), True), ("k", (batch, heads, seq, dim // 4), True)),
              lambda fw, q, k: fw.einsum("bhqd,bhkd->bhqk", q, k), (batch, heads, seq, seq),
              batch * heads * seq * seq * dim // 4),
        OpRow("attention", f"scaled_dot_product_attention: 3 x {_shape((batch, heads, seq, dim // 4))}",
              tuple((name, (batch, heads, seq, dim // 4), True) for name in "qkv"),
              lambda fw, q, k, v: fw.scaled_dot_product_attention(q, k, v), (batch, heads, seq, dim // 4),
              2 * batch * heads * seq * seq * dim // 4),
        OpRow("embedding", f"embedding: {_shape((batch, seq))} indices into {vocab}x{dim}",
              (("indices", (batch, seq), vocab), ("weight", (vocab, dim), True)),
              lambda fw, indices, weight: fw.embedding(indices, weight), (batch, seq, dim)),
        OpRow("cross-entropy-ncl", f"cross_entropy on (N, C, L) logits {_shape((batch, classes, seq))}",
              (("logits", (batch, classes, seq), True), ("labels", (batch, seq), classes)),
              lambda fw, logits, labels: fw.cross_entropy(logits, labels)),
    ]
    return rows


def _shape(shape):
    return "x".join(map(str, shape))


def op_case(row, calls):
    """The Case of an OpRow: inputs drawn once (standard normal, running variances 1, labels
    uniform), the same for every framework; target ``LAYER_TARGET``."""
    rng = np.random.default_rng(4)
    arrays, needs_grad = [], []
    for name, shape, grad in row.inputs:
        if isinstance(grad, bool):
            array = (np.ones(shape, dtype=np.float32) if name == "running_var"
                     else rng.standard_normal(shape, dtype=np.float32))
        else:
            array, grad = rng.integers(0, grad, size=shape).astype(np.int64), False
        arrays.append(array)
        needs_grad.append(grad)
    gy = None if row.out is None else rng.standard_normal(row.out, dtype=np.float32)
    gradients = sum(needs_grad[:2]) if row.macs else 0     # the products of the backward
    flops = 2 * row.macs * (1 + gradients) * calls
    return Case(row.name, "op", row.title + ", fwd+bwd", "call", calls, flops / calls,
                op_setup(arrays, needs_grad, row.call, gy, calls), LAYER_TARGET)


# ---- the list ---------------------------------------------------------------------------------------

def all_cases(mode="full"):
    """Every case at ``mode``'s sizes, in report order."""
    sizes = MODES[mode]
    arch, batch, cases = architectures(sizes), sizes.batch, []

    mlp_epoch = MLP_EPOCH if not sizes.tiny else sizes.mlp_rows
    for name in ("mlp-sigmoid", "mlp-relu"):
        layers = arch[name]
        steps = math.ceil(sizes.mlp_rows / batch)
        flops = training_flops(layers, (784,), 1) * mlp_epoch
        widths = "-".join(str(s[1]) for s in layers if s[0] == "dense")
        cases.append(Case(name, "training", f"MLP 784-{widths} {name[4:]}, batch {batch}, SGD, "
                          f"one epoch of {mlp_epoch:,}"
                          + ("" if sizes.mlp_rows == mlp_epoch else f" from {sizes.mlp_rows:,} rows"),
                          "epoch", sizes.mlp_rows / mlp_epoch, flops,
                          training_setup(layers, (784,), "mlp", sizes.mlp_rows, batch, steps), TARGETS[name]))

    cnn_epoch = CNN_EPOCH if not sizes.tiny else batch * 4
    for name, steps, label in (("cnn-small", sizes.cnn_small_steps, "report C"),
                               ("cnn-big", sizes.cnn_big_steps, "report B")):
        layers = arch[name]
        channels = "-".join(str(s[1]) for s in layers if s[0] == "conv")
        flops = training_flops(layers, MNIST_SHAPE, batch) * cnn_epoch / batch
        cases.append(Case(name, "training", f"CNN {channels} ({label}), batch {batch}, SGD, epoch of "
                          f"{cnn_epoch:,} from {steps} steps", "epoch", steps * batch / cnn_epoch, flops,
                          training_setup(layers, MNIST_SHAPE, "cnn", steps * batch, batch, steps), TARGETS[name]))

    for name, tag in (("cnn-small", "C"), ("cnn-big", "B")):
        for i, (in_shape, spec, needs_grad) in enumerate(conv_layers(arch[name], MNIST_SHAPE), 1):
            out, k, _, pad = spec[1:]
            flops = training_flops([spec], in_shape, batch) * (1.5 if needs_grad else 1)
            cases.append(Case(f"conv-{tag}{i}", "conv layer",
                              f"{tag} conv {i}: {batch}x{'x'.join(map(str, in_shape))} -> {out}, {k}x{k} "
                              f"pad {pad}, fwd+bwd{'' if needs_grad else ' (no dx)'}", "call",
                              sizes.layer_calls, flops,
                              conv_setup(in_shape, spec, batch, sizes.layer_calls, needs_grad)))

    for name, tag in (("cnn-small", "C"), ("cnn-big", "B")):
        in_shape, kernel = pool_inputs(arch[name], MNIST_SHAPE)[0]
        for kind in ("max", "avg"):
            cases.append(Case(f"{kind}pool-{tag}1", "pooling",
                              f"{kind}-pool {kernel}x{kernel} on {batch}x{'x'.join(map(str, in_shape))}, "
                              f"fwd+bwd", "call", sizes.pool_calls, 0,
                              pool_setup(in_shape, kernel, batch, sizes.pool_calls, kind)))

    cases += [op_case(row, sizes.layer_calls) for row in op_rows(batch, sizes.tiny)]

    cases.append(Case("autograd-overhead", "overhead", "(a*b+c).sum().backward() on 1x1 tensors", "call",
                      sizes.autograd_calls, 0, autograd_setup(sizes.autograd_calls),
                      TARGETS["autograd-overhead"]))
    n = sizes.matmul_n
    cases.append(Case(f"matmul-{n}", "ceiling", f"float32 matmul {n}x{n} @ {n}x{n}, no autograd", "call",
                      sizes.matmul_calls, 2 * n ** 3, matmul_setup(n, sizes.matmul_calls)))
    return cases


def memory_case(name, mode, framework_steps=None):
    """(layers, x, y, batch, steps) of the CNN whose training peak memory is measured (in a child)."""
    sizes = MODES[mode]
    steps = framework_steps or sizes.memory_steps
    x, y = data("cnn", steps * sizes.batch)
    return architectures(sizes)[name], x, y, sizes.batch, steps
