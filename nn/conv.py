"""Convolution and pooling layers: ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``GlobalAvgPool2d``.

Constructor arguments, parameter layouts and reprs follow torch.nn: ``Conv2d.weight`` is
(out_channels, in_channels, kh, kw) and ``Conv2d.bias`` (out_channels,), so weights copy across
unchanged. The computation lives in ``nn.functional.conv`` (im2col + one matmul) and
``nn.functional.pooling``.
"""
from . import init as initialisers
from .functional.conv import conv2d, pair
from .functional.pooling import avg_pool2d, global_avg_pool2d, max_pool2d
from .module import Module


class Conv2d(Module):
    """y = conv2d(x, weight, bias, stride, padding) for x of shape (N, in_channels, H, W).

    ``kernel_size``, ``stride`` and ``padding`` are ints or (h, w) pairs. ``init``: None for torch's
    default (weight kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels*kh*kw, drawn on the host), a name from
    ``nn.init.INITIALISERS`` ('glorot_uniform', 'he_uniform', ...), or a callable taking the layer.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 init=None, dtype=None, device=None):
        super().__init__()
        initialisers.check_sizes("Conv2d", in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = pair(kernel_size, "kernel_size", "Conv2d", 1)
        self.stride = pair(stride, "stride", "Conv2d", 1)
        self.padding = pair(padding, "padding", "Conv2d", 0)
        initialisers.create_parameters(self, (self.out_channels, self.in_channels) + self.kernel_size,
                                       bias, init, dtype, device)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, layer=repr(self))

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        return text + ("" if self.bias is not None else ", bias=False")


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        pair(kernel_size, "kernel_size", name, 1)          # check early, keep the user's spelling
        if stride is not None:
            pair(stride, "stride", name, 1)
        pair(padding, "padding", name, 0)
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max over each (kh, kw) window; stride defaults to kernel_size (torch's floor mode)."""
    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, layer=repr(self))


class AvgPool2d(_Pool2d):
    """Mean over each (kh, kw) window, padded zeros counted (torch's count_include_pad=True)."""
    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, layer=repr(self))


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1), torch's AdaptiveAvgPool2d(1)."""
    def forward(self, x):
        return global_avg_pool2d(x, layer=repr(self))
