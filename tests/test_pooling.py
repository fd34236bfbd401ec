"""max_pool2d, avg_pool2d, adaptive_avg_pool2d, global_avg_pool2d and their modules against torch."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.costs import peak_bytes
from tests.torch_oracle import check_double_backward, check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional


@st.composite
def pool_cases(draw):
    """(x shape, kernel, stride or None, padding) as torch accepts them (padding <= kernel / 2)."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 9))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 9))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), kernel, stride, padding


@op_settings
@given(case=pool_cases())
def test_max_pool2d_matches_torch(case, device):
    shape, kernel, stride, padding = case
    check_op([shape], lambda x: F.max_pool2d(x, kernel, stride, padding),
             lambda x: TF.max_pool2d(x, kernel, stride, padding), device=device)


@op_settings
@given(case=pool_cases())
def test_avg_pool2d_matches_torch(case, device):
    shape, kernel, stride, padding = case
    check_op([shape], lambda x: F.avg_pool2d(x, kernel, stride, padding),
             lambda x: TF.avg_pool2d(x, kernel, stride, padding), device=device)


@op_settings
@given(case=pool_cases(), levels=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_max_pool2d_ties_go_to_the_first_max_like_torch(case, levels, seed):
    """Values from a few levels only, so windows hold ties: the gradient goes where torch sends it."""
    shape, kernel, stride, padding = case
    x = np.random.default_rng(seed).integers(0, levels, size=shape).astype(np.float64)
    check_op([x], lambda x: F.max_pool2d(x, kernel, stride, padding),
             lambda x: TF.max_pool2d(x, kernel, stride, padding))


@st.composite
def pool_option_cases(draw, dilation=True):
    """(x shape, torch keyword arguments) with dilation (max pooling only), ceil_mode and padding;
    the input at least one dilated kernel wide, so every window holds a real pixel."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilations = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    sizes = tuple(draw(st.integers(d * (k - 1) + 1, 10)) for k, d in zip(kernel, dilations))
    kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": draw(st.booleans())}
    if dilation:
        kwargs["dilation"] = dilations
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sizes, kwargs


@op_settings
@given(case=pool_option_cases(), dtype=st.sampled_from(["float64", "float32"]))
def test_max_pool2d_options_match_torch(case, dtype, device):
    """dilation, ceil_mode and padding; return_indices gives torch's flat indices."""
    shape, kwargs = case
    check_op([shape], lambda x: F.max_pool2d(x, **kwargs, return_indices=True),
             lambda x: TF.max_pool2d(x, **kwargs, return_indices=True), dtype=dtype, device=device)


@op_settings
@given(case=pool_option_cases(), levels=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_max_pool2d_options_ties_go_where_torch_sends_them(case, levels, seed):
    shape, kwargs = case
    x = np.random.default_rng(seed).integers(0, levels, size=shape).astype(np.float64)
    check_op([x], lambda x: F.max_pool2d(x, **kwargs, return_indices=True),
             lambda x: TF.max_pool2d(x, **kwargs, return_indices=True))


@op_settings
@given(case=pool_option_cases(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.none() | st.integers(1, 7), dtype=st.sampled_from(["float64", "float32"]))
def test_avg_pool2d_options_match_torch(case, count_include_pad, divisor_override, dtype, device):
    shape, kwargs = case
    kwargs.update(count_include_pad=count_include_pad, divisor_override=divisor_override)
    check_op([shape], lambda x: F.avg_pool2d(x, **kwargs), lambda x: TF.avg_pool2d(x, **kwargs),
             dtype=dtype, device=device)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("pool, torch_pool, kwargs", [
    (F.max_pool2d, TF.max_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": (1, 2), "ceil_mode": True}),
    (F.avg_pool2d, TF.avg_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                   "count_include_pad": False}),
    (F.avg_pool2d, TF.avg_pool2d, {"kernel_size": (2, 3), "ceil_mode": True, "divisor_override": 4}),
    (F.adaptive_avg_pool2d, TF.adaptive_avg_pool2d, {"output_size": (3, 4)}),
])
def test_pooling_options_double_backward_matches_torch(pool, torch_pool, kwargs, dtype):
    """Through a square, so the second derivative is not zero: d2/dx2 of sum(pool(x)^2 * v)."""
    x = random_array((2, 2, 7, 6))
    check_double_backward([x], lambda x: pool(x, **kwargs) ** 2, lambda x: torch_pool(x, **kwargs) ** 2,
                          dtype=dtype)


@op_settings
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
       out=st.tuples(st.none() | st.integers(1, 9), st.none() | st.integers(1, 9)) | st.integers(1, 9),
       dtype=st.sampled_from(["float64", "float32"]))
def test_adaptive_avg_pool2d_matches_torch(shape, out, dtype, device):
    """Any output size, larger than the input too (windows then repeat pixels), as torch."""
    check_op([shape], lambda x: F.adaptive_avg_pool2d(x, out), lambda x: TF.adaptive_avg_pool2d(x, out),
             dtype=dtype, device=device)


def test_adaptive_avg_pool2d_second_derivative_matches_torch():
    """The gathered windows (one shorter than the widest, masked) have torch's second derivative."""
    check_double_backward([random_array((1, 2, 7, 5))], lambda x: F.adaptive_avg_pool2d(x ** 2, (3, 4)),
                          lambda x: TF.adaptive_avg_pool2d(x ** 2, (3, 4)))


def test_adaptive_avg_pool2d_refuses_an_output_past_the_bound_at_once():
    """(10**5, 10**5) from a 5 x 5 input grew to 5.9 GB in 37 s; torch refuses at once, so do we,
    naming the bound, before allocating anything."""
    peak, outcome = peak_bytes(lambda: F.adaptive_avg_pool2d(tl.ones(1, 1, 5, 5), (10 ** 5, 10 ** 5)))
    assert isinstance(outcome, tl.SizeError), outcome
    assert "adaptive_avg_pool2d" in str(outcome) and "MAX_ELEMENTS" in str(outcome)
    assert peak < 1_000_000


def test_adaptive_avg_pool2d_large_output_costs_only_its_size():
    """An output of 200,000 pixels from a 5 x 5 input: one gather per axis, no Python loop over the
    windows, so the work and memory are a few times the output's (torch's answer)."""
    x = random_array((1, 1, 5, 5))
    peak, got = peak_bytes(lambda: F.adaptive_avg_pool2d(tl.Tensor(x), (20_000, 10)).numpy())
    np.testing.assert_allclose(got, TF.adaptive_avg_pool2d(torch.tensor(x), (20_000, 10)).numpy(), rtol=1e-12)
    assert peak < 20 * got.nbytes


def test_pooling_options_gradcheck():
    rng = np.random.default_rng(2)
    tl.gradcheck(lambda x: F.max_pool2d(x, 2, 2, 1, dilation=2, ceil_mode=True), rng.standard_normal((1, 2, 6, 7)))
    tl.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
                 rng.standard_normal((1, 2, 6, 7)))
    tl.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (4, 3)), rng.standard_normal((1, 2, 6, 7)))


