"""The peers a student compares before choosing a framework: DeZero and tinygrad, behind the interface
of ``interface.py`` (``pip install 'tinygrad_lite[peers]'``).

- ``DeZero`` (PyPI ``dezero``): the framework built in "Deep Learning from Scratch 3", NumPy and
  eager like ours. It has Linear, Conv2d (no groups, no dilation), transposed conv, max and average
  pooling, batch norm, ``embed_id`` and softmax cross-entropy on (N, C) logits; every other op of the
  benchmark is "not available".
- ``Tinygrad`` (PyPI ``tinygrad``): lazy tensors compiled to kernels; its CPU device compiles them
  with clang. Every step runs under ``TinyJit``, as tinygrad's documentation recommends for training
  (the first call runs plainly, the second captures the kernels, later calls replay them; the
  harness makes both in its warm-up); no BEAM search (its default). No adaptive average pooling.

Each framework is timed as a student would use it: its own layers and initialisation, its own
optimiser. An op one of them does not have raises ``NotAvailable``; nothing is approximated.
"""
import contextlib
import os
import shutil

import numpy as np

from .interface import Eager, NotAvailable, blas_info


def _not_on_cpu(name, device):
    if device != "cpu":
        raise NotAvailable(f"{name}: the peers are benchmarked on the CPU only, not on {device}")


def _missing(package):
    return NotAvailable(f"{package} is not installed (pip install 'tinygrad_lite[peers]')")


# ---- DeZero -----------------------------------------------------------------------------------------

def import_dezero():
    """``dezero``; its last release (0.0.13) names ``np.int`` at import, which NumPy 2 removed, so the
    alias (``int``, what NumPy 1 had) is lent for the import only."""
    lent = not hasattr(np, "int")
    if lent:
        np.int = int
    try:
        import dezero
        import dezero.functions_conv
    except ImportError:
        raise _missing("dezero") from None
    finally:
        if lent:
            del np.int
    return dezero


