"""interpolate (nearest, nearest-exact, linear, bilinear; align_corners) and nn.Upsample against torch."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
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
    tl.gradcheck(lambda x: F.interpolate(x, scale_factor=(1.5, 2.5), mode="bilinear"), rng.standard_normal((1, 2, 3, 4)))
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
    with pytest.raises(ValueError, match=r"interpolate: mode must be one of .*got 'bicubic'"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(tl.ShapeError, match=r"interpolate: mode 'bilinear' needs a 4-D input .* got a 3-D input"):
        F.interpolate(tl.zeros(1, 2, 4), size=3, mode="bilinear")
    with pytest.raises(tl.ShapeError, match=r"interpolate: mode 'linear' needs a 3-D input"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(ValueError, match=r"align_corners can only be set with the linear modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match=r"interpolate: size must be a positive number or 2 of them .* got \(3, 0\)"):
        F.interpolate(x, size=(3, 0))
    with pytest.raises(ValueError, match=r"interpolate: scale_factor must be a positive number or 2 of them"):
        F.interpolate(x, scale_factor=(2, 2, 2))
    with pytest.raises(tl.ShapeError, match=r"interpolate: scale_factor 0.1 makes the input \(4, 4\) \(0, 0\)"):
        F.interpolate(x, scale_factor=0.1)