def test_max_pool2d_all_equal_input():
    x = np.ones((1, 2, 5, 6))
    result = check_op([x], lambda x: F.max_pool2d(x, 3, 1), lambda x: TF.max_pool2d(x, 3, 1))
    assert result.grads["input 0"][0, 0, 0, 0] != 0 and result.grads["input 0"][0, 0, 0, 1] != 0


@op_settings
@given(case=pool_cases(), seed=st.integers(0, 2**31), nan_fraction=st.sampled_from([0.1, 0.3, 1.0]))
def test_max_pool2d_sends_the_gradient_to_a_nan_like_torch(case, seed, nan_fraction):
    """A window with a NaN outputs NaN; its gradient goes to the NaN (the last one in row-major
    order, where torch's kernel leaves it), not to the largest number."""
    shape, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    x[rng.random(shape) < nan_fraction] = np.nan
    check_op([x], lambda x: F.max_pool2d(x, kernel, stride, padding),
             lambda x: TF.max_pool2d(x, kernel, stride, padding))


def test_global_avg_pool2d_matches_adaptive_avg_pool():
    check_op([(3, 4, 5, 7)], F.global_avg_pool2d, lambda x: TF.adaptive_avg_pool2d(x, 1))
    assert F.global_avg_pool2d(tl.zeros(2, 3, 4, 4)).shape == (2, 3, 1, 1)


def test_pooling_float32_keeps_dtype():
    x = tl.Tensor(random_array((2, 3, 7, 6), dtype="float32"), requires_grad=True)
    for pool in (F.max_pool2d, F.avg_pool2d):
        x.grad = None
        y = pool(x, 2)
        y.sum().backward()
        assert y.dtype == np.float32 and x.grad.dtype == np.float32 and y.shape == (2, 3, 3, 3)


def test_pooling_gradcheck():
    rng = np.random.default_rng(0)
    tl.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), rng.standard_normal((1, 2, 5, 6)))
    tl.gradcheck(lambda x: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1)), rng.standard_normal((1, 2, 5, 6)))
    tl.gradcheck(F.global_avg_pool2d, rng.standard_normal((2, 2, 3, 4)))


