"""torch's ``dim=`` / ``keepdim=`` beside NumPy's ``axis=`` / ``keepdims=``: every op that takes an axis,
as a method and as a function, run with torch's spelling in both frameworks and compared with torch.

Also: each Tensor method is the engine's own (core.py) or its op function itself, each method with its
op's signature; giving both spellings of one argument is a TypeError naming both.
"""
import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import arrays, axes, check_op, op_settings, shapes, torch

import nn
import nn.functional as F
import tinygrad_lite as tl
from tinygrad_lite import ops

# (description, input shapes, the call; the same lambda runs on tinygrad_lite and on torch tensors)
METHOD_CALLS = [
    ("sum dim keepdim", [(2, 3, 4)], lambda x: x.sum(dim=1, keepdim=True)),
    ("sum dim tuple", [(2, 3, 4)], lambda x: x.sum(dim=(0, 2))),
    ("sum dim negative", [(2, 3, 4)], lambda x: x.sum(dim=-1)),
    ("mean dim tuple", [(2, 3, 4)], lambda x: x.mean(dim=(0, 2))),
    ("mean dim keepdim", [(2, 3, 4)], lambda x: x.mean(dim=1, keepdim=True)),
    ("max dim: values, indices", [(3, 5)], lambda x: x.max(dim=1)),
    ("max dim keepdim", [(3, 5, 2)], lambda x: x.max(dim=-2, keepdim=True)),
    ("max dim values", [(3, 5)], lambda x: x.max(dim=0).values),
    ("max dim [0]", [(3, 5)], lambda x: x.max(dim=1)[0]),
    ("min dim: values, indices", [(3, 5)], lambda x: x.min(dim=1)),
    ("var dim (torch's unbiased default)", [(3, 5)], lambda x: x.var(dim=1)),
    ("var dim tuple keepdim", [(3, 4, 2)], lambda x: x.var(dim=(0, 2), keepdim=True)),
    ("logsumexp dim", [(3, 5)], lambda x: x.logsumexp(dim=1)),
    ("logsumexp dim tuple keepdim", [(3, 4, 2)], lambda x: x.logsumexp(dim=(0, 1), keepdim=True)),
    ("softmax dim -1", [(3, 5)], lambda x: x.softmax(dim=-1)),
    ("softmax dim 0", [(3, 5)], lambda x: x.softmax(dim=0)),
    ("log_softmax dim", [(3, 5)], lambda x: x.log_softmax(dim=1)),
    ("squeeze dim", [(3, 1, 2)], lambda x: x.squeeze(dim=1)),
    ("unsqueeze dim", [(3, 2)], lambda x: x.unsqueeze(dim=0)),
    ("unsqueeze dim negative", [(3, 2)], lambda x: x.unsqueeze(dim=-1)),
]


@pytest.mark.parametrize("inputs, fn", [c[1:] for c in METHOD_CALLS], ids=[c[0] for c in METHOD_CALLS])
def test_methods_take_torch_names(inputs, fn, device):
    check_op(inputs, fn, device=device)


INDEX_CALLS = [    # integer results: compared forward only
    ("min dim keepdim indices", lambda x: x.min(dim=0, keepdim=True).indices),
    ("argmax dim", lambda x: x.argmax(dim=1)),
    ("argmax dim keepdim", lambda x: x.argmax(dim=0, keepdim=True)),
    ("argmin dim", lambda x: x.argmin(dim=-1)),
]


@pytest.mark.parametrize("fn", [c[1] for c in INDEX_CALLS], ids=[c[0] for c in INDEX_CALLS])
def test_index_methods_take_torch_names(fn, device):
    check_op([(3, 5)], fn, device=device, forward_only=True)


