"""im2col, col2im, conv2d and conv1d (functional and modules) against torch, float64 and float32.

torch's F.unfold / F.fold hold the same numbers as our im2col / col2im, ordered differently: torch
gives (N, C*KH*KW, L) ordered (c, i, j); ours is (N*L, KH*KW*C) ordered (i, j, c). ``to_torch_cols``
and ``from_torch_cols`` translate.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.bounds import assert_within, gamma, unit_roundoff
from tests.torch_oracle import check_double_backward, check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional
# torch's note that it copies the input for an even kernel with padding='same' (we always pad a copy)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")


@st.composite
def conv_cases(draw):
    """(x shape, weight shape, stride, padding) with the kernel fitting the padded input."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, kh - 2 * padding[0]), 8))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), 8))
    return (n, c, h, w), (o, c, kh, kw), stride, padding


def from_torch_cols(cols, n, c, kernel):
    """torch's unfold layout (N, C*KH*KW, L) -> ours (N*L, KH*KW*C)."""
    kh, kw = kernel
    return cols.reshape(n, c, kh, kw, -1).permute(0, 4, 2, 3, 1).reshape(-1, kh * kw * c)


def to_torch_cols(cols, n, c, kernel):
    """ours (N*L, KH*KW*C) -> torch's unfold layout (N, C*KH*KW, L)."""
    kh, kw = kernel
    return cols.reshape(n, -1, kh, kw, c).permute(0, 4, 2, 3, 1).reshape(n, c * kh * kw, -1)


# ---- conv2d: forward and every gradient ------------------------------------------------------------

@op_settings
@given(case=conv_cases(), bias=st.booleans())
def test_conv2d_matches_torch(case, bias, device):
    x_shape, w_shape, stride, padding = case
    extra = {"w": w_shape, **({"b": (w_shape[0],)} if bias else {})}
    check_op([x_shape], lambda x, w, b=None: F.conv2d(x, w, b, stride=stride, padding=padding),
             lambda x, w, b=None: TF.conv2d(x, w, b, stride=stride, padding=padding),
             extra=extra, device=device)


def test_conv2d_first_layer_input_needs_no_grad():
    """The input of a first layer needs no gradient: its gradient is skipped, the weight's is exact."""
    result = check_op([(2, 1, 6, 5)], lambda x, w, b: F.conv2d(x, w, b, padding=1),
                      lambda x, w, b: TF.conv2d(x, w, b, padding=1),
                      extra={"w": (4, 1, 3, 3), "b": (4,)}, requires_grad=[False])
    assert "input 0" not in result.grads and set(result.grads) == {"w", "b"}


def test_conv2d_float32_keeps_dtype_and_layout():
    x = tl.Tensor(random_array((2, 3, 7, 6), dtype="float32"), requires_grad=True)
    w = tl.Tensor(random_array((4, 3, 3, 2), dtype="float32"), requires_grad=True)
    b = tl.Tensor(random_array((4,), dtype="float32"), requires_grad=True)
    y = F.conv2d(x, w, b, stride=(2, 1), padding=1)
    y.sum().backward()
    assert y.dtype == np.float32 and y.data.flags["C_CONTIGUOUS"]
    assert all(t.grad.dtype == np.float32 and t.grad.shape == t.shape for t in (x, w, b))
    check_op([x.numpy()], lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1),
             lambda x, w, b: TF.conv2d(x, w, b, stride=(2, 1), padding=1),
             extra={"w": w.numpy(), "b": b.numpy()}, dtype="float32", bound="multilinear")


def test_conv2d_gradcheck():
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    tl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), x, w, b)


def test_conv2d_double_backward_matches_torch():
    """Gradients of a function of the gradients (create_graph=True), as in a gradient penalty."""
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s) for s in ((2, 2, 5, 4), (3, 2, 3, 2), (3,))]
    seed = rng.standard_normal((2, 3, 5, 3))

    x, w, b = (tl.Tensor(a, requires_grad=True, dtype="float64") for a in arrays)
    (F.conv2d(x, w, b, stride=(1, 2), padding=1) * tl.Tensor(seed, dtype="float64")).sum().backward(
        create_graph=True)
    gx, gw = x.grad, w.grad
    x.grad = w.grad = b.grad = None
    ((gx * gx).sum() + (gw * gw * gw).sum()).backward()

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in arrays)
    out = (TF.conv2d(tx, tw, tb, stride=(1, 2), padding=1) * torch.tensor(seed)).sum()
    tgx, tgw = torch.autograd.grad(out, (tx, tw), create_graph=True)
    ((tgx * tgx).sum() + (tgw ** 3).sum()).backward()

    np.testing.assert_allclose(gx.numpy(), tgx.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-7, atol=1e-10)


