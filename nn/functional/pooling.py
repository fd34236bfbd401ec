"""Pooling over windows of an (N, C, H, W) batch: max, average and global average, as in torch.

Windows are (kh, kw) patches taken every ``stride`` pixels (default: the kernel size, so they tile the
image) after ``padding``; the output is OH = (H + 2*padding - kh) // stride + 1 (torch's floor mode:
rows and columns that do not fill a window are left out). No im2col is needed: the pixel at kernel
offset (i, j) of every window is ONE strided slice, x_padded[:, :, i::stride, j::stride], so a
pooling is a loop over the kh*kw offsets, each step vectorised over the whole batch::

    x (one channel)      offset (0,0)  offset (0,1)  offset (1,0)  offset (1,1)    max of the four
    1 2 | 5 6            1 . | 5 .     . 2 | . 6     . . | . .     . . | . .       4 8
    3 4 | 7 8     ->     . . | . .     . . | . .     3 . | 7 .     . 4 | . 8  ->
    ----+----            ----+----     ----+----     ----+----     ----+----       C G
    9 A | D E            9 . | D .     ...                                         (kernel 2, stride 2)
    B C | F G

Max pooling sends each output's gradient to the arg-max of its window, the first maximum in
row-major order when several tie (torch's rule); average pooling spreads it evenly, counting padded
zeros in the divisor like torch's default ``count_include_pad=True``. Each op's backward is another
Function whose backward is the op again (scatter <-> gather), so higher-order gradients come free.

torch's options: ``dilation`` (max pooling) spreads a window's taps d pixels apart; ``ceil_mode``
keeps a last, partial window on each axis when one starts inside the (left-padded) input, done here
as extra padding on the bottom / right (-inf for max, and left out of the average's divisor);
``count_include_pad=False`` divides by the number of real pixels in the window.
"""
import numpy as np

from tinygrad_lite.backend import array_module
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.ops import where
from tinygrad_lite.ops.limits import check_elements

from .conv import check_nchw, output_size, pad_hw, pair, window_slice
from .upsampling import linear_map_along


def pool_output_size(input_hw, kernel, stride, padding, dilation, ceil_mode, where):
    """torch's pooling output size, floor((n + 2p - span) / s) + 1 with span = d*(k-1) + 1, or with
    ``ceil_mode`` rounded up, dropping a last window that would start in the right padding. Returns
    (out_hw, sides), sides ((top, bottom), (left, right)): the padding plus the part of the last
    (ceil) windows that hangs over it."""
    if not ceil_mode:
        return output_size(input_hw, kernel, stride, padding, where, dilation), tuple((p, p) for p in padding)
    out_hw, sides = [], []
    for n, k, s, p, d in zip(input_hw, kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        out = (n + 2 * p - span + s - 1) // s + 1
        if (out - 1) * s >= n + p:
            out -= 1
        if out < 1:
            raise ShapeError(f"{where}: kernel size {kernel} (dilation {dilation}) is larger than the "
                             f"padded input {tuple(m + 2 * q for m, q in zip(input_hw, padding))}")
        out_hw.append(out)
        sides.append((p, p + max(0, (out - 1) * s + span - (n + 2 * p))))
    return tuple(out_hw), tuple(sides)


def _pool_geometry(x, kernel_size, stride, padding, where, dilation=1, ceil_mode=False):
    """Check the arguments like torch does; return (kernel, stride, sides, (OH, OW), dilation)."""
    check_nchw(x, where)
    kernel = pair(kernel_size, "kernel_size", where, 1)
    stride = kernel if stride is None else pair(stride, "stride", where, 1)
    padding = pair(padding, "padding", where, 0)
    dilation = pair(dilation, "dilation", where, 1)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{where}: padding {padding} must be at most half the kernel size {kernel} "
                         f"(as in torch)")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{where}: ceil_mode must be a bool, got {ceil_mode!r}")
    out_hw, sides = pool_output_size(x.shape[2:], kernel, stride, padding, dilation, ceil_mode, where)
    return kernel, stride, sides, out_hw, dilation


def _offsets(kernel, dilation=(1, 1)):
    """Where the kernel's taps sit in a window, (i*dh, j*dw), row-major, numbered 0 .. kh*kw-1."""
    return [(i * dilation[0], j * dilation[1]) for i in range(kernel[0]) for j in range(kernel[1])]


