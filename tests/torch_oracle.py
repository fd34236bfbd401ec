"""PyTorch as the referee: run one computation in tinygrad_lite and in torch, compare everything.

The helper (in the style of tinygrad's ``helper_test_op``)::

    check_op([(3, 4), (4,)], lambda a, b: (a * b).sum(axis=1))              # shapes: random inputs
    check_op([x_array], lambda x: x.log(), domain="positive")               # given arrays
    check_op([(2, 3)], lambda x: x.max(axis=1),                             # APIs differ: a pair
             torch_fn=lambda x: x.max(dim=1).values)
    check_op([(4, 3)], lambda x, w, b: x @ w + b,                           # extra named tensors
             extra={"w": w_array, "b": b_array}, dtype="float32")

``check_op`` builds the inputs (from shapes, drawn in ``domain``, or from arrays) as tinygrad_lite
tensors on ``device`` and as torch CPU tensors, runs ``fn`` (or ``fn`` and ``torch_fn``) on both,
and compares

* the forward outputs (one tensor or a tuple/list of them), values, shapes and dtypes;
* the gradient of every floating input and every floating ``extra`` tensor, after a backward pass
  seeded with the same random upstream gradient on both sides (so every output element counts);
* that each gradient has its input's shape and dtype (float32 in -> float32 gradient).

The default is float64 with rtol 1e-7, atol 1e-10; float32 runs get rtol 1e-5, atol 1e-6 unless
overridden: ample for element-wise ops and short sums (a few float32 roundings are ~1e-7 relative).
Where outputs are long sums of products, which each library orders its own way (BLAS blocking,
im2col, FMA), pass ``bound="multilinear"``: both sides are then held to the error bound of such sums
(``tests/bounds.py``), computed for this very input, instead. A mismatch raises ``AssertionError``
naming the input and the worst element.
It returns an ``OracleResult`` with both sides' outputs and gradients as NumPy arrays, for any
further checks the test wants.

``check_double_backward(arrays, fn, torch_fn)`` compares second derivatives the same way (through
``backward(create_graph=True)`` and ``torch.autograd.grad(..., create_graph=True)``).

The hypothesis strategies at the bottom draw shapes, broadcastable pairs, axes and values in an
op's safe *domain* (away from kinks and singularities, minitorch style); see ``DOMAINS``.
"""
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_lite as tl
from bounds import assert_within, gamma, unit_roundoff

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")

# Health checks suppressed for op tests: the `device` fixture is function-scoped but only names a device.
op_settings = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                              HealthCheck.data_too_large, HealthCheck.filter_too_much])

TOLERANCES = {"float64": (1e-7, 1e-10), "float32": (1e-5, 1e-6)}

# ---- value domains: each maps uniform draws in [-1, 1] into the safe region of some op --------------
# 'real' for smooth ops; 'nonzero' keeps |x| >= 0.1 (abs, relu, divisors, clip kinks shifted by
# the test); 'positive' is [0.1, 3] (log, sqrt, a base under a tensor exponent); 'unit' is [-1, 1].
DOMAINS = {
    "real": lambda u: 3.0 * u,
    "unit": lambda u: u,
    "nonzero": lambda u: np.where(u >= 0, 1.0, -1.0) * (0.1 + 2.4 * np.abs(u)),
    "positive": lambda u: 0.1 + 1.45 * (u + 1.0),
}


def random_array(shape, domain="real", rng=None, dtype="float64"):
    """An array of ``shape`` in ``domain``, from a NumPy generator (seeded 0 by default)."""
    rng = np.random.default_rng(0) if rng is None else rng
    return DOMAINS[domain](rng.uniform(-1.0, 1.0, size=shape)).astype(dtype)


@dataclass
class OracleResult:
    """What both frameworks computed, as NumPy arrays (outputs are lists; grads keyed by input name)."""
    outputs: list
    torch_outputs: list
    grads: dict = field(default_factory=dict)
    torch_grads: dict = field(default_factory=dict)