# Every output and gradient element of a convolution is a sum of products, which im2col + BLAS and
# torch's kernels add up in different orders: both are held to that sum's error bound, gamma(n) times
# the sum of the terms' magnitudes (check_op's bound="multilinear"), in either dtype, instead of a
# tolerance read off one machine (cancellation makes the relative error of a small entry unbounded).
TOLERANCE = {"float64": {"bound": "multilinear"}, "float32": {"bound": "multilinear"}}


# ---- conv2d's options: dilation, groups, 'same' / 'valid' / asymmetric padding ---------------------

@st.composite
def conv_option_cases(draw, dims=2):
    """(x shape, weight shape, torch keyword arguments) with dilation, groups and every padding form."""
    groups = draw(st.integers(1, 3))
    n, c, o = draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    padding = draw(st.sampled_from(["same", "valid", "ints"]))
    stride = (1,) * dims if padding == "same" else tuple(draw(st.integers(1, 3)) for _ in range(dims))
    if padding == "ints":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(dims))
    pads = (0,) * dims if isinstance(padding, str) else padding
    sizes = tuple(draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 12))
                  for k, d, p in zip(kernel, dilation, pads))
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    return (n, c) + sizes, (o, c // groups) + kernel, kwargs


@op_settings
@given(case=conv_option_cases(), bias=st.booleans(), dtype=st.sampled_from(["float64", "float32"]))
def test_conv2d_options_match_torch(case, bias, dtype, device):
    x_shape, w_shape, kwargs = case
    extra = {"w": w_shape, **({"b": (w_shape[0],)} if bias else {})}
    check_op([x_shape], lambda x, w, b=None: F.conv2d(x, w, b, **kwargs),
             lambda x, w, b=None: TF.conv2d(x, w, b, **kwargs), extra=extra, dtype=dtype, device=device,
             **TOLERANCE[dtype])


@op_settings
@given(case=conv_option_cases(dims=1), bias=st.booleans(), dtype=st.sampled_from(["float64", "float32"]))
def test_conv1d_matches_torch(case, bias, dtype, device):
    x_shape, w_shape, kwargs = case
    kwargs = {k: v[0] if isinstance(v, tuple) else v for k, v in kwargs.items()}     # ints, as users write
    extra = {"w": w_shape, **({"b": (w_shape[0],)} if bias else {})}
    check_op([x_shape], lambda x, w, b=None: F.conv1d(x, w, b, **kwargs),
             lambda x, w, b=None: TF.conv1d(x, w, b, **kwargs), extra=extra, dtype=dtype, device=device,
             **TOLERANCE[dtype])


def test_conv2d_same_with_an_even_kernel_pads_bottom_right_like_torch():
    """An even kernel needs an odd number of zeros: torch puts the extra one after, so must we."""
    result = check_op([(1, 2, 5, 6)], lambda x, w: F.conv2d(x, w, padding="same", dilation=(1, 3)),
                      lambda x, w: TF.conv2d(x, w, padding="same", dilation=(1, 3)), extra={"w": (3, 2, 4, 2)})
    assert result.outputs[0].shape == (1, 3, 5, 6)


DOUBLE_BACKWARD_DTYPES = pytest.mark.parametrize("dtype, tolerance", [("float64", {"bound": "multilinear"}),
                                                                      ("float32", {"bound": "multilinear"})])


def check_conv_double_backward(ours, theirs, shapes, kwargs, dtype, tolerance):
    """Second derivatives of ours(x, w, b, **kwargs) against torch's, seeded inputs of ``shapes``;
    returns the inputs."""
    arrays = [random_array(s, rng=np.random.default_rng(i)) for i, s in enumerate(shapes)]
    check_double_backward(arrays, lambda x, w, b: ours(x, w, b, **kwargs),
                          lambda x, w, b: theirs(x, w, b, **kwargs), dtype=dtype, **tolerance)
    return arrays


@DOUBLE_BACKWARD_DTYPES
@pytest.mark.parametrize("kwargs", [{"dilation": 2, "padding": 1}, {"groups": 2, "stride": (2, 1)},
                                    {"groups": 3, "padding": "same", "dilation": (2, 1)}])
def test_conv2d_options_double_backward_matches_torch(kwargs, dtype, tolerance):
    groups = kwargs.get("groups", 1)
    arrays = check_conv_double_backward(F.conv2d, TF.conv2d, [(2, 6, 6, 5), (6, 6 // groups, 3, 2), (6,)],
                                        kwargs, dtype, tolerance)
    kwargs = {k: v[0] if isinstance(v, tuple) else v for k, v in kwargs.items()}     # 1-D: one int each
    check_double_backward(arrays[:2], lambda x, w: F.conv1d(x[:, :, 0], w[:, :, 0], **kwargs),
                          lambda x, w: TF.conv1d(x[:, :, 0], w[:, :, 0], **kwargs), dtype=dtype, **tolerance)


def test_conv2d_options_gradcheck():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((1, 4, 5, 6)), rng.standard_normal((4, 2, 2, 3)), rng.standard_normal(4)
    tl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding="same", dilation=2, groups=2), x, w, b)


# ---- conv_transpose2d: the adjoint of conv2d -----------------------------------------------------

@st.composite
def conv_transpose_cases(draw):
    """(x shape, weight shape, torch keyword arguments), output_padding below stride or dilation."""
    groups = draw(st.integers(1, 3))
    n, c, o = draw(st.integers(1, 2)), groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    extra = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    full = [(h - 1) * s + d * (k - 1) + 1 + e for h, s, d, k, e in zip(size, stride, dilation, kernel, extra)]
    padding = tuple(draw(st.integers(0, min(2, (f - 1) // 2))) for f in full)
    kwargs = {"stride": stride, "padding": padding, "output_padding": extra, "groups": groups,
              "dilation": dilation}
    return (n, c) + size, (c, o) + kernel, kwargs


@op_settings
@given(case=conv_transpose_cases(), bias=st.booleans(), dtype=st.sampled_from(["float64", "float32"]))
def test_conv_transpose2d_matches_torch(case, bias, dtype, device):
    x_shape, w_shape, kwargs = case
    extra = {"w": w_shape, **({"b": (w_shape[1] * kwargs["groups"],)} if bias else {})}
    check_op([x_shape], lambda x, w, b=None: F.conv_transpose2d(x, w, b, **kwargs),
             lambda x, w, b=None: TF.conv_transpose2d(x, w, b, **kwargs), extra=extra, dtype=dtype,
             device=device, **TOLERANCE[dtype])


@op_settings
@given(case=conv_option_cases(), seed=st.integers(0, 2**31))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case, seed):
    """<conv2d(x, W), y> == <x, conv_transpose2d(y, W)> for every x and y (bias-free, same geometry)."""
    x_shape, w_shape, kwargs = case
    if isinstance(kwargs["padding"], str):
        return                                  # conv_transpose2d takes int padding only, as torch
    rng = np.random.default_rng(seed)
    x, w = (tl.Tensor(rng.standard_normal(s), dtype="float64") for s in (x_shape, w_shape))
    y = F.conv2d(x, w, **kwargs)
    v = tl.Tensor(rng.standard_normal(y.shape), dtype="float64")
    back = F.conv_transpose2d(v, w, **kwargs, output_padding=tuple(
        (n + 2 * p - d * (k - 1) - 1) % s for n, p, d, k, s in
        zip(x_shape[2:], kwargs["padding"], kwargs["dilation"], w_shape[2:], kwargs["stride"])))
    assert back.shape == x.shape
    # both sides add up the same products x * W * v, in different orders: within twice the bound of a
    # sum of that many terms (at most every output element times every weight), gamma(n) * sum |terms|
    terms = y.numpy().size * int(np.prod(w_shape)) + x.numpy().size
    magnitude = (F.conv2d(x.abs(), w.abs(), **kwargs).numpy() * np.abs(v.numpy())).sum()
    assert_within((y.numpy() * v.numpy()).sum(), (x.numpy() * back.numpy()).sum(),
                  2 * gamma(terms, unit_roundoff("float64")) * magnitude,
                  "<conv2d(x, W), v> - <x, conv_transpose2d(v, W)>")


@DOUBLE_BACKWARD_DTYPES
@pytest.mark.parametrize("kwargs", [{"stride": 2, "padding": 1, "output_padding": 1},
                                    {"groups": 2, "dilation": (2, 1), "stride": (1, 2)}])
def test_conv_transpose2d_double_backward_matches_torch(kwargs, dtype, tolerance):
    groups = kwargs.get("groups", 1)
    check_conv_double_backward(F.conv_transpose2d, TF.conv_transpose2d,
                               [(2, 4, 4, 3), (4, 6 // groups, 3, 2), (6,)], kwargs, dtype, tolerance)


def test_conv_transpose2d_gradcheck():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((1, 4, 3, 3)), rng.standard_normal((4, 1, 3, 2)), rng.standard_normal(2)
    tl.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
                 x, w, b)


# ---- im2col and col2im -----------------------------------------------------------------------------

@op_settings
@given(case=conv_cases())
def test_im2col_matches_torch_unfold(case, device):
    (n, c, h, w), (_, _, kh, kw), stride, padding = case
    check_op([(n, c, h, w)], lambda x: F.im2col(x, (kh, kw), stride, padding),
             lambda x: from_torch_cols(TF.unfold(x, (kh, kw), padding=padding, stride=stride), n, c, (kh, kw)),
             device=device)


@op_settings
@given(case=conv_cases())
def test_col2im_matches_torch_fold(case, device):
    (n, c, h, w), (_, _, kh, kw), stride, padding = case
    rows = n * ((h + 2 * padding[0] - kh) // stride[0] + 1) * ((w + 2 * padding[1] - kw) // stride[1] + 1)
    check_op([(rows, kh * kw * c)], lambda cols: F.col2im(cols, (n, c, h, w), (kh, kw), stride, padding),
             lambda cols: TF.fold(to_torch_cols(cols, n, c, (kh, kw)), (h, w), (kh, kw),
                                  padding=padding, stride=stride),
             device=device)


@op_settings
@given(case=conv_cases(), seed=st.integers(0, 2**31))
def test_im2col_and_col2im_are_adjoint(case, seed):
    """<im2col(x), y> == <x, col2im(y)> for random x and y: col2im is im2col's transpose."""
    (n, c, h, w), (_, _, kh, kw), stride, padding = case
    rng = np.random.default_rng(seed)
    x = tl.Tensor(rng.standard_normal((n, c, h, w)), dtype="float64")
    cols = F.im2col(x, (kh, kw), stride, padding)
    y = tl.Tensor(rng.standard_normal(cols.shape), dtype="float64")
    back = F.col2im(y, x.shape, (kh, kw), stride, padding)
    assert back.shape == x.shape
    np.testing.assert_allclose((cols.numpy() * y.numpy()).sum(), (x.numpy() * back.numpy()).sum(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dilation", [2, (1, 3)])
def test_im2col_col2im_with_dilation_match_torch(dilation):
    n, c, h, w, kernel = 2, 3, 7, 8, (2, 3)
    check_op([(n, c, h, w)], lambda x: F.im2col(x, kernel, 1, 1, dilation),
             lambda x: from_torch_cols(TF.unfold(x, kernel, dilation, 1, 1), n, c, kernel))
    rows = F.im2col(tl.zeros(n, c, h, w), kernel, 1, 1, dilation).shape[0]
    check_op([(rows, 6 * c)], lambda cols: F.col2im(cols, (n, c, h, w), kernel, 1, 1, dilation),
             lambda cols: TF.fold(to_torch_cols(cols, n, c, kernel), (h, w), kernel, dilation, 1, 1))


def test_im2col_picture_in_the_docstring():
    x = tl.Tensor(np.arange(9.0).reshape(1, 1, 3, 3))          # a..i = 0..8
    expected = [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]
    np.testing.assert_array_equal(F.im2col(x, 2).numpy(), expected)


def test_im2col_col2im_gradcheck():
    rng = np.random.default_rng(3)
    tl.gradcheck(lambda x: F.im2col(x, (2, 3), 2, 1), rng.standard_normal((1, 2, 4, 3)))
    tl.gradcheck(lambda c: F.col2im(c, (1, 2, 3, 3), 2, 1, 1), rng.standard_normal((16, 8)))


# ---- unfold / fold: torch's names and layout of im2col / col2im --------------------------------------

@st.composite
def unfold_cases(draw):
    """(x shape, torch's unfold / fold keyword arguments) with the dilated kernel fitting the padded input."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    h, w = (draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 7)) for k, d, p in zip(kernel, dilation, padding))
    kwargs = {"kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), kwargs


@op_settings
@given(case=unfold_cases(), dtype=st.sampled_from(["float64", "float32"]))
def test_unfold_and_fold_match_torch(case, dtype, device):
    """F.unfold / F.fold: forward and gradient (random cotangent) as torch, batched and unbatched."""
    shape, kwargs = case
    check_op([shape], lambda x: F.unfold(x, **kwargs), lambda x: TF.unfold(x, **kwargs), dtype=dtype, device=device)
    check_op([shape[1:]], lambda x: F.unfold(x, **kwargs), lambda x: TF.unfold(x, **kwargs), dtype=dtype, device=device)
    cols = TF.unfold(torch.zeros(shape), **kwargs).shape
    check_op([tuple(cols)], lambda c: F.fold(c, shape[2:], **kwargs), lambda c: TF.fold(c, shape[2:], **kwargs),
             dtype=dtype, device=device)
    check_op([tuple(cols[1:])], lambda c: F.fold(c, shape[2:], **kwargs), lambda c: TF.fold(c, shape[2:], **kwargs),
             dtype=dtype, device=device)


def test_unfold_fold_second_derivatives_and_modules_match_torch():
    kwargs = {"kernel_size": (2, 3), "dilation": (1, 2), "padding": 1, "stride": (2, 1)}
    x = random_array((2, 3, 5, 6))
    check_double_backward([x], lambda x: F.unfold(x, **kwargs) ** 2, lambda x: TF.unfold(x, **kwargs) ** 2)
    cols = TF.unfold(torch.tensor(x), **kwargs).numpy()
    check_double_backward([cols], lambda c: F.fold(c, (5, 6), **kwargs) ** 2,
                          lambda c: TF.fold(c, (5, 6), **kwargs) ** 2)
    for ours, theirs, data in ((nn.Unfold(**kwargs), torch.nn.Unfold(**kwargs), x),
                               (nn.Fold((5, 6), **kwargs), torch.nn.Fold((5, 6), **kwargs), cols)):
        assert repr(ours) == repr(theirs)
        check_op([data], ours, theirs)


def test_unfold_is_im2col_and_fold_is_col2im():
    """The public ops are the conv machinery itself: the same numbers as im2col / col2im, permuted."""
    x = tl.Tensor(random_array((2, 3, 5, 4)))
    cols = F.im2col(x, (2, 2), 1, 1)
    np.testing.assert_array_equal(F.unfold(x, 2, padding=1).numpy(),
                                  to_torch_cols(torch.tensor(cols.numpy()), 2, 3, (2, 2)))
    np.testing.assert_array_equal(F.fold(F.unfold(x, 2, padding=1), (5, 4), 2, padding=1).numpy(),
                                  F.col2im(cols, x.shape, 2, 1, 1).numpy())
    with pytest.raises(tl.ShapeError,
                       match=r"fold: input must be \(N, C\*KH\*KW, L\) .* L = 30 windows .* got shape \(2, 12, 19\)"):
        F.fold(tl.zeros(2, 12, 19), (5, 4), 2, padding=1)


# ---- asymmetric padding: torch's conv(F.pad(x, p), w) in one call ----------------------------------

@op_settings
@given(pads=st.tuples(*[st.integers(0, 3)] * 4), kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.integers(1, 2), dtype=st.sampled_from(["float64", "float32"]))
def test_conv2d_and_conv1d_asymmetric_padding_match_torch_pad_then_conv(pads, kernel, stride, dtype, device):
    """padding=(left, right, top, bottom), F.pad's order, is torch's conv2d(F.pad(x, padding), w)."""
    extra = {"w": (2, 3) + kernel, "b": (2,)}
    check_op([(2, 3, 4, 5)], lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=pads),
             lambda x, w, b: TF.conv2d(TF.pad(x, pads), w, b, stride=stride), extra=extra, dtype=dtype,
             device=device, **TOLERANCE[dtype])
    extra = {"w": (2, 3, kernel[1]), "b": (2,)}
    check_op([(2, 3, 4)], lambda x, w, b: F.conv1d(x, w, b, stride=stride, padding=pads[:2]),
             lambda x, w, b: TF.conv1d(TF.pad(x, pads[:2]), w, b, stride=stride), extra=extra, dtype=dtype,
             device=device, **TOLERANCE[dtype])


def test_asymmetric_padding_second_derivatives_and_errors():
    arrays = [random_array((1, 2, 4, 4)), random_array((3, 2, 2, 3), rng=np.random.default_rng(1))]
    check_double_backward(arrays, lambda x, w: F.conv2d(x, w, padding=(2, 0, 1, 2)) ** 2,
                          lambda x, w: TF.conv2d(TF.pad(x, (2, 0, 1, 2)), w) ** 2, bound="multilinear")
    with pytest.raises(ValueError,
                       match=r"conv2d: padding \(left, right, top, bottom\) must be four non-negative ints,"
                             r" got \(1, -1, 0, 0\)"):
        F.conv2d(tl.zeros(1, 1, 3, 3), tl.zeros(1, 1, 2, 2), padding=(1, -1, 0, 0))


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(tl.zeros(1, 1, 3, 3), tl.zeros(1, 1, 2, 2), padding=(1, 1, 1)),
     r"conv2d: padding must be an int, a pair \(h, w\), four ints \(left, right, top, bottom\) as F.pad takes "
     r"them, 'valid' or 'same', got \(1, 1, 1\)"),
    (lambda: F.conv1d(tl.zeros(1, 1, 3), tl.zeros(1, 1, 2), padding=(1, 1, 1)),
     r"conv1d: padding must be an int, a 1-tuple, \(left, right\) as F.pad takes it, 'valid' or 'same', "
     r"got \(1, 1, 1\)"),
    (lambda: F.conv1d(tl.zeros(1, 1, 3), tl.zeros(1, 1, 2), padding=(1, -1)),
     r"conv1d: padding \(left, right\) must be two non-negative ints, got \(1, -1\)"),
], ids=["conv2d three ints", "conv1d three ints", "conv1d negative side"])
def test_a_padding_of_no_accepted_form_names_every_form(call, message):
    """conv1d's (1, -1) was reported as conv2d's four sides (1, -1, 0, 0) it became inside, and three
    ints as 'an int or a 1-tuple', hiding the (left, right) form; torch refuses these too."""
    with pytest.raises(ValueError, match=message):
        call()
    torch_call = {"conv2d": lambda: TF.conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 2, 2), padding=(1, 1, 1)),
                  "conv1d": lambda: TF.conv1d(torch.zeros(1, 1, 3), torch.zeros(1, 1, 2), padding=(1, 1, 1))}
    with pytest.raises(RuntimeError):
        torch_call[message.split(":")[0]]()


# ---- the Conv2d module -----------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs", [((1, 4, 3), {"padding": 1}), ((3, 5, (3, 2)), {"stride": (2, 1)}),
                                          ((2, 3, 2), {"stride": 2, "padding": (1, 0), "bias": False})])
def test_conv2d_module_matches_torch(args, kwargs):
    """Same weights copied into torch's Conv2d: same repr, output, input and parameter gradients."""
    ours, theirs = nn.Conv2d(*args, **kwargs).double(), torch.nn.Conv2d(*args, **kwargs).double()
    assert repr(ours) == repr(theirs)
    torch_params = dict(theirs.named_parameters())
    assert [n for n, _ in ours.named_parameters()] == list(torch_params)
    with torch.no_grad():
        for name, p in ours.named_parameters():
            assert p.shape == tuple(torch_params[name].shape)
            torch_params[name].copy_(torch.tensor(p.numpy()))
    x = random_array((2, args[0], 6, 5))
    ours_x, torch_x = tl.Tensor(x, requires_grad=True, dtype="float64"), torch.tensor(x, requires_grad=True)
    y, want = ours(ours_x), theirs(torch_x)
    np.testing.assert_allclose(y.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    seed = np.random.default_rng(0).standard_normal(y.shape)
    (y * tl.Tensor(seed, dtype="float64")).sum().backward()
    (want * torch.tensor(seed)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), torch_x.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), torch_params[name].grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer, args, kwargs", [
    ("Conv2d", (4, 6, 3), {"dilation": 2, "groups": 2}),
    ("Conv2d", (3, 6, (2, 3)), {"padding": "same", "groups": 3, "bias": False}),
    ("Conv2d", (2, 4, 3), {"padding": "valid", "stride": 2}),
    ("Conv1d", (2, 4, 3), {}),
    ("Conv1d", (4, 4, 2), {"padding": "same", "dilation": 3, "groups": 4}),
    ("Conv1d", (2, 3, 3), {"stride": 2, "padding": 1, "bias": False}),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ("ConvTranspose2d", (4, 6, (2, 3)), {"groups": 2, "dilation": (1, 2), "bias": False}),
])
def test_conv_modules_with_options_match_torch(layer, args, kwargs):
    """Same repr, same parameter names and shapes; with torch's weights copied in, same output and
    gradients (float64)."""
    ours, theirs = getattr(nn, layer)(*args, **kwargs).double(), getattr(torch.nn, layer)(*args, **kwargs).double()
    assert repr(ours) == repr(theirs)
    params = dict(theirs.named_parameters())
    assert {n: p.shape for n, p in ours.named_parameters()} == {n: tuple(p.shape) for n, p in params.items()}
    for name, p in ours.named_parameters():
        p.data = params[name].detach().numpy().copy()
    shape = (2, args[0], 7) if layer == "Conv1d" else (2, args[0], 7, 6)
    check_op([shape], lambda x, **w: ours(x), lambda x, **w: theirs(x))
    x = tl.Tensor(random_array(shape), dtype="float64")
    ours(x).sum().backward()
    tx = torch.tensor(random_array(shape))
    theirs(tx).sum().backward()
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), params[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_grouped_conv_default_init_uses_the_group_fan_in():
    """torch's bound 1/sqrt(fan_in) counts the in_channels of one group: 8/4 * 3 * 3 = 18."""
    tl.manual_seed(3)
    layer = nn.Conv2d(8, 64, 3, groups=4)
    assert layer.weight.shape == (64, 2, 3, 3)
    assert np.abs(layer.weight.numpy()).max() <= 1 / np.sqrt(18)
    assert np.abs(layer.weight.numpy()).max() > 0.9 / np.sqrt(18)
    # ConvTranspose2d: torch's fan_in is weight.shape[1] * kh * kw = out_channels/groups * 9 = 4 * 9
    layer = nn.ConvTranspose2d(64, 8, 3, groups=2)
    assert layer.weight.shape == (64, 4, 3, 3) and layer.bias.shape == (8,)
    assert 0.9 / 6 < np.abs(layer.weight.numpy()).max() <= 1 / 6
    assert 1 / 24 < np.abs(layer.bias.numpy()).max() <= 1 / 6      # 1/24: the wrong fan_in, 64 * 9


def test_conv2d_default_init_is_torchs():
    """weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in*kh*kw; seeded; float32."""
    tl.manual_seed(7)
    layer = nn.Conv2d(8, 64, (3, 2))
    bound = 1 / np.sqrt(8 * 3 * 2)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == np.float32 and w.shape == (64, 8, 3, 2) and b.shape == (64,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.05 * bound      # a uniform's std, 3072 draws
    assert abs(w.mean()) < 0.05 * bound
    tl.manual_seed(7)
    np.testing.assert_array_equal(nn.Conv2d(8, 64, (3, 2)).weight.numpy(), w)


# ---- errors ----------------------------------------------------------------------------------------

def test_conv2d_errors_name_the_layer_and_shapes():
    layer = nn.Conv2d(1, 4, 3)
    with pytest.raises(tl.ShapeError, match=r"Conv2d\(1, 4.*4-D input \(N, C, H, W\).*\(1, 28, 28\).*unsqueeze"):
        layer(tl.zeros(1, 28, 28))
    with pytest.raises(tl.ShapeError, match=r"Conv2d\(1, 4.*input has 3 channels.*expects 1 input channels"):
        layer(tl.zeros(2, 3, 28, 28))
    with pytest.raises(tl.ShapeError, match=r"kernel size \(3, 3\) is larger than the padded input \(2, 6\)"):
        layer(tl.zeros(2, 1, 2, 6))
    with pytest.raises(ValueError, match="stride must be a positive int"):
        nn.Conv2d(1, 4, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be a non-negative int"):
        nn.Conv2d(1, 4, 3, padding=-1)
    with pytest.raises(ValueError, match="kernel_size must be a positive int"):
        nn.Conv2d(1, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        nn.Conv2d(0, 4, 3)


def test_functional_errors():
    x, w = tl.zeros(1, 2, 5, 5), tl.zeros(3, 2, 3, 3)
    with pytest.raises(tl.ShapeError, match=r"conv2d: weight must be a 4-D"):
        F.conv2d(x, tl.zeros(3, 2, 3))
    with pytest.raises(tl.ShapeError, match=r"bias must have shape \(3,\)"):
        F.conv2d(x, w, tl.zeros(2))
    with pytest.raises(ValueError, match=r"conv2d: stride must be"):
        F.conv2d(x, w, stride=(1, 0))
    with pytest.raises(tl.ShapeError, match=r"col2im: cols .* must have shape \(N\*OH\*OW, KH\*KW\*C\) = \(9, 18\)"):
        F.col2im(tl.zeros(18, 9), (1, 2, 5, 5), 3)
    with pytest.raises(tl.ShapeError, match=r"im2col: expected a 4-D input"):
        F.im2col(tl.zeros(5, 5), 3)


def test_conv_option_errors_name_the_argument():
    x = tl.zeros(1, 4, 6, 6)
    with pytest.raises(ValueError, match=r"conv2d: groups=3 must divide in_channels, got in_channels=4"):
        F.conv2d(x, tl.zeros(3, 1, 3, 3), groups=3)
    with pytest.raises(ValueError, match=r"conv2d: groups=2 must divide out_channels, got out_channels=3"):
        F.conv2d(x, tl.zeros(3, 2, 3, 3), groups=2)
    with pytest.raises(tl.ShapeError,
                       match=r"input has 4 channels .* expects 6 input channels \(3 per group x 2 groups\)"):
        F.conv2d(x, tl.zeros(4, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match=r"groups must be a positive int, got 0"):
        F.conv2d(x, tl.zeros(4, 4, 3, 3), groups=0)
    with pytest.raises(ValueError, match=r"padding='same' needs stride 1.*got stride \(2, 2\)"):
        F.conv2d(x, tl.zeros(4, 4, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding must be an int, a pair of ints, 'valid' or 'same', got 'full'"):
        F.conv2d(x, tl.zeros(4, 4, 3, 3), padding="full")
    with pytest.raises(ValueError, match=r"dilation must be a positive int"):
        F.conv2d(x, tl.zeros(4, 4, 3, 3), dilation=0)
    with pytest.raises(tl.ShapeError,
                       match=r"kernel size \(3, 3\) dilated by \(3, 3\) to \(7, 7\) is larger than the padded input"
                             r" \(6, 6\)"):
        F.conv2d(x, tl.zeros(4, 4, 3, 3), dilation=3)
    with pytest.raises(tl.ShapeError, match=r"conv1d: expected a 3-D input \(N, C, L\), got \(1, 4, 6, 6\)"):
        F.conv1d(x, tl.zeros(4, 4, 3))
    with pytest.raises(ValueError, match=r"conv1d: stride must be an int or a 1-tuple"):
        F.conv1d(tl.zeros(1, 4, 6), tl.zeros(4, 4, 3), stride=(1, 2))
    with pytest.raises(ValueError, match=r"Conv2d: groups=4 must divide out_channels, got out_channels=6"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match=r"Conv1d: padding='same' needs stride 1"):
        nn.Conv1d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError,
                       match=r"conv_transpose2d: output_padding \(1, 1\) must be smaller than the stride \(1, 1\) or"
                             r" the dilation \(1, 1\)"):
        F.conv_transpose2d(x, tl.zeros(4, 2, 3, 3), output_padding=1)
    with pytest.raises(tl.ShapeError,
                       match=r"conv_transpose2d: input has 4 channels .* weight \(3, 2, 3, 3\) expects 3 input"
                             r" channels"):
        F.conv_transpose2d(x, tl.zeros(3, 2, 3, 3))
    with pytest.raises(ValueError, match=r"conv_transpose2d: groups=3 must divide in_channels, got in_channels=4"):
        F.conv_transpose2d(x, tl.zeros(4, 2, 3, 3), groups=3)
    with pytest.raises(tl.ShapeError, match=r"conv_transpose2d: bias must have shape \(4,\)"):
        F.conv_transpose2d(x, tl.zeros(4, 2, 3, 3), tl.zeros(2), groups=2)
    with pytest.raises(tl.ShapeError, match=r"conv_transpose2d: the output size \(-1, -1\) .* is too small"):
        F.conv_transpose2d(tl.zeros(1, 4, 1, 1), tl.zeros(4, 2, 1, 1), padding=1)
