"""Dense, Flatten, Dropout and the activations against torch (float64, forward and every gradient)."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from nn.functional.special import erf_array, erfc_array
from tests.bounds import assert_within, gamma
from tests.torch_oracle import arrays, check_op, op_settings, random_array, shapes

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional


# ---- Dense / linear ------------------------------------------------------------------------------

@op_settings
@given(batch=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 5), bias=st.booleans())
def test_linear_matches_torch(batch, n_in, n_out, bias):
    extra = {"w": (n_out, n_in), **({"b": (n_out,)} if bias else {})}
    check_op([(batch, n_in)], lambda x, w, b=None: F.linear(x, w, b),
             torch_fn=lambda x, w, b=None: TF.linear(x, w, b), extra=extra)


@pytest.mark.parametrize("shape", [(7,), (2, 3, 7), (2, 1, 2, 7)])
def test_linear_with_other_leading_axes_matches_torch(shape):
    check_op([shape], lambda x, w, b: F.linear(x, w, b), torch_fn=lambda x, w, b: TF.linear(x, w, b),
             extra={"w": (4, 7), "b": (4,)})


def test_linear_second_order_gradients_match_torch():
    """The backward is built from Tensor ops, so differentiating the gradient works as in torch."""
    rng = np.random.default_rng(0)
    xs, ws, bs = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    ours = [tl.Tensor(a, requires_grad=True) for a in (xs, ws, bs)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (xs, ws, bs)]
    y = (F.linear(*ours).tanh() ** 2).sum()
    y.backward(create_graph=True)
    (ours[0].grad * ours[0].grad).sum().backward()          # grads now hold first + second order
    ty = (TF.linear(*theirs).tanh() ** 2).sum()
    gx, = torch.autograd.grad(ty, theirs[0], create_graph=True)
    ty.backward(retain_graph=True)
    (gx * gx).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@op_settings
@given(batch=st.integers(1, 5), n_in=st.integers(1, 6), n_out=st.integers(1, 5))
def test_dense_layer_with_copied_weights_matches_torch_linear(batch, n_in, n_out):
    ours = nn.Dense(n_in, n_out, dtype="float64")
    theirs = torch.nn.Linear(n_in, n_out, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy()))
        theirs.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    x = random_array((batch, n_in))
    xo, xt = tl.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    seed = random_array((batch, n_out), rng=np.random.default_rng(1))
    (yo * tl.Tensor(seed)).sum().backward()
    (yt * torch.tensor(seed)).sum().backward()
    for got, want in ((xo.grad, xt.grad), (ours.weight.grad, theirs.weight.grad), (ours.bias.grad, theirs.bias.grad)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-14)


def test_dense_float32_stays_float32_and_has_torch_layouts():
    layer = nn.Dense(6, 3)
    assert layer.weight.shape == (3, 6) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32
    y = layer(tl.randn(4, 6))
    y.sum().backward()
    assert y.dtype == np.float32 and layer.weight.grad.dtype == np.float32


def test_dense_without_bias():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = random_array((4, 3)).astype(np.float32)
    w = layer.weight.numpy()
    # sums of 3 products, which the layer and NumPy may order differently: twice gamma(3) of |x| |w|^T
    assert_within(layer(tl.Tensor(x)).numpy(), x @ w.T, 2 * gamma(3) * (np.abs(x) @ np.abs(w).T), "Dense(x)")
    assert repr(layer) == "Dense(in_features=3, out_features=2, bias=False)"


def test_dense_wrong_input_names_layer_and_shapes():
    layer = nn.Dense(784, 10)
    with pytest.raises(tl.ShapeError, match=r"Dense\(in_features=784.*\(\.\.\., 784\).*\(2, 28, 28\)"):
        layer(tl.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="in_features must be a positive int"):
        nn.Dense(0, 3)


# ---- activations -----------------------------------------------------------------------------------

ACTIVATIONS = [
    ("relu", F.relu, TF.relu, "nonzero"),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2), "nonzero"),
    ("leaky_relu_default", F.leaky_relu, TF.leaky_relu, "nonzero"),
    ("sigmoid", F.sigmoid, torch.sigmoid, "real"),
    ("tanh", F.tanh, torch.tanh, "real"),
    ("gelu", F.gelu, TF.gelu, "real"),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh"), "real"),
    ("softmax", lambda x: F.softmax(x, axis=-1), lambda x: TF.softmax(x, dim=-1), "real"),
    ("log_softmax", lambda x: F.log_softmax(x, axis=-1), lambda x: TF.log_softmax(x, dim=-1), "real"),
    ("identity", lambda x: F.identity(x) * 1.0, lambda x: x * 1.0, "real"),
]


@pytest.mark.parametrize("name, fn, torch_fn, domain", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@op_settings
@given(data=st.data())
def test_activation_matches_torch(name, fn, torch_fn, domain, data):
    shape = data.draw(shapes(min_dims=1, max_dims=3))
    check_op([data.draw(arrays(shape, domain))], fn, torch_fn=torch_fn)


@pytest.mark.parametrize("module, torch_module", [
    (nn.ReLU(), torch.nn.ReLU()), (nn.LeakyReLU(), torch.nn.LeakyReLU()),
    (nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)), (nn.Sigmoid(), torch.nn.Sigmoid()),
    (nn.Tanh(), torch.nn.Tanh()), (nn.GELU(), torch.nn.GELU()), (nn.Identity(), torch.nn.Identity()),
    (nn.Flatten(), torch.nn.Flatten()), (nn.Softmax(axis=1), torch.nn.Softmax(dim=1)),
    (nn.LogSoftmax(axis=1), torch.nn.LogSoftmax(dim=1))], ids=lambda m: type(m).__name__)
def test_modules_match_torch_and_print_like_torch(module, torch_module):
    x = random_array((3, 4, 2), domain="nonzero")
    check_op([x], module, torch_fn=torch_module)
    assert repr(module) == repr(torch_module).replace("(dim=", "(axis=")


def test_gelu_far_in_the_tails_matches_torch():
    x = np.array([-40.0, -12.0, -8.5, -5.0, -0.3, 0.0, 0.3, 5.0, 8.5, 40.0])
    check_op([x], F.gelu, torch_fn=TF.gelu, atol=1e-15, rtol=1e-12)


def test_gelu_second_order_matches_torch():
    x = random_array((6,))
    xo, xt = tl.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.gelu(xo).sum().backward(create_graph=True)
    g = xo.grad
    xo.grad = None
    g.sum().backward()
    gt, = torch.autograd.grad(TF.gelu(xt).sum(), xt, create_graph=True)
    gt.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---- erf: the pure-NumPy approximation ---------------------------------------------------------------

def test_erf_and_erfc_pure_numpy_are_accurate_to_float64_rounding():
    """No SciPy anywhere: Cody's approximation against the C library's erf/erfc (math.erf)."""
    x = np.concatenate([np.linspace(-7, 7, 20001), np.geomspace(1e-300, 30, 2000),
                        -np.geomspace(1e-300, 30, 2000), [0.46875, -0.46875, 4.0, -4.0, 0.0]])
    want_erf = np.array([math.erf(v) for v in x])
    want_erfc = np.array([math.erfc(v) for v in x])
    got_erf, got_erfc = erf_array(x), erfc_array(x)
    nonzero = want_erf != 0
    assert (got_erf[~nonzero] == 0).all()
    assert np.max(np.abs(got_erf - want_erf)[nonzero] / np.abs(want_erf[nonzero])) <= 1e-14
    normal = want_erfc > 1e-300       # below this erfc is subnormal and loses relative precision anyway
    assert np.max(np.abs(got_erfc - want_erfc)[normal] / want_erfc[normal]) <= 1e-14
    assert np.isnan(erf_array(np.array([np.nan]))).all()
    np.testing.assert_array_equal(erf_array(np.array([np.inf, -np.inf])), [1.0, -1.0])
    assert erf_array(np.float32([0.5, 3.0])).dtype == np.float32


def test_erf_op_matches_torch_with_gradients():
    check_op([random_array((5, 3))], F.erf, torch_fn=torch.erf)


# ---- Flatten, Identity ------------------------------------------------------------------------------

@pytest.mark.parametrize("start, end", [(1, -1), (0, -1), (1, 2), (2, 3)])
def test_flatten_matches_torch(start, end):
    check_op([(2, 3, 4, 5)], nn.Flatten(start, end), torch_fn=torch.nn.Flatten(start, end))


# ---- Dropout ----------------------------------------------------------------------------------------

def test_dropout_keeps_the_mean_and_drops_a_fraction_p():
    x = tl.ones(400, 500)
    y = F.dropout(x, 0.3).numpy()
    n = y.size
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.3) < 5 * math.sqrt(0.3 * 0.7 / n)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs(y.mean() - 1.0) < 5 * math.sqrt(0.3 / 0.7 / n)       # std of one element: sqrt(p/(1-p))
    assert y.dtype == np.float32


def test_dropout_gradient_uses_the_same_mask():
    x = tl.Tensor(random_array((50, 40)), requires_grad=True)
    y = F.dropout(x, 0.5)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (y.numpy() != 0) * 2.0)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_with_given_mask_matches_torch(p):
    mask = np.random.default_rng(3).random((4, 6)) >= p
    check_op([(4, 6)], lambda x: F.dropout(x, p, mask=mask),
             torch_fn=lambda x: x * torch.from_numpy(mask) / (1 - p))


def test_dropout_module_is_identity_in_eval_and_draws_per_call_in_training():
    layer = nn.Dropout(0.5)
    x = tl.Tensor(random_array((30, 30)))
    a, b = layer(x).numpy(), layer(x).numpy()
    assert not np.array_equal(a, b)
    layer.eval()
    assert layer(x) is x
    assert repr(layer) == "Dropout(p=0.5)"


def test_dropout_edge_cases_and_errors():
    x = tl.Tensor(random_array((3, 4)), requires_grad=True)
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="p must be a probability"):
        F.dropout(x, 1.5)
    with pytest.raises(ValueError, match="p must be a probability"):
        nn.Dropout(-0.1)
    with pytest.raises(tl.ShapeError, match=r"mask of shape \(5,\).*\(3, 4\)"):
        F.dropout(x, 0.5, mask=np.ones(5, dtype=bool))


def test_dropout_in_float16_keeps_float16_like_torch():
    """The mask is drawn in float32 (NumPy has no float16 generator), the output stays float16."""
    x = tl.Tensor(np.ones((200, 100), np.float16), requires_grad=True)
    y = nn.Dropout(0.5)(x)
    theirs = torch.nn.Dropout(0.5)(torch.ones((200, 100), dtype=torch.float16))
    assert y.dtype == np.float16 and theirs.dtype == torch.float16
    assert set(np.unique(y.numpy())) == set(np.unique(theirs.numpy())) == {0.0, 2.0}
    assert abs(float((y.numpy() == 0).mean()) - 0.5) < 5 * math.sqrt(0.25 / y.numpy().size)
    y.sum().backward()
    assert x.grad.dtype == np.float16
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_dropout_is_reproducible_from_the_seed():
    tl.manual_seed(7)
    a = F.dropout(tl.ones(10, 10), 0.5).numpy()
    tl.manual_seed(7)
    b = F.dropout(tl.ones(10, 10), 0.5).numpy()
    np.testing.assert_array_equal(a, b)


def test_dense_and_activations_on_every_device(device):
    check_op([(4, 5)], lambda x, w, b: F.gelu(F.linear(x, w, b)) + F.leaky_relu(x).sum(),
             torch_fn=lambda x, w, b: TF.gelu(TF.linear(x, w, b)) + TF.leaky_relu(x).sum(),
             extra={"w": (3, 5), "b": (3,)}, device=device)
    y = F.dropout(tl.ones(200, 100, device=device), 0.4)
    assert y.device == device and abs(float(y.numpy().mean()) - 1.0) < 0.05