def _as_list(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _is_float(array):
    return np.asarray(array).dtype.kind == "f"


def _assert_close(name, got, want, rtol, atol):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != torch's {want.shape}"
    if got.size and not np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        err = np.abs(got.astype(np.float64) - want.astype(np.float64))
        err = np.where(np.isnan(err), np.inf, err)
        worst = np.unravel_index(np.argmax(err), err.shape) if err.ndim else ()
        raise AssertionError(f"{name}: differs from torch (rtol={rtol}, atol={atol}); worst element "
                             f"{tuple(int(i) for i in worst)}: ours {got[worst]!r}, torch {want[worst]!r}"
                             f"\nours:\n{got}\ntorch:\n{want}")


def check_op(inputs, fn, torch_fn=None, *, extra=None, domain="real", dtype="float64", device="cpu",  # noqa: PLR0915  (the oracle's steps in order)
             rtol=None, atol=None, grad_rtol=None, grad_atol=None, forward_only=False,
             requires_grad=None, seed=0, bound=None):
    """Compare ``fn`` in tinygrad_lite against ``torch_fn`` (default: ``fn`` itself) in torch.

    inputs:        a list of shapes (tuples; random values from ``domain``) or arrays (used as given;
                   integer arrays stay integer and get no gradient).
    fn, torch_fn:  called as ``fn(*inputs, **extra)`` with Tensors of each framework; return one
                   tensor or a tuple/list of tensors (non-float outputs are compared forward only).
    extra:         ``{name: shape or array}``, passed as keyword tensors; float ones get gradients too.
    dtype:         'float64' (default) or 'float32', for inputs built from shapes and float arrays.
    device:        tinygrad_lite device ('cpu' or 'cuda'); torch always runs on the CPU.
    rtol, atol:    forward tolerances (default by dtype, see TOLERANCES); grad_rtol, grad_atol
                   default to the forward ones.
    forward_only:  skip the backward comparison.
    requires_grad: a list of bools, one per positional input (default: every float input).
    bound:         "multilinear" for a function whose every output (and gradient) element is a sum of
                   products with one factor from each input (matmul, conv, einsum, linear, and those
                   composed with relu, max-pooling or sums): each side is within gamma(n) * M of the
                   exact value, M the same function run on |inputs| (and |upstream gradient|) in
                   float64, n the number of roundings on any term's way to the result, at most the
                   elements of all inputs together (a summed letter's size is in some input; pairwise
                   contractions add their sizes), one per factor, plus the largest output, whatever
                   order a library sums in; so the two are compared within 2 gamma(n) M
                   (``tests/bounds.py``) instead of rtol / atol.
    """
    dtype = np.dtype(dtype)
    default_rtol, default_atol = TOLERANCES[dtype.name]
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    grad_atol = atol if grad_atol is None else grad_atol
    rng = np.random.default_rng(seed)

    def build(spec):
        if isinstance(spec, tuple):
            return random_array(spec, domain, rng, dtype)
        array = np.asarray(spec.numpy() if isinstance(spec, tl.Tensor) else spec)
        return array.astype(dtype) if _is_float(array) else array

    arrays = {f"input {i}": build(s) for i, s in enumerate(inputs)}
    wants_grad = {name: _is_float(a) for name, a in arrays.items()}
    if requires_grad is not None:
        for name, flag in zip(list(arrays), requires_grad):
            wants_grad[name] = flag and _is_float(arrays[name])
    for name, spec in (extra or {}).items():
        arrays[name] = build(spec)
        wants_grad[name] = _is_float(arrays[name])

    ours = {k: tl.Tensor(a.copy(), requires_grad=wants_grad[k] and not forward_only, dtype=a.dtype,
                         device=device) for k, a in arrays.items()}
    theirs = {k: torch.tensor(a.copy(), requires_grad=wants_grad[k] and not forward_only)
              for k, a in arrays.items()}

    def call(f, tensors):
        positional = [tensors[f"input {i}"] for i in range(len(inputs))]
        keywords = {k: v for k, v in tensors.items() if not k.startswith("input ")}
        return _as_list(f(*positional, **keywords))

    out = call(fn, ours)
    torch_out = call(torch_fn or fn, theirs)
    assert len(out) == len(torch_out), f"{len(out)} outputs, torch has {len(torch_out)}"
    result = OracleResult([o.numpy() for o in out], [t.detach().numpy() for t in torch_out])
    seeds = [rng.standard_normal(tuple(t.shape)).astype(o.dtype) for o, t in zip(out, torch_out) if t.requires_grad]
    limits = None
    if bound == "multilinear":
        limits = _multilinear_bounds(call, torch_fn or fn, arrays, wants_grad, seeds, forward_only, dtype,
                                     [o.size for o in result.outputs])
    elif bound is not None:
        raise ValueError(f"bound must be None or 'multilinear', got {bound!r}")
    for i, (o, t) in enumerate(zip(result.outputs, result.torch_outputs)):
        if limits is not None and _is_float(t):
            assert_within(o, t, limits[f"output {i}"], f"forward output {i} (against torch, within the sums' bound)")
            continue
        _assert_close(f"forward output {i}", o, t, rtol, atol)
        if _is_float(t):
            assert o.dtype == t.dtype, f"forward output {i}: dtype {o.dtype}, torch's {t.dtype}"

    if forward_only or not any(wants_grad.values()):
        return result
    differentiable = [(o, t) for o, t in zip(out, torch_out) if t.requires_grad]
    assert differentiable, "no output of the torch function requires grad"
    ours_loss, theirs_loss = None, None
    for (o, t), seed_grad in zip(differentiable, seeds):
        term_ours = (o * tl.Tensor(seed_grad, device=device)).sum()
        term_theirs = (t * torch.tensor(seed_grad)).sum()
        ours_loss = term_ours if ours_loss is None else ours_loss + term_ours
        theirs_loss = term_theirs if theirs_loss is None else theirs_loss + term_theirs
    ours_loss.backward()
    theirs_loss.backward()
    for name, x in ours.items():
        if not wants_grad[name]:
            continue
        want = theirs[name].grad
        want = np.zeros(arrays[name].shape, arrays[name].dtype) if want is None else want.numpy()
        got = np.zeros_like(want) if x.grad is None else x.grad.numpy()
        if x.grad is not None:
            assert x.grad.shape == x.shape, f"grad of {name}: shape {x.grad.shape}, input's {x.shape}"
            assert x.grad.dtype == x.dtype, f"grad of {name}: dtype {x.grad.dtype}, input's {x.dtype}"
            assert x.grad.device == device, f"grad of {name}: on {x.grad.device}, input on {device}"
        if limits is not None:
            assert_within(got, want, limits[name], f"grad of {name} (against torch, within the sums' bound)")
        else:
            _assert_close(f"grad of {name}", got, want, grad_rtol, grad_atol)
        result.grads[name], result.torch_grads[name] = got, want
    return result


def _multilinear_bounds(call, torch_fn, arrays, wants_grad, seeds, forward_only, dtype, output_sizes):
    """{"output i" / input name: 2 gamma(n) * M} for ``check_op(bound="multilinear")``: M is the
    function on the inputs' absolute values in float64 (for a gradient: its backward seeded with
    |upstream gradient|), the sum of the magnitudes of every term each element adds up."""
    n = sum(a.size for a in arrays.values()) + len(arrays) + max(output_sizes + [1])
    scale = 2 * gamma(n, unit_roundoff(dtype))
    grad = {k: wants_grad[k] and not forward_only for k in arrays}
    magnitudes = {k: torch.tensor(np.abs(a).astype(np.float64) if _is_float(a) else a, requires_grad=grad[k])
                  for k, a in arrays.items()}
    outputs = call(torch_fn, magnitudes)
    limits = {f"output {i}": scale * o.detach().abs().numpy() for i, o in enumerate(outputs)}
    differentiable = [o for o in outputs if o.requires_grad]
    if differentiable and any(grad.values()):
        sum((o * torch.tensor(np.abs(s).astype(np.float64))).sum() for o, s in zip(differentiable, seeds)).backward()
        for k, x in magnitudes.items():
            if grad[k]:
                limits[k] = scale * (0.0 if x.grad is None else x.grad.abs().numpy())
    return limits


def check_gradcheck(fn, *arrays, **kwargs):
    """``tl.gradcheck`` on float64 copies of ``arrays``; returns the report (raises on failure)."""
    return tl.gradcheck(fn, *[np.asarray(a, dtype=np.float64) for a in arrays], **kwargs)


# ---- second derivatives ----------------------------------------------------------------------------

def _second_order(leaves, fn, v, w, backend):
    """First gradients g_i of sum(fn(*leaves) * v), then the gradients of sum_i sum(g_i * w_i)."""
    if backend == "torch":
        y = (fn(*leaves) * torch.tensor(v)).sum()
        first = torch.autograd.grad(y, leaves, create_graph=True, allow_unused=True)
        first = [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, first)]
        s = sum((g * torch.tensor(wi)).sum() for g, wi in zip(first, w))
        second = torch.autograd.grad(s, leaves, allow_unused=True) if s.requires_grad else [None] * len(leaves)
        return ([g.detach().numpy() for g in first],
                [np.zeros(x.shape) if g is None else g.numpy() for x, g in zip(leaves, second)])
    (fn(*leaves) * tl.Tensor(v, device=leaves[0].device)).sum().backward(create_graph=True)
    first = [tl.zeros_like(x) if x.grad is None else x.grad for x in leaves]
    for x in leaves:
        x.grad = None
    s = sum((g * tl.Tensor(wi, device=x.device)).sum() for g, wi, x in zip(first, w, leaves))
    if s.requires_grad:
        s.backward()
    return ([g.numpy() for g in first], [np.zeros(x.shape) if x.grad is None else x.grad.numpy() for x in leaves])


