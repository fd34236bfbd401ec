"""Convolution layers: ``Conv1d``, ``Conv2d``, ``ConvTranspose2d`` (the pooling layers: ``nn/pooling.py``).

Constructor arguments, parameter layouts and reprs follow torch.nn: ``Conv2d.weight`` is
(out_channels, in_channels, kh, kw) and ``Conv2d.bias`` (out_channels,), so weights copy across
unchanged. The computation lives in ``nn.functional.conv`` (im2col + one matmul).
"""
from . import init as initialisers
from .functional.conv import check_groups, conv1d, conv2d, conv_padding, conv_transpose2d, pair, single
from .module import Module


class _ConvNd(Module):
    """What Conv1d and Conv2d share: torch's arguments, checks, parameter shapes, init and repr.

    ``init``: None for torch's default (weight kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups * kernel
    area, drawn on the host), a name from ``nn.init.INITIALISERS`` ('glorot_uniform', 'he_uniform',
    ...), or a callable taking the layer.
    """
    dims, transposed, output_padding = 2, False, (0, 0)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, init=None, dtype=None, device=None):
        super().__init__()
        name = type(self).__name__
        initialisers.check_sizes(name, in_channels=in_channels, out_channels=out_channels)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.groups = check_groups(groups, name, in_channels=self.in_channels, out_channels=self.out_channels)
        self.kernel_size = self.sizes(kernel_size, "kernel_size", 1)
        self.stride = self.sizes(stride, "stride", 1)
        self.dilation = self.sizes(dilation, "dilation", 1)
        self.padding = padding if isinstance(padding, str) else self.sizes(padding, "padding", 0)
        kernel, stride, dilation = ((1,) + v if self.dims == 1 else v
                                    for v in (self.kernel_size, self.stride, self.dilation))
        if isinstance(self.padding, str):
            conv_padding(self.padding, kernel, stride, dilation, name)      # check 'same' / 'valid' early
        channels = ((self.in_channels, self.out_channels // self.groups) if self.transposed
                    else (self.out_channels, self.in_channels // self.groups))
        initialisers.create_parameters(self, channels + self.kernel_size, bias, init, dtype, device,
                                       bias_size=self.out_channels)

    def sizes(self, value, name, minimum):
        """``value`` as a tuple of ``dims`` ints, as torch stores it (kernel_size=(3, 3), (3,))."""
        if self.dims == 1:
            return (single(value, name, type(self).__name__, minimum),)
        return pair(value, name, type(self).__name__, minimum)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0,) * self.dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.transposed and self.output_padding != (0,) * self.dims:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvNd):
    """y = conv2d(x, weight, bias, stride, padding, dilation, groups) for x (N, in_channels, H, W);
    weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,).

    ``kernel_size``, ``stride``, ``dilation`` and ``padding`` are ints or (h, w) pairs; ``padding``
    may also be 'same' or 'valid'.
    """
    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                      layer=repr(self))


class Conv1d(_ConvNd):
    """y = conv1d(x, weight, bias, stride, padding, dilation, groups) for x (N, in_channels, L);
    weight (out_channels, in_channels/groups, k), bias (out_channels,)."""
    dims = 1

    def forward(self, x):
        return conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                      layer=repr(self))


class ConvTranspose2d(_ConvNd):
    """y = conv_transpose2d(x, weight, bias, stride, padding, output_padding, groups, dilation) for x
    (N, in_channels, H, W): the adjoint of Conv2d, an upsampling layer (a DCGAN or VAE decoder);
    weight (in_channels, out_channels/groups, kh, kw), bias (out_channels,), torch's argument order.
    torch's default init, whose fan_in = weight.shape[1] * kh * kw = out_channels/groups * kh * kw."""
    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, init=None, dtype=None, device=None):
        self.output_padding = pair(output_padding, "output_padding", "ConvTranspose2d", 0)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         init, dtype, device)

    def forward(self, x):
        return conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                self.groups, self.dilation, layer=repr(self))
