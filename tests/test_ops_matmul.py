"""matmul against torch in every NumPy case: 1-D operands, matrices, batches and broadcast batches."""
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import arrays, broadcastable_shapes, check_gradcheck, check_op, op_settings, random_array, torch

import tinygrad_lite as tl


@op_settings
@given(data=st.data(), a_is_vector=st.booleans(), b_is_vector=st.booleans())
def test_matmul_all_rank_combinations(device, data, a_is_vector, b_is_vector):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = data.draw(broadcastable_shapes(max_dims=2, max_side=3))
    shape_a = (k,) if a_is_vector else batch_a + (n, k)
    shape_b = (k,) if b_is_vector else batch_b + (k, m)
    a, b = data.draw(arrays(shape_a)), data.draw(arrays(shape_b))
    check_op([a, b], lambda a, b: a @ b, device=device)


CASES = {
    "vector @ vector": [(4,), (4,)], "vector @ matrix": [(4,), (4, 3)], "matrix @ vector": [(2, 4), (4,)],
    "matrix @ matrix": [(2, 4), (4, 3)], "batch @ matrix": [(5, 2, 4), (4, 3)],
    "matrix @ batch": [(2, 4), (5, 4, 3)], "batch @ vector": [(5, 2, 4), (4,)],
    "vector @ batch": [(4,), (5, 4, 3)], "batch @ batch": [(5, 2, 4), (5, 4, 3)],
    "broadcast batches": [(2, 1, 3, 4), (5, 4, 2)],
}


@pytest.mark.parametrize("name", CASES)
def test_matmul_named_cases(name, device):
    check_op(CASES[name], lambda a, b: a @ b, device=device)


@pytest.mark.parametrize("name", CASES)
def test_matmul_gradcheck(name):
    shapes = CASES[name]
    assert check_gradcheck(lambda a, b: a @ b, random_array(shapes[0]), random_array(shapes[1], "unit")).ok


def test_function_form_rmatmul_and_float32(device):
    check_op([(3, 4), (4, 2)], tl.matmul, torch.matmul, device=device)
    check_op([(3, 4), (4, 2)], lambda a, b: a.numpy() @ b if isinstance(a, tl.Tensor) else a @ b,
             device=device, requires_grad=[False, True])
    # float32: each output is a sum of 16 then 4 products, summed in whatever order each library's BLAS
    # takes: both are held to the bound of such sums, gamma(n) * the sum of the terms' magnitudes
    check_op([(8, 16), (16, 4)], lambda a, b: (a @ b).relu() @ b.T, dtype="float32", device=device,
             bound="multilinear")


def test_gradient_only_for_the_input_that_wants_one(device):
    check_op([(3, 4), (4, 2)], lambda a, b: a @ b, requires_grad=[True, False], device=device)
    check_op([(3, 4), (4, 2)], lambda a, b: a @ b, requires_grad=[False, True], device=device)


@pytest.mark.parametrize("a, b, message", [
    ((2, 3), (4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\) do not line up: 3 != 4"),
    ((3,), (4,), r"matmul: shapes \(3,\) and \(4,\) do not line up"),
    ((2, 2, 3), (4, 3, 1), r"matmul: batch axes of shapes \(2, 2, 3\) and \(4, 3, 1\) cannot be broadcast"),
    ((), (3,), r"matmul: both operands need at least one axis, got shapes \(\) and \(3,\)"),
])
def test_matmul_shape_errors_name_both_shapes(a, b, message):
    with pytest.raises(tl.ShapeError, match=message):
        tl.zeros(*a) @ tl.zeros(*b)
