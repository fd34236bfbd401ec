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
"""
from tinygrad_lite.autograd import Function
from tinygrad_lite.backend import get_array_module
from tinygrad_lite.errors import ShapeError

from .conv import check_nchw, output_size, pad_hw, pair, window_slice


def _pool_geometry(x, kernel_size, stride, padding, where):
    """Check the arguments like torch does and return (kernel, stride, padding, (OH, OW))."""
    check_nchw(x, where)
    kernel = pair(kernel_size, "kernel_size", where, 1)
    stride = kernel if stride is None else pair(stride, "stride", where, 1)
    padding = pair(padding, "padding", where, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{where}: padding {padding} must be at most half the kernel size {kernel} "
                         f"(as in torch)")
    return kernel, stride, padding, output_size(x.shape[2:], kernel, stride, padding, where)


def _offsets(kernel):
    """The kernel offsets (i, j) in row-major order, numbered 0 .. kh*kw-1."""
    return [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]


def _scatter(pieces, input_shape, kernel, stride, padding, out_hw):
    """gx: zeros of ``input_shape`` with pieces[o] added at offset o of every window (the adjoint of
    picking those strided slices); overlapping windows add up; padding is cut off at the end."""
    n, c, h, w = input_shape
    (ph, pw), first = padding, pieces[0]
    grid = get_array_module(first).zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=first.dtype)
    overlapping = stride[0] < kernel[0] or stride[1] < kernel[1]
    for (i, j), piece in zip(_offsets(kernel), pieces):
        if overlapping:
            grid[window_slice(i, j, out_hw, stride)] += piece
        else:                       # windows tile the image: each pixel is written at most once
            grid[window_slice(i, j, out_hw, stride)] = piece
    return grid if ph == pw == 0 else grid[:, :, ph:ph + h, pw:pw + w]


class _PoolFunction(Function):
    def __init__(self, input_shape, kernel, stride, padding, out_hw):
        self.geometry = (tuple(input_shape), kernel, stride, padding, out_hw)

    def windows(self, x, fill=0.0):
        """The kh*kw strided views of (padded) x, one per kernel offset, in row-major order."""
        _, kernel, stride, padding, out_hw = self.geometry
        x = pad_hw(x, padding, fill)
        return [x[window_slice(i, j, out_hw, stride)] for i, j in _offsets(kernel)]


class MaxPool2d(_PoolFunction):
    """y = max over each window;  dx = gy routed to each window's first arg-max (``RouteToWinner``)

    The max is separable, so it runs in two passes instead of kh*kw: first across the kw columns of
    every window row, then down the kh rows. Keeping the first winner on ties in both passes (strict
    ``>``) picks the first maximum in row-major order, torch's rule. ``self.winner`` holds each
    window's winning offset i*kw + j.
    """
    def forward(self, x):
        _, (kh, kw), (sh, sw), padding, (oh, ow) = self.geometry
        xp = get_array_module(x)
        x = pad_hw(x, padding, -float("inf"))
        best, winner = self._two_passes(xp, x, kh, kw, sh, sw, oh, ow, nan_wins=False)
        if xp.isnan(best).any():              # rare: find the NaNs' positions in a second, slower run
            best, winner = self._two_passes(xp, x, kh, kw, sh, sw, oh, ow, nan_wins=True)
        self.winner = xp.ascontiguousarray(winner)
        return xp.ascontiguousarray(best)

    @staticmethod
    def _two_passes(xp, x, kh, kw, sh, sw, oh, ow, nan_wins):
        """(max, winning offset) of every window. ``nan_wins``: a NaN beats everything before it, so
        the last NaN of a window wins and takes the gradient, as in torch's kernel."""
        index_type = xp.int8 if kh * kw <= 127 else xp.int32

        def column(a, j): return a[:, :, :, j:j + sw * (ow - 1) + 1:sw]
        def row(a, i): return a[:, :, i:i + sh * (oh - 1) + 1:sh]

        def beats(candidate, best):
            return (candidate > best) | xp.isnan(candidate) if nan_wins else candidate > best

        # A later offset only wins when strictly greater (so ties keep the earlier one), and its
        # number is larger than every earlier one: winner = max(winner, better * offset).
        row_best, row_winner = column(x, 0), xp.zeros(column(x, 0).shape, dtype=index_type)
        for j in range(1, kw):                # pass 1: across the columns of each window row
            better = beats(column(x, j), row_best).astype(index_type)
            row_winner = xp.maximum(row_winner, better * j)
            row_best = xp.maximum(row_best, column(x, j))      # like torch, a NaN propagates
        best, winner = row(row_best, 0), row(row_winner, 0)
        for i in range(1, kh):                # pass 2: down the rows of each window
            better = beats(row(row_best, i), best).astype(index_type)
            winner = xp.maximum(winner, better * (row(row_winner, i) + i * kw))
            best = xp.maximum(best, row(row_best, i))
        return best, winner

    def backward(self, gy): return RouteToWinner(self.winner, *self.geometry)(gy)


