"""Layers as Modules: Dense (alias Linear), Flatten, Dropout, Identity and the activations (one Module each).

Parameter layouts and constructor arguments follow torch.nn, so weights copy across unchanged:
``Dense.weight`` is (out_features, in_features), ``Dense.bias`` (out_features,).
"""
from tinygrad_lite.core import Tensor
from tinygrad_lite.ops.torch_names import axis_or_dim

from . import functional as F
from . import init as initialisers
from .module import Module


class Dense(Module):
    """y = x @ weight^T + bias, for x of shape (..., in_features).

    ``init``: None for torch's default (weight and bias U(-1/sqrt(in), 1/sqrt(in))), a name from
    ``nn.init.INITIALISERS`` ('glorot_uniform', 'he_uniform', ...), or a callable taking the layer.
    """

    def __init__(self, in_features, out_features, bias=True, init=None, dtype=None, device=None):
        super().__init__()
        initialisers.check_sizes("Dense", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = int(in_features), int(out_features)
        initialisers.create_parameters(self, (self.out_features, self.in_features), bias, init, dtype, device)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias, layer=self)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


Linear = Dense


class Flatten(Module):
    """Merge axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"{self!r}: the input must be a tinygrad_lite.Tensor, got {type(x).__name__}")
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by
    1/(1-p); in evaluation (``model.eval()``), the identity."""

    def __init__(self, p=0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)

    def forward(self, x, mask=None):
        return F.dropout(x, self.p, training=self.training, mask=mask)

    def extra_repr(self):
        return f"p={self.p}"


class Identity(Module):
    """y = x"""
    def forward(self, x):
        return x


class ReLU(Module):
    """y = max(x, 0)"""
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))"""
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """y = tanh(x)"""
    def forward(self, x):
        return F.tanh(x)


class GELU(Module):
    """y = x * Phi(x) (exact, erf-based, torch's default) or the tanh approximation."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """y = softmax(x) along ``axis`` (``dim`` is accepted as torch's name for it)."""

    def __init__(self, axis=-1, dim=None):
        super().__init__()
        self.axis = axis_or_dim(type(self).__name__, axis, dim, default=-1)

    def forward(self, x):
        return F.softmax(x, self.axis)

    def extra_repr(self):
        return f"axis={self.axis}"


class LogSoftmax(Softmax):
    """y = log_softmax(x) along ``axis``."""

    def forward(self, x):
        return F.log_softmax(x, self.axis)


class _Elementwise(Module):
    """An activation without arguments: ``function`` applied to the input (the name says which)."""
    function = None

    def forward(self, x):
        return type(self).function(x)


class SiLU(_Elementwise):
    """y = x * sigmoid(x)"""
    function = staticmethod(F.silu)


class SELU(_Elementwise):
    """y = scale * elu(x, alpha) with torch's constants"""
    function = staticmethod(F.selu)


class ReLU6(_Elementwise):
    """y = min(max(x, 0), 6)"""
    function = staticmethod(F.relu6)


class Hardsigmoid(_Elementwise):
    """y = relu6(x + 3) / 6"""
    function = staticmethod(F.hardsigmoid)


class Hardswish(_Elementwise):
    """y = x * relu6(x + 3) / 6"""
    function = staticmethod(F.hardswish)


class Mish(_Elementwise):
    """y = x * tanh(softplus(x))"""
    function = staticmethod(F.mish)


class LogSigmoid(_Elementwise):
    """y = ln sigmoid(x)"""
    function = staticmethod(F.logsigmoid)


class Softsign(_Elementwise):
    """y = x / (1 + |x|)"""
    function = staticmethod(F.softsign)


class ELU(Module):
    """y = x for x > 0, alpha * (e^x - 1) otherwise."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class CELU(ELU):
    """y = x for x > 0, alpha * (e^(x / alpha) - 1) otherwise."""

    def forward(self, x):
        return F.celu(x, self.alpha)


class Softplus(Module):
    """y = ln(1 + e^(beta x)) / beta, x where beta x > threshold."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """y = clip(x, min_val, max_val)."""

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val, self.max_val = float(min_val), float(max_val)

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softmin(Module):
    """y = softmax(-x) along ``dim`` (torch's name; ``axis`` is accepted too)."""

    def __init__(self, dim=None, axis=None):
        super().__init__()
        self.dim = axis_or_dim("Softmin", axis, dim)
        if self.dim is None:
            raise TypeError("Softmin: give the axis to normalise over, dim= (or axis=)")

    def forward(self, x):
        return F.softmin(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"