def check_double_backward(arrays_in, fn, torch_fn=None, device="cpu", rtol=None, atol=None, dtype="float64",
                          bound=None):
    """Compare first and second derivatives of ``fn`` (random directions v, w) with torch's:
    the gradients of sum(fn(*x) * v), then the gradients of their dot product with w. The arrays
    are cast to ``dtype``; the tolerances default to TOLERANCES[dtype]. ``bound="multilinear"`` (as in
    ``check_op``): within 2 gamma(n) times the same derivatives of |x|, |v|, |w| in float64, n three
    times the largest size (each derivative nests at most three sums: forward, backward, backward)."""
    dtype = np.dtype(dtype)
    rtol = TOLERANCES[dtype.name][0] if rtol is None else rtol
    atol = TOLERANCES[dtype.name][1] if atol is None else atol
    arrays_in = [np.asarray(a).astype(dtype) for a in arrays_in]
    rng = np.random.default_rng(0)
    out_shape = tuple(fn(*[torch.tensor(a) for a in arrays_in]).shape) if torch_fn is None else \
        tuple(torch_fn(*[torch.tensor(a) for a in arrays_in]).shape)
    v = rng.standard_normal(out_shape).astype(dtype)
    w = [rng.standard_normal(a.shape).astype(dtype) for a in arrays_in]
    ours = _second_order([tl.Tensor(a, requires_grad=True, device=device, dtype=a.dtype) for a in arrays_in],
                         fn, v, w, "tl")
    theirs = _second_order([torch.tensor(a, requires_grad=True) for a in arrays_in], torch_fn or fn, v, w, "torch")
    limits = None
    if bound == "multilinear":
        n = 3 * max([a.size for a in arrays_in] + [v.size])
        magnitudes = _second_order([torch.tensor(np.abs(a).astype(np.float64), requires_grad=True) for a in arrays_in],
                                   torch_fn or fn, np.abs(v).astype(np.float64),
                                   [np.abs(wi).astype(np.float64) for wi in w], "torch")
        limits = [[2 * gamma(n, unit_roundoff(dtype)) * np.abs(m) for m in order] for order in magnitudes]
    elif bound is not None:
        raise ValueError(f"bound must be None or 'multilinear', got {bound!r}")
    for order, (mine, ref) in enumerate(zip(ours, theirs), start=1):
        for i, (m, r) in enumerate(zip(mine, ref)):
            if limits is not None:
                assert_within(m, r, limits[order - 1][i], f"order {order} grad of input {i} (within the sums' bound)")
            else:
                np.testing.assert_allclose(m, r, rtol=rtol, atol=atol, err_msg=f"order {order} grad of input {i}")


