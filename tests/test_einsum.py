"""einsum against torch.einsum: forward, gradient of every operand through a random cotangent,
second derivatives, float64 and float32, with hypothesis-drawn sizes; the cases whose gradient needs
a constant operand (a letter summed away by one operand, a repeated letter) and the ellipsis."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import check_double_backward, check_op, op_settings, random_array, torch

import tinygrad_lite as tl

# equation -> the operands' subscripts with a size for each letter ('...' gets the given axes)
EQUATIONS = [
    "ij,jk->ik", "ij,jk", "bij,bjk->bik", "i,i->", "i,j->ij", "ij->ji", "ij->i", "ij->", "ii", "ii->i",
    "iij->ij", "ij,ij->ij", "ijk,jl,lk->il", "ij,j", "ba,ab->", "iJ,Jk->ik",
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
             dtype=dtype, device=device, seed=data.draw(st.integers(0, 100)))


@pytest.mark.parametrize("equation, shapes", ELLIPSIS, ids=[e for e, _ in ELLIPSIS])
def test_einsum_ellipsis(equation, shapes, device):
    check_op(shapes, lambda *xs: tl.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), device=device)


@pytest.mark.parametrize("equation", EQUATIONS + [e for e, _ in ELLIPSIS])
def test_einsum_second_derivative(equation, device):
    shapes = dict(ELLIPSIS).get(equation) or operand_shapes(equation, {c: 2 + ord(c) % 3 for c in equation})
    arrays = [random_array(s, rng=np.random.default_rng(i)) for i, s in enumerate(shapes)]
    square = lambda einsum: lambda *xs: einsum(equation, *xs) ** 2      # noqa: E731  (products of operands)
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
