"""The workloads, each written once against ``frameworks.Scratch``/``Torch`` and run for both.

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

# ratio targets (scratch / torch, same run) from issue 5
TARGETS = {"mlp-sigmoid": 1.05, "mlp-relu": 1.05, "cnn-small": 1.5, "cnn-big": 1.3,
           "autograd-overhead": 1.0}
MEMORY_TARGET = 1.5


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

        def run():
            for i in range(steps):
                xb, yb = data_batches[i % len(data_batches)]
                loss = fw.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
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

    def setup(fw):
        xt, wt, bt = fw.tensor(x, input_needs_grad), fw.tensor(w, True), fw.tensor(b, True)
        gyt, leaves = fw.tensor(gy), (xt, wt, bt)

        def run():
            for _ in range(calls):
                fw.conv2d(xt, wt, bt, stride, pad).backward(gyt)
                fw.clear_grads(leaves)
        return run
    return setup


def pool_setup(in_shape, kernel, batch, calls, kind):
    """setup(fw): max or average pooling, forward and backward (dy fixed)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch,) + tuple(in_shape), dtype=np.float32)
    gy = rng.standard_normal((batch, in_shape[0], in_shape[1] // kernel, in_shape[2] // kernel),
                             dtype=np.float32)

    def setup(fw):
        xt, gyt = fw.tensor(x, True), fw.tensor(gy)
        pool = fw.max_pool2d if kind == "max" else fw.avg_pool2d

        def run():
            for _ in range(calls):
                pool(xt, kernel).backward(gyt)
                xt.grad = None
        return run
    return setup


def autograd_setup(calls):
    """setup(fw): ``(a*b + c).sum().backward()`` on 1x1 tensors, ``calls`` times: pure overhead."""
    def setup(fw):
        a, b, c = (fw.tensor(np.full((1, 1), v, dtype=np.float32), True) for v in (2.0, 3.0, 4.0))

        def run():
            for _ in range(calls):
                (a * b + c).sum().backward()
        return run
    return setup


def matmul_setup(n, calls):
    """setup(fw): an (n, n) @ (n, n) float32 product without autograd, ``calls`` times: the ceiling."""
    rng = np.random.default_rng(3)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)

    def setup(fw):
        at, bt = fw.tensor(a), fw.tensor(b)

        def run():
            with fw.no_grad():
                for _ in range(calls):
                    at @ bt
        return run
    return setup


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
                          + ("" if sizes.mlp_rows == mlp_epoch else f" from {sizes.mlp_rows:,} rows"), "epoch", sizes.mlp_rows / mlp_epoch, flops,
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
