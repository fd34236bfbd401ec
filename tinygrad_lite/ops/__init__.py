"""Every differentiable op, importable as a function and attached to ``Tensor`` as a method.

| module        | ops |
|---------------|-----|
| elementwise   | add sub mul div neg pow exp log sqrt abs tanh sigmoid relu maximum minimum clip where |
| reduce        | sum mean max min var logsumexp softmax log_softmax |
| shape         | reshape transpose permute swapaxes squeeze unsqueeze flatten broadcast_to getitem concatenate stack pad |
| linalg        | matmul |
| convert       | astype to_device compare (comparisons are not differentiable) |
"""
from ..tensor import Tensor
from .convert import astype, compare, to_device
from .elementwise import (abs, add, clip, div, exp, log, maximum, minimum, mul, neg, pow, relu,
                          sigmoid, sqrt, sub, tanh, where)
from .linalg import matmul
from .reduce import log_softmax, logsumexp, max, mean, min, softmax, sum, var
from .shape import (broadcast_to, concatenate, flatten, getitem, pad, permute, reshape, squeeze,
                    stack, swapaxes, transpose, unsqueeze)

cat = concatenate

_METHODS = (abs, clip, exp, log, sqrt, tanh, sigmoid, relu, maximum, minimum, pow,
            sum, mean, max, min, var, logsumexp, softmax, log_softmax,
            reshape, transpose, permute, swapaxes, squeeze, unsqueeze, flatten, broadcast_to, pad)
for _op in _METHODS:
    setattr(Tensor, _op.__name__, _op)
Tensor.T = property(lambda self: transpose(self))
Tensor.view = reshape
