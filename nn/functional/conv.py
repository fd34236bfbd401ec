"""Convolution as ONE matrix product: ``im2col``, its adjoint ``col2im``, and ``conv2d`` built on them.

A 2-D convolution slides a (C, KH, KW) kernel over the image and takes a dot product at every
position. ``im2col`` copies every receptive field (window) into one row of a matrix, so that all
those dot products, for every output channel, pixel and image, become a single matmul that BLAS runs
at full speed. Layout (tensors NCHW, weights (out, in, kh, kw) as in torch)::

    x     (N, C, H, W)     --im2col-->   cols  (N*OH*OW, KH*KW*C)   one row per window
    W     (O, C, KH, KW)   --permute-->  W_mat (O, KH*KW*C)         one row per output channel
    y     = W_mat @ cols^T + b           (O, N*OH*OW)  -->  (N, O, OH, OW)
    OH    = (H + 2*padding - KH) // stride + 1   (the same for OW), as torch computes it

The gradients are two more matmuls and the adjoint of im2col, ``col2im``::

    gy_mat = gy as (O, N*OH*OW);  gW = gy_mat @ cols;  gX = col2im(gy_mat^T @ W_mat);  gb = sum(gy)

Why a window's numbers are ordered (i, j, c), channel fastest: im2col reads the image channels-last,
where the C numbers of one pixel (and, at stride 1, the KW*C numbers of a window's row) are
contiguous, so both the copy in im2col and the scatter-add in col2im move long runs of memory.
"""
import numpy as np

from tinygrad_lite.autograd import Function, is_grad_enabled
from tinygrad_lite.backend import get_array_module
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.ops.convert import check_same_device
from tinygrad_lite.tensor import Tensor


# ---- argument checks shared with pooling ----------------------------------------------------------

def pair(value, name, where, minimum):
    """``value`` (an int or a pair of ints) as a pair (for H, W), each at least ``minimum``."""
    items = (value, value) if isinstance(value, (int, np.integer)) else value
    if (not isinstance(items, (tuple, list)) or len(items) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items)
            or any(v < minimum for v in items)):
        kind = "positive" if minimum > 0 else "non-negative"
        raise ValueError(f"{where}: {name} must be a {kind} int or a pair of {kind} ints, got {value!r}")
    return int(items[0]), int(items[1])


def check_nchw(x, where):
    """Raise a ShapeError unless ``x`` is a 4-D (N, C, H, W) Tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        hint = (f"; for one image add the batch axis with x.unsqueeze(0) (-> {(1,) + x.shape})"
                if x.ndim == 3 else "")
        raise ShapeError(f"{where}: expected a 4-D input (N, C, H, W), got a {x.ndim}-D input of "
                         f"shape {x.shape}{hint}")


def output_size(input_hw, kernel, stride, padding, where):
    """(OH, OW) = (H + 2p - k) // s + 1 per axis; a ShapeError when the kernel does not fit."""
    padded = tuple(n + 2 * p for n, p in zip(input_hw, padding))
    if any(k > n for k, n in zip(kernel, padded)):
        raise ShapeError(f"{where}: kernel size {kernel} is larger than the padded input "
                         f"{padded} (input {input_hw} + padding {padding} on each side)")
    return tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel, stride))


# ---- the array-level work (NumPy or CuPy, whichever holds the data) -------------------------------

