"""The one small interface every framework of the benchmarks offers, so that each workload is written once.

``Scratch`` is tinygrad_lite + nn (NumPy on the CPU, CuPy on a GPU); ``Torch`` is PyTorch, the
referee every ratio is taken against (both in ``frameworks.py``); the peers, DeZero and tinygrad, are
in ``peers.py``. Each offers the same calls, and a workload in ``cases.py`` calls only these, so every
framework runs literally the same steps:

- data and models: ``tensor``, ``labels``, ``batches``, ``build`` (a model from ``experiments.config``
  layer specs), ``sgd`` (an optimiser with ``zero_grad()`` and ``step()``), ``parameters``;
- a step: ``compile(step)`` (the step as the framework runs it best: itself for the eager ones,
  under ``TinyJit`` for tinygrad), ``backward(y, gy, leaves)`` (the gradients of ``leaves``),
  ``clear_grads``, ``no_grad``;
- the ops, with torch's names and arguments: ``cross_entropy``, ``conv2d``, ``conv1d``,
  ``conv_transpose2d``, ``max_pool2d``, ``avg_pool2d``, ``adaptive_avg_pool2d``, ``batch_norm``
  (training), ``layer_norm``, ``interpolate``, ``einsum``, ``embedding``, ``matmul``;
- the device: ``sync`` (wait for it before a clock is read) and GPU memory accounting.

An op a framework does not have raises ``NotAvailable`` naming what is missing: its cell in the
results says "not available", never a number from a stand-in.
"""
import os

import numpy as np


class NotAvailable(Exception):
    """This framework has no such op, or cannot run here; the message says which and why."""


class Eager:
    """What the eager frameworks (scratch, torch; DeZero in peers.py) share: a step runs as written."""
    name = "eager"
    warmup_runs = 0          # the fewest untimed runs a framework needs before it runs at speed (a JIT)

    def close(self):
        pass

    def sync(self):
        pass

    def free_memory(self):
        pass

    def reset_peak_memory(self):
        self.free_memory()

    def memory(self):
        return None

    def compile(self, step):
        return step

    def backward(self, y, gy=None, leaves=()):
        y.backward(gy)

    @staticmethod
    def clear_grads(tensors):
        for t in tensors:
            t.grad = None

    def parameters(self, model):
        return list(model.parameters())

    def matmul(self, a, b):
        return a @ b

    def scaled_dot_product_attention(self, q, k, v):
        raise NotAvailable(f"{self.name}: no scaled_dot_product_attention")


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