class DeZero(Eager):
    """DeZero: ``Variable`` + ``dezero.functions`` / ``functions_conv`` / ``layers`` on NumPy."""
    name = "dezero"

    def __init__(self, device, threads=None):     # NumPy's BLAS threads are left as they are
        _not_on_cpu(self.name, device)
        self.dz = import_dezero()
        self.F, self.conv, self.L = self.dz.functions, self.dz.functions_conv, self.dz.layers
        self.device = device
        self.layers = {       # layer-spec kind (experiments.config) -> (input shape, *args) -> a callable
            "dense": lambda shape, out, bias=True: self.L.Linear(out, nobias=not bias, in_size=shape[0]),
            "conv": lambda shape, out, k, stride, pad, bias=True: self.L.Conv2d(
                out, k, stride, pad, nobias=not bias, in_channels=shape[0]),
            "flatten": lambda shape: self.F.flatten,
            "maxpool": lambda shape, k: lambda x: self.conv.pooling(x, k, k),
            "avgpool": lambda shape, k: lambda x: self.conv.average_pooling(x, k, k),
            "relu": lambda shape: self.F.relu,
            "sigmoid": lambda shape: self.F.sigmoid,
            "tanh": lambda shape: self.F.tanh,
        }

    def tensor(self, array, requires_grad=False):      # every Variable gets a gradient in DeZero
        return self.dz.Variable(np.ascontiguousarray(array))

    def labels(self, array):
        """Class labels as the narrowest unsigned integers that hold them, as DeZero's own MNIST
        loader gives them (uint8): its cross-entropy subtracts ``eye(C, dtype=labels.dtype)[labels]``
        from the float32 softmax, which int64 labels would turn into float64 for the whole backward."""
        array = np.asarray(array)
        return array.astype(np.min_scalar_type(max(int(array.max(initial=0)), 0)))

    def batches(self, x, y, batch):
        return [(self.dz.Variable(np.ascontiguousarray(x[i:i + batch])), self.labels(y[i:i + batch]))
                for i in range(0, len(x), batch)]

    def build(self, layers, input_shape, seed=0):
        from experiments.models import output_shape
        np.random.seed(seed)                       # DeZero initialises from NumPy's global generator
        shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
        modules = []
        for spec, shape in zip(layers, shapes):
            if spec[0] not in self.layers:
                raise NotAvailable(f"dezero: no {spec[0]} layer in this benchmark's DeZero table")
            modules.append(self.layers[spec[0]](shape, *spec[1:]))
        return self.dz.models.Sequential(*modules)

    def parameters(self, model):
        return list(model.params())

    def sgd(self, model, lr):
        return _DeZeroSGD(self.dz.optimizers.SGD(lr).setup(model), model)

    def backward(self, y, gy=None, leaves=()):
        if gy is not None:
            y.grad = gy
        y.backward()

    def no_grad(self):
        return self.dz.no_grad()

    def threads(self):
        return {"blas": blas_info()}

    def matmul(self, a, b):
        return self.F.matmul(a, b)

    # ---- ops ----------------------------------------------------------------------------------------
    def cross_entropy(self, logits, labels):
        if logits.ndim != 2:
            raise NotAvailable("dezero: softmax_cross_entropy takes (N, C) logits only")
        return self.F.softmax_cross_entropy(logits, labels)

    def conv2d(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        if dilation != 1 or groups != 1:
            raise NotAvailable(f"dezero: conv2d has no {'groups' if groups != 1 else 'dilation'}")
        return self.conv.conv2d(x, weight, bias, stride, padding)

    def conv1d(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        raise NotAvailable("dezero: no conv1d")

    def conv_transpose2d(self, x, weight, bias, stride=1, padding=0):
        return self.conv.deconv2d(x, weight, bias, stride, padding)

    def max_pool2d(self, x, kernel):
        return self.conv.pooling(x, kernel, kernel)

    def avg_pool2d(self, x, kernel):
        return self.conv.average_pooling(x, kernel, kernel)

    def adaptive_avg_pool2d(self, x, size):
        raise NotAvailable("dezero: no adaptive average pooling")

    def batch_norm(self, x, running_mean, running_var, weight, bias):
        """DeZero's ``batch_nrom`` (its spelling) in training; its ``decay`` is 1 - torch's momentum."""
        with self.dz.using_config("train", True):
            return self.F.batch_nrom(x, weight, bias, running_mean.data, running_var.data, decay=0.9, eps=1e-5)

    def layer_norm(self, x, normalized_shape, weight, bias):
        raise NotAvailable("dezero: no layer norm")

    def interpolate(self, x, scale_factor, mode):
        raise NotAvailable("dezero: no interpolate")

    def einsum(self, equation, *operands):
        raise NotAvailable("dezero: no einsum (its matmul is 2-D)")

    def embedding(self, indices, weight):
        return self.F.embed_id(indices, weight)


class _DeZeroSGD:
    """DeZero's SGD with the two calls a step makes: ``zero_grad`` (DeZero's ``cleargrads``) and ``step``."""

    def __init__(self, optimizer, model):
        self.optimizer, self.model = optimizer, model

    def zero_grad(self):
        self.model.cleargrads()

    def step(self):
        self.optimizer.update()


# ---- tinygrad ---------------------------------------------------------------------------------------

class Tinygrad:
    """tinygrad on its CPU device: each step compiled and replayed by ``TinyJit``."""
    name = "tinygrad"
    warmup_runs = 1          # a new step shape is run twice more on its first call (see ``compile``)
    DEVICE = "CPU"

    def __init__(self, device, threads=None):
        _not_on_cpu(self.name, device)
        compiler = os.environ.get("CC", "clang")
        if shutil.which(compiler) is None:
            raise NotAvailable(f"tinygrad: its CPU device compiles its kernels with {compiler}, which is not "
                               f"installed (on Debian or Ubuntu: apt-get install clang)")
        try:
            import tinygrad
            from tinygrad import helpers, nn
        except ImportError:
            raise _missing("tinygrad") from None
        helpers.NUM_CPU_THREADS.value = threads or os.cpu_count() or 1
        self.tinygrad, self.nn, self.helpers = tinygrad, nn, helpers
        self.Tensor, self.device = tinygrad.Tensor, device
        self.layers = {
            "dense": lambda shape, out, bias=True: self.nn.Linear(shape[0], out, bias=bias),
            "conv": lambda shape, out, k, stride, pad, bias=True: self.nn.Conv2d(
                shape[0], out, k, stride=stride, padding=pad, bias=bias),
            "flatten": lambda shape: lambda x: x.flatten(1),
            "maxpool": lambda shape, k: lambda x: x.max_pool2d((k, k)),
            "avgpool": lambda shape, k: lambda x: x.avg_pool2d((k, k)),
            "relu": lambda shape: self.Tensor.relu,
            "sigmoid": lambda shape: self.Tensor.sigmoid,
            "tanh": lambda shape: self.Tensor.tanh,
        }

    def close(self):
        pass

    def sync(self):
        self.tinygrad.Device[self.DEVICE].synchronize()

    def free_memory(self):
        pass

    def reset_peak_memory(self):
        pass

    def memory(self):
        return None

    def threads(self):
        return {"cpu_threads": self.helpers.NUM_CPU_THREADS.value}

    # ---- tensors, models, steps ---------------------------------------------------------------------
    def tensor(self, array, requires_grad=False):   # tinygrad derives a gradient for any float tensor
        return self.Tensor(np.ascontiguousarray(array), device=self.DEVICE).realize()

    def labels(self, array):
        return self.Tensor(np.asarray(array, dtype=np.int32), device=self.DEVICE).realize()

    def batches(self, x, y, batch):
        return [(self.tensor(x[i:i + batch]), self.labels(y[i:i + batch])) for i in range(0, len(x), batch)]

    def build(self, layers, input_shape, seed=0):
        from experiments.models import output_shape
        self.Tensor.manual_seed(seed)
        shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
        modules = []
        for spec, shape in zip(layers, shapes):
            if spec[0] not in self.layers:
                raise NotAvailable(f"tinygrad: no {spec[0]} layer in this benchmark's tinygrad table")
            modules.append(self.layers[spec[0]](shape, *spec[1:]))
        model = _Sequential(modules)
        self.Tensor.realize(*self.parameters(model))
        return model

    def parameters(self, model):
        return self.nn.state.get_parameters(model)

    def sgd(self, model, lr):
        return self.nn.optim.SGD(self.parameters(model), lr=lr)

    def compile(self, step):
        """``step`` under ``TinyJit`` with training mode on (the optimiser's ``step`` needs it); one JIT
        per shape of the Tensor arguments, as a JIT replays fixed shapes (an epoch's last, shorter
        batch gets its own). A JIT runs its first call plainly and captures the kernels on the second,
        so a new shape's first call makes both before its own: every call after a warm-up replays."""
        jits = {}

        def training(*args):
            with self.helpers.Context(TRAINING=1):
                return step(*args)

        def run(*args):
            key = tuple(a.shape for a in args)
            if key not in jits:
                jits[key] = self.tinygrad.TinyJit(training)
                for _ in range(2):            # the plain first call and the capturing second one
                    jits[key](*args)
            return jits[key](*args)
        return run

    def backward(self, y, gy=None, leaves=()):
        """y.backward(gy), then the gradients of ``leaves`` computed (tinygrad is lazy: nothing runs
        until a tensor is realized; an optimiser's step realizes the parameters' own)."""
        y.backward(gy)
        if leaves:
            self.Tensor.realize(*[t.grad for t in leaves])

    @staticmethod
    def clear_grads(tensors):
        for t in tensors:
            t.grad = None

    def no_grad(self):         # tinygrad keeps no tape: a gradient is derived only when asked for
        return contextlib.nullcontext()

    def matmul(self, a, b):
        return a @ b

    # ---- ops ----------------------------------------------------------------------------------------
    def cross_entropy(self, logits, labels):
        return logits.cross_entropy(labels)

    def conv2d(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        return x.conv2d(weight, bias, groups=groups, stride=stride, dilation=dilation, padding=padding)

    def conv1d(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        return x.conv2d(weight, bias, groups=groups, stride=stride, dilation=dilation, padding=padding)

    def conv_transpose2d(self, x, weight, bias, stride=1, padding=0):
        return x.conv_transpose2d(weight, bias, stride=stride, padding=padding)

    def max_pool2d(self, x, kernel):
        return x.max_pool2d((kernel, kernel))

    def avg_pool2d(self, x, kernel):
        return x.avg_pool2d((kernel, kernel))

    def adaptive_avg_pool2d(self, x, size):
        raise NotAvailable("tinygrad: no adaptive average pooling")

    def batch_norm(self, x, running_mean, running_var, weight, bias):
        """``nn.BatchNorm`` (training mode: ``compile`` turns it on) holding the given tensors."""
        layer = self.nn.BatchNorm(x.shape[1])
        layer.weight, layer.bias, layer.running_mean, layer.running_var = weight, bias, running_mean, running_var
        return layer(x)

    def layer_norm(self, x, normalized_shape, weight, bias):
        layer = self.nn.LayerNorm(normalized_shape)
        layer.weight, layer.bias = weight, bias
        return layer(x)

    def interpolate(self, x, scale_factor, mode):
        size = tuple(int(n * scale_factor) for n in x.shape[2:])
        return x.interpolate(size, mode={"bilinear": "linear", "linear": "linear"}.get(mode, mode))

    def einsum(self, equation, *operands):
        return self.Tensor.einsum(equation, *operands)

    def embedding(self, indices, weight):
        """``nn.Embedding`` holding ``weight``."""
        layer = self.nn.Embedding.__new__(self.nn.Embedding)
        layer.weight = weight
        return layer(indices)

    def scaled_dot_product_attention(self, q, k, v):
        return q.scaled_dot_product_attention(k, v)


class _Sequential:
    """The layers in order (tinygrad has no Sequential; ``nn.state.get_parameters`` finds the weights)."""

    def __init__(self, layers):
        self.layers = layers

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
