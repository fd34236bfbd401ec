"""Convolution as ONE matrix product: ``im2col``, its adjoint ``col2im``, and ``conv2d`` built on them.

A 2-D convolution slides a (C, KH, KW) kernel over the image and takes a dot product at every
position. ``im2col`` copies every receptive field (window) into one row of a matrix, so that all
those dot products, for every output channel, pixel and image, become a single matmul that BLAS runs
at full speed. Layout (tensors NCHW, weights (out, in, kh, kw) as in torch)::

    x     (N, C, H, W)     --im2col-->   cols  (N*OH*OW, KH*KW*C)   one row per window
    W     (O, C, KH, KW)   --permute-->  W_mat (O, KH*KW*C)         one row per output channel
    y     = W_mat @ cols^T + b           (O, N*OH*OW)  -->  (N, O, OH, OW)
    OH    = (H + 2*padding - dilation*(KH - 1) - 1) // stride + 1   (the same for OW), as torch

Dilation d spreads a kernel's taps d pixels apart (im2col reads every d-th pixel of a wider window);
``groups`` g splits the channels into g independent convolutions, each C/g -> O/g, run as one batched
matmul of the same cols; ``conv_transpose2d`` reads this machinery the other way, col2im(x_mat @ W_mat).

The gradients are two more matmuls and the adjoint of im2col, ``col2im``::

    gy_mat = gy as (O, N*OH*OW);  gW = gy_mat @ cols;  gX = col2im(gy_mat^T @ W_mat);  gb = sum(gy)

Why a window's numbers are ordered (i, j, c), channel fastest: im2col reads the image channels-last,
where the C numbers of one pixel (and, at stride 1, the KW*C numbers of a window's row) are
contiguous, so both the copy in im2col and the scatter-add in col2im move long runs of memory.
"""
import numpy as np

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.ops.convert import check_same_device


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


def sides(padding):
    """((top, bottom), (left, right)) from a symmetric (ph, pw) or from those sides themselves."""
    return tuple((p, p) if isinstance(p, (int, np.integer)) else tuple(p) for p in padding)


def output_size(input_hw, kernel, stride, padding, where, dilation=(1, 1)):
    """(OH, OW) = (H + top + bottom - span) // s + 1 per axis, span = dilation*(k - 1) + 1 (the
    kernel's reach); a ShapeError when the kernel does not fit. ``padding`` as ``sides`` takes it."""
    padded = tuple(n + before + after for n, (before, after) in zip(input_hw, sides(padding)))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(k > n for k, n in zip(span, padded)):
        dilated = "" if tuple(dilation) == (1, 1) else f" dilated by {tuple(dilation)} to {span}"
        each = " on each side" if all(isinstance(p, (int, np.integer)) for p in padding) else ""
        raise ShapeError(f"{where}: kernel size {kernel}{dilated} is larger than the padded input "
                         f"{padded} (input {input_hw} + padding {padding}{each})")
    return tuple((n - k) // s + 1 for n, k, s in zip(padded, span, stride))


# ---- the array-level work (NumPy or CuPy, whichever holds the data) -------------------------------

def pad_hw(x, padding, value=0.0):
    """x (N, C, H, W) with ``value`` added around H and W (faster than ``xp.pad`` for this one case);
    ``padding`` as ``sides`` takes it."""
    (top, bottom), (left, right) = sides(padding)
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    out = array_module(x).full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def window_slice(i, j, out_hw, stride, channels_last=False):
    """The index that picks, from a padded image batch, the pixel at (i, j) from the top-left corner
    of every window: rows i, i+sh, ..., i+sh*(OH-1) and columns j, j+sw, ..., j+sw*(OW-1). With
    dilation d, kernel offset (ki, kj) sits at (i, j) = (d*ki, d*kj)."""
    (oh, ow), (sh, sw) = out_hw, stride
    rows, cols = slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)
    return (slice(None), rows, cols, slice(None)) if channels_last else (slice(None), slice(None), rows, cols)


