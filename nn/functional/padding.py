"""torch's ``F.pad``: the widths given from the last axis backwards, as torch spells them."""
import tinygrad_lite as tl
from tinygrad_lite.errors import ShapeError


def pad(x, pad, mode="constant", value=None):
    """``pad`` = (left, right) of the last axis, then (top, bottom) of the one before, ...: torch's
    order, turned into ``tl.pad``'s one pair per axis. ``mode``: 'constant' (``value``, default 0),
    'reflect', 'replicate' or 'circular'."""
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: pad must hold two widths per padded axis, at most {2 * x.ndim} for a "
                         f"{x.ndim}-d tensor, got {pad}")
    pairs = [(0, 0)] * (x.ndim - len(pad) // 2) + [tuple(pad[i:i + 2]) for i in range(len(pad) - 2, -1, -2)]
    if mode != "constant" and value:
        raise ValueError(f"pad: value={value} only applies to mode='constant', got mode={mode!r}")
    return tl.pad(x, pairs, 0.0 if value is None else value, mode=mode)
