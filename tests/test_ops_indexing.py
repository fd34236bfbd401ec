"""Indexing and rearranging ops (flip ... nonzero) against torch: forward and the gradient through a
random cotangent (float64 and float32), second derivatives (linear ops: the cotangent moved back),
the Tensor methods, and errors for bad arguments."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn.functional as F
import tinygrad_lite as tl
from tests.costs import peak_bytes
from tests.torch_oracle import arrays, check_double_backward, check_op, op_settings, random_array, shapes

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")

MASK = np.random.default_rng(5).random((3, 4)) < 0.5
INDEX = np.array([[2, 0, 1, 1], [0, 0, 2, 1]])
CASES = [   # name, input shape, ours, torch's (None: the same lambda)
    ("flip", (3, 4, 2), lambda x: x.flip((0, 2)), None),
    ("flip_int", (3, 4), lambda x: x.flip(1), lambda x: x.flip(1)),
    ("roll", (3, 4), lambda x: x.roll(1, 1), None),
    ("roll_pairs", (3, 4, 2), lambda x: x.roll((-2, 5), (0, 1)), None),
    ("roll_flat", (3, 4), lambda x: x.roll(3), None),
    ("tril", (4, 5), lambda x: x.tril(), None),
    ("tril_batch", (2, 4, 3), lambda x: x.tril(-1), None),
    ("triu", (4, 5), lambda x: x.triu(1), None),
    ("masked_fill", (3, 4), lambda x: x.masked_fill(tl.Tensor(MASK), -2.5),
     lambda x: x.masked_fill(torch.from_numpy(MASK), -2.5)),
    ("masked_fill_broadcast", (2, 3, 4), lambda x: x.masked_fill(tl.Tensor(MASK[0]), 0.0),
     lambda x: x.masked_fill(torch.from_numpy(MASK[0]), 0.0)),
    ("split", (5, 3), lambda x: x.split(2), None),
    ("split_sections", (3, 6), lambda x: x.split([1, 3, 2], dim=1), None),
    ("chunk", (7, 2), lambda x: x.chunk(3), None),
    ("chunk_dim", (2, 5), lambda x: x.chunk(2, dim=1), None),
    ("repeat", (2, 3), lambda x: x.repeat(2, 3), None),
    ("repeat_new_axes", (3,), lambda x: x.repeat(2, 1, 2), None),
    ("repeat_interleave", (2, 3), lambda x: x.repeat_interleave(2, dim=1), None),
    ("repeat_interleave_counts", (3, 2), lambda x: x.repeat_interleave(tl.Tensor(np.array([1, 0, 3])), dim=0),
     lambda x: x.repeat_interleave(torch.tensor([1, 0, 3]), dim=0)),
    ("repeat_interleave_flat", (2, 2), lambda x: x.repeat_interleave(3), None),
    ("gather", (3, 4), lambda x: x.gather(0, tl.Tensor(INDEX)), lambda x: x.gather(0, torch.from_numpy(INDEX))),
    ("gather_dim1", (2, 5), lambda x: x.gather(1, tl.Tensor(INDEX[:, :3] + 1)),
     lambda x: x.gather(1, torch.from_numpy(INDEX[:, :3] + 1))),
    ("diagonal", (4, 3), lambda x: x.diagonal(), None),
    ("diagonal_offset", (2, 4, 5), lambda x: x.diagonal(1, 1, 2), None),
    ("diagonal_negative", (3, 4, 2), lambda x: x.diagonal(-1, 0, 1), None),
    ("unflatten", (2, 6), lambda x: x.unflatten(1, (2, -1)), None),
    ("masked_select", (3, 4), lambda x: x.masked_select(tl.Tensor(MASK)),
     lambda x: x.masked_select(torch.from_numpy(MASK))),
    ("masked_select_broadcast", (2, 3, 4), lambda x: x.masked_select(tl.Tensor(MASK)),
     lambda x: x.masked_select(torch.from_numpy(MASK))),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, shape, fn, torch_fn", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_op_matches_torch(name, shape, fn, torch_fn, dtype):
    check_op([shape], fn, torch_fn=torch_fn, dtype=dtype)


@pytest.mark.parametrize("name, shape, fn, torch_fn", [c for c in CASES if not c[0].startswith(("split", "chunk"))],
                         ids=[c for c in IDS if not c.startswith(("split", "chunk"))])
def test_second_derivative_matches_torch(name, shape, fn, torch_fn):
    reference = torch_fn or fn
    check_double_backward([random_array(shape)], lambda x: fn(x) * fn(x), lambda x: reference(x) * reference(x))


@op_settings
@given(data=st.data())
def test_flip_roll_repeat_and_triangles_on_drawn_shapes_match_torch(data):
    shape = data.draw(shapes(min_dims=2, max_dims=3))
    x = data.draw(arrays(shape))
    ndim = len(shape)
    dims = tuple(data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
    shifts = tuple(data.draw(st.integers(-5, 5)) for _ in dims)
    sizes = tuple(data.draw(st.integers(0, 2)) for _ in range(ndim + data.draw(st.integers(0, 1))))
    k = data.draw(st.integers(-3, 3))
    check_op([x], lambda t: t.flip(dims))
    check_op([x], lambda t: t.roll(shifts, dims))
    check_op([x], lambda t: t.repeat(*sizes))
    check_op([x], lambda t: (t.tril(k), t.triu(k)))
    check_op([x], lambda t: t.diagonal(k, 0, ndim - 1))


@op_settings
@given(data=st.data())
def test_gather_on_drawn_indices_matches_torch(data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(data.draw(st.integers(1, 4)) if d == dim % len(shape) else data.draw(st.integers(1, n))
                        for d, n in enumerate(shape))
    index = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, shape[dim], index_shape)
    check_op([data.draw(arrays(shape))], lambda t: t.gather(dim, tl.Tensor(index)),
             torch_fn=lambda t: t.gather(dim, torch.from_numpy(index)))


def test_one_hot_and_nonzero_match_torch():
    y = np.array([[0, 3], [2, 1]])
    for args in [(), (5,)]:
        ours = F.one_hot(tl.Tensor(y), *args)
        theirs = torch.nn.functional.one_hot(torch.from_numpy(y), *args)
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    np.testing.assert_array_equal(tl.Tensor(x).nonzero().numpy(), torch.from_numpy(x).nonzero().numpy())
    for ours, theirs in zip(tl.Tensor(x).nonzero(as_tuple=True), torch.from_numpy(x).nonzero(as_tuple=True)):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("value", [5.0, 0.0, -2, 0, True, False])
def test_nonzero_of_a_0d_tensor_is_torchs(value):
    """A 0-d tensor is one position with no coordinates: (1, 0) where it is nonzero, (0, 0) where it
    is not (NumPy refuses a 0-d input)."""
    ours, theirs = tl.Tensor(value).nonzero(), torch.tensor(value).nonzero()
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.int64
    (ours,), (theirs,) = tl.Tensor(value).nonzero(as_tuple=True), torch.tensor(value).nonzero(as_tuple=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("dtype", ["bool", "int32", "uint8", "float16", "float64"])
@pytest.mark.parametrize("op", ["tril", "triu"])
def test_triangles_keep_the_dtype_like_torch(dtype, op):
    """tril / triu of a bool tensor were int64; torch keeps every dtype."""
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    for diagonal in (-1, 0, 2):
        ours, theirs = getattr(tl.Tensor(x), op)(diagonal), getattr(torch.from_numpy(x.copy()), op)(diagonal)
        assert str(theirs.dtype) == f"torch.{ours.dtype}"
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("op", ["scatter_add", "scatter"])
def test_scatter_src_of_another_dtype_is_refused_like_torch(op):
    """float32 into float16 was rounded silently (promoted); torch refuses the mixed dtypes."""
    index = np.array([0, 2])
    with pytest.raises(RuntimeError, match="Expected self.dtype to be equal to src.dtype"):
        getattr(torch.zeros(3, dtype=torch.float16), op)(0, torch.from_numpy(index), torch.ones(2))
    with pytest.raises(TypeError, match=rf"{op}: src has dtype float32 but x has float16; they must be the same"):
        getattr(tl.zeros(3, dtype="float16"), op)(0, tl.Tensor(index), tl.ones(2))


def test_functions_are_the_methods():
    x = tl.Tensor(random_array((3, 4)))
    np.testing.assert_array_equal(tl.flip(x, 0).numpy(), x.flip(0).numpy())
    np.testing.assert_array_equal(tl.gather(x, 1, INDEX[:, :2]).numpy(), x.gather(1, INDEX[:, :2]).numpy())


def test_errors_name_the_argument():
    x = tl.Tensor(random_array((3, 4)))
    with pytest.raises(tl.ShapeError, match=r"flip: dims must be an int in \[-2, 2\)"):
        x.flip(2)
    with pytest.raises(ValueError, match="roll: shifts and dims must have the same length"):
        x.roll((1, 2), 0)
    with pytest.raises(tl.ShapeError, match="tril: input must have at least 2 dimensions"):
        tl.Tensor([1.0]).tril()
    with pytest.raises(TypeError, match="masked_fill: mask must be a bool tensor"):
        x.masked_fill(tl.Tensor(np.zeros((3, 4))), 1.0)
    with pytest.raises(tl.ShapeError, match=r"masked_fill: mask of shape \(2,\) does not broadcast"):
        x.masked_fill(np.array([True, False]), 1.0)
    with pytest.raises(ValueError, match=r"split: sections \[1, 1\] must be non-negative and add up to the length 3"):
        x.split([1, 1])
    with pytest.raises(ValueError, match="chunk: chunks must be a positive int"):
        x.chunk(0)
    with pytest.raises(tl.ShapeError, match="repeat: sizes must be 2 or more"):
        x.repeat(2)
    with pytest.raises(IndexError, match=r"gather: index values must lie in \[0, 3\)"):
        x.gather(0, np.array([[3]]))
    with pytest.raises(tl.ShapeError, match="gather: index of shape"):
        x.gather(0, np.array([0, 1]))
    with pytest.raises(ValueError, match="diagonal: dim1 and dim2 must differ"):
        x.diagonal(0, 1, 1)
    with pytest.raises(ValueError, match=r"one_hot: labels must lie in \[0, num_classes=2\)"):
        F.one_hot(np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="repeat_interleave: repeats must be"):
        x.repeat_interleave(np.array([1, 2]), dim=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_scatter_add_on_drawn_indices_matches_torch(dtype, data):
    """Repeated indices add up. (torch reads only index's corner of a larger src, but its backward then
    fails on the shape, so src here has index's shape.)"""
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(data.draw(st.integers(1, 4)) if d == dim % len(shape) else data.draw(st.integers(1, n))
                        for d, n in enumerate(shape))
    src_shape = index_shape
    index = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, shape[dim], index_shape)
    check_op([data.draw(arrays(shape)), data.draw(arrays(src_shape))],
             lambda x, s: x.scatter_add(dim, tl.Tensor(index), s),
             torch_fn=lambda x, s: x.scatter_add(dim, torch.from_numpy(index), s), dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_scatter_on_drawn_distinct_indices_matches_torch(dtype, data):
    """Each position written at most once (a permutation's first rows along dim): x's gradient is 0
    where src was written, src's is gy gathered there."""
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1)) % len(shape)
    rows = data.draw(st.integers(1, shape[dim]))
    index_shape = tuple(rows if d == dim else data.draw(st.integers(1, n)) for d, n in enumerate(shape))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    index = np.moveaxis(np.argsort(rng.random(np.moveaxis(np.zeros(shape), dim, -1).shape), axis=-1), -1, dim)
    index = index[tuple(slice(n) for n in index_shape)]
    check_op([data.draw(arrays(shape)), data.draw(arrays(index_shape))],
             lambda x, s: x.scatter(dim, tl.Tensor(index), s),
             torch_fn=lambda x, s: x.scatter(dim, torch.from_numpy(index), s), dtype=dtype)
    check_op([data.draw(arrays(shape))], lambda x: x.scatter(dim, tl.Tensor(index), -1.5),
             torch_fn=lambda x: x.scatter(dim, torch.from_numpy(index), -1.5), dtype=dtype)