def im2col_array(x, kernel, stride, padding, dilation=(1, 1), offset_major=False):
    """cols[(n, oh, ow), (i, j, c)] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]: a strided view, one
    copy. ``offset_major=True`` gives the same numbers as (KH*KW, N*OH*OW, C): one (N*OH*OW, C) block
    per kernel offset (the layout ``col2im_array`` adds fastest when C is small)."""
    xp = array_module(x)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (top, bottom), (left, right) = sides(padding)
    n, c, h, w = x.shape
    oh, ow = output_size((h, w), kernel, stride, padding, "im2col", dilation)
    image = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)   # padded, channels-last
    image[:, top:top + h, left:left + w, :] = x.transpose(0, 2, 3, 1)
    s_n, s_h, s_w, s_c = image.strides
    windows = xp.lib.stride_tricks.as_strided(   # no copy yet: every window, as a 6-D view
        image, shape=(n, oh, ow, kh, kw, c), strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c))
    if offset_major:
        return windows.transpose(3, 4, 0, 1, 2, 5).reshape(kh * kw, n * oh * ow, c)
    if c > 1 or kw * c >= ow:                          # the one copy, reading the longer runs:
        return windows.reshape(n * oh * ow, kh * kw * c)   # a window row's kw*c numbers, or
    by_offset = windows.transpose(3, 4, 5, 0, 1, 2)        # (one channel) an image row's ow pixels;
    return by_offset.reshape(kh * kw * c, n * oh * ow).T   # same matrix, column-major in memory


def col2im_array(cols, input_shape, kernel, stride, padding, dilation=(1, 1)):
    """The adjoint of ``im2col_array``: each entry of cols is added back onto the pixel it was copied
    from (overlapping windows add up), one strided slice per kernel offset; then the padding is cut.
    ``cols`` is (N*OH*OW, KH*KW*C), or offset-major (KH*KW, N*OH*OW, C), where each offset's block
    is contiguous: NumPy then adds runs of OW*C numbers instead of runs of C (3x faster for C = 16)."""
    xp = array_module(cols)
    n, c, h, w = input_shape
    (kh, kw), (dh, dw) = kernel, dilation
    (top, bottom), (left, right) = sides(padding)
    out_hw = output_size((h, w), kernel, stride, padding, "col2im", dilation)
    if cols.ndim == 3:                                      # offset-major
        by_offset = cols.reshape(kh, kw, n, *out_hw, c)
    else:                                                   # a view, no copy
        by_offset = cols.reshape(n, *out_hw, kh, kw, c).transpose(3, 4, 0, 1, 2, 5)
    image = xp.zeros((n, h + top + bottom, w + left + right, c), dtype=cols.dtype)   # padded, channels-last
    for i in range(kh):
        for j in range(kw):
            image[window_slice(i * dh, j * dw, out_hw, stride, channels_last=True)] += by_offset[i, j]
    return image[:, top:top + h, left:left + w, :].transpose(0, 3, 1, 2).copy()   # contiguous NCHW


# ---- differentiable Functions ---------------------------------------------------------------------

class Im2ColOp(Function):
    """cols = im2col(x);  dx = col2im(gcols) (the adjoint), so every order of gradient comes free"""
    def __init__(self, kernel, stride, padding, dilation=(1, 1), offset_major=False):
        self.geometry, self.offset_major = (kernel, stride, padding, dilation), offset_major

    def forward(self, x):
        self.input_shape = x.shape
        return im2col_array(x, *self.geometry, offset_major=self.offset_major)

    def backward(self, gcols): return Col2ImOp(self.input_shape, *self.geometry)(gcols)


class Col2ImOp(Function):
    """x = col2im(cols);  dcols = im2col(gx) (the adjoint)"""
    def __init__(self, input_shape, kernel, stride, padding, dilation=(1, 1)):
        self.input_shape, self.geometry = tuple(input_shape), (kernel, stride, padding, dilation)

    def forward(self, cols): return col2im_array(cols, self.input_shape, *self.geometry)
    def backward(self, gx): return Im2ColOp(*self.geometry, offset_major=self.inputs[0].ndim == 3)(gx)


