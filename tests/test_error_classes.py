"""torch's exception classes catch ours: a script ported from torch keeps its ``except`` clauses.

Each call below is made in torch and in tinygrad_lite; both must raise, and ``except <torch's class>``
must catch both. Ours stay ours (their messages name the op, the argument and the values) because
they subclass torch's builtin as well as NumPy's (errors.py): a shape mismatch is a ShapeError, a
ValueError and a RuntimeError; a dim out of range an AxisError, also an IndexError; a mode that is
not implemented an UnsupportedError, also a NotImplementedError.
"""
import numpy as np
import pytest

import nn.functional as F
import tinygrad_lite as tl
from tinygrad_lite.errors import AxisError, ShapeError, SizeError, TinygradLiteError, UnsupportedError

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional


def functional(m):
    return F if m is tl else TF


def zeros_index(m, shape):
    return torch.zeros(shape, dtype=torch.int64) if m is torch else tl.zeros(*shape, dtype="int64")


# (id, call on (module, x) with x of shape (2, 3)): tl or torch as the module
DIM_OUT_OF_RANGE = [
    ("sum", lambda m, x: x.sum(dim=5)), ("mean", lambda m, x: x.mean(dim=-3)), ("max", lambda m, x: x.max(dim=2)),
    ("min", lambda m, x: x.min(dim=-3)), ("argmax", lambda m, x: x.argmax(dim=2)), ("var", lambda m, x: x.var(dim=2)),
    ("std", lambda m, x: x.std(dim=2)), ("prod", lambda m, x: x.prod(dim=2)),
    ("logsumexp", lambda m, x: x.logsumexp(dim=2)), ("softmax", lambda m, x: x.softmax(dim=2)),
    ("log_softmax", lambda m, x: x.log_softmax(dim=-3)), ("cumsum", lambda m, x: x.cumsum(dim=2)),
    ("cumprod", lambda m, x: x.cumprod(dim=2)), ("flip", lambda m, x: x.flip((3,))),
    ("roll", lambda m, x: x.roll(1, 3)),
    ("unsqueeze", lambda m, x: x.unsqueeze(4)), ("squeeze", lambda m, x: x.squeeze(3)),
    ("flatten", lambda m, x: x.flatten(0, 5)), ("transpose", lambda m, x: x.transpose(0, 4)),
    ("permute", lambda m, x: x.permute(0, 5)), ("swapaxes", lambda m, x: x.swapaxes(0, 3)),
    ("cat", lambda m, x: m.cat([x, x], dim=2)), ("stack", lambda m, x: m.stack([x, x], dim=4)),
    ("gather", lambda m, x: x.gather(3, zeros_index(m, (2, 3)))), ("sort", lambda m, x: x.sort(dim=3)),
    ("argsort", lambda m, x: x.argsort(dim=3)), ("topk", lambda m, x: x.topk(1, dim=3)),
    ("split", lambda m, x: x.split(1, dim=3)), ("chunk", lambda m, x: x.chunk(2, dim=3)),
    ("diagonal", lambda m, x: x.diagonal(0, 0, 5)), ("unflatten", lambda m, x: x.unflatten(3, (1, 3))),
    ("repeat_interleave", lambda m, x: x.repeat_interleave(2, dim=3)), ("any", lambda m, x: x.any(dim=3)),
    ("all", lambda m, x: x.all(dim=3)), ("normalize", lambda m, x: functional(m).normalize(x, dim=3)),
    ("F.softmax", lambda m, x: functional(m).softmax(x, dim=3)),
    ("scatter", lambda m, x: x.scatter(3, zeros_index(m, (2, 3)), x)),
    ("scatter_add", lambda m, x: x.scatter_add(3, zeros_index(m, (2, 3)), x)),
]
SHAPE_MISMATCH = [
    ("add", lambda m, x: x + m.ones(4, dtype=x.dtype)), ("matmul", lambda m, x: x @ x),
    ("reshape", lambda m, x: x.reshape(4)), ("cat", lambda m, x: m.cat([x, x[:, :2]], dim=0)),
    ("stack", lambda m, x: m.stack([x, x[:, :2]])), ("where", lambda m, x: m.where(x > 0, x, x[:1, :2])),
    ("repeat", lambda m, x: x.repeat(2)), ("masked_fill", lambda m, x: x.masked_fill(x[:1, :2] > 0, 0.0)),
    ("gather", lambda m, x: x.gather(0, zeros_index(m, (2, 4)))), ("tril", lambda m, x: x.reshape(-1).tril()),
    ("einsum", lambda m, x: m.einsum("ij,jk->ik", x, x)), ("permute twice", lambda m, x: x.permute(0, 0)),
    ("F.pad widths", lambda m, x: functional(m).pad(x, (1, 1, 1, 1, 1, 1))),
    ("F.pad reflect", lambda m, x: functional(m).pad(x[None], (5, 5), mode="reflect")),
    ("conv2d channels", lambda m, x: functional(m).conv2d(x.reshape(1, 1, 2, 3), m.zeros(1, 2, 1, 1, dtype=x.dtype))),
]
NOT_IMPLEMENTED = [
    ("F.pad mode", lambda m, x: functional(m).pad(x, (1, 1), mode="bogus")),
    ("interpolate mode", lambda m, x: functional(m).interpolate(x.reshape(1, 1, 2, 3), size=3, mode="bogus")),
    ("interpolate rank", lambda m, x: functional(m).interpolate(x.reshape(1, 2, 3), size=3, mode="bilinear")),
    ("interpolate dtype", lambda m, x: functional(m).interpolate(x.reshape(1, 2, 3).int(), size=3, mode="linear")
     if m is torch else F.interpolate(x.reshape(1, 2, 3).astype("int32"), size=3, mode="linear")),
]


