"""``Upsample``: the layer form of ``nn.functional.interpolate`` (nearest and (bi)linear), as torch.nn."""
from .functional.upsampling import interpolate
from .module import Module


class Upsample(Module):
    """y = interpolate(x, size, scale_factor, mode, align_corners, recompute_scale_factor): resize
    (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``; a decoder's upsampling step."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:                                             # as torch stores it: a float, or None
            self.scale_factor = float(scale_factor) if scale_factor else None

    def forward(self, x):
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)

    def extra_repr(self):
        shown = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{shown}, mode={self.mode!r}"
