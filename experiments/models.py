"""Build an ``nn.Sequential`` from a config's layer specs (see ``experiments.config``)."""
import nn


def output_shape(layers, input_shape):
    """The shape (without batch) after each layer, so Dense and Conv2d know their input sizes."""
    shape, shapes = tuple(input_shape), []
    for spec in layers:
        kind = spec[0]
        if kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            shape = (n,)
        elif kind == "dense":
            shape = (spec[1],)
        elif kind == "conv":
            out, k, stride, pad = spec[1:]
            shape = (out, (shape[1] + 2 * pad - k) // stride + 1, (shape[2] + 2 * pad - k) // stride + 1)
        elif kind in ("maxpool", "avgpool"):
            k = spec[1]
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif kind == "gap":
            shape = (shape[0], 1, 1)
        shapes.append(shape)
    return shapes


def layer_from_spec(spec, in_shape):
    """One nn module for one spec, given the shape that reaches it."""
    kind, args = spec[0], spec[1:]
    if kind == "dense":
        return nn.Dense(in_shape[0], args[0])
    if kind == "conv":
        out, k, stride, pad = args
        return nn.Conv2d(in_shape[0], out, k, stride=stride, padding=pad)
    makers = {
        "flatten": lambda: nn.Flatten(), "maxpool": lambda: nn.MaxPool2d(args[0]),
        "avgpool": lambda: nn.AvgPool2d(args[0]), "gap": lambda: nn.GlobalAvgPool2d(),
        "dropout": lambda: nn.Dropout(args[0]), "relu": lambda: nn.ReLU(), "sigmoid": lambda: nn.Sigmoid(),
        "tanh": lambda: nn.Tanh(), "gelu": lambda: nn.GELU(), "leaky_relu": lambda: nn.LeakyReLU(*args),
    }
    if kind not in makers:
        raise ValueError(f"unknown layer spec {spec!r}; expected one of dense, conv, {', '.join(makers)}")
    return makers[kind]()


def build(layers, input_shape, init="torch_default"):
    """The model for ``layers`` on inputs of ``input_shape`` (no batch axis), initialised by ``init``."""
    shapes = [tuple(input_shape)] + output_shape(layers, input_shape)
    model = nn.Sequential(*(layer_from_spec(spec, shapes[i]) for i, spec in enumerate(layers)))
    nn.init.apply(model, init)
    return model
