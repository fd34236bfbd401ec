"""Weight initialisers, in place, with torch's names and formulas (``nn.init.xavier_uniform_(w)``).

Every draw comes from tinygrad_lite's seeded host generator (``tinygrad_lite.backend.rng()``) in
float64 and is then written into the tensor's own array (cast to its dtype, moved to its device), so
one seed gives the same model on NumPy and on CuPy.

Fans, as torch's ``_calculate_fan_in_and_fan_out``: a weight (out, in, *kernel) has
fan_in = in * prod(kernel) and fan_out = out * prod(kernel).

By name (``INITIALISERS`` and ``apply(module, name)``, used by the experiments):

| name           | weights                                   | biases          |
|----------------|-------------------------------------------|-----------------|
| glorot_uniform | U(-b, b), b = sqrt(6 / (fan_in + fan_out)) | 0               |
| glorot_normal  | N(0, 2 / (fan_in + fan_out))               | 0               |
| he_uniform     | U(-b, b), b = sqrt(6 / fan_in)             | 0               |
| he_normal      | N(0, 2 / fan_in)                           | 0               |
| torch_default  | U(-b, b), b = 1 / sqrt(fan_in)             | U(-b, b), same b |
| random         | U(-0.05, 0.05) (Keras' RandomUniform)       | 0               |
| gaussian       | N(0, 0.05^2) (Keras' RandomNormal)          | 0               |
"""
import math

import numpy as np

from tinygrad_lite import backend

from .module import Parameter

_GAINS = {"linear": 1.0, "identity": 1.0, "conv1d": 1.0, "conv2d": 1.0, "sigmoid": 1.0,
          "tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 0.75}


def calculate_gain(nonlinearity, param=None):
    """torch's recommended gain: 1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu),
    sqrt(2 / (1 + a^2)) (leaky_relu with slope a, 0.01 when not given)."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity not in _GAINS:
        raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}; "
                         f"expected one of {sorted(_GAINS) + ['leaky_relu']}")
    return _GAINS[nonlinearity]


def calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel), as torch computes them."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 axes, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor, mode):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def _write(tensor, host_values):
    """Copy host float64 values into the tensor's array in place (its dtype, its device)."""
    values = np.asarray(host_values, dtype=tensor.dtype)
    tensor.data[...] = backend.to_device(values, tensor.device)
    return tensor


def uniform_(tensor, low=0.0, high=1.0):
    """Fill with U(low, high)."""
    if not low <= high:
        raise ValueError(f"uniform_: low must not exceed high, got low={low}, high={high}")
    return _write(tensor, backend.rng().uniform(low, high, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _write(tensor, backend.rng().normal(mean, std, tensor.shape))


def constant_(tensor, value):
    return _write(tensor, np.full(tensor.shape, value, dtype=np.float64))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).
    With the defaults (a=0) b = sqrt(6 / fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He normal: N(0, std^2), std = gain / sqrt(fan); with the defaults std = sqrt(2 / fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def torch_default_(layer):
    """What torch's Linear and Conv2d do in ``reset_parameters``: weight kaiming_uniform_(a=sqrt(5)),
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(layer.weight, a=math.sqrt(5))
    bias = getattr(layer, "bias", None)
    if bias is not None:
        fan_in, _ = calculate_fan_in_and_fan_out(layer.weight)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)
    return layer


# ---- initialisation by name ----------------------------------------------------------------------

def _weights_then_zero_bias(fill):
    def initialise(layer):
        fill(layer.weight)
        if getattr(layer, "bias", None) is not None:
            zeros_(layer.bias)
        return layer
    return initialise


INITIALISERS = {
    "glorot_uniform": _weights_then_zero_bias(xavier_uniform_),
    "glorot_normal": _weights_then_zero_bias(xavier_normal_),
    "he_uniform": _weights_then_zero_bias(lambda w: kaiming_uniform_(w, nonlinearity="relu")),
    "he_normal": _weights_then_zero_bias(lambda w: kaiming_normal_(w, nonlinearity="relu")),
    "torch_default": torch_default_,
    "random": _weights_then_zero_bias(lambda w: uniform_(w, -0.05, 0.05)),
    "gaussian": _weights_then_zero_bias(lambda w: normal_(w, 0.0, 0.05)),
}
INITIALISERS["xavier_uniform"] = INITIALISERS["glorot_uniform"]
INITIALISERS["xavier_normal"] = INITIALISERS["glorot_normal"]
INITIALISERS["kaiming_uniform"] = INITIALISERS["he_uniform"]
INITIALISERS["kaiming_normal"] = INITIALISERS["he_normal"]


def initialiser(name):
    """The layer initialiser called ``name`` (see the table in the module docstring)."""
    if name not in INITIALISERS:
        raise ValueError(f"unknown initialiser {name!r}; expected one of {sorted(INITIALISERS)}")
    return INITIALISERS[name]


def initialise_layer(layer, init=None):
    """Draw one layer's ``weight`` and ``bias`` by ``init``: None for torch's default
    (``torch_default_``), a name from ``INITIALISERS``, or a callable taking the layer."""
    if init is None:
        init = torch_default_
    elif not callable(init):
        init = initialiser(init)
    init(layer)
    return layer


def check_sizes(layer_name, **sizes):
    """Raise a ValueError naming the first of ``sizes`` (e.g. in_features=784) that is not a positive int."""
    for arg, value in sizes.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{layer_name}: {arg} must be a positive int, got {value!r}")


def create_parameters(layer, weight_shape, bias=True, init=None, dtype=None, device=None, bias_size=None):
    """Give ``layer`` a ``weight`` of ``weight_shape`` and a ``bias`` of (bias_size,) (default
    weight_shape[0]; None when ``bias`` is false), in ``dtype`` (default: the package's), drawn by
    ``init`` as ``initialise_layer`` does, then moved to ``device`` when one is given."""
    dtype = np.dtype(dtype or backend.get_default_dtype())
    layer.weight = Parameter(np.zeros(weight_shape), dtype=dtype)
    if bias:
        layer.bias = Parameter(np.zeros(weight_shape[0] if bias_size is None else bias_size), dtype=dtype)
    else:
        layer.register_parameter("bias", None)
    initialise_layer(layer, init)
    if device is not None:
        layer.to(device)


def apply(module, name):
    """Initialise every layer of ``module`` with a 2-D (Dense) or 4-D (Conv2d) ``weight`` by ``name``,
    in the order of ``module.modules()``, except the layers whose class says ``init_by_name = False``
    (an Embedding's rows, attention's output projection: torch initialises those its own way, which
    they keep). Returns the module."""
    initialise = initialiser(name)
    for layer in module.modules():
        weight = layer.__dict__.get("weight")
        if weight is not None and weight.ndim in (2, 4) and getattr(layer, "init_by_name", True):
            initialise(layer)
    return module