class RouteToWinner(_PoolFunction):
    """gx = gy placed at each window's winning pixel (zeros elsewhere);  dgy = PickWinner(ggx)"""
    def __init__(self, winner, *geometry):
        super().__init__(*geometry)
        self.winner = winner

    def forward(self, gy):
        pieces = [gy * (self.winner == o) for o in range(len(_offsets(self.geometry[1])))]
        return _scatter(pieces, *self.geometry)

    def backward(self, ggx): return PickWinner(self.winner, *self.geometry)(ggx)


class PickWinner(RouteToWinner):
    """y = x at each window's winning pixel (max pooling with the winners held fixed);  dx = RouteToWinner(gy)"""
    def forward(self, x):
        windows = self.windows(x)
        picked = windows[0].copy()
        for o, window in enumerate(windows[1:], start=1):
            get_array_module(x).copyto(picked, window, where=self.winner == o)
        return picked

    def backward(self, gy): return RouteToWinner(self.winner, *self.geometry)(gy)


class AvgPool2d(_PoolFunction):
    """y = sum over each window / (kh*kw)  (padding zeros count);  dx = SpreadEvenly(gy)"""
    def forward(self, x):
        windows = self.windows(x)
        total = windows[0].copy()
        for window in windows[1:]:
            total += window
        return total * (1.0 / len(windows))

    def backward(self, gy): return SpreadEvenly(*self.geometry)(gy)


class SpreadEvenly(_PoolFunction):
    """gx = gy / (kh*kw) added to every pixel of its window;  dgy = avg_pool(ggx) (the adjoint)"""
    def forward(self, gy):
        kernel = self.geometry[1]
        share = gy * (1.0 / (kernel[0] * kernel[1]))
        return _scatter([share] * (kernel[0] * kernel[1]), *self.geometry)

    def backward(self, ggx): return AvgPool2d(*self.geometry)(ggx)


# ---- the functions users call ---------------------------------------------------------------------

def max_pool2d(x, kernel_size, stride=None, padding=0, layer="max_pool2d"):
    """Max over each (kh, kw) window of x (N, C, H, W); stride defaults to kernel_size; padding is
    -inf (never chosen). Output (N, C, OH, OW), OH = (H + 2*padding - kh) // stride + 1."""
    kernel, stride, padding, out_hw = _pool_geometry(x, kernel_size, stride, padding, layer)
    return MaxPool2d(x.shape, kernel, stride, padding, out_hw)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, layer="avg_pool2d"):
    """Mean over each (kh, kw) window of x (N, C, H, W); stride defaults to kernel_size; padded
    zeros count in the mean (torch's count_include_pad=True). Output (N, C, OH, OW)."""
    kernel, stride, padding, out_hw = _pool_geometry(x, kernel_size, stride, padding, layer)
    return AvgPool2d(x.shape, kernel, stride, padding, out_hw)(x)


def global_avg_pool2d(x, layer="global_avg_pool2d"):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1), like torch's AdaptiveAvgPool2d(1)."""
    check_nchw(x, layer)
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ShapeError(f"{layer}: input {x.shape} has an empty spatial size; nothing to average")
    return x.mean(axis=(2, 3), keepdims=True)
