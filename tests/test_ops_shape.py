"""Shape ops against torch (forward, backward) and finite differences: reshape, transpose/permute,
swapaxes, squeeze/unsqueeze, flatten, broadcast_to, getitem, concatenate, stack, pad."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_oracle import (arrays, check_double_backward, check_gradcheck, check_op, one_axis, op_settings,
                          random_array, shapes, torch)

import nn.functional as F
import tinygrad_lite as tl


def other_shapes_of_size(shape):
    """Shapes holding as many elements as ``shape`` (with a -1 among them)."""
    n = int(np.prod(shape))
    options = [(n,), (-1,), tuple(reversed(shape)), (1, n, 1)]
    options += [(d, n // d) for d in range(1, n + 1) if n % d == 0]
    return st.sampled_from(options)


@op_settings
@given(data=st.data())
def test_reshape(device, data):
    shape = data.draw(shapes())
    new = data.draw(other_shapes_of_size(shape))
    check_op([data.draw(arrays(shape))], lambda x: x.reshape(new), device=device)
    if new:    # torch's reshape needs at least one argument
        check_op([data.draw(arrays(shape))], lambda x: x.reshape(*new), device=device)


@op_settings
@given(data=st.data())
def test_permute_and_transpose(device, data):
    shape = data.draw(shapes(min_dims=1, max_dims=4))
    order = data.draw(st.permutations(range(len(shape))))
    x = data.draw(arrays(shape))
    check_op([x], lambda t: t.permute(*order), device=device)
    if len(shape) != 2:   # two axes mean "swap these two" (torch), not a permutation
        check_op([x], lambda t: tl.transpose(t, order), lambda t: t.permute(*order), device=device)
    reverse = tuple(reversed(range(len(shape))))
    check_op([x], lambda t: t.transpose(), lambda t: t.permute(*reverse), device=device)


@op_settings
@given(data=st.data())
def test_swapaxes_and_two_axis_transpose(device, data):
    shape = data.draw(shapes(min_dims=1, max_dims=4))
    a, b = data.draw(one_axis(len(shape))), data.draw(one_axis(len(shape)))
    x = data.draw(arrays(shape))
    check_op([x], lambda t: t.swapaxes(a, b), device=device)
    check_op([x], lambda t: t.transpose(a, b), device=device)


def test_matrix_transpose_and_T(device):
    check_op([(3, 4)], lambda x: x.transpose(1, 0), device=device)
    check_op([(3, 4)], lambda x: x.T, device=device)


@op_settings
@given(data=st.data())
def test_squeeze_unsqueeze(device, data):
    shape = data.draw(shapes(min_dims=1, max_dims=4, max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    x = data.draw(arrays(shape))
    check_op([x], lambda t: t.squeeze(), device=device)
    if ones:
        picked = tuple(data.draw(st.lists(st.sampled_from(ones), min_size=1, unique=True)))
        check_op([x], lambda t: t.squeeze(axis=picked), lambda t: t.squeeze(picked), device=device)
        check_op([x], lambda t: t.squeeze(axis=picked[0] - len(shape)),
                 lambda t: t.squeeze(picked[0] - len(shape)), device=device)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check_op([x], lambda t: t.unsqueeze(axis), device=device)


@op_settings
@given(data=st.data())
def test_flatten(device, data):
    shape = data.draw(shapes(min_dims=1, max_dims=4))
    start = data.draw(st.integers(0, len(shape) - 1))
    end = data.draw(st.integers(start, len(shape) - 1))
    x = data.draw(arrays(shape))
    check_op([x], lambda t: t.flatten(start, end), device=device)
    check_op([x], lambda t: t.flatten(), device=device)


@op_settings
@given(data=st.data())
def test_broadcast_to(device, data):
    shape = data.draw(shapes())
    target = np.broadcast_shapes(shape, data.draw(hnp.broadcastable_shapes(shape, max_side=3)))
    check_op([data.draw(arrays(shape))], lambda x: x.broadcast_to(target), device=device)
    check_op([data.draw(arrays(shape))], lambda x: tl.broadcast_to(x, target),
             lambda x: torch.broadcast_to(x, target), device=device)


# ---- getitem ------------------------------------------------------------------------------------------

@op_settings
@given(data=st.data())
def test_getitem_basic_indices_against_numpy(device, data):
    """Slices with any step (torch refuses negative steps, so NumPy is the oracle), ints, None, ``...``."""
    shape = data.draw(shapes(min_dims=1))
    index = data.draw(hnp.basic_indices(shape, allow_newaxis=True))
    x_array = data.draw(arrays(shape))
    x = tl.Tensor(x_array, requires_grad=True, device=device)
    y = x[index]
    np.testing.assert_array_equal(y.numpy(), x_array[index])
    g = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(g)
    expected = np.zeros(shape)
    expected[index] += g
    np.testing.assert_array_equal(x.grad.numpy(), expected)


@op_settings
@given(data=st.data())
def test_getitem_integer_arrays_with_repeats(device, data):
    shape = data.draw(shapes(min_dims=1))
    index = data.draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(max_dims=2, max_side=5)))
    check_op([data.draw(arrays(shape))], lambda x: x[index],
             lambda x: x[tuple(torch.from_numpy(i) for i in index)], device=device)


@op_settings
@given(data=st.data())
def test_getitem_boolean_mask(device, data):
    shape = data.draw(shapes(min_dims=1))
    mask_shape = shape[:data.draw(st.integers(1, len(shape)))]
    mask = data.draw(hnp.arrays(np.bool_, mask_shape))
    check_op([data.draw(arrays(shape))], lambda x, mask: x[mask], extra={"mask": mask}, device=device)
    check_op([data.draw(arrays(shape))], lambda x: x[mask], lambda x: x[torch.from_numpy(mask)], device=device)


INDICES = {
    "int": 1, "negative int": -1, "slice": slice(1, None), "int and slice": (0, slice(None, 2)),
    "ellipsis": (Ellipsis, 1), "newaxis": (None, 1), "list with repeats": [0, 0, 2],
    "two lists": ([0, 0, 2], [1, 1, 3]), "slice and list": (slice(1, None), [3, 0, 3]),
}


@pytest.mark.parametrize("name", INDICES)
def test_getitem_cases(name, device):
    index = INDICES[name]
    check_op([(3, 4)], lambda x: x[index], device=device)


def test_getitem_nested_list_is_one_integer_array(device):
    """As in NumPy, x[[[0, 2], [2, 2]]] picks rows by a (2, 2) array (torch wants a tensor for that)."""
    rows = [[0, 2], [2, 2]]
    check_op([(3, 4)], lambda x: x[rows], lambda x: x[torch.tensor(rows)], device=device)


def test_getitem_with_tensor_indices(device):
    rows = np.array([2, 0, 2])
    check_op([(3, 4)], lambda x, rows: x[rows], extra={"rows": rows}, device=device)
    check_op([(3, 4)], lambda x, rows: x[rows, 1:], extra={"rows": rows}, device=device)


# ---- joining and padding -------------------------------------------------------------------------------

@op_settings
@given(data=st.data(), count=st.integers(1, 3))
def test_concatenate(device, data, count):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(one_axis(len(shape)))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    parts = [data.draw(arrays(shape[:axis % len(shape)] + (n,) + shape[axis % len(shape) + 1:])) for n in sizes]
    check_op(parts, lambda *xs: tl.concatenate(xs, axis=axis), lambda *xs: torch.cat(xs, dim=axis), device=device)


@op_settings
@given(data=st.data(), count=st.integers(1, 3))
def test_stack(device, data, count):
    shape = data.draw(shapes())
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    parts = [data.draw(arrays(shape)) for _ in range(count)]
    check_op(parts, lambda *xs: tl.stack(xs, axis=axis), lambda *xs: torch.stack(xs, dim=axis), device=device)


def torch_pad(x, width, value):
    """numpy.pad's ((before, after), ...) per axis as torch's flat list, last axis first."""
    flat = [n for pair in reversed(width) for n in pair]
    return torch.nn.functional.pad(x, flat, value=value)


@op_settings
@given(data=st.data(), value=st.sampled_from([0.0, -1.5]))
def test_pad(device, data, value):
    shape = data.draw(shapes(min_dims=1))
    width = [tuple(data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2))) for _ in shape]
    check_op([data.draw(arrays(shape))], lambda x: tl.pad(x, width, value), lambda x: torch_pad(x, width, value),
             device=device)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_negative_pad_widths_crop_like_torch(device, mode, dtype, data):
    """A negative width crops its side first, then the positive ones pad what is left (torch's
    F.pad; NumPy refuses). Every mode, forward and gradient."""
    shape = (1, 2) + tuple(data.draw(st.integers(3, 6)) for _ in range(data.draw(st.integers(1, 2))))
    flat = []
    for n in reversed(shape[2:]):
        left, right = data.draw(st.integers(-1, 2)), data.draw(st.integers(-1, 2))
        kept = n + min(left, 0) + min(right, 0)                   # what is left to pad from: >= 1 here
        reach = {"reflect": kept - 1, "circular": kept}.get(mode, 2)   # how far past an edge a mode reads
        flat += [min(left, reach), min(right, reach)]
    check_op([data.draw(arrays(shape))], lambda x: F.pad(x, flat, mode=mode),
             lambda x: torch.nn.functional.pad(x, flat, mode=mode), dtype=dtype, device=device)


def test_negative_pad_second_derivative_and_too_much_cropping():
    check_double_backward([random_array((2, 5, 4))], lambda x: F.pad(x, (-1, 2, 1, -3)) ** 2,
                          lambda x: torch.nn.functional.pad(x, (-1, 2, 1, -3)) ** 2)
    np.testing.assert_array_equal(tl.pad(tl.Tensor(np.arange(6.0)), -2).numpy(), [2.0, 3.0])   # NumPy's form
    with pytest.raises(RuntimeError):
        torch.nn.functional.pad(torch.zeros(3, 4), (-3, -2))
    with pytest.raises(RuntimeError,
                       match=r"pad: pad_width .* crops 3 \+ 2 elements from axis 1 of length 4; at most 4"):
        F.pad(tl.zeros(3, 4), (-3, -2))


def test_pad_forms_and_method(device):
    check_op([(2, 3)], lambda x: x.pad(1), lambda x: torch_pad(x, [(1, 1), (1, 1)], 0.0), device=device)
    check_op([(2, 3)], lambda x: x.pad((0, 2)), lambda x: torch_pad(x, [(0, 2), (0, 2)], 0.0), device=device)


def test_cat_alias(device):
    check_op([(2, 3), (1, 3)], lambda a, b: tl.cat([a, b]), lambda a, b: torch.cat([a, b]), device=device)


def test_shape_errors_name_the_op_and_shapes():
    x = tl.zeros(2, 3)
    with pytest.raises(tl.ShapeError, match=r"reshape: .*\(2, 3\).*\(4,\)"):
        x.reshape(4)
    with pytest.raises(tl.ShapeError, match=r"broadcast_to: shape \(2, 3\) cannot be broadcast to \(3, 3\)"):
        x.broadcast_to((3, 3))
    with pytest.raises(tl.ShapeError, match=r"squeeze: axis 0 has size 2"):
        x.squeeze(0)
    with pytest.raises(tl.ShapeError, match=r"concatenate: shapes \[\(2, 3\), \(2, 2\)\]"):
        tl.concatenate([x, tl.zeros(2, 2)])
    with pytest.raises(tl.ShapeError, match=r"stack: .*\(2, 3\), \(3, 2\)"):
        tl.stack([x, tl.zeros(3, 2)])
    with pytest.raises(tl.ShapeError, match=r"permute: .*\(0, 1\), got \(0, 0\)"):
        x.permute(0, 0)


# ---- finite differences ----------------------------------------------------------------------------

X = random_array((2, 3, 4))
GRADCHECKS = {
    "reshape": lambda x: x.reshape(4, 6), "permute": lambda x: x.permute(2, 0, 1),
    "transpose": lambda x: x.transpose(), "swapaxes": lambda x: x.swapaxes(0, 2),
    "squeeze": lambda x: x[:, :1].squeeze(1), "unsqueeze": lambda x: x.unsqueeze(1),
    "flatten": lambda x: x.flatten(1), "broadcast_to": lambda x: x[:, :1].broadcast_to((5, 2, 3, 4)),
    "getitem basic": lambda x: x[1, ::-2, 1:], "getitem repeats": lambda x: x[[0, 0, 1], :, [3, 3, 0]],
    "getitem mask": lambda x: x[X > 0], "concatenate": lambda x: tl.concatenate([x, x[:, :1] * 2], axis=1),
    "stack": lambda x: tl.stack([x, x * x], axis=-1), "pad": lambda x: x.pad(((0, 1), (2, 0), (1, 1)), 0.5),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    assert check_gradcheck(GRADCHECKS[name], X).ok


def test_transpose_with_two_axes_swaps_them_like_torch():
    """x.transpose(0, 1) swaps a matrix's axes (torch), where NumPy would read it as the identity permutation."""
    x = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(tl.Tensor(x).transpose(0, 1).numpy(), torch.tensor(x).transpose(0, 1).numpy())
    y = np.arange(24.0).reshape(2, 3, 4)
    assert np.array_equal(tl.Tensor(y).transpose(0, 2).numpy(), torch.tensor(y).transpose(0, 2).numpy())
    assert np.array_equal(tl.Tensor(y).transpose(2, 0, 1).numpy(), y.transpose(2, 0, 1))