def _raised(call, module, x):
    try:
        call(module, x)
    except Exception as exc:        # the test compares what each raised
        return exc
    raise AssertionError(f"{'torch' if module is torch else 'tinygrad_lite'} raised nothing")


@pytest.mark.parametrize("group, ours_class, torch_class", [(DIM_OUT_OF_RANGE, AxisError, IndexError),
                                                            (SHAPE_MISMATCH, ShapeError, RuntimeError),
                                                            (NOT_IMPLEMENTED, UnsupportedError, NotImplementedError)],
                         ids=["dim out of range", "shape mismatch", "not implemented"])
def test_torchs_except_clause_catches_ours(group, ours_class, torch_class):
    x = np.arange(6.0).reshape(2, 3)
    for name, call in group:
        theirs, ours = _raised(call, torch, torch.tensor(x)), _raised(call, tl, tl.Tensor(x))
        assert isinstance(theirs, torch_class), f"{name}: torch raised {theirs!r}, the table says {torch_class}"
        assert isinstance(ours, ours_class) and isinstance(ours, torch_class), f"{name}: we raised {ours!r}"
        assert isinstance(ours, ValueError), f"{name}: ours is no longer a ValueError: {ours!r}"


def test_the_classes_keep_numpys_builtins_and_ours():
    """Code that caught ValueError (NumPy's class, and ours before) or TinygradLiteError still does."""
    for cls, builtins in ((ShapeError, (ValueError, RuntimeError)), (AxisError, (ShapeError, IndexError)),
                          (UnsupportedError, (ValueError, NotImplementedError)), (SizeError, (ShapeError,))):
        assert issubclass(cls, TinygradLiteError) and all(issubclass(cls, b) for b in builtins)
    assert issubclass(AxisError, np.exceptions.AxisError.__mro__[1])      # NumPy's AxisError: ValueError too
    with pytest.raises(IndexError, match=r"sum: axis must be an int in \[-2, 2\) for a 2-d tensor, got 5"):
        tl.zeros(2, 3).sum(axis=5)