def _scatter(pieces, input_shape, kernel, stride, padding, out_hw, dilation):
    """gx: zeros of ``input_shape`` with pieces[o] added at offset o of every window (the adjoint of
    picking those strided slices); overlapping windows add up; padding is cut off at the end."""
    n, c, h, w = input_shape
    ((top, bottom), (left, right)), first = padding, pieces[0]
    grid = array_module(first).zeros((n, c, h + top + bottom, w + left + right), dtype=first.dtype)
    overlapping = any(s < d * (k - 1) + 1 for s, k, d in zip(stride, kernel, dilation))
    for (i, j), piece in zip(_offsets(kernel, dilation), pieces):
        if overlapping:
            grid[window_slice(i, j, out_hw, stride)] += piece
        else:                       # windows tile the image: each pixel is written at most once
            grid[window_slice(i, j, out_hw, stride)] = piece
    return grid if top == bottom == left == right == 0 else grid[:, :, top:top + h, left:left + w]


class _PoolOp(Function):
    def __init__(self, input_shape, kernel, stride, padding, out_hw, dilation=(1, 1)):
        self.geometry = (tuple(input_shape), kernel, stride, padding, out_hw, dilation)

    def windows(self, x, fill=0.0):
        """The kh*kw strided views of (padded) x, one per kernel offset, in row-major order."""
        _, kernel, stride, padding, out_hw, dilation = self.geometry
        x = pad_hw(x, padding, fill)
        return [x[window_slice(i, j, out_hw, stride)] for i, j in _offsets(kernel, dilation)]


class MaxPool2dOp(_PoolOp):
    """y = max over each window;  dx = gy routed to each window's first arg-max (``RouteToWinnerOp``)

    The max is separable, so it runs in two passes instead of kh*kw: first across the kw columns of
    every window row, then down the kh rows. Keeping the first winner on ties in both passes (strict
    ``>``) picks the first maximum in row-major order, torch's rule. ``self.winner`` holds each
    window's winning offset i*kw + j.
    """
    def forward(self, x):
        _, (kh, kw), (sh, sw), padding, (oh, ow), (dh, dw) = self.geometry
        xp = array_module(x)
        x = pad_hw(x, padding, -float("inf"))
        best, winner = self._two_passes(xp, x, kh, kw, sh, sw, oh, ow, dh, dw, nan_wins=False)
        if xp.isnan(best).any():              # rare: find the NaNs' positions in a second, slower run
            best, winner = self._two_passes(xp, x, kh, kw, sh, sw, oh, ow, dh, dw, nan_wins=True)
        self.winner = xp.ascontiguousarray(winner)
        return xp.ascontiguousarray(best)

    @staticmethod
    def _two_passes(xp, x, kh, kw, sh, sw, oh, ow, dh, dw, nan_wins):
        """(max, winning offset) of every window. ``nan_wins``: a NaN beats everything before it, so
        the last NaN of a window wins and takes the gradient, as in torch's kernel."""
        index_type = xp.int8 if kh * kw <= 127 else xp.int32

        def column(a, j): return a[:, :, :, j * dw:j * dw + sw * (ow - 1) + 1:sw]
        def row(a, i): return a[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh]

        def beats(candidate, best):
            return (candidate > best) | xp.isnan(candidate) if nan_wins else candidate > best

        def zero_or_one(mask):                # a bool mask's bytes read as 0 / 1 integers: no copy
            return mask.view(xp.int8).astype(index_type, copy=False)

        # A later offset only wins when strictly greater (so ties keep the earlier one), and its
        # number is larger than every earlier one: winner = max(winner, better * offset), where
        # the first comparison's winner is just better * 1 (max(0, b) = b).
        row_best, row_winner = column(x, 0), None
        for j in range(1, kw):                # pass 1: across the columns of each window row
            better = zero_or_one(beats(column(x, j), row_best))
            row_winner = better * j if row_winner is None else xp.maximum(row_winner, better * j)
            row_best = xp.maximum(row_best, column(x, j))      # like torch, a NaN propagates
        if row_winner is None:                # windows one column wide
            row_winner = xp.zeros(row_best.shape, dtype=index_type)
        best, winner = row(row_best, 0), row(row_winner, 0)
        for i in range(1, kh):                # pass 2: down the rows of each window
            better = zero_or_one(beats(row(row_best, i), best))
            winner = xp.maximum(winner, better * (row(row_winner, i) + i * kw))
            best = xp.maximum(best, row(row_best, i))
        return best, winner

    def backward(self, gy): return RouteToWinnerOp(self.winner, *self.geometry)(gy)

    def indices(self):
        """torch's ``return_indices``: each window's winner as a flat index h*W + w into its
        (unpadded) input plane, int64."""
        (_, _, _, width), (_, kw), stride, ((top, _), (left, _)), out_hw, dilation = self.geometry
        xp = array_module(self.winner)
        tap_row, tap_col = xp.divmod(self.winner.astype(xp.int64), kw)
        rows = xp.arange(out_hw[0]).reshape(-1, 1) * stride[0] + tap_row * dilation[0] - top
        cols = xp.arange(out_hw[1]) * stride[1] + tap_col * dilation[1] - left
        return rows * width + cols


