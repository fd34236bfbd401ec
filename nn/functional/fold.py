"""torch's ``unfold`` and ``fold``: ``im2col`` and ``col2im`` (``conv.py``) in torch's layout.

conv2d, conv_transpose2d and these two share one pair of ops, ``Im2ColOp`` and ``Col2ImOp`` (on
``im2col_array`` / ``col2im_array``); here only the layout differs. Ours puts a window in a row,
channel fastest, for the one matmul; torch's puts it in a column, ordered (c, i, j)::

    im2col(x)   (N*L, KH*KW*C)    row (n, l), column (i, j, c)      L = OH*OW windows
    unfold(x)   (N, C*KH*KW, L)   [n, (c, i, j), l]: the same numbers, permuted

so unfold is im2col, a reshape and a permute, and fold, the adjoint (overlapping windows add up),
is the permute back and col2im. Each is the other's gradient.
"""
from tinygrad_lite.core import Tensor
from tinygrad_lite.errors import ShapeError

from .conv import Col2ImOp, Im2ColOp, check_nchw, output_size as windows_hw, pair


def _geometry(kernel_size, dilation, padding, stride, where):
    return (pair(kernel_size, "kernel_size", where, 1), pair(stride, "stride", where, 1),
            pair(padding, "padding", where, 0), pair(dilation, "dilation", where, 1))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """torch's ``F.unfold`` (im2col): x (N, C, H, W), or (C, H, W), -> (N, C*KH*KW, L) (or
    (C*KH*KW, L)), L = OH*OW windows in row-major order,
    y[n, c*KH*KW + i*KW + j, oh*OW + ow] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]."""
    x = input
    if isinstance(x, Tensor) and x.ndim == 3:
        return unfold(x.unsqueeze(0), kernel_size, dilation, padding, stride).squeeze(0)
    check_nchw(x, "unfold")
    kernel, stride, padding, dilation = _geometry(kernel_size, dilation, padding, stride, "unfold")
    (n, c), (kh, kw) = x.shape[:2], kernel
    oh, ow = windows_hw(x.shape[2:], kernel, stride, padding, "unfold", dilation)
    cols = Im2ColOp(kernel, stride, padding, dilation)(x)                      # (N*L, KH*KW*C)
    return cols.reshape(n, oh * ow, kh, kw, c).permute(0, 4, 2, 3, 1).reshape(n, c * kh * kw, oh * ow)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """torch's ``F.fold`` (col2im), the adjoint of ``unfold``: cols (N, C*KH*KW, L), or (C*KH*KW, L),
    -> (N, C, H, W) (or (C, H, W)) with ``output_size`` (H, W); each entry is added onto the pixel
    unfold would read it from, so pixels that several windows cover get the sum of their copies."""
    cols = input
    if not isinstance(cols, Tensor):
        raise TypeError(f"fold: input must be a Tensor, got {type(cols).__name__}")
    if cols.ndim == 2:
        return fold(cols.unsqueeze(0), output_size, kernel_size, dilation, padding, stride).squeeze(0)
    kernel, stride, padding, dilation = _geometry(kernel_size, dilation, padding, stride, "fold")
    hw = pair(output_size, "output_size", "fold", 1)
    (kh, kw), (oh, ow) = kernel, windows_hw(hw, kernel, stride, padding, "fold", dilation)
    if cols.ndim != 3 or cols.shape[1] % (kh * kw) or cols.shape[2] != oh * ow:
        raise ShapeError(f"fold: input must be (N, C*KH*KW, L) with C*KH*KW a multiple of {kh * kw} "
                         f"(kernel {kernel}) and L = {oh * ow} windows (output_size {hw}, stride {stride}, "
                         f"padding {padding}, dilation {dilation}), got shape {cols.shape}")
    n, c = cols.shape[0], cols.shape[1] // (kh * kw)
    rows = cols.reshape(n, c, kh, kw, oh * ow).permute(0, 4, 2, 3, 1).reshape(n * oh * ow, kh * kw * c)
    return Col2ImOp((n, c) + hw, kernel, stride, padding, dilation)(rows)

