"""The two frameworks the benchmarks compare first: ``Scratch`` (tinygrad_lite + nn, NumPy on the CPU,
CuPy on a GPU) and ``Torch`` (PyTorch, the referee every ratio is taken against), and ``make``, which
starts any framework by name, the peers of ``peers.py`` included. The calls they offer are those of
``interface.py``.
"""
import os

import numpy as np

from .interface import Eager, NotAvailable, blas_info  # noqa: F401  (NotAvailable: the harness's name for it)

REFERENCE = "torch"
FRAMEWORKS = ("scratch", "torch", "dezero", "tinygrad")
REQUIRED = ("scratch", "torch")     # the peers are optional: pip install 'tinygrad_lite[peers]'


class TorchNamedOps(Eager):
    """The op rows' calls, written once for both: tinygrad_lite's ``nn.functional`` takes torch's
    names and arguments, so each framework only says where its ``F`` and its ``einsum`` live
    (``self.F``, ``self.ops``)."""

    def cross_entropy(self, logits, labels):
        return self.F.cross_entropy(logits, labels)

    def conv2d(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        return self.F.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def conv1d(self, x, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        return self.F.conv1d(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)

    def conv_transpose2d(self, x, weight, bias, stride=1, padding=0):
        return self.F.conv_transpose2d(x, weight, bias, stride=stride, padding=padding)

    def max_pool2d(self, x, kernel):
        return self.F.max_pool2d(x, kernel)

    def avg_pool2d(self, x, kernel):
        return self.F.avg_pool2d(x, kernel)

    def adaptive_avg_pool2d(self, x, size):
        return self.F.adaptive_avg_pool2d(x, size)

    def batch_norm(self, x, running_mean, running_var, weight, bias):
        return self.F.batch_norm(x, running_mean, running_var, weight, bias, training=True)

    def layer_norm(self, x, normalized_shape, weight, bias):
        return self.F.layer_norm(x, normalized_shape, weight, bias)

    def interpolate(self, x, scale_factor, mode):
        return self.F.interpolate(x, scale_factor=scale_factor, mode=mode)

    def einsum(self, equation, *operands):
        return self.ops.einsum(equation, *operands)

    def embedding(self, indices, weight):
        return self.F.embedding(indices, weight)

    def scaled_dot_product_attention(self, q, k, v):
        return self.F.scaled_dot_product_attention(q, k, v)


class Scratch(TorchNamedOps):
    """tinygrad_lite: ``Tensor`` + ``nn`` on NumPy (cpu) or CuPy (cuda)."""
    name = "scratch"

    def __init__(self, device, threads=None):     # NumPy's BLAS threads are left as they are
        import tinygrad_lite as tl
        from tinygrad_lite import backend

        import nn
        self.tl, self.nn, self.F, self.ops = tl, nn, nn.functional, tl
        self.device = backend.resolve_device(device)     # DeviceError when cuda is not available
        self.cupy = backend.array_module(device="cuda") if self.device == "cuda" else None

    # ---- device -------------------------------------------------------------------------------------
    def sync(self):
        if self.cupy is not None:
            self.cupy.cuda.get_current_stream().synchronize()

    def free_memory(self):
        """Give every cached block back (between cases), so one case's pool does not inflate the next."""
        if self.cupy is not None:
            self.sync()
            self.cupy.get_default_memory_pool().free_all_blocks()

    def memory(self):
        """GPU bytes in use and held by CuPy's pool (the pool keeps freed blocks, so ``total`` is the
        high-water mark since the last ``free_memory``); None on the CPU."""
        if self.cupy is None:
            return None
        pool = self.cupy.get_default_memory_pool()
        return {"used_bytes": int(pool.used_bytes()), "total_bytes": int(pool.total_bytes())}

    # ---- tensors and models -------------------------------------------------------------------------
    def tensor(self, array, requires_grad=False):
        return self.tl.Tensor(array, requires_grad=requires_grad, device=self.device)

    def labels(self, array):
        return self.tl.Tensor(array, device=self.device)

    def batches(self, x, y, batch):
        """(xb, yb) Tensors for each ``batch`` rows: the arrays moved to the device once, then sliced."""
        from tinygrad_lite.backend import to_device
        xs, ys = to_device(x, self.device), to_device(y, self.device)
        return [(self.tl.Tensor(xs[i:i + batch]), self.tl.Tensor(ys[i:i + batch]))
                for i in range(0, len(xs), batch)]

    def build(self, layers, input_shape, seed=0):
        from experiments.models import build
        self.tl.manual_seed(seed)
        model = build(layers, input_shape)
        return model.to(self.device) if self.device != "cpu" else model

    def sgd(self, model, lr):
        return self.nn.optim.SGD(model.parameters(), lr=lr)

    def no_grad(self):
        return self.tl.no_grad()

    def threads(self):
        return {"blas": blas_info()}


class Torch(TorchNamedOps):
    """PyTorch with ``torch.set_num_threads(os.cpu_count())`` (all cores, as NumPy's BLAS uses)."""
    name = "torch"

    def __init__(self, device, threads=None):
        import torch
        self.torch, self.F, self.ops = torch, torch.nn.functional, torch
        if device == "cuda" and not torch.cuda.is_available():
            from tinygrad_lite.errors import DeviceError
            raise DeviceError("benchmarks: --device cuda needs a CUDA build of torch with a GPU; "
                              "torch.cuda.is_available() is False here")
        self.device = device
        self.previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads or os.cpu_count() or 1)

    def close(self):
        """Give torch its thread count back (the benchmark may run inside another program's process)."""
        self.torch.set_num_threads(self.previous_threads)

    def sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def free_memory(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()
            self.torch.cuda.empty_cache()

    def reset_peak_memory(self):
        if self.device == "cuda":
            self.free_memory()
            self.torch.cuda.reset_peak_memory_stats()

    def memory(self):
        if self.device != "cuda":
            return None
        cuda = self.torch.cuda
        return {"max_allocated_bytes": int(cuda.max_memory_allocated()),
                "max_reserved_bytes": int(cuda.max_memory_reserved())}

    def tensor(self, array, requires_grad=False):
        t = self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return t.requires_grad_(requires_grad)

    def labels(self, array):
        return self.torch.from_numpy(np.asarray(array, dtype=np.int64)).to(self.device)

    def batches(self, x, y, batch):
        xs, ys = self.tensor(x), self.labels(y)
        return [(xs[i:i + batch], ys[i:i + batch]) for i in range(0, len(xs), batch)]

    def build(self, layers, input_shape, seed=0):
        from experiments.models import build_torch
        self.torch.manual_seed(seed)
        return build_torch(layers, input_shape).to(self.device)

    def sgd(self, model, lr):
        return self.torch.optim.SGD(model.parameters(), lr=lr)

    def no_grad(self):
        return self.torch.no_grad()

    def threads(self):
        return {"torch_intra_op": self.torch.get_num_threads(),
                "torch_inter_op": self.torch.get_num_interop_threads()}


def make(name, device, threads=None):
    """The framework called ``name`` (one of ``FRAMEWORKS``) on ``device``; ``threads`` sets its
    intra-op threads where it has a setting (torch; tinygrad's CPU device at import), default every
    CPU (``os.cpu_count()``); NumPy's BLAS is left as it is (set before the process starts)."""
    from . import peers
    kinds = {"scratch": Scratch, "torch": Torch, "dezero": peers.DeZero, "tinygrad": peers.Tinygrad}
    if name not in kinds:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {name!r}")
    return kinds[name](device, threads)


