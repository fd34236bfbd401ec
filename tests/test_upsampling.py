"""interpolate (nearest, nearest-exact, linear, bilinear; align_corners) and nn.Upsample against torch."""
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
def resize_cases(draw):
    """(x shape, torch keyword arguments): a mode, its input rank, a size or a scale factor."""
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear", "bilinear"]))
    axes = 1 if mode == "linear" else 2 if mode == "bilinear" else draw(st.integers(1, 2))
    spatial = tuple(draw(st.integers(1, 6)) for _ in range(axes))
    kwargs = {"mode": mode}
    if draw(st.booleans()):
        kwargs["size"] = tuple(draw(st.integers(1, 13)) for _ in range(axes))
    else:                                 # factors that keep every axis at least one pixel long
        kwargs["scale_factor"] = tuple(draw(st.sampled_from([0.5, 1.0, 1.5, 1.7, 2.0, 2.5, 3.0, 4.0]))
                                       for _ in range(axes))
        if any(int(n * f) < 1 for n, f in zip(spatial, kwargs["scale_factor"])):
            kwargs["scale_factor"] = tuple(max(f, 1.0) for f in kwargs["scale_factor"])
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, True]))
    if mode in ("linear", "bilinear"):
        kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + spatial, kwargs


@op_settings
@given(case=resize_cases(), dtype=st.sampled_from(["float64", "float32"]))
def test_interpolate_matches_torch(case, dtype, device):
    """Same pixels picked, same weights: forward and gradient (through a random cotangent)."""
    shape, kwargs = case
    check_op([shape], lambda x: F.interpolate(x, **kwargs), lambda x: TF.interpolate(x, **kwargs),
             dtype=dtype, device=device)


@pytest.mark.parametrize("size", [(8, 8), (17, 5), (2, 3)])
def test_nearest_upsampling_copies_pixels_exactly(size):
    """Nearest picks pixels: our output is exactly torch's (float32), no rounding anywhere."""
    x = random_array((2, 3, 6, 4), dtype="float32")
    got = F.interpolate(tl.Tensor(x), size=size).numpy()
    np.testing.assert_array_equal(got, TF.interpolate(torch.tensor(x), size=size).numpy())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kwargs", [{"scale_factor": 2, "mode": "bilinear"},
                                    {"size": (7, 3), "mode": "bilinear", "align_corners": True},
                                    {"scale_factor": 1.5, "mode": "nearest"}])
def test_interpolate_double_backward_matches_torch(kwargs, dtype):
    """Through a square (interpolation itself is linear, its second derivative zero)."""
    check_double_backward([random_array((2, 2, 4, 5))], lambda x: F.interpolate(x, **kwargs) ** 2,
                          lambda x: TF.interpolate(x, **kwargs) ** 2, dtype=dtype)


def test_interpolate_gradcheck():
    rng = np.random.default_rng(0)
    tl.gradcheck(lambda x: F.interpolate(x, scale_factor=(1.5, 2.5), mode="bilinear"),
                 rng.standard_normal((1, 2, 3, 4)))
    tl.gradcheck(lambda x: F.interpolate(x, size=7, mode="linear", align_corners=True), rng.standard_normal((2, 2, 3)))


@pytest.mark.parametrize("kwargs", [{"scale_factor": 2}, {"size": (5, 9), "mode": "bilinear"},
                                    {"scale_factor": (2, 3), "mode": "bilinear", "align_corners": True},
                                    {"size": 4, "mode": "nearest-exact"}])
def test_upsample_module_matches_torch(kwargs):
    ours, theirs = nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs)
    assert repr(ours) == repr(theirs)
    check_op([(2, 3, 4, 3)], ours, theirs)
    assert list(ours.parameters()) == []


