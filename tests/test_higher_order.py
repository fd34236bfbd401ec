"""Double backward: ``backward(create_graph=True)`` builds the gradient out of the same ops, so the
gradient can be differentiated again. Checked against ``torch.autograd.grad(..., create_graph=True)``."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import arrays, check_double_backward, op_settings, random_array, shapes, torch

import tinygrad_lite as tl


X, Y = random_array((3, 4)), random_array((3, 4), rng=np.random.default_rng(1))
POS = random_array((3, 4), "positive")
NONZERO = random_array((3, 4), "nonzero")
ROW = random_array((4,), rng=np.random.default_rng(2))
COND = random_array((3, 4), rng=np.random.default_rng(3)) > 0

# name -> (inputs, lambda for both, torch lambda where the APIs differ)
CASES = {
    "exp": ([X], lambda x: x.exp()), "log": ([POS], lambda x: x.log()), "sqrt": ([POS], lambda x: x.sqrt()),
    "tanh": ([X], lambda x: x.tanh()), "sigmoid": ([X], lambda x: x.sigmoid()),
    "relu": ([NONZERO], lambda x: x.relu() * x), "abs": ([NONZERO], lambda x: x.abs() * x),
    "pow 3": ([X], lambda x: x ** 3), "pow -1.5": ([POS], lambda x: x ** -1.5),
    "pow tensor": ([POS, X], lambda a, b: a ** b), "scalar base": ([X], lambda x: 3.0 ** x),
    "mul": ([X, ROW], lambda a, b: a * b), "div": ([X, NONZERO], lambda a, b: a / b),
    "sub neg": ([X, Y], lambda a, b: -(a - b) * a), "maximum": ([X, Y], lambda a, b: a.maximum(b) * a),
    "minimum": ([X, Y], lambda a, b: a.minimum(b) ** 2),
    "clip": ([X], lambda x: x.clip(min=-1.0, max=1.0) * x),
    "where": ([X, Y], lambda a, b: tl.where(COND, a * b, a * a),
              lambda a, b: torch.where(torch.tensor(COND), a * b, a * a)),
    "sum": ([X], lambda x: x.sum(axis=1) ** 2), "mean": ([X], lambda x: x.mean(axis=0) ** 2),
    "max": ([X], lambda x: x.max(axis=1) ** 2, lambda x: x.max(dim=1).values ** 2),
    "var": ([X], lambda x: x.var(axis=1), lambda x: x.var(dim=1, correction=0)),
    "logsumexp": ([X], lambda x: x.logsumexp(axis=1), lambda x: x.logsumexp(dim=1)),
    "softmax": ([X], lambda x: x.softmax(axis=1), lambda x: x.softmax(dim=1)),
    "log_softmax": ([X], lambda x: x.log_softmax(axis=0), lambda x: x.log_softmax(dim=0)),
    "matmul": ([X, Y.T.copy()], lambda a, b: a @ b), "matmul vector": ([X, ROW], lambda a, b: (a @ b) ** 2),
    "getitem": ([X], lambda x: x[[0, 0, 2], 1:] ** 2), "reshape transpose": ([X], lambda x: x.reshape(4, 3).T * x),
    "broadcast_to": ([ROW], lambda x: x.broadcast_to((3, 4)) ** 2),
    "concatenate": ([X, Y], lambda a, b: tl.concatenate([a * b, a], axis=0), lambda a, b: torch.cat([a * b, a], 0)),
    "stack": ([X, Y], lambda a, b: tl.stack([a * b, a * a]), lambda a, b: torch.stack([a * b, a * a])),
    "pad": ([X], lambda x: x.pad(1) ** 2, lambda x: torch.nn.functional.pad(x, (1, 1, 1, 1)) ** 2),
}


@pytest.mark.parametrize("name", CASES)
def test_double_backward_matches_torch(name, device):
    inputs, *fns = CASES[name]
    check_double_backward(inputs, *fns, device=device)


@op_settings
@given(data=st.data())
def test_double_backward_of_a_small_network(device, data):
    shape = data.draw(shapes(min_dims=2, max_dims=2))
    x, w = data.draw(arrays(shape)), data.draw(arrays(shape[::-1]))
    check_double_backward([x, w], lambda x, w: ((x @ w).tanh() @ x).sigmoid().log_softmax(axis=-1),
                          lambda x, w: ((x @ w).tanh() @ x).sigmoid().log_softmax(dim=-1), device=device)


def test_third_derivative_of_a_cube():
    x = tl.Tensor([1.5, -2.0], requires_grad=True, dtype="float64")
    (x ** 3).sum().backward(create_graph=True)
    first, x.grad = x.grad, None
    first.sum().backward(create_graph=True)
    second, x.grad = x.grad, None
    second.sum().backward()
    np.testing.assert_allclose(first.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(second.numpy(), 6 * x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_newton_steps_find_the_minimum():
    """Minimise f(x) = sum(exp(x) - 2x) (minimum at log 2) with Newton steps x -= f'/f''."""
    x = tl.Tensor([3.0, -1.0, 0.2], requires_grad=True, dtype="float64")
    for _ in range(8):
        (x.exp() - 2 * x).sum().backward(create_graph=True)
        gradient, x.grad = x.grad, None
        gradient.sum().backward()          # f is separable: d(sum f')/dx is the Hessian's diagonal
        x = tl.Tensor(x.numpy() - gradient.numpy() / x.grad.numpy(), requires_grad=True)
    np.testing.assert_allclose(x.numpy(), np.log(2.0), rtol=1e-12)


def test_hessian_vector_product_matches_torch():
    a, v = random_array((4, 4)), random_array((4,), rng=np.random.default_rng(5))
    x, tx = tl.Tensor(ROW, requires_grad=True), torch.tensor(ROW, requires_grad=True)
    (x @ tl.Tensor(a) @ x).tanh().backward(create_graph=True)
    g, x.grad = x.grad, None
    (g * tl.Tensor(v)).sum().backward()
    tg, = torch.autograd.grad((tx @ torch.tensor(a) @ tx).tanh(), tx, create_graph=True)
    hv, = torch.autograd.grad((tg * torch.tensor(v)).sum(), tx)
    np.testing.assert_allclose(x.grad.numpy(), hv.numpy(), rtol=1e-7, atol=1e-12)