def test_scatter_second_derivative_and_errors():
    check_double_backward([random_array((3, 4)), random_array((2, 4))],
                          lambda x, s: (x.scatter_add(0, tl.Tensor(INDEX), s) ** 2).sum(),
                          lambda x, s: (x.scatter_add(0, torch.from_numpy(INDEX), s) ** 2).sum())
    x = tl.zeros(3, 4)
    with pytest.raises(ValueError, match="more than once"):
        x.scatter(0, tl.Tensor(INDEX), tl.ones(2, 4))
    with pytest.raises(IndexError, match=r"index values must lie in \[0, 3\)"):
        x.scatter_add(0, tl.Tensor(INDEX + 1), tl.ones(2, 4))
    with pytest.raises(tl.ShapeError, match="src of shape"):
        x.scatter_add(0, tl.Tensor(INDEX), tl.ones(1, 4))
    with pytest.raises(TypeError, match="index must hold integers"):
        x.scatter_add(0, tl.Tensor(INDEX.astype(float)), tl.ones(2, 4))


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data(), include_self=st.booleans(), ties=st.booleans())
def test_scatter_reduce_on_drawn_indices_matches_torch(reduce, dtype, data, include_self, ties):
    """Every reduction, with and without x's own element, repeated indices and (``ties``) values on a
    coarse grid, so equal maxima and exact zeros (prod's hard case) occur."""
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(data.draw(st.integers(1, 4)) if d == dim % len(shape) else data.draw(st.integers(1, n))
                        for d, n in enumerate(shape))
    index = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, shape[dim], index_shape)
    x, src = data.draw(arrays(shape)), data.draw(arrays(index_shape))
    if ties:
        x, src = np.round(x), np.round(src)
    if reduce == "prod" and dtype == "float32":
        # torch's prod gradient is gy * result / src: with |v| near 1e-45 that product underflows to 0
        # where ours (the product of the others) is exact; below 1e-6, five factors and gy could leave
        # float32's normal range, so such values are drawn as 0, prod's exact hard case
        x, src = (np.where(np.abs(v) < 1e-6, 0.0, v) for v in (x, src))
    check_op([x, src], lambda x, s: x.scatter_reduce(dim, tl.Tensor(index), s, reduce, include_self=include_self),
             torch_fn=lambda x, s: x.scatter_reduce(dim, torch.from_numpy(index), s, reduce, include_self=include_self),
             dtype=dtype)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_second_derivative_integers_and_errors(reduce, include_self):
    kwargs = {"include_self": include_self}
    check_double_backward([random_array((3, 4), "nonzero"), random_array((2, 4), "nonzero", np.random.default_rng(1))],
                          lambda x, s: x.scatter_reduce(0, tl.Tensor(INDEX), s, reduce, **kwargs) ** 2,
                          lambda x, s: x.scatter_reduce(0, torch.from_numpy(INDEX), s, reduce, **kwargs) ** 2)
    x, src = np.array([[5, -3, 7, 1], [2, 2, 0, 9], [1, 1, 1, 1]]), np.array([[4, -8, 3, 3], [6, 5, 0, -2]])
    check_op([x, src], lambda x, s: x.scatter_reduce(0, tl.Tensor(INDEX), s, reduce, **kwargs),
             torch_fn=lambda x, s: x.scatter_reduce(0, torch.from_numpy(INDEX), s, reduce, **kwargs))
    with pytest.raises(NotImplementedError, match=r"scatter_reduce: reduce must be one of .* got 'max'"):
        tl.zeros(3, 4).scatter_reduce(0, tl.Tensor(INDEX), tl.ones(2, 4), "max")


