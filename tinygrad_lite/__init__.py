"""tinygrad_lite: a small reverse-mode autograd on NumPy (or CuPy), for learning how backprop works.

    >>> import tinygrad_lite as tl
    >>> x = tl.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])

Read in this order: ``core.py`` (Tensor, Function and the backward walk), ``ops/`` (each op's
forward and backward), ``backend.py`` (NumPy or CuPy), ``gradcheck.py``.
torch's names for the rest of a training script: ``tl.save`` / ``tl.load`` (``saving.py``),
``tl.DataLoader``, ``tl.Dataset``, ``tl.TensorDataset`` (``dataloader.py``, also as ``tl.utils.data``).
"""
from .core import Function, Tensor, is_grad_enabled, no_grad, set_grad_enabled
from .backend import (array_module, cuda_available, get_array_module, get_default_dtype, manual_seed,
                      set_default_dtype)
from .creation import (arange, empty, eye, full, full_like, linspace, normal, ones, ones_like, rand, rand_like,
                       randint, randn, randn_like, randperm, uniform, zeros, zeros_like)
from .errors import (AnomalyError, AxisError, DataError, DeviceError, GradcheckError, ShapeError, SizeError,
                     TinygradLiteError, UnsupportedError)
from .gradcheck import gradcheck
from .ops import *  # noqa: F403  (every op as a function: tl.exp(x), tl.matmul(a, b), ...)
from .ops.convert import as_tensor
from .dataloader import DataLoader, Dataset, TensorDataset
from .saving import load, save
from . import debug, utils, viz  # tl.viz.show(t), tl.debug.trace_backward(), tl.utils.data

__version__ = "0.1.0"
