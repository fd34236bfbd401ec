"""Layer specs -> models, in both frameworks, from one table.

``LAYERS`` maps each spec kind (see ``experiments.config``) to how it changes the shape, its scratch
module and its torch module. ``build`` gives the ``nn.Sequential``, ``build_torch`` its
``torch.nn.Sequential`` twin: the same layer order, so the same parameter names ("1.weight", ...)
and shapes, and weights move across by name alone. torch is imported only by ``build_torch``.
"""
from typing import Callable, NamedTuple

import numpy as np

import nn

from . import gpt


class LayerKind(NamedTuple):
    shape: Callable      # (input shape without batch, *args) -> output shape
    scratch: Callable    # (input shape, *args) -> nn module
    torch: Callable      # (torch.nn, input shape, *args) -> torch module


def _conv_shape(shape, out, k, stride, pad, bias=True):
    return (out, (shape[1] + 2 * pad - k) // stride + 1, (shape[2] + 2 * pad - k) // stride + 1)


def _pool_shape(shape, k):
    return (shape[0], shape[1] // k, shape[2] // k)


def _same(shape, *args):
    return shape


def _torch_twin(name):
    """A torch twin of ``experiments.gpt``'s modules (``experiments.torch_gpt`` imports torch)."""
    from . import torch_gpt
    return getattr(torch_gpt, name)


def _flat(shape):
    n = 1
    for d in shape:
        n *= d
    return (n,)


LAYERS = {
    "dense": LayerKind(lambda shape, out, bias=True: tuple(shape[:-1]) + (out,),       # on the last axis
                       lambda shape, out, bias=True: nn.Dense(shape[-1], out, bias=bias),
                       lambda tnn, shape, out, bias=True: tnn.Linear(shape[-1], out, bias=bias)),
    "conv": LayerKind(_conv_shape,
                      lambda shape, out, k, stride, pad, bias=True: nn.Conv2d(shape[0], out, k, stride=stride,
                                                                              padding=pad, bias=bias),
                      lambda tnn, shape, out, k, stride, pad, bias=True: tnn.Conv2d(shape[0], out, k, stride=stride,
                                                                                    padding=pad, bias=bias)),
    "flatten": LayerKind(_flat, lambda shape: nn.Flatten(), lambda tnn, shape: tnn.Flatten()),
    "maxpool": LayerKind(_pool_shape, lambda shape, k: nn.MaxPool2d(k), lambda tnn, shape, k: tnn.MaxPool2d(k)),
    "avgpool": LayerKind(_pool_shape, lambda shape, k: nn.AvgPool2d(k), lambda tnn, shape, k: tnn.AvgPool2d(k)),
    "gap": LayerKind(lambda shape: (shape[0], 1, 1), lambda shape: nn.GlobalAvgPool2d(),
                     lambda tnn, shape: tnn.AdaptiveAvgPool2d(1)),
    "dropout": LayerKind(_same, lambda shape, p: nn.Dropout(p), lambda tnn, shape, p: tnn.Dropout(p)),
    "relu": LayerKind(_same, lambda shape: nn.ReLU(), lambda tnn, shape: tnn.ReLU()),
    "sigmoid": LayerKind(_same, lambda shape: nn.Sigmoid(), lambda tnn, shape: tnn.Sigmoid()),
    "tanh": LayerKind(_same, lambda shape: nn.Tanh(), lambda tnn, shape: tnn.Tanh()),
    "gelu": LayerKind(_same, lambda shape: nn.GELU(), lambda tnn, shape: tnn.GELU(approximate="none")),
    "leaky_relu": LayerKind(_same, lambda shape, *slope: nn.LeakyReLU(*slope),
                            lambda tnn, shape, *slope: tnn.LeakyReLU(*slope)),
    "layernorm": LayerKind(_same, lambda shape: nn.LayerNorm(shape[-1]), lambda tnn, shape: tnn.LayerNorm(shape[-1])),
    # a GPT (experiments.gpt): tokens (T,) -> (T, width) -> blocks -> layernorm -> dense to the vocabulary
    "tokens": LayerKind(lambda shape, vocab, width, context: tuple(shape) + (width,),
                        lambda shape, vocab, width, context: gpt.TokenAndPosition(vocab, width, context),
                        lambda tnn, shape, vocab, width, context: _torch_twin("TokenAndPosition")(vocab, width,
                                                                                                  context)),
    "block": LayerKind(_same, lambda shape, heads, hidden, dropout=0.0: gpt.CausalBlock(shape[-1], heads, hidden,
                                                                                         dropout),
                       lambda tnn, shape, heads, hidden, dropout=0.0: _torch_twin("CausalBlock")(shape[-1], heads,
                                                                                                 hidden, dropout)),
    # per channel of a (C, H, W) image, per feature of a (F,) vector
    "batchnorm": LayerKind(_same, lambda shape: (nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d)(shape[0]),
                           lambda tnn, shape: (tnn.BatchNorm2d if len(shape) == 3 else tnn.BatchNorm1d)(shape[0])),
}


def _kind(spec):
    if spec[0] not in LAYERS:
        raise ValueError(f"unknown layer spec {spec!r}; expected one of {', '.join(LAYERS)}")
    return LAYERS[spec[0]]


def output_shape(layers, input_shape):
    """The shape (without batch) after each layer, so Dense and Conv2d know their input sizes."""
    shape, shapes = tuple(input_shape), []
    for spec in layers:
        shape = tuple(_kind(spec).shape(shape, *spec[1:]))
        shapes.append(shape)
    return shapes


def _modules(layers, input_shape, make):
    shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
    return [make(_kind(spec), shapes[i], spec[1:]) for i, spec in enumerate(layers)]


def build(layers, input_shape, init="torch_default"):
    """The model for ``layers`` on inputs of ``input_shape`` (no batch axis), initialised by ``init``."""
    model = nn.Sequential(*_modules(layers, input_shape, lambda kind, shape, args: kind.scratch(shape, *args)))
    nn.init.apply(model, init)
    return model


def build_torch(layers, input_shape, dtype="float32"):
    """The ``torch.nn.Sequential`` twin of ``build(layers, input_shape)`` in ``dtype``, at torch's own
    default initialisation (``experiments.torch_reference.copy_weights`` gives it the scratch weights)."""
    import torch
    model = torch.nn.Sequential(*_modules(layers, input_shape,
                                          lambda kind, shape, args: kind.torch(torch.nn, shape, *args)))
    return model.to(dtype if isinstance(dtype, torch.dtype) else getattr(torch, np.dtype(dtype).name))
