"""The two contestants behind one small interface, so that every workload is written once.

``Scratch`` is tinygrad_lite + nn (NumPy on the CPU, CuPy on a GPU); ``Torch`` is PyTorch. Both
offer the same handful of calls: ``tensor``, ``build`` (a model from ``experiments.config`` layer
specs, by ``experiments.models``' one table), ``sgd``, ``cross_entropy``, ``conv2d``, ``max_pool2d``,
``avg_pool2d``, ``clear_grads``, ``sync`` (wait for the device before a clock is read) and GPU memory
accounting. A workload in ``cases.py`` calls only these, so both frameworks run literally the same
steps.
"""
import os

import numpy as np

FRAMEWORKS = ("scratch", "torch")


class Scratch:
    """tinygrad_lite: ``Tensor`` + ``nn`` on NumPy (cpu) or CuPy (cuda)."""
    name = "scratch"

    def __init__(self, device, threads=None):     # NumPy's BLAS threads are left as they are
        import tinygrad_lite as tl
        from tinygrad_lite import backend

        import nn
        self.tl, self.nn, self.F = tl, nn, nn.functional
        self.device = backend.resolve_device(device)     # DeviceError when cuda is not available
        self.cupy = backend.array_module(device="cuda") if self.device == "cuda" else None

    def close(self):
        pass

    # ---- device -------------------------------------------------------------------------------------
    def sync(self):
        if self.cupy is not None:
            self.cupy.cuda.get_current_stream().synchronize()

    def free_memory(self):
        """Give every cached block back (between cases), so one case's pool does not inflate the next."""
        if self.cupy is not None:
            self.sync()
            self.cupy.get_default_memory_pool().free_all_blocks()

    def reset_peak_memory(self):
        self.free_memory()

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

    def parameters(self, model):
        return list(model.parameters())

    def sgd(self, model, lr):
        return self.nn.optim.SGD(model.parameters(), lr=lr)

    def cross_entropy(self, logits, labels):
        return self.F.cross_entropy(logits, labels)

    def conv2d(self, x, weight, bias, stride, padding):
        return self.F.conv2d(x, weight, bias, stride=stride, padding=padding)

    def max_pool2d(self, x, kernel):
        return self.F.max_pool2d(x, kernel)

    def avg_pool2d(self, x, kernel):
        return self.F.avg_pool2d(x, kernel)

    @staticmethod
    def clear_grads(tensors):
        for t in tensors:
            t.grad = None

    def no_grad(self):
        return self.tl.no_grad()

    def threads(self):
        return {"blas": blas_info()}


class Torch:
    """PyTorch with ``torch.set_num_threads(os.cpu_count())`` (all cores, as NumPy's BLAS uses)."""
    name = "torch"

    def __init__(self, device, threads=None):
        import torch
        self.torch = torch
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

    def parameters(self, model):
        return list(model.parameters())

    def sgd(self, model, lr):
        return self.torch.optim.SGD(model.parameters(), lr=lr)

    def cross_entropy(self, logits, labels):
        return self.torch.nn.functional.cross_entropy(logits, labels)

    def conv2d(self, x, weight, bias, stride, padding):
        return self.torch.nn.functional.conv2d(x, weight, bias, stride=stride, padding=padding)

    def max_pool2d(self, x, kernel):
        return self.torch.nn.functional.max_pool2d(x, kernel)

    def avg_pool2d(self, x, kernel):
        return self.torch.nn.functional.avg_pool2d(x, kernel)

    @staticmethod
    def clear_grads(tensors):
        for t in tensors:
            t.grad = None

    def no_grad(self):
        return self.torch.no_grad()

    def threads(self):
        return {"torch_intra_op": self.torch.get_num_threads(),
                "torch_inter_op": self.torch.get_num_interop_threads()}


def make(name, device, threads=None):
    """The framework called ``name`` ('scratch' or 'torch') on ``device``; ``threads`` sets torch's
    intra-op threads (default: every CPU, ``os.cpu_count()``); NumPy's BLAS is left as it is."""
    if name not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {name!r}")
    return (Scratch if name == "scratch" else Torch)(device, threads)


# ---- NumPy's BLAS -----------------------------------------------------------------------------------

def blas_info():
    """NumPy's BLAS library, version and thread count (threadpoolctl when installed, else OpenBLAS's
    own ``get_num_threads`` found through ctypes, else the environment variables that set it)."""
    info = {}
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info.update(name=blas.get("name"), version=blas.get("version"))
    except Exception:  # show_config's layout changes between NumPy versions
        pass
    info["threads"] = _blas_threads()
    env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
           if k in os.environ}
    if env:
        info["env"] = env
    return info


def _blas_threads():
    try:
        import threadpoolctl
        for pool in threadpoolctl.threadpool_info():
            if pool.get("user_api") == "blas":
                return pool.get("num_threads")
    except ImportError:
        pass
    import ctypes
    import glob
    folder = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    for path in glob.glob(os.path.join(folder, "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):
            if hasattr(lib, symbol):
                return int(getattr(lib, symbol)())
    return None