class RouteToWinnerOp(_PoolOp):
    """gx = gy placed at each window's winning pixel (zeros elsewhere);  dgy = PickWinnerOp(ggx)"""
    def __init__(self, winner, *geometry):
        super().__init__(*geometry)
        self.winner = winner

    def forward(self, gy):
        (n, c, h, w), kernel, stride, ((top, bottom), (left, right)), out_hw, dilation = self.geometry
        xp = array_module(gy)
        grid = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=gy.dtype)   # padded
        overlapping = any(s < d * (k - 1) + 1 for s, k, d in zip(stride, kernel, dilation))
        for o, (i, j) in enumerate(_offsets(kernel, dilation)):
            window = grid[window_slice(i, j, out_hw, stride)]        # offset o of every window
            if overlapping:
                window += gy * (self.winner == o)
            else:                             # windows tile the image: write straight into the pixels
                xp.multiply(gy, self.winner == o, out=window)
        return grid if top == bottom == left == right == 0 else grid[:, :, top:top + h, left:left + w]

    def backward(self, ggx): return PickWinnerOp(self.winner, *self.geometry)(ggx)


class PickWinnerOp(RouteToWinnerOp):
    """y = x at each window's winning pixel (max pooling with the winners held fixed);  dx = RouteToWinnerOp(gy)"""
    def forward(self, x):
        windows = self.windows(x)
        picked = windows[0].copy()
        for o, window in enumerate(windows[1:], start=1):
            array_module(x).copyto(picked, window, where=self.winner == o)
        return picked

    def backward(self, gy): return RouteToWinnerOp(self.winner, *self.geometry)(gy)


class AvgPool2dOp(_PoolOp):
    """y = sum over each window / divisor;  dx = SpreadEvenlyOp(gy)

    The divisor is kh*kw (padding zeros count; ``divisor`` None), or per output pixel an (OH, OW)
    array: torch's count of the window's pixels inside the padded input (``ceil_mode``), of its
    real pixels (``count_include_pad=False``), or ``divisor_override``.
    """
    def __init__(self, *geometry, divisor=None):
        super().__init__(*geometry)
        self.divisor = divisor

    def forward(self, x):
        windows = self.windows(x)
        total = windows[0].copy()
        for window in windows[1:]:
            total += window
        if self.divisor is None:
            return total * (1.0 / len(windows))
        return total / array_module(x).asarray(self.divisor, dtype=x.dtype)

    def backward(self, gy): return SpreadEvenlyOp(*self.geometry, divisor=self.divisor)(gy)


class SpreadEvenlyOp(AvgPool2dOp):
    """gx = gy / divisor added to every pixel of its window;  dgy = avg_pool(ggx) (the adjoint)"""
    def forward(self, gy):
        kernel = self.geometry[1]
        if self.divisor is None:
            share = gy * (1.0 / (kernel[0] * kernel[1]))
        else:
            share = gy / array_module(gy).asarray(self.divisor, dtype=gy.dtype)
        return _scatter([share] * (kernel[0] * kernel[1]), *self.geometry)

    def backward(self, ggx): return AvgPool2dOp(*self.geometry, divisor=self.divisor)(ggx)


def average_divisor(input_hw, kernel, stride, padding, out_hw, count_include_pad, divisor_override):
    """torch's avg_pool2d divisor per output pixel as an (OH, OW) float64 array, or None when it is
    kh*kw everywhere (the plain case, kept on its own path so its numerics never change)."""
    if divisor_override is not None:
        return np.full(out_hw, float(divisor_override))
    counts = []
    for n, k, s, p, out in zip(input_hw, kernel, stride, padding, out_hw):
        start = np.arange(out) * s - p
        if count_include_pad:               # the window cut at the padded input's end (ceil_mode)
            counts.append(np.minimum(start + k, n + p) - start)
        else:                               # the window's real pixels only
            counts.append(np.minimum(start + k, n) - np.maximum(start, 0))
    if all((c == k).all() for c, k in zip(counts, kernel)):
        return None
    return np.outer(counts[0], counts[1]).astype(np.float64)


# ---- the functions users call ---------------------------------------------------------------------