def pad_hw(x, padding, value=0.0):
    """x (N, C, H, W) with ``value`` added around H and W (faster than ``xp.pad`` for this one case)."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    n, c, h, w = x.shape
    out = get_array_module(x).full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def window_slice(i, j, out_hw, stride, channels_last=False):
    """The index that picks, from a padded image batch, the pixel at kernel offset (i, j) of every
    window: rows i, i+sh, ..., i+sh*(OH-1) and columns j, j+sw, ..., j+sw*(OW-1)."""
    (oh, ow), (sh, sw) = out_hw, stride
    rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
    return (slice(None), rows, cols, slice(None)) if channels_last else (slice(None), slice(None), rows, cols)


def im2col_array(x, kernel, stride, padding, offset_major=False):
    """cols[(n, oh, ow), (i, j, c)] = x_padded[n, c, oh*sh + i, ow*sw + j]: a strided view, one copy.
    ``offset_major=True`` gives the same numbers as (KH*KW, N*OH*OW, C): one (N*OH*OW, C) block per
    kernel offset (the layout ``col2im_array`` adds fastest when C is small)."""
    xp = get_array_module(x)
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    oh, ow = output_size((h, w), kernel, stride, padding, "im2col")
    image = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=x.dtype)   # padded, channels-last
    image[:, ph:ph + h, pw:pw + w, :] = x.transpose(0, 2, 3, 1)
    s_n, s_h, s_w, s_c = image.strides
    windows = xp.lib.stride_tricks.as_strided(   # no copy yet: every window, as a 6-D view
        image, shape=(n, oh, ow, kh, kw, c), strides=(s_n, s_h * sh, s_w * sw, s_h, s_w, s_c))
    if offset_major:
        return windows.transpose(3, 4, 0, 1, 2, 5).reshape(kh * kw, n * oh * ow, c)
    if kw * c >= ow:                                   # the one copy, reading the longer runs:
        return windows.reshape(n * oh * ow, kh * kw * c)   # a window row's kw*c numbers, or
    by_offset = windows.transpose(3, 4, 5, 0, 1, 2)        # (few channels) an image row's ow pixels;
    return by_offset.reshape(kh * kw * c, n * oh * ow).T   # same matrix, column-major in memory


def col2im_array(cols, input_shape, kernel, stride, padding):
    """The adjoint of ``im2col_array``: each entry of cols is added back onto the pixel it was copied
    from (overlapping windows add up), one strided slice per kernel offset; then the padding is cut.
    ``cols`` is (N*OH*OW, KH*KW*C), or offset-major (KH*KW, N*OH*OW, C), where each offset's block
    is contiguous: NumPy then adds runs of OW*C numbers instead of runs of C (3x faster for C = 16)."""
    xp = get_array_module(cols)
    n, c, h, w = input_shape
    (kh, kw), (ph, pw) = kernel, padding
    out_hw = output_size((h, w), kernel, stride, padding, "col2im")
    if cols.ndim == 3:                                      # offset-major
        by_offset = cols.reshape(kh, kw, n, *out_hw, c)
    else:                                                   # a view, no copy
        by_offset = cols.reshape(n, *out_hw, kh, kw, c).transpose(3, 4, 0, 1, 2, 5)
    image = xp.zeros((n, h + 2 * ph, w + 2 * pw, c), dtype=cols.dtype)   # padded, channels-last
    for i in range(kh):
        for j in range(kw):
            image[window_slice(i, j, out_hw, stride, channels_last=True)] += by_offset[i, j]
    return image[:, ph:ph + h, pw:pw + w, :].transpose(0, 3, 1, 2).copy()   # contiguous NCHW


# ---- differentiable Functions ---------------------------------------------------------------------

class Im2Col(Function):
    """cols = im2col(x);  dx = col2im(gcols) (the adjoint), so every order of gradient comes free"""
    def __init__(self, kernel, stride, padding, offset_major=False):
        self.geometry, self.offset_major = (kernel, stride, padding), offset_major

    def forward(self, x):
        self.input_shape = x.shape
        return im2col_array(x, *self.geometry, offset_major=self.offset_major)

    def backward(self, gcols): return Col2Im(self.input_shape, *self.geometry)(gcols)


class Col2Im(Function):
    """x = col2im(cols);  dcols = im2col(gx) (the adjoint)"""
    def __init__(self, input_shape, kernel, stride, padding):
        self.input_shape, self.geometry = tuple(input_shape), (kernel, stride, padding)

    def forward(self, cols): return col2im_array(cols, self.input_shape, *self.geometry)
    def backward(self, gx): return Im2Col(*self.geometry, offset_major=self.inputs[0].ndim == 3)(gx)


class Conv2d(Function):
    """y = W_mat @ im2col(x)^T + b, reshaped to (N, O, OH, OW), with W_mat = W as (O, KH*KW*C).

    Backward, with gy_mat = gy as (O, N*OH*OW):
        gW = gy_mat @ cols   (reusing the cols saved by forward), back to (O, C, KH, KW)
        gX = col2im(gy_mat^T @ W_mat)   (skipped when x needs no gradient, e.g. the first layer)
        gb = gy_mat summed over its columns
    The backward is written in differentiable Tensor ops, so ``create_graph=True`` gives higher-order
    gradients; only then is im2col(x) recomputed as a graph op instead of reusing the saved cols.
    """
    def __init__(self, stride, padding): self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        xp, (out_channels, n) = get_array_module(x), (weight.shape[0], x.shape[0])
        self.kernel = weight.shape[2:]
        oh, ow = output_size(x.shape[2:], self.kernel, self.stride, self.padding, "conv2d")
        self.cols = im2col_array(x, self.kernel, self.stride, self.padding)
        w_mat = weight.transpose(0, 2, 3, 1).reshape(out_channels, -1)
        if self.cols.flags.c_contiguous:     # THE matmul; OpenBLAS runs (N*OH*OW, K) @ (K, O) faster
            y = (self.cols @ w_mat.T).reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2)
        else:                                # cols column-major (few channels): the transposed product
            y = (w_mat @ self.cols.T).reshape(out_channels, n, oh, ow).transpose(1, 0, 2, 3)
        out = xp.empty(y.shape, dtype=y.dtype)                           # contiguous NCHW
        if bias is None:
            out[...] = y
        else:
            xp.add(y, bias.reshape(1, out_channels, 1, 1), out=out)
        return out

    def backward(self, gy):
        x, weight = self.inputs[:2]
        out_channels = weight.shape[0]
        gy_mat = gy.permute(1, 0, 2, 3).reshape(out_channels, -1)         # (O, N*OH*OW)
        w_mat = weight.permute(0, 2, 3, 1).reshape(out_channels, -1)      # (O, KH*KW*C)
        gx = gw = gb = None
        if self.needs_grad[0]:
            gx = Col2Im(x.shape, self.kernel, self.stride, self.padding)(self.input_gradient_cols(gy_mat, w_mat))
        if self.needs_grad[1]:
            if is_grad_enabled() and x.requires_grad:     # create_graph: gW must stay linked to x
                cols = Im2Col(self.kernel, self.stride, self.padding)(x)
            else:
                cols = Tensor._wrap(self.cols)
            kh, kw = self.kernel
            gw = (gy_mat @ cols).reshape(out_channels, kh, kw, -1).permute(0, 3, 1, 2)
        if len(self.inputs) == 3 and self.needs_grad[2]:
            gb = gy_mat.sum(axis=1)
        return (gx, gw, gb)[:len(self.inputs)]

    def input_gradient_cols(self, gy_mat, w_mat):
        """gcols = gy_mat^T @ W_mat, (N*OH*OW, KH*KW*C); for C <= 32 channels offset-major instead,
        (KH*KW, N*OH*OW, C), one product per kernel offset: col2im then adds contiguous blocks,
        which saves more than the narrower products cost (runs of C <= 32 floats are too short
        for NumPy's strided add; for wider C the single product wins)."""
        (kh, kw), channels = self.kernel, self.inputs[0].shape[1]
        if channels > 32:
            return gy_mat.T @ w_mat
        return gy_mat.T @ w_mat.reshape(-1, kh * kw, channels).permute(1, 0, 2)


# ---- the functions users call ---------------------------------------------------------------------

def im2col(x, kernel_size, stride=1, padding=0):
    """Unfold every (C, KH, KW) window of ``x`` (N, C, H, W) into a row: returns (N*OH*OW, KH*KW*C).

    Row (n, oh, ow) is the window of image n whose top-left corner sits at (oh*stride - padding,
    ow*stride - padding); column (i, j, c) holds that window's pixel at kernel offset (i, j) in
    channel c. One channel, a 3x3 image, a 2x2 kernel, stride 1, no padding::

        x            the 4 windows          cols     (0,0) (0,1) (1,0) (1,1)   <- kernel offset (i, j)
        a b c        a b    b c             (0,0)      a     b     d     e
        d e f   ->   d e    e f       ->    (0,1)      b     c     e     f
        g h i                               (1,0)      d     e     g     h
                     d e    e f             (1,1)      e     f     h     i
                     g h    h i              ^ window (oh, ow)

    Column (i, j) is x shifted by the offset and sampled with the stride, x[i::s, j::s]; the whole
    matrix is one strided view of x (``as_strided``), copied once. With C channels each offset
    becomes C columns, channel fastest, so a conv2d weight (O, C, KH, KW) meets it as
    ``W.permute(0, 2, 3, 1).reshape(O, -1)``. torch's ``F.unfold`` holds the same numbers as
    (N, C*KH*KW, OH*OW), ordered (c, i, j). Differentiable; its gradient is ``col2im``.
    """
    check_nchw(x, "im2col")
    kernel = pair(kernel_size, "kernel_size", "im2col", 1)
    stride, padding = pair(stride, "stride", "im2col", 1), pair(padding, "padding", "im2col", 0)
    output_size(x.shape[2:], kernel, stride, padding, "im2col")
    return Im2Col(kernel, stride, padding)(x)


def col2im(cols, input_shape, kernel_size, stride=1, padding=0):
    """The adjoint of ``im2col``: add each column entry back onto the pixel it was copied from.

    ``cols`` is (N*OH*OW, KH*KW*C) as ``im2col`` returns; the result has ``input_shape`` (N, C, H, W).
    A pixel covered by several windows receives the sum of its copies (in the picture of ``im2col``,
    e sits in all four rows, so col2im gives it the sum of four entries), which is exactly the
    gradient of im2col: ``<im2col(x), y> == <x, col2im(y)>`` for every x and y. Not an inverse:
    col2im(im2col(x)) is x times the number of windows covering each pixel.
    """
    if not isinstance(cols, Tensor):
        raise TypeError(f"col2im: cols must be a Tensor, got {type(cols).__name__}")
    input_shape = tuple(int(n) for n in input_shape)
    if len(input_shape) != 4:
        raise ShapeError(f"col2im: input_shape must be (N, C, H, W), got {input_shape}")
    kernel = pair(kernel_size, "kernel_size", "col2im", 1)
    stride, padding = pair(stride, "stride", "col2im", 1), pair(padding, "padding", "col2im", 0)
    oh, ow = output_size(input_shape[2:], kernel, stride, padding, "col2im")
    expected = (input_shape[0] * oh * ow, kernel[0] * kernel[1] * input_shape[1])
    if cols.shape != expected:
        raise ShapeError(f"col2im: cols for input_shape {input_shape}, kernel {kernel}, stride "
                         f"{stride}, padding {padding} must have shape (N*OH*OW, KH*KW*C) = "
                         f"{expected}, got {cols.shape}")
    return Col2Im(input_shape, kernel, stride, padding)(cols)


def conv2d(x, weight, bias=None, stride=1, padding=0, layer="conv2d"):
    """2-D convolution (cross-correlation, as in torch): x (N, C, H, W), weight (O, C, KH, KW),
    bias (O,) or None -> (N, O, OH, OW), with OH = (H + 2*padding - KH) // stride + 1.

    y[n, o, p, q] = b[o] + sum_{c,i,j} W[o, c, i, j] * x_padded[n, c, p*stride + i, q*stride + j],
    computed as im2col + ONE matmul (see the module docstring). ``layer`` names the caller in errors.
    """
    check_nchw(x, layer)
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ShapeError(f"{layer}: weight must be a 4-D Tensor (out_channels, in_channels, kh, kw), "
                         f"got shape {getattr(weight, 'shape', type(weight).__name__)}")
    if x.shape[1] != weight.shape[1]:
        raise ShapeError(f"{layer}: input has {x.shape[1]} channels (shape {x.shape}, NCHW) but the "
                         f"weight {weight.shape} expects {weight.shape[1]} input channels")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (weight.shape[0],)):
        raise ShapeError(f"{layer}: bias must have shape ({weight.shape[0]},) (one per output channel), "
                         f"got {getattr(bias, 'shape', type(bias).__name__)}")
    check_same_device(layer, (x, weight, bias), "input, weight and bias")
    stride, padding = pair(stride, "stride", layer, 1), pair(padding, "padding", layer, 0)
    output_size(x.shape[2:], weight.shape[2:], stride, padding, layer)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d(stride, padding)(*inputs)