class Conv2dOp(Function):
    """y = W_mat @ im2col(x)^T + b, reshaped to (N, O, OH, OW), with W_mat = W as (O, KH*KW*C).

    Backward, with gy_mat = gy as (O, N*OH*OW):
        gW = gy_mat @ im2col(x), back to (O, C, KH, KW)
        gX = col2im(gy_mat^T @ W_mat)   (skipped when x needs no gradient, e.g. the first layer)
        gb = gy_mat summed over its columns
    ``backward`` writes these in Tensor ops (every order of gradient); ``_fast_backward``, which
    training takes, reuses the cols that forward kept. ``conv2d_simple`` is the whole op composed.
    """
    def __init__(self, stride, padding, dilation=(1, 1)):
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x, weight, bias=None):
        xp, (out_channels, n) = array_module(x), (weight.shape[0], x.shape[0])
        self.kernel = weight.shape[2:]
        geometry = (self.kernel, self.stride, self.padding, self.dilation)
        oh, ow = output_size(x.shape[2:], *geometry[:3], "conv2d", self.dilation)
        self.cols = im2col_array(x, *geometry)
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
        (kh, kw), out_channels = self.kernel, weight.shape[0]
        geometry = (self.kernel, self.stride, self.padding, self.dilation)
        gy_mat = gy.permute(1, 0, 2, 3).reshape(out_channels, -1)         # (O, N*OH*OW)
        w_mat = weight.permute(0, 2, 3, 1).reshape(out_channels, -1)      # (O, KH*KW*C), windows' order
        gx = gw = gb = None
        if self.needs_grad[0]:
            gx = Col2ImOp(x.shape, *geometry)(gy_mat.T @ w_mat)
        if self.needs_grad[1]:
            gw = (gy_mat @ Im2ColOp(*geometry)(x)).reshape(out_channels, kh, kw, -1).permute(0, 3, 1, 2)
        if len(self.inputs) == 3 and self.needs_grad[2]:
            gb = gy_mat.sum(axis=1)
        return (gx, gw, gb)[:len(self.inputs)]

    def _fast_backward(self, gy):
        """``backward``, faster, on the arrays: gW from the cols forward kept (no second im2col), and
        for C <= 32 input channels gX's product offset-major, (KH*KW, N*OH*OW, C), one product per
        kernel offset, so that col2im adds contiguous blocks (runs of C <= 32 floats are too short for
        NumPy's strided add, which costs more than the narrower products; for wider C the single
        product wins). The same products and sums as ``backward``."""
        x, weight = self.inputs[0].data, self.inputs[1].data
        xp, (kh, kw), out_channels, channels = array_module(x), self.kernel, weight.shape[0], x.shape[1]
        gy_mat = gy.data.transpose(1, 0, 2, 3).reshape(out_channels, -1)        # (O, N*OH*OW)
        w_mat = weight.transpose(0, 2, 3, 1).reshape(out_channels, -1)          # (O, KH*KW*C)
        gx = gw = gb = None
        if self.needs_grad[0]:
            w_by_offset = w_mat if channels > 32 else w_mat.reshape(-1, kh * kw, channels).transpose(1, 0, 2)
            gx = Tensor._wrap(col2im_array(xp.matmul(gy_mat.T, w_by_offset), x.shape, self.kernel, self.stride,
                                           self.padding, self.dilation))
        if self.needs_grad[1]:
            gw = Tensor._wrap(xp.matmul(gy_mat, self.cols).reshape(out_channels, kh, kw, -1).transpose(0, 3, 1, 2))
        if len(self.inputs) == 3 and self.needs_grad[2]:
            gb = Tensor._wrap(gy_mat.sum(axis=1))
        return (gx, gw, gb)[:len(self.inputs)]