def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False,
               layer="max_pool2d"):
    """Max over each (kh, kw) window of x (N, C, H, W); stride defaults to kernel_size; padding is
    -inf (never chosen). Output (N, C, OH, OW), OH = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1
    (rounded up with ``ceil_mode``). ``return_indices``: also each maximum's flat index h*W + w in
    its input plane (int64, torch's layout; not differentiable)."""
    kernel, stride, sides, out_hw, dilation = _pool_geometry(x, kernel_size, stride, padding, layer,
                                                             dilation, ceil_mode)
    pool = MaxPool2dOp(x.shape, kernel, stride, sides, out_hw, dilation)
    y = pool(x)
    return (y, Tensor(pool.indices(), device=x.device)) if return_indices else y


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None, layer="avg_pool2d"):
    """Mean over each (kh, kw) window of x (N, C, H, W); stride defaults to kernel_size. Output
    (N, C, OH, OW), OH = (H + 2*padding - kh) // stride + 1 (rounded up with ``ceil_mode``).
    Divisor as torch: kh*kw with padded zeros counted (``count_include_pad=True``; a ceil-mode window
    counts only its part inside the padded input), the real pixels only (``False``), or
    ``divisor_override``."""
    kernel, stride, sides, out_hw, _ = _pool_geometry(x, kernel_size, stride, padding, layer, 1, ceil_mode)
    if divisor_override is not None and (not isinstance(divisor_override, (int, np.integer))
                                         or isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueError(f"{layer}: divisor_override must be a non-zero int or None, got {divisor_override!r}")
    divisor = average_divisor(x.shape[2:], kernel, stride, [top for top, _ in sides], out_hw,
                              count_include_pad, divisor_override)
    return AvgPool2dOp(x.shape, kernel, stride, sides, out_hw, divisor=divisor)(x)


def global_avg_pool2d(x, layer="global_avg_pool2d"):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1), like torch's AdaptiveAvgPool2d(1)."""
    check_nchw(x, layer)
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ShapeError(f"{layer}: input {x.shape} has an empty spatial size; nothing to average")
    return x.mean(axis=(2, 3), keepdims=True)


def adaptive_avg_pool2d(x, output_size, layer="adaptive_avg_pool2d"):
    """Mean over torch's adaptive windows: (N, C, H, W) -> (N, C, OH, OW), ``output_size`` an int or
    an (OH, OW) pair (None keeps that axis's size).

    y[n, c, i, j] = mean of x[n, c, h0(i):h1(i), w0(j):w1(j)],  h0(i) = floor(i*H/OH),
    h1(i) = ceil((i+1)*H/OH) (the same for w): the windows cover the input and overlap by a pixel
    where OH does not divide H. The mean of a rectangle is the mean of its row means, so this is one
    axis at a time: every window's pixels gathered at once (an (OH, k) index array, k the widest
    window, the shorter windows padded with a masked-out pixel), summed and divided by the window's
    length. Composed of getitem, where, sum and div, so every gradient comes free; the output and the
    gathered windows are checked against ``limits.MAX_ELEMENTS`` first.

    Faster, the same means (another rounding): each axis's averaging is a linear map, an (OH, H) matrix
    of 1 / window length over each window, applied as one product (``linear_map_along``) on finite
    inputs (a product would spread an inf's 0 * inf = NaN over its whole row).
    """
    check_nchw(x, layer)
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2 or not all(s is None or (isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                                and s >= 1) for s in sizes):
        raise ValueError(f"{layer}: output_size must be a positive int or a pair of positive ints "
                         f"(or None), got {output_size!r}")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ShapeError(f"{layer}: input {x.shape} has an empty spatial size; nothing to average")
    sizes = tuple(n if s is None else int(s) for s, n in zip(sizes, x.shape[2:]))
    check_elements(x.shape[:2] + sizes, layer, "the output")
    finite = bool(x.array_module.isfinite(x.data).all())
    for axis, out in zip((2, 3), sizes):
        length = x.shape[axis]
        if out == length:
            continue                        # windows of one pixel: the input itself
        first = np.arange(out) * length // out
        count = -(-(np.arange(out) + 1) * length // out) - first
        if finite:                          # the fast path: row i of the matrix is 1/count[i] on window i
            pixel = np.arange(length)
            window = (pixel >= first[:, None]) & (pixel < (first + count)[:, None])
            x = linear_map_along(x, axis, window / count[:, None])
            continue
        width = int(count.max())
        check_elements(x.shape[:axis] + (out, width) + x.shape[axis + 1:], layer, "the gathered windows")
        index = np.minimum(first[:, None] + np.arange(width), length - 1)      # (out, width)
        windows = x[(slice(None),) * axis + (index,)]                           # axis -> (out, width)
        trailing = (1,) * (3 - axis)
        inside = np.arange(width) < count[:, None]
        if not inside.all():
            windows = where(inside.reshape(inside.shape + trailing), windows, 0.0)
        x = windows.sum(axis=axis + 1) / Tensor(count.reshape((out,) + trailing), dtype=x.dtype, device=x.device)
    return x