@pytest.mark.parametrize("pool, torch_pool", [(F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)])
def test_pooling_double_backward_matches_torch(pool, torch_pool):
    """Pooling is linear in x once the windows (and arg-maxes) are fixed, so the second-order path
    that matters runs through the upstream gradient: d/dv of sum(dx(v)^2 * x), dx = d<pool(x), v>/dx."""
    rng = np.random.default_rng(1)
    x_array, v_array = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 3, 3))
    x = tl.Tensor(x_array, requires_grad=True, dtype="float64")
    v = tl.Tensor(v_array, requires_grad=True, dtype="float64")
    (pool(x, 3, 2, 1) * v).sum().backward(create_graph=True)
    gx = x.grad
    v.grad = None                        # the first backward left d<pool(x), v>/dv = pool(x) there
    (gx * gx * tl.Tensor(x_array, dtype="float64")).sum().backward()

    tx, tv = torch.tensor(x_array, requires_grad=True), torch.tensor(v_array, requires_grad=True)
    tgx, = torch.autograd.grad((torch_pool(tx, 3, 2, 1) * tv).sum(), tx, create_graph=True)
    (tgx * tgx * torch.tensor(x_array)).sum().backward()
    np.testing.assert_allclose(gx.numpy(), tgx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(v.grad.numpy(), tv.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_floor_mode_crops_like_torch():
    """7x5 input, kernel 2: the last row and column fill no window and get zero gradient."""
    result = check_op([(1, 1, 7, 5)], lambda x: F.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2))
    assert result.outputs[0].shape == (1, 1, 3, 2)
    assert not result.grads["input 0"][0, 0, 6, :].any() and not result.grads["input 0"][0, 0, :, 4].any()


# ---- modules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ours, theirs", [
    (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
    (nn.MaxPool2d((3, 2), stride=1, padding=1), torch.nn.MaxPool2d((3, 2), stride=1, padding=1)),
    (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
    (nn.AvgPool2d(3, stride=2, padding=1), torch.nn.AvgPool2d(3, stride=2, padding=1)),
    (nn.GlobalAvgPool2d(), torch.nn.AdaptiveAvgPool2d(1)),
    (nn.MaxPool2d(3, 2, 1, dilation=(2, 1), ceil_mode=True),
     torch.nn.MaxPool2d(3, 2, 1, dilation=(2, 1), ceil_mode=True)),
    (nn.MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, return_indices=True)),
    (nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     torch.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)),
    (nn.AvgPool2d(2, divisor_override=3), torch.nn.AvgPool2d(2, divisor_override=3)),
    (nn.AdaptiveAvgPool2d((3, None)), torch.nn.AdaptiveAvgPool2d((3, None))),
    (nn.AdaptiveAvgPool2d(4), torch.nn.AdaptiveAvgPool2d(4)),
])
def test_pooling_modules_match_torch(ours, theirs):
    check_op([(2, 3, 7, 6)], ours, theirs)
    if not isinstance(ours, nn.GlobalAvgPool2d):
        assert repr(ours) == repr(theirs)
    assert list(ours.parameters()) == []


def test_pooling_errors_name_the_layer_and_shapes():
    with pytest.raises(tl.ShapeError, match=r"MaxPool2d\(kernel_size=2.*4-D input.*\(3, 8, 8\)"):
        nn.MaxPool2d(2)(tl.zeros(3, 8, 8))
    with pytest.raises(tl.ShapeError,
                       match=r"AvgPool2d\(kernel_size=5.*kernel size \(5, 5\) is larger than"
                             r" the padded input \(4, 4\)"):
        nn.AvgPool2d(5)(tl.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half the kernel size \(3, 3\)"):
        F.max_pool2d(tl.zeros(1, 1, 8, 8), 3, padding=2)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        nn.AvgPool2d(2, stride=0)
    with pytest.raises(tl.ShapeError, match=r"GlobalAvgPool2d\(\): expected a 4-D input"):
        nn.GlobalAvgPool2d()(tl.zeros(2, 8))

    with pytest.raises(ValueError, match=r"max_pool2d: dilation must be a positive int"):
        F.max_pool2d(tl.zeros(1, 1, 8, 8), 3, dilation=0)
    with pytest.raises(tl.ShapeError,
                       match=r"max_pool2d: kernel size \(3, 3\) dilated by \(4, 4\) to \(9, 9\) is larger than the"
                             r" padded input \(8, 8\)"):
        F.max_pool2d(tl.zeros(1, 1, 8, 8), 3, dilation=4)
    with pytest.raises(TypeError, match=r"avg_pool2d: ceil_mode must be a bool, got 'yes'"):
        F.avg_pool2d(tl.zeros(1, 1, 8, 8), 3, ceil_mode="yes")
    with pytest.raises(ValueError, match=r"avg_pool2d: divisor_override must be a non-zero int or None, got 0"):
        F.avg_pool2d(tl.zeros(1, 1, 8, 8), 3, divisor_override=0)
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: output_size must be a positive int .* got \(0, 2\)"):
        F.adaptive_avg_pool2d(tl.zeros(1, 1, 8, 8), (0, 2))
    with pytest.raises(tl.ShapeError, match=r"AdaptiveAvgPool2d\(output_size=2\): expected a 4-D input"):
        nn.AdaptiveAvgPool2d(2)(tl.zeros(8, 8))
