"""``Unfold`` and ``Fold``: the layer forms of ``nn.functional.unfold`` / ``fold`` (im2col and col2im
in torch's layout), with torch.nn's arguments and reprs."""
from .functional.fold import fold, unfold
from .module import Module


class Unfold(Module):
    """y = unfold(x, kernel_size, dilation, padding, stride): every window of x (N, C, H, W) as a
    column of (N, C*KH*KW, L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x):
        return unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Module):
    """y = fold(x, output_size, kernel_size, dilation, padding, stride): the columns of x
    (N, C*KH*KW, L) added back onto an (N, C, H, W) image, overlaps summed."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, x):
        return fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")