# (description, input shapes, ours, torch's): the functions, called as each framework spells them
FUNCTION_CALLS = [
    ("tl.sum", [(2, 3)], lambda x: tl.sum(x, dim=1, keepdim=True), lambda x: torch.sum(x, dim=1, keepdim=True)),
    ("tl.mean", [(2, 3, 4)], lambda x: tl.mean(x, dim=(0, 2)), lambda x: torch.mean(x, dim=(0, 2))),
    ("tl.max", [(2, 3)], lambda x: tl.max(x, dim=1), lambda x: torch.max(x, dim=1)),
    ("tl.min", [(2, 3)], lambda x: tl.min(x, dim=0, keepdim=True), lambda x: torch.min(x, dim=0, keepdim=True)),
    ("tl.var", [(2, 3)], lambda x: tl.var(x, dim=1), lambda x: torch.var(x, dim=1)),
    ("tl.logsumexp", [(2, 3)], lambda x: tl.logsumexp(x, dim=0), lambda x: torch.logsumexp(x, dim=0)),
    ("tl.softmax", [(2, 3)], lambda x: tl.softmax(x, dim=0), lambda x: torch.softmax(x, dim=0)),
    ("tl.log_softmax", [(2, 3)], lambda x: tl.log_softmax(x, dim=0), lambda x: torch.log_softmax(x, dim=0)),
    ("tl.squeeze", [(2, 1)], lambda x: tl.squeeze(x, dim=1), lambda x: torch.squeeze(x, dim=1)),
    ("tl.unsqueeze", [(2, 3)], lambda x: tl.unsqueeze(x, dim=1), lambda x: torch.unsqueeze(x, dim=1)),
    ("tl.cat", [(2, 3), (2, 1)], lambda a, b: tl.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], dim=1)),
    ("tl.concatenate", [(2, 3), (1, 3)], lambda a, b: tl.concatenate([a, b], dim=0),
     lambda a, b: torch.cat([a, b], dim=0)),
    ("tl.stack", [(2, 3), (2, 3)], lambda a, b: tl.stack([a, b], dim=1), lambda a, b: torch.stack([a, b], dim=1)),
    ("tl.stack negative", [(2, 3), (2, 3)], lambda a, b: tl.stack((a, b), dim=-1),
     lambda a, b: torch.stack((a, b), dim=-1)),
    ("F.softmax", [(2, 3)], lambda x: F.softmax(x, dim=0), lambda x: torch.nn.functional.softmax(x, dim=0)),
    ("F.log_softmax", [(2, 3)], lambda x: F.log_softmax(x, dim=0),
     lambda x: torch.nn.functional.log_softmax(x, dim=0)),
    ("nn.Softmax", [(2, 3)], lambda x: nn.Softmax(dim=0)(x), lambda x: torch.nn.Softmax(dim=0)(x)),
    ("nn.LogSoftmax", [(2, 3)], lambda x: nn.LogSoftmax(dim=0)(x), lambda x: torch.nn.LogSoftmax(dim=0)(x)),
]


@pytest.mark.parametrize("inputs, fn, torch_fn", [c[1:] for c in FUNCTION_CALLS], ids=[c[0] for c in FUNCTION_CALLS])
def test_functions_take_torch_names(inputs, fn, torch_fn, device):
    check_op(inputs, fn, torch_fn, device=device)


def test_index_functions_take_torch_names(device):
    check_op([(2, 3)], lambda x: tl.argmax(x, dim=1, keepdim=True), lambda x: torch.argmax(x, dim=1, keepdim=True),
             device=device, forward_only=True)
    check_op([(2, 3)], lambda x: tl.argmin(x, dim=0), lambda x: torch.argmin(x, dim=0), device=device,
             forward_only=True)


@pytest.mark.parametrize("name", ["sum", "mean", "logsumexp", "var"])
@op_settings
@given(data=st.data(), keepdim=st.booleans())
def test_reductions_over_drawn_dims(name, device, data, keepdim):
    """Any shape, any dim (int, negative or a tuple): torch's spelling gives torch's answer."""
    shape = data.draw(shapes(min_dims=1, min_side=2))
    dim = data.draw(axes(len(shape), allow_none=False))
    check_op([data.draw(arrays(shape))], lambda x: getattr(x, name)(dim=dim, keepdim=keepdim), device=device)


def test_numpy_spelling_is_unchanged():
    """axis= keeps NumPy's meaning: max gives the values only, var divides by n."""
    data = np.random.default_rng(0).standard_normal((3, 4))
    x = tl.Tensor(data)
    assert isinstance(x.max(axis=1), tl.Tensor) and isinstance(x.max(1), tl.Tensor)
    np.testing.assert_allclose(x.var(axis=1).numpy(), data.var(axis=1))
    np.testing.assert_allclose(x.var(dim=1, ddof=0).numpy(), data.var(axis=1))
    np.testing.assert_allclose(x.sum(1, keepdim=True).numpy(), data.sum(axis=1, keepdims=True))


