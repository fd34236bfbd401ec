"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``, ``GlobalAvgPool2d``.

Constructor arguments and reprs follow torch.nn; the computation lives in ``nn.functional.pooling``
(a loop over the kernel's offsets, each one strided slice of the batch).
"""
from .functional.conv import pair
from .functional.pooling import adaptive_avg_pool2d, avg_pool2d, global_avg_pool2d, max_pool2d
from .module import Module


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
    """Max over each (kh, kw) window; stride defaults to kernel_size; torch's ``dilation``,
    ``ceil_mode`` and ``return_indices`` (then forward returns (values, indices))."""
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__(kernel_size, stride, padding)
        pair(dilation, "dilation", type(self).__name__, 1)
        self.dilation, self.return_indices, self.ceil_mode = dilation, bool(return_indices), ceil_mode

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices, layer=repr(self))

    def extra_repr(self):
        return super().extra_repr() + f", dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class AvgPool2d(_Pool2d):
    """Mean over each (kh, kw) window; by default padded zeros count (torch's count_include_pad=True);
    torch's ``ceil_mode``, ``count_include_pad`` and ``divisor_override``."""
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad, self.divisor_override, layer=repr(self))


class AdaptiveAvgPool2d(Module):
    """Mean over torch's adaptive windows to ``output_size`` (an int, or a pair with None for
    "keep"): (N, C, H, W) -> (N, C, OH, OW)."""
    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size, layer=repr(self))

    def extra_repr(self):
        return f"output_size={self.output_size}"


class GlobalAvgPool2d(Module):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1), torch's AdaptiveAvgPool2d(1)."""
    def forward(self, x):
        return global_avg_pool2d(x, layer=repr(self))