def grouped_conv2d(x, weight, bias, groups, geometry):
    """conv2d with ``groups`` g > 1 as a composition: the groups moved into the batch, one im2col,
    then the g products as ONE batched matmul (not a loop of small ones).

        x    (N, C, H, W)      -> (g*N, C/g, H, W)         group k's channels k*C/g .. (k+1)*C/g
        cols (g*N*L, KH*KW*C/g) = (g, N*L, KH*KW*C/g)     im2col of that batch: each group's own
        W    (O, C/g, KH, KW)  -> (g, KH*KW*C/g, O/g)     windows, already in one block
        y    = cols_g @ W_g    (g, N*L, O/g)  ->  (N, O, OH, OW)   output channel k*O/g + o
    Every step is a differentiable op (Im2ColOp, reshape, permute, matmul), so all gradients come
    free; the backward's col2im works on the same (g*N, C/g, H, W) batch.
    """
    (n, _, h, w), (out_channels, per_group, kh, kw) = x.shape, weight.shape
    kernel, stride, padding, dilation = geometry
    oh, ow = output_size(x.shape[2:], kernel, stride, padding, "conv2d", dilation)
    batched = x.reshape(n, groups, per_group, h, w).permute(1, 0, 2, 3, 4).reshape(groups * n, per_group, h, w)
    cols = Im2ColOp(*geometry)(batched).reshape(groups, n * oh * ow, kh * kw * per_group)
    w_mat = weight.reshape(groups, out_channels // groups, per_group, kh, kw).permute(0, 3, 4, 2, 1)
    y = cols @ w_mat.reshape(groups, kh * kw * per_group, out_channels // groups)
    y = y.reshape(groups, n, oh, ow, -1).permute(1, 0, 4, 2, 3).reshape(n, out_channels, oh, ow)
    return y if bias is None else y + bias.reshape(1, out_channels, 1, 1)


class GroupedConv2dOp(Function):
    """``grouped_conv2d`` as one op, the fast path of conv2d with groups g > 1: the same products on
    arrays, and a backward that keeps what the composition's gradient copies around. With the
    groups in the batch (x_b (g*N, C/g, H, W), cols_g (g, N*L, KH*KW*C/g), W_g (g, KH*KW*C/g, O/g)):

        y_g  = cols_g @ W_g                      -> (N, O, OH, OW) + b
        gW_g = cols_g^T @ gy_g                   gb = gy summed over N, OH, OW
        gX   = col2im(gy_g @ W_g^T by offset)    one product per kernel offset, offset-major, the
                                                 layout col2im adds fastest (``Conv2dOp._fast_backward``)
    ``backward`` is in Tensor ops (every order of gradient). Exercise copies go without both
    backwards, which hold task 9's answer in another form: there ``conv2d`` takes the composition.
    """
    def __init__(self, groups, kernel, stride, padding, dilation):
        self.groups, self.geometry = groups, (kernel, stride, padding, dilation)

    def _batched(self, x):
        """x (N, C, H, W) -> (g*N, C/g, H, W): group k's images k*N .. (k+1)*N - 1 (a copy)."""
        n, c, h, w = x.shape
        g = self.groups
        return x.reshape(n, g, c // g, h, w).transpose(1, 0, 2, 3, 4).reshape(g * n, c // g, h, w)

    def _by_group(self, cols):
        """im2col's (g*N*L, K) matrix as (g, N*L, K), a view in either of its memory orders."""
        g = self.groups
        if cols.flags.c_contiguous:
            return cols.reshape(g, -1, cols.shape[1])
        return cols.T.reshape(cols.shape[1], g, -1).transpose(1, 2, 0)

    def forward(self, x, weight, bias=None):
        xp, g, (n, _, h, w), (out_channels, per_group, kh, kw) = array_module(x), self.groups, x.shape, weight.shape
        oh, ow = output_size((h, w), *self.geometry[:3], "conv2d", self.geometry[3])
        self.cols = self._by_group(im2col_array(self._batched(x), *self.geometry))
        self.w_g = weight.reshape(g, out_channels // g, per_group, kh, kw).transpose(0, 3, 4, 2, 1).reshape(
            g, kh * kw * per_group, out_channels // g)
        y = xp.matmul(self.cols, self.w_g).reshape(g, n, oh, ow, -1).transpose(1, 0, 4, 2, 3)
        out = xp.empty((n, out_channels, oh, ow), dtype=y.dtype)
        out.reshape(n, g, -1, oh, ow)[...] = y
        if bias is not None:
            out += bias.reshape(1, out_channels, 1, 1)
        return out

    def backward(self, gy):
        x, weight = self.inputs[:2]
        g, (n, c, h, w), (out_channels, per_group, kh, kw) = self.groups, x.shape, weight.shape
        _, oh, ow = gy.shape[1:]
        gy_g = gy.reshape(n, g, out_channels // g, oh, ow).permute(1, 0, 3, 4, 2).reshape(g, n * oh * ow, -1)
        w_g = weight.reshape(g, out_channels // g, per_group, kh, kw).permute(0, 3, 4, 2, 1).reshape(
            g, -1, out_channels // g)
        gx = gw = gb = None
        if self.needs_grad[0]:
            gcols = (gy_g @ w_g.swapaxes(-1, -2)).reshape(g * n * oh * ow, -1)
            gx = Col2ImOp((g * n, per_group, h, w), *self.geometry)(gcols)
            gx = gx.reshape(g, n, per_group, h, w).permute(1, 0, 2, 3, 4).reshape(n, c, h, w)
        if self.needs_grad[1]:
            batched = x.reshape(n, g, per_group, h, w).permute(1, 0, 2, 3, 4).reshape(g * n, per_group, h, w)
            cols = Im2ColOp(*self.geometry)(batched).reshape(g, n * oh * ow, -1)
            gw = (cols.swapaxes(-1, -2) @ gy_g).reshape(g, kh, kw, per_group, -1).permute(0, 4, 3, 1, 2)
            gw = gw.reshape(out_channels, per_group, kh, kw)
        if len(self.inputs) == 3 and self.needs_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return (gx, gw, gb)[:len(self.inputs)]

    def _fast_backward(self, gy):
        """``backward`` on arrays, with the cols forward kept and gX's product offset-major."""
        xp, g = array_module(gy.data), self.groups
        (n, c, h, w), (out_channels, per_group, kh, kw) = self.inputs[0].shape, self.inputs[1].shape
        _, oh, ow = gy.shape[1:]
        gy_g = gy.data.reshape(n, g, -1, oh, ow).transpose(1, 0, 3, 4, 2).reshape(g, n * oh * ow, -1)
        gx = gw = gb = None
        if self.needs_grad[0]:
            w_by_offset = self.w_g.reshape(g, kh * kw, per_group, -1).transpose(1, 0, 3, 2)   # (KK, g, O/g, C/g)
            gcols = xp.empty((kh * kw, g, n * oh * ow, per_group), dtype=gy_g.dtype)
            if out_channels == g:            # one output per group: a product of one term each
                xp.multiply(gy_g, w_by_offset, out=gcols)
            else:
                xp.matmul(gy_g, w_by_offset, out=gcols)
            gcols = gcols.reshape(kh * kw, g * n * oh * ow, per_group)
            gx = col2im_array(gcols, (g * n, per_group, h, w), *self.geometry)
            gx = Tensor._wrap(gx.reshape(g, n, per_group, h, w).transpose(1, 0, 2, 3, 4).reshape(n, c, h, w))
        if self.needs_grad[1]:
            gw = xp.matmul(self.cols.transpose(0, 2, 1), gy_g).reshape(g, kh, kw, per_group, -1)
            gw = Tensor._wrap(gw.transpose(0, 4, 3, 1, 2).reshape(out_channels, per_group, kh, kw))
        if len(self.inputs) == 3 and self.needs_grad[2]:
            gb = Tensor._wrap(gy.data.sum(axis=(0, 2, 3)))
        return (gx, gw, gb)[:len(self.inputs)]


# ---- argument checks of the convolutions ----------------------------------------------------------

def conv_padding(padding, kernel, stride, dilation, where):
    """torch's ``padding``: an int, an (h, w) pair, 'valid' (none) or 'same' (output size = input
    size, stride 1 only: d*(k-1) zeros per axis, the odd one on the bottom / right side, as torch);
    or four ints (left, right, top, bottom), ``F.pad``'s order, for zeros that differ by side (what
    torch code writes as ``conv2d(F.pad(x, p), w)``). Returns sides ((top, bottom), (left, right))."""
    if isinstance(padding, (tuple, list)) and len(padding) == 4:
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0 for p in padding):
            raise ValueError(f"{where}: padding (left, right, top, bottom) must be four non-negative ints, "
                             f"got {padding!r}")
        left, right, top, bottom = (int(p) for p in padding)
        return (top, bottom), (left, right)
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"{where}: padding must be an int, a pair of ints, 'valid' or 'same', "
                             f"got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"{where}: padding='same' needs stride 1 (as in torch), got stride {stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, (tuple, list)) and len(padding) != 2:
        raise ValueError(f"{where}: padding must be an int, a pair (h, w), four ints (left, right, top, "
                         f"bottom) as F.pad takes them, 'valid' or 'same', got {padding!r}")
    return sides(pair(padding, "padding", where, 0))


def check_groups(groups, where, **channels):
    """``groups`` must be a positive int dividing each of ``channels`` (torch's rule)."""
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{where}: groups must be a positive int, got {groups!r}")
    for name, count in channels.items():
        if count % groups:
            raise ValueError(f"{where}: groups={groups} must divide {name}, got {name}={count}")
    return int(groups)


def check_conv_operands(x, weight, bias, groups, where, transposed=False):
    """The checks conv2d and conv_transpose2d share: a 4-D input, a 4-D weight whose channels fit the
    input's and ``groups``, a bias of one number per output channel, one device. Returns groups."""
    check_nchw(x, where)
    layout = "in_channels, out_channels/groups" if transposed else "out_channels, in_channels/groups"
    if not isinstance(weight, Tensor) or weight.ndim != 4:
        raise ShapeError(f"{where}: weight must be a 4-D Tensor ({layout}, kh, kw), "
                         f"got shape {getattr(weight, 'shape', type(weight).__name__)}")
    if transposed:
        groups = check_groups(groups, where, in_channels=weight.shape[0])
        expected, out_channels, per_group = weight.shape[0], weight.shape[1] * groups, ""
    else:
        groups = check_groups(groups, where, in_channels=x.shape[1], out_channels=weight.shape[0])
        expected, out_channels = weight.shape[1] * groups, weight.shape[0]
        per_group = "" if groups == 1 else f" ({weight.shape[1]} per group x {groups} groups)"
    if x.shape[1] != expected:
        raise ShapeError(f"{where}: input has {x.shape[1]} channels (shape {x.shape}, NCHW) but the "
                         f"weight {weight.shape} expects {expected} input channels{per_group}")
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != (out_channels,)):
        raise ShapeError(f"{where}: bias must have shape ({out_channels},) (one per output channel), "
                         f"got {getattr(bias, 'shape', type(bias).__name__)}")
    check_same_device(where, (x, weight, bias), "input, weight and bias")
    return groups


# ---- the functions users call ---------------------------------------------------------------------

def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
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
    (N, C*KH*KW, OH*OW), ordered (c, i, j). With ``dilation`` d, offset (i, j) is the pixel
    (d*i, d*j) from the window's corner. Differentiable; its gradient is ``col2im``.
    """
    check_nchw(x, "im2col")
    kernel = pair(kernel_size, "kernel_size", "im2col", 1)
    stride, padding = pair(stride, "stride", "im2col", 1), pair(padding, "padding", "im2col", 0)
    dilation = pair(dilation, "dilation", "im2col", 1)
    output_size(x.shape[2:], kernel, stride, padding, "im2col", dilation)
    return Im2ColOp(kernel, stride, padding, dilation)(x)


def col2im(cols, input_shape, kernel_size, stride=1, padding=0, dilation=1):
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
    dilation = pair(dilation, "dilation", "col2im", 1)
    oh, ow = output_size(input_shape[2:], kernel, stride, padding, "col2im", dilation)
    expected = (input_shape[0] * oh * ow, kernel[0] * kernel[1] * input_shape[1])
    if cols.shape != expected:
        raise ShapeError(f"col2im: cols for input_shape {input_shape}, kernel {kernel}, stride "
                         f"{stride}, padding {padding} must have shape (N*OH*OW, KH*KW*C) = "
                         f"{expected}, got {cols.shape}")
    return Col2ImOp(input_shape, kernel, stride, padding, dilation)(cols)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, layer="conv2d"):
    """2-D convolution (cross-correlation, as in torch): x (N, C, H, W), weight (O, C/groups, KH, KW),
    bias (O,) or None -> (N, O, OH, OW), with OH = (H + 2*padding - dilation*(KH-1) - 1) // stride + 1.

    y[n, o, p, q] = b[o] + sum_{c,i,j} W[o, c, i, j] * x_padded[n, g*C/groups + c, p*s + i*d, q*s + j*d]
    with g = o // (O/groups) the group of output channel o. ``padding``: an int, an (h, w) pair,
    'valid' or 'same' (stride 1; an odd total puts the extra zero bottom / right, as torch), or
    (left, right, top, bottom) in ``F.pad``'s order: ``conv2d(F.pad(x, p), w)`` in one call.
    Computed as im2col + ONE matmul (see the module docstring); groups > 1 as one batched matmul.
    ``layer`` names the caller in errors.
    """
    groups = check_conv_operands(x, weight, bias, groups, layer)
    stride, dilation = pair(stride, "stride", layer, 1), pair(dilation, "dilation", layer, 1)
    padding = conv_padding(padding, weight.shape[2:], stride, dilation, layer)
    if padding[0][0] == padding[0][1] and padding[1][0] == padding[1][1]:
        padding = (padding[0][0], padding[1][0])           # symmetric: the pair, as errors print it
    output_size(x.shape[2:], weight.shape[2:], stride, padding, layer, dilation)
    if groups > 1:
        geometry = (weight.shape[2:], stride, padding, dilation)
        if GroupedConv2dOp.backward is None:     # an exercise copy goes without its gradients (task 9)
            return grouped_conv2d(x, weight, bias, groups, geometry)
        return GroupedConv2dOp(groups, *geometry)(*((x, weight) if bias is None else (x, weight, bias)))
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2dOp(stride, padding, dilation)(*inputs)


def conv2d_simple(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """``conv2d`` composed of differentiable ops, as DeZero's ``conv2d_simple``: the readable version
    of the one op ``Conv2dOp`` (no groups, symmetric padding). The same numbers (a test checks it);
    its gradients are the engine's walk back through the matmul, the reshapes and ``im2col``.

        cols = im2col(x)                    (N*OH*OW, KH*KW*C), one row per window
        y    = cols @ W_mat^T + b           W_mat = W as (O, KH*KW*C), window order (i, j, c)
             -> (N, OH, OW, O) -> (N, O, OH, OW)
    """
    check_conv_operands(x, weight, bias, 1, "conv2d_simple")
    kernel, (n, out_channels) = weight.shape[2:], (x.shape[0], weight.shape[0])
    stride, padding = pair(stride, "stride", "conv2d_simple", 1), pair(padding, "padding", "conv2d_simple", 0)
    dilation = pair(dilation, "dilation", "conv2d_simple", 1)
    oh, ow = output_size(x.shape[2:], kernel, stride, padding, "conv2d_simple", dilation)
    cols = im2col(x, kernel, stride, padding, dilation)
    w_mat = weight.permute(0, 2, 3, 1).reshape(out_channels, -1)
    y = (cols @ w_mat.T).reshape(n, oh, ow, out_channels).permute(0, 3, 1, 2)
    return y if bias is None else y + bias.reshape(1, out_channels, 1, 1)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, layer="conv1d"):
    """1-D convolution: x (N, C, L), weight (O, C/groups, K), bias (O,) or None -> (N, O, L_out),
    L_out = (L + 2*padding - dilation*(K-1) - 1) // stride + 1;  y[n, o, t] = b[o] +
    sum_{c,k} W[o, c, k] x_padded[n, c, t*s + k*d].  conv2d on x (N, C, 1, L) with a (1, K) kernel.
    ``padding``: an int (each side), 'valid', 'same', or (left, right), ``F.pad``'s order."""
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor) or t.ndim != 3:
            layout = "(N, C, L)" if name == "input" else "(out_channels, in_channels/groups, k)"
            raise ShapeError(f"{layer}: expected a 3-D {name} {layout}, got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0 for p in padding):
            raise ValueError(f"{layer}: padding (left, right) must be two non-negative ints, got {padding!r}")
        padding = (padding[0], padding[1], 0, 0)            # (left, right): conv2d's sides of W
    elif isinstance(padding, (tuple, list)) and len(padding) != 1:
        raise ValueError(f"{layer}: padding must be an int, a 1-tuple, (left, right) as F.pad takes it, "
                         f"'valid' or 'same', got {padding!r}")
    elif not isinstance(padding, str):
        padding = (0, single(padding, "padding", layer, 0))
    stride, dilation = (1, single(stride, "stride", layer, 1)), (1, single(dilation, "dilation", layer, 1))
    y = conv2d(x.unsqueeze(2), weight.unsqueeze(2), bias, stride, padding, dilation, groups, layer)
    return y.squeeze(2)


def single(value, name, where, minimum):
    """An int, or a 1-tuple of one (torch's spelling for 1-D layers), at least ``minimum``."""
    item = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    if isinstance(item, (tuple, list)):
        raise ValueError(f"{where}: {name} must be an int or a 1-tuple for a 1-D convolution, got {value!r}")
    return pair(item, name, where, minimum)[0]


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1,
                     layer="conv_transpose2d"):
    """Transposed convolution, the adjoint of conv2d (torch's argument order): x (N, C, H, W), weight
    (C, O/groups, KH, KW), bias (O,) or None -> (N, O, OH, OW),
    OH = (H - 1)*stride - 2*padding + dilation*(KH - 1) + output_padding + 1.

    Every input pixel scatters a weighted copy of the kernel onto the output: y[n, o, h*s + i*d - p,
    w*s + j*d - p] += x[n, c, h, w] * W[c, o, i, j] (summed over c in o's group), plus b[o]. That is
    conv2d's input gradient with x in the place of gy, so it is the same machinery read the other way:

        cols = x_mat @ W_mat      x_mat (N*H*W, C) channels-last, W_mat (C, KH*KW*O) ordered (i, j, o)
        y    = col2im(cols)       onto the full (H-1)*s + d*(KH-1) + 1 grid, then output_padding zeros
                                  added bottom / right and ``padding`` cut from every side

    groups g: g such products in one batched matmul. All of it is differentiable ops (matmul,
    reshape, permute, Col2ImOp, pad, slicing), so every order of gradient comes free:
    gx = conv2d(gy, W) and gW = x_matᵀ @ im2col(gy), as the engine derives them.
    """
    groups = check_conv_operands(x, weight, bias, groups, layer, transposed=True)
    stride, dilation = pair(stride, "stride", layer, 1), pair(dilation, "dilation", layer, 1)
    padding = pair(padding, "padding", layer, 0)
    extra = pair(output_padding, "output_padding", layer, 0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueError(f"{layer}: output_padding {extra} must be smaller than the stride {stride} or "
                         f"the dilation {dilation} on each axis (as in torch)")
    (n, channels, h, w), (_, out_per_group, kh, kw) = x.shape, weight.shape
    full = tuple((size - 1) * s + d * (k - 1) + 1 for size, s, d, k in zip((h, w), stride, dilation, (kh, kw)))
    out_hw = tuple(f + e - 2 * p for f, e, p in zip(full, extra, padding))
    if min(out_hw) < 1:
        raise ShapeError(f"{layer}: the output size {out_hw} (input {(h, w)}, kernel {(kh, kw)}, stride "
                         f"{stride}, padding {padding}, output_padding {extra}, dilation {dilation}) "
                         f"is too small; reduce the padding")
    out_channels = out_per_group * groups
    x_mat = x.permute(0, 2, 3, 1).reshape(n * h * w, groups, channels // groups).permute(1, 0, 2)
    w_mat = weight.reshape(groups, channels // groups, out_per_group, kh, kw).permute(0, 1, 3, 4, 2)
    cols = x_mat @ w_mat.reshape(groups, channels // groups, -1)         # (g, N*H*W, KH*KW*O/g)
    cols = cols.reshape(groups, n * h * w, kh * kw, out_per_group).permute(1, 2, 0, 3)
    y = Col2ImOp((n, out_channels) + full, (kh, kw), stride, (0, 0), dilation)(cols.reshape(n * h * w, -1))
    if extra != (0, 0):
        y = y.pad(((0, 0), (0, 0), (0, extra[0]), (0, extra[1])))
    if padding != (0, 0):
        y = y[:, :, padding[0]:padding[0] + out_hw[0], padding[1]:padding[1] + out_hw[1]]
    return y if bias is None else y + bias.reshape(1, out_channels, 1, 1)