BOTH_GIVEN = [
    ("sum", lambda x: x.sum(axis=1, dim=1), "axis=1 and dim=1"),
    ("mean", lambda x: tl.mean(x, 0, dim=1), "axis=0 and dim=1"),
    ("sum", lambda x: x.sum(keepdims=True, keepdim=True), "keepdims=True and keepdim=True"),
    ("max", lambda x: x.max(axis=0, dim=1), "axis=0 and dim=1"),
    ("argmin", lambda x: x.argmin(0, dim=0), "axis=0 and dim=0"),
    ("var", lambda x: x.var(axis=(0, 1), dim=1), "axis=(0, 1) and dim=1"),
    ("logsumexp", lambda x: x.logsumexp(keepdims=True, keepdim=False), "keepdims=True and keepdim=False"),
    ("softmax", lambda x: x.softmax(axis=0, dim=1), "axis=0 and dim=1"),
    ("log_softmax", lambda x: F.log_softmax(x, 0, dim=1), "axis=0 and dim=1"),
    ("squeeze", lambda x: x.unsqueeze(0).squeeze(axis=0, dim=0), "axis=0 and dim=0"),
    ("unsqueeze", lambda x: x.unsqueeze(1, dim=1), "axis=1 and dim=1"),
    ("concatenate", lambda x: tl.cat([x, x], 1, dim=1), "axis=1 and dim=1"),
    ("stack", lambda x: tl.stack([x, x], axis=1, dim=0), "axis=1 and dim=0"),
    ("Softmax", lambda x: nn.Softmax(axis=0, dim=1), "axis=0 and dim=1"),
    ("std", lambda x: x.std(axis=0, dim=1), "axis=0 and dim=1"),
    ("prod", lambda x: x.prod(keepdims=True, keepdim=True), "keepdims=True and keepdim=True"),
    ("cumsum", lambda x: x.cumsum(0, dim=1), "axis=0 and dim=1"),
    ("cumprod", lambda x: tl.cumprod(x, axis=1, dim=0), "axis=1 and dim=0"),
    ("any", lambda x: x.any(axis=0, dim=1), "axis=0 and dim=1"),
    ("all", lambda x: x.all(keepdims=True, keepdim=False), "keepdims=True and keepdim=False"),
    ("sort", lambda x: x.sort(0, dim=1), "axis=0 and dim=1"),
    ("argsort", lambda x: x.argsort(axis=0, dim=0), "axis=0 and dim=0"),
    ("topk", lambda x: x.topk(1, 0, dim=1), "axis=0 and dim=1"),
]


@pytest.mark.parametrize("op, call, names", BOTH_GIVEN, ids=[f"{b[0]} {b[2]}" for b in BOTH_GIVEN])
def test_both_spellings_at_once_is_a_type_error(op, call, names):
    with pytest.raises(TypeError, match=f"^{op}: got both {names.replace('(', '[(]').replace(')', '[)]')};"):
        call(tl.Tensor(np.ones((2, 3))))


def test_max_dim_takes_one_axis():
    """torch's max(dim=) gives values and indices along one axis; several axes are NumPy's axis=."""
    with pytest.raises(TypeError, match=r"max: dim must be one int .* got \(0, 1\); .* axis="):
        tl.Tensor(np.ones((2, 3))).max(dim=(0, 1))


# ---- each method is written once: in core.py, or as its op ---------------------------------------

def _public_methods():
    return {name: member for name, member in vars(tl.Tensor).items()
            if not name.startswith("_") and callable(member)}


def test_every_method_is_the_core_s_or_its_op_itself():
    """A Tensor method is the engine's own (core.py) or the op function of its name, the very object
    (so its docstring is written once); methods.py adds the few that are more than an op (``to``)."""
    shortcuts = {"to", "cpu", "cuda", "astype", "float", "double", "view"}
    for name, member in _public_methods().items():
        if member.__module__ == "tinygrad_lite.core" or name in shortcuts:
            continue
        assert member is getattr(ops, name), f"Tensor.{name} is not ops.{name} (from {member.__module__})"
    assert vars(tl.Tensor)["T"].fget is ops.transpose and vars(tl.Tensor)["view"] is ops.reshape
    assert tl.Tensor.__add__ is ops.add and tl.Tensor.__getitem__ is ops.getitem


def test_each_method_has_its_ops_signature():
    """A method that calls an op takes that op's arguments: their kinds and defaults, and the names of
    those with a default (the ones passed by keyword; a binary op's operand is ``other`` or ``b``)."""
    def arguments(f):
        return [(p.kind, p.default, p.name if p.default is not p.empty else None)
                for p in list(inspect.signature(f).parameters.values())[1:]]

    checked = 0
    for name, method in _public_methods().items():
        op = getattr(ops, "reshape" if name == "view" else name, None)
        if op is None or not inspect.isfunction(op):
            continue
        assert arguments(method) == arguments(op), \
            f"Tensor.{name}{inspect.signature(method)} != ops.{name}{inspect.signature(op)}"
        assert method.__doc__, f"Tensor.{name} has no docstring"
        checked += 1
    assert checked >= 30