# ---- hypothesis strategies --------------------------------------------------------------------------

def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, scalars (0-d) included when min_dims == 0."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4):
    """A tuple of ``num_shapes`` shapes that broadcast together (NumPy rules, size-1 axes included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             min_side=1, max_side=max_side).map(lambda b: b.input_shapes)


@st.composite
def axes(draw, ndim, allow_none=True, allow_tuple=True):
    """An ``axis`` argument for a ``ndim``-d tensor: None, an int (maybe negative) or a tuple of ints."""
    choices = []
    if allow_none:
        choices.append(st.none())
    if ndim:
        choices.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            choices.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
                           .map(tuple))
    return draw(st.one_of(*choices))


def one_axis(ndim):
    """A single int axis (maybe negative) for a tensor with ``ndim >= 1``."""
    return st.integers(-ndim, ndim - 1)


@st.composite
def arrays(draw, shape, domain="real", dtype="float64"):
    """Values of ``shape`` in ``domain``; hypothesis draws the [-1, 1] seeds, so it can shrink them
    (and may repeat values: ties are part of what is tested)."""
    u = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1.0, 1.0, allow_subnormal=False)))
    return DOMAINS[domain](u).astype(dtype)


@st.composite
def arrays_for(draw, shape_strategy, domain="real", count=1):
    """``count`` arrays with shapes from ``shape_strategy`` (a shape, or a tuple of shapes for count > 1)."""
    drawn = draw(shape_strategy)
    if count == 1:
        return draw(arrays(drawn, domain))
    return [draw(arrays(s, domain)) for s in drawn]