# ---- target shapes at their edges, against torch ---------------------------------------------------

@pytest.mark.parametrize("shape", [(-2, 3), (-1, -1), (True, 6), (2.0, 3), ("2", 3)])
def test_reshape_refuses_what_torch_refuses(shape):
    """reshape(-2, 3) used to pass (NumPy reads any negative as 'unknown'); True was read as 1."""
    with pytest.raises((TypeError, ValueError), match=r"reshape: shape must be"):
        tl.zeros(6).reshape(*shape)
    with pytest.raises((TypeError, RuntimeError, ValueError)):
        torch.zeros(6).reshape(*shape)


def test_broadcast_to_takes_an_int_like_torch(device):
    check_op([(1,)], lambda x: x.broadcast_to(3), device=device)
    check_op([(2, 1)], lambda x: x.broadcast_to((np.int64(2), 4)), lambda x: x.broadcast_to((2, 4)), device=device)
    with pytest.raises(TypeError, match=r"broadcast_to: shape must be ints, got \(2.5,\)"):
        tl.zeros(1).broadcast_to((2.5,))
    with pytest.raises(ValueError, match=r"broadcast_to: shape must be non-negative ints, got \(-1,\)"):
        tl.zeros(1).broadcast_to(-1)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_pad_modes_match_torch(device, mode, dtype, data):
    """torch pads the last one or two axes of a (N, C, W) / (N, C, H, W) tensor in these modes; reflect
    takes at most n - 1 on a side, circular at most n."""
    spatial = data.draw(st.integers(1, 2))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))) + tuple(
        data.draw(st.integers(2, 5)) for _ in range(spatial))
    limit = {"reflect": -1, "replicate": 3, "circular": 0}[mode]
    flat = [data.draw(st.integers(0, min(3, n + limit) if mode != "replicate" else 3))
            for n in reversed(shape[2:]) for _ in range(2)]
    check_op([data.draw(arrays(shape))], lambda x: F.pad(x, flat, mode=mode),
             lambda x: torch.nn.functional.pad(x, flat, mode=mode), dtype=dtype, device=device)


def test_pad_modes_second_derivative_and_errors():
    check_double_backward([random_array((1, 2, 4, 3))], lambda x: F.pad(x, (2, 1, 1, 3), mode="reflect") ** 2,
                          lambda x: torch.nn.functional.pad(x, (2, 1, 1, 3), mode="reflect") ** 2)
    x = tl.zeros(1, 1, 3)
    with pytest.raises(ValueError, match=r"reflect padding of axis 2 \(length 3\) must be at most 2"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode must be one of"):
        x.pad(1, mode="mirror")
    with pytest.raises(ValueError, match="two widths per padded axis"):
        F.pad(x, (1, 2, 3))