def test_interpolate_errors_name_the_argument():
    x = tl.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate: give exactly one of size and scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(tl.UnsupportedError, match=r"interpolate: mode must be one of .*got 'bicubic'"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(tl.UnsupportedError, match=r"interpolate: mode 'bilinear' needs a 4-D input .* got a 3-D input"):
        F.interpolate(tl.zeros(1, 2, 4), size=3, mode="bilinear")
    with pytest.raises(tl.UnsupportedError, match=r"interpolate: mode 'linear' needs a 3-D input"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match=r"align_corners can only be set with the linear modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: size must be a positive number or 2 of them .* got \(3, 0\)"):
        F.interpolate(x, size=(3, 0))
    with pytest.raises(ValueError, match=r"interpolate: scale_factor must be a positive number or 2 of them"):
        F.interpolate(x, scale_factor=(2, 2, 2))
    with pytest.raises(tl.ShapeError, match=r"interpolate: scale_factor 0.1 makes the input \(4, 4\) \(0, 0\)"):
        F.interpolate(x, scale_factor=0.1)


def test_bilinear_uint8_is_torchs_rounded_answer():
    """The issue's case: the weights were cast to uint8 (all 0); torch rounds (1/6)*0 + (5/6)*100."""
    x = np.array([[[[0, 100, 200, 50]]]], np.uint8)
    got = F.interpolate(tl.Tensor(x), size=(1, 3), mode="bilinear")
    assert got.dtype == np.uint8 and got.tolist() == [[[[17, 150, 75]]]]
    assert got.tolist() == TF.interpolate(torch.tensor(x), size=(1, 3), mode="bilinear").tolist()


@op_settings
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 7), st.integers(1, 7)),
       out=st.tuples(st.integers(1, 15), st.integers(2, 15)), align_corners=st.sampled_from([None, True]),
       seed=st.integers(0, 2 ** 16))
def test_bilinear_uint8_matches_torch_exactly(shape, out, align_corners, seed):
    """torch's uint8 kernel: 16-bit weights, W then H, each pass rounded to uint8. Up to 4 channels:
    torch 2.13's fallback kernel for more channels gives wrong rows when the output is 1 pixel wide."""
    x = np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)
    got = F.interpolate(tl.Tensor(x), size=out, mode="bilinear", align_corners=align_corners).numpy()
    want = TF.interpolate(torch.tensor(x), size=out, mode="bilinear", align_corners=align_corners).numpy()
    np.testing.assert_array_equal(got, want)
    exact = TF.interpolate(torch.tensor(x, dtype=torch.float64), size=out, mode="bilinear",
                           align_corners=align_corners).numpy()
    # two roundings to the nearest, at most one each half; the float64 reference is itself a few ulps of
    # 255 (~1e-13) off the exact value
    assert np.abs(got - exact).max() <= 1.0 + 1e-12


INTEGER_DTYPES = ["uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64", "bool"]
MODE_INPUTS = [("nearest", (1, 2, 3, 4), (2, 7)), ("nearest", (1, 2, 4), 7), ("nearest-exact", (1, 2, 3, 4), (5, 3)),
               ("linear", (1, 2, 4), 7), ("bilinear", (1, 2, 3, 4), (2, 7))]


@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
@pytest.mark.parametrize("mode, shape, size", MODE_INPUTS)
def test_interpolate_every_integer_dtype(dtype, mode, shape, size):
    """Each integer dtype and mode: torch's answer where torch has one (uint8: nearest and bilinear);
    where torch refuses, the linear modes are refused too (NotImplementedError, torch's class), and
    nearest, a copy of pixels with no arithmetic, gives exactly torch's float answer in the input's dtype."""
    x = (np.arange(np.prod(shape)).reshape(shape) * 37 % 250).astype(dtype)
    try:
        want = TF.interpolate(torch.tensor(x), size=size, mode=mode).numpy()
    except NotImplementedError:
        want = None
    if want is None and not mode.startswith("nearest"):
        with pytest.raises(NotImplementedError,
                           match=rf"interpolate: mode '{mode}' is not implemented for dtype {dtype}"):
            F.interpolate(tl.Tensor(x), size=size, mode=mode)
        return
    got = F.interpolate(tl.Tensor(x), size=size, mode=mode)
    if want is None:
        want = TF.interpolate(torch.tensor(x.astype(np.float64)), size=size, mode=mode).numpy().astype(dtype)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("kwargs", [{"size": (2 ** 63, 1)}, {"size": (10 ** 5, 10 ** 5)},
                                    {"scale_factor": 1e300}, {"size": (2 ** 40, 1), "mode": "bilinear"}])
def test_interpolate_refuses_a_size_past_the_bound_before_allocating(kwargs):
    """torch refuses these; we returned a (1, 1, 0, 1) tensor for 2**63 (NumPy's wrap-around) or
    allocated until the machine gave up. The bound is named and nothing is allocated."""
    peak, outcome = peak_bytes(lambda: F.interpolate(tl.ones(1, 1, 4, 4), **kwargs))
    assert isinstance(outcome, tl.SizeError) and isinstance(outcome, RuntimeError), outcome
    assert "MAX_ELEMENTS" in str(outcome) and "interpolate" in str(outcome)
    assert peak < 1_000_000
    with pytest.raises(ValueError, match=r"scale_factor must be finite"):
        F.interpolate(tl.ones(1, 1, 4, 4), scale_factor=float("inf"))
