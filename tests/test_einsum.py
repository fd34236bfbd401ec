"""einsum against torch.einsum: forward, gradient of every operand through a random cotangent,
second derivatives, float64 and float32, with hypothesis-drawn sizes; the cases whose gradient needs
a constant operand (a letter summed away by one operand, a repeated letter) and the ellipsis; and
the order of work: a contraction torch does in a millisecond may not take minutes, nor allocate
past the bound."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from costs import peak_bytes
from torch_oracle import check_double_backward, check_op, op_settings, random_array, torch

import tinygrad_lite as tl
from tinygrad_lite.ops import limits

# equation -> the operands' subscripts with a size for each letter ('...' gets the given axes)
EQUATIONS = [
    "ij,jk->ik", "ij,jk", "bij,bjk->bik", "i,i->", "i,j->ij", "ij->ji", "ij->i", "ij->", "ii", "ii->i",
    "iij->ij", "ij,ij->ij", "ijk,jl,lk->il", "ij,j", "ba,ab->", "iJ,Jk->ik",
    "ij,kl->", "ij,kl->ik", "ijk,kl,lm,mn->in", "iij,jk->k", "ab,bc,cd,de->ae",     # own letters summed first; paths
]
ELLIPSIS = [
    ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 4)]),
    ("...ij,...jk", [(1, 2, 3), (5, 3, 4)]),          # size-1 ellipsis axis broadcast: summed back
    ("...ij->...ji", [(2, 3, 2, 4)]),
    ("i...,i...->...", [(3, 2), (3, 2)]),
    ("...i,i", [(2, 3), (3,)]),
    ("ij...,jk", [(2, 3), (3, 4)]),                    # an ellipsis of no axes
]


def operand_shapes(equation, sizes):
    return [tuple(sizes[c] for c in subs) for subs in equation.split("->")[0].split(",")]


@st.composite
def letter_sizes(draw, equation):
    return {c: draw(st.integers(1, 4)) for c in set(equation) if c.isalpha()}


@pytest.mark.parametrize("equation", EQUATIONS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@op_settings
@given(data=st.data())
def test_einsum_against_torch(equation, dtype, device, data):
    shapes = operand_shapes(equation, data.draw(letter_sizes(equation)))
    check_op(shapes, lambda *xs: tl.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs),
             dtype=dtype, device=device, seed=data.draw(st.integers(0, 100)), bound="multilinear")


@pytest.mark.parametrize("equation, shapes", ELLIPSIS, ids=[e for e, _ in ELLIPSIS])
def test_einsum_ellipsis(equation, shapes, device):
    check_op(shapes, lambda *xs: tl.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), device=device)


@pytest.mark.parametrize("equation", EQUATIONS + [e for e, _ in ELLIPSIS])
def test_einsum_second_derivative(equation, device):
    shapes = dict(ELLIPSIS).get(equation) or operand_shapes(equation, {c: 2 + ord(c) % 3 for c in equation})
    arrays = [random_array(s, rng=np.random.default_rng(i)) for i, s in enumerate(shapes)]
    def square(einsum):
        return lambda *xs: einsum(equation, *xs) ** 2

    check_double_backward(arrays, square(tl.einsum), square(torch.einsum), device=device)


def test_einsum_takes_a_list_and_spaces(device):
    check_op([(2, 3), (3, 4)], lambda a, b: tl.einsum("ij, jk -> ik", [a, b]),
             lambda a, b: torch.einsum("ij, jk -> ik", [a, b]), device=device)


@pytest.mark.parametrize("equation, shapes, error, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], tl.ShapeError, r"subscript 'j' has size 3 in one operand and 4 in operand 1"),
    ("ij,jk->ik", [(2, 3)], ValueError, r"names 2 operands, got 1 tensors"),
    ("ijk->i", [(2, 3)], tl.ShapeError, r"operand 0 has 2 axes \(shape \(2, 3\)\) but its subscripts 'ijk' name 3"),
    ("ij->k", [(2, 3)], ValueError, r"output subscripts 'k' must be distinct letters that the operands have"),
    ("ij->ii", [(2, 2)], ValueError, r"output subscripts 'ii' must be distinct"),
    ("i1->i", [(2, 2)], ValueError, r"may hold letters"),
])
def test_einsum_errors_name_the_problem(equation, shapes, error, message):
    with pytest.raises(error, match=f"einsum: .*{message}"):
        tl.einsum(equation, *[tl.zeros(s) for s in shapes])
    with pytest.raises(TypeError, match="einsum: operand 1 must be a Tensor, got ndarray"):
        tl.einsum("i,i", tl.zeros(2), np.zeros(2))


def test_a_contraction_is_done_in_a_good_order_in_memory_its_size():
    """'ij,kl->' on two 1000 x 1000 operands ran past 30 s, letter by letter (10^12 products); each
    operand's own letters are summed first now (torch's rule), 2 * 10^6 additions, and the gradient
    is an outer product of ones: nothing larger than the operands is allocated."""
    a = tl.Tensor(np.full((1000, 1000), 0.5), requires_grad=True)
    b = tl.Tensor(np.full((1000, 1000), 2.0))

    def forward_and_backward():
        y = tl.einsum("ij,kl->", a, b)
        y.backward()
        return y.item()
    peak, value = peak_bytes(forward_and_backward)
    assert value == 0.5 * 2.0 * 1e12 and peak < 5 * a.data.nbytes
    np.testing.assert_array_equal(a.grad.numpy(), np.full((1000, 1000), 2e6))


def test_an_einsum_past_the_bound_is_refused_before_allocating(monkeypatch):
    x = tl.ones(1000, 1000)
    peak, outcome = peak_bytes(lambda: tl.einsum("ij,kl->ijkl", x, x))
    assert isinstance(outcome, tl.SizeError) and "einsum: the output" in str(outcome) and "MAX_ELEMENTS" in str(outcome)
    assert peak < 1_000_000
    # a scalar out of four 40 x 40 operands: every order of pairs makes a 40 x 40 intermediate
    x = tl.ones(40, 40)                                       # made before the bound falls below its size
    monkeypatch.setattr(limits, "MAX_ELEMENTS", 1000)
    with pytest.raises(tl.SizeError, match="einsum: an intermediate of the contraction of shape \\(40, 40\\)"):
        tl.einsum("ab,ac,bd,cd->", x, x, x, x)
    assert tl.einsum("ab,ab->", x, x).item() == 1600        # within the bound: no intermediate