def test_repeat_refuses_an_output_past_the_bound_before_allocating():
    for call in (lambda: tl.ones(2, 2).repeat(10 ** 5, 10 ** 5), lambda: tl.ones(3).repeat_interleave(10 ** 10)):
        peak, outcome = peak_bytes(call)
        assert isinstance(outcome, tl.SizeError) and "MAX_ELEMENTS" in str(outcome), outcome
        assert peak < 1_000_000


def test_every_op_checks_its_axis_by_the_one_rule():
    """sum, flip, squeeze, cumsum, concatenate and F.normalize share one axis check: the same words."""
    x = tl.Tensor(random_array((3, 4)))
    calls = {"sum": lambda: x.sum(axis=(0, 2)), "flip": lambda: x.flip((0, 2)), "squeeze": lambda: x.squeeze((0, 2)),
             "cumsum": lambda: x.cumsum(2), "concatenate": lambda: tl.concatenate([x, x], axis=2),
             "normalize": lambda: F.normalize(x, dim=2)}
    for op, call in calls.items():
        with pytest.raises(tl.ShapeError, match=rf"^{op}: \w+ must be an int in \[-2, 2\) for a 2-d tensor, got"):
            call()
    for op, call in {"sum": lambda: x.sum(axis=(1, -1)), "flip": lambda: x.flip((0, -2))}.items():
        with pytest.raises(tl.ShapeError, match=rf"^{op}: \w+ \(\d, -\d\) names the same axis twice"):
            call()
    np.testing.assert_array_equal(x.roll((1, 2), (1, 0)).numpy(), np.roll(x.numpy(), (1, 2), (1, 0)))  # order kept
