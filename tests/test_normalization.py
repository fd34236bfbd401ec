"""Batch norm, layer norm and normalize against torch: forward, gradients, second derivatives, the
running statistics step by step, train and eval modes, and state dicts in torch's names."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
import nn.functional as F
import tinygrad_lite as tl
from tests.bounds import U32, assert_within, gamma
from tests.torch_oracle import check_double_backward, check_op, op_settings, random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")
TF = torch.nn.functional

SHAPES = [(5, 3), (4, 3, 6), (3, 2, 4, 5)]


# ---- functional batch_norm -----------------------------------------------------------------------

def float32_batch_norm_bounds(x, w, b, g, eps=1e-5, momentum=0.1):
    """How far one float32 training-mode batch norm may lie from the exact one, element by element,
    whatever order it sums in: {"y", "x", "w", "b", "running_mean", "running_var"} (output, the three
    gradients for upstream gradient ``g``, the running statistics after one step from 0 and 1).

    Per channel, over m values: the mean errs by gamma(m + 1) mean|x|; the variance (two-pass or
    E[x^2] - mean^2) by 2 gamma(m + 4) (mean x^2 + mean^2) plus what the mean's error moves it;
    1 / sqrt(var + eps) by half the variance's relative error and 3 roundings; x_hat = (x - mean) / s
    by both; the gradient g_x = w / s (g - mean g - x_hat mean(g x_hat)) by the errors of its two means
    and of x_hat, and 3 roundings of its terms; g_w and g_b are sums of m terms."""
    u = U32
    axes = (0,) + tuple(range(2, x.ndim))
    x, g = x.astype(np.float64), g.astype(np.float64)
    m = x.size // x.shape[1]
    shape = [1, -1] + [1] * (x.ndim - 2)
    w, b = (np.asarray(v, np.float64).reshape(shape) for v in (w, b))

    def mean(v):
        return v.mean(axis=axes, keepdims=True)
    mu = mean(x)
    d = x - mu
    var = mean(d * d)
    s = np.sqrt(var + eps)
    x_hat = d / s
    d_mu = gamma(m + 1) * mean(np.abs(x))
    d_var = 2 * gamma(m + 4) * (mean(x * x) + mu * mu) + 2 * (np.abs(mu) + mean(np.abs(d))) * d_mu + d_mu ** 2
    rel_inv = d_var / (2 * (var + eps)) + 3 * u
    d_x_hat = (d_mu + u * np.abs(d)) / s + np.abs(x_hat) * (rel_inv + u)
    bounds = {"y": np.abs(w) * d_x_hat + 2 * u * (np.abs(w * x_hat) + np.abs(b))}
    gw, gxw = g * w, g * w * x_hat
    d_mean_g = gamma(m + 1) * mean(np.abs(gw))
    d_mean_gx = gamma(m + 2) * mean(np.abs(gxw)) + mean(np.abs(gw) * d_x_hat)
    inner = gw - mean(gw) - x_hat * mean(gxw)
    d_inner = (d_mean_g + d_x_hat * np.abs(mean(gxw)) + np.abs(x_hat) * d_mean_gx
               + 3 * u * (np.abs(gw) + np.abs(mean(gw)) + np.abs(x_hat * mean(gxw))))
    bounds["x"] = d_inner / s + np.abs(inner) / s * (rel_inv + u)
    bounds["w"] = (gamma(m) * np.abs(g * x_hat).sum(axis=axes) + (np.abs(g) * d_x_hat).sum(axis=axes)).ravel()
    bounds["b"] = gamma(m) * np.abs(g).sum(axis=axes).ravel()
    bounds["running_mean"] = (momentum * d_mu + 2 * u * momentum * np.abs(mu)).ravel()
    bounds["running_var"] = (momentum * d_var * m / (m - 1) + 3 * u * (1 + momentum * var * m / (m - 1))).ravel()
    return bounds


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm_training_matches_torch_with_gradients(shape, dtype):
    c = shape[1]
    extra = {"w": random_array((c,), "positive"), "b": random_array((c,))}
    if dtype == "float64":
        check_op([shape], lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                 torch_fn=lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True), extra=extra)
        return
    # float32: the batch's sums are ordered differently by each framework; both keep within the
    # bound of that arithmetic, so they lie within twice it of each other
    x = random_array(shape, dtype="float32")
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    ours = {k: tl.Tensor(v.astype(np.float32), requires_grad=True) for k, v in (("x", x), *extra.items())}
    theirs = {k: torch.tensor(v.astype(np.float32), requires_grad=True) for k, v in (("x", x), *extra.items())}
    y = F.batch_norm(ours["x"], None, None, ours["w"], ours["b"], training=True)
    ty = TF.batch_norm(theirs["x"], None, None, theirs["w"], theirs["b"], training=True)
    (y * tl.Tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    bounds = float32_batch_norm_bounds(x, extra["w"].astype(np.float32), extra["b"].astype(np.float32), g)
    assert y.dtype == ours["x"].grad.dtype == np.float32
    assert_within(y.numpy(), ty.detach().numpy(), 2 * bounds["y"], "batch_norm float32 output")
    for k in ("x", "w", "b"):
        assert_within(ours[k].grad.numpy(), theirs[k].grad.numpy(), 2 * bounds[k], f"batch_norm float32 grad of {k}")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm_eval_uses_the_running_statistics(shape):
    c = shape[1]
    mean, var = random_array((c,)), random_array((c,), "positive")
    check_op([shape], lambda x, w, b: F.batch_norm(x, tl.Tensor(mean), tl.Tensor(var), w, b, training=False),
             torch_fn=lambda x, w, b: TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b),
             extra={"w": (c,), "b": (c,)})


def test_batch_norm_without_affine_parameters_matches_torch():
    check_op([(6, 4, 3)], lambda x: F.batch_norm(x, None, None, training=True, eps=1e-3),
             torch_fn=lambda x: TF.batch_norm(x, None, None, training=True, eps=1e-3))


@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 3, 2)], ids=str)
def test_batch_norm_double_backward_matches_torch(shape, device):
    c = shape[1]
    arrays = [random_array(shape), random_array((c,), "positive", np.random.default_rng(1)),
              random_array((c,), rng=np.random.default_rng(2))]
    check_double_backward(arrays, lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True) ** 2,
                          lambda x, w, b: TF.batch_norm(x, None, None, w, b, training=True) ** 2,
                          device=device)


@op_settings
@given(data=st.data())
def test_batch_norm_matches_torch_on_drawn_shapes_and_values(data):
    shape = data.draw(st.tuples(st.integers(2, 5), st.integers(1, 4), st.integers(1, 3)))
    x = data.draw(st.just(random_array(shape, rng=np.random.default_rng(data.draw(st.integers(0, 99))))))
    momentum = data.draw(st.floats(0.0, 1.0))
    ours_mean, ours_var = tl.Tensor(np.zeros(shape[1])), tl.Tensor(np.ones(shape[1]))
    theirs_mean, theirs_var = torch.zeros(shape[1], dtype=torch.float64), torch.ones(shape[1], dtype=torch.float64)
    check_op([x], lambda x: F.batch_norm(x, ours_mean, ours_var, training=True, momentum=momentum),
             torch_fn=lambda x: TF.batch_norm(x, theirs_mean, theirs_var, training=True, momentum=momentum))
    np.testing.assert_allclose(ours_mean.numpy(), theirs_mean.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ours_var.numpy(), theirs_var.numpy(), rtol=1e-12, atol=1e-15)


def test_batch_norm_errors_name_the_argument():
    x = tl.Tensor(np.ones((4, 3)))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(tl.Tensor(np.ones((1, 3))), None, None, training=True)
    with pytest.raises(ValueError, match="running_mean and running_var must be given"):
        F.batch_norm(x, None, None)
    with pytest.raises(tl.ShapeError, match=r"weight must have shape \(3,\).*got \(4,\)"):
        F.batch_norm(x, None, None, tl.Tensor(np.ones(4)), training=True)
    with pytest.raises(tl.ShapeError, match="at least 2-d"):
        F.batch_norm(tl.Tensor(np.ones(3)), None, None, training=True)


# ---- the BatchNorm modules -------------------------------------------------------------------------

MODULE_CASES = [
    ("BatchNorm1d", (8, 3), dict()),
    ("BatchNorm1d", (6, 4, 5), dict(momentum=0.3, eps=1e-3)),
    ("BatchNorm1d", (6, 3), dict(momentum=None)),
    ("BatchNorm2d", (4, 3, 5, 5), dict()),
    ("BatchNorm2d", (4, 3, 2, 3), dict(bias=False, momentum=0.5)),
    ("BatchNorm2d", (4, 3, 5, 5), dict(momentum=None, affine=False)),
    ("BatchNorm2d", (3, 2, 4, 4), dict(track_running_stats=False)),
    ("BatchNorm2d", (3, 2, 4, 4), dict(affine=False, track_running_stats=False, momentum=None)),
]


def _batchnorm_pair(name, shape, config):
    ours = getattr(nn, name)(shape[1], dtype="float64", **config)
    theirs = getattr(torch.nn, name)(shape[1], dtype=torch.float64, **config)
    if ours.weight is not None:
        ours.weight.data[...] = random_array(shape[1], "positive", np.random.default_rng(7))
    if ours.bias is not None:
        ours.bias.data[...] = random_array(shape[1], rng=np.random.default_rng(8))
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("name, shape, config", MODULE_CASES, ids=lambda v: str(v))
def test_batchnorm_module_matches_torch_over_steps_in_train_and_eval(name, shape, config):
    """Ten training batches (outputs, gradients and running statistics after each), then eval."""
    ours, theirs = _batchnorm_pair(name, shape, config)
    rng = np.random.default_rng(3)
    for step in range(10):
        x = 2.0 * rng.standard_normal(shape) + rng.uniform(-1, 1)
        v = rng.standard_normal(shape)
        xo, xt = tl.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yo, yt = ours(xo), theirs(xt)
        np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        (yo * tl.Tensor(v)).sum().backward()
        (yt * torch.tensor(v)).sum().backward()
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        for key, value in theirs.state_dict().items():
            np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{key} after step {step + 1}")
        for p, q in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    check_op([x], ours, torch_fn=theirs, rtol=1e-12, atol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_batchnorm_state_dict_has_torch_names_and_loads_torch_numbers():
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU()).double()
    theirs.train()
    for _ in range(3):
        theirs(torch.randn(4, 1, 6, 6, dtype=torch.float64))
    ours = nn.Sequential(nn.Conv2d(1, 3, 3, dtype="float64"), nn.BatchNorm2d(3, dtype="float64"), nn.ReLU())
    assert list(ours.state_dict()) == list(theirs.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert ours[1].num_batches_tracked.item() == 3 and ours[1].num_batches_tracked.dtype == np.int64
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6))
    np.testing.assert_allclose(ours(tl.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-13)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def test_batchnorm_in_float32_matches_torch():
    """The module in float32, one training step: output, input gradient and running statistics within
    twice the float32 arithmetic's bound (100 values per channel summed in each framework's order)."""
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    x = random_array((4, 3, 5, 5), dtype="float32")
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    xo, xt = tl.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(xo), theirs(xt)
    (y * tl.Tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    bounds = float32_batch_norm_bounds(x, np.ones(3), np.zeros(3), g)
    assert y.dtype == xo.grad.dtype == ours.running_var.dtype == np.float32
    assert_within(y.numpy(), ty.detach().numpy(), 2 * bounds["y"], "BatchNorm2d float32 output")
    assert_within(xo.grad.numpy(), xt.grad.numpy(), 2 * bounds["x"], "BatchNorm2d float32 input gradient")
    for name in ("running_mean", "running_var"):
        assert_within(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), 2 * bounds[name], name)


def test_batchnorm_repr_and_errors_as_torch():
    assert repr(nn.BatchNorm2d(3)) == repr(torch.nn.BatchNorm2d(3))
    assert repr(nn.BatchNorm1d(4, momentum=None, affine=False)) == repr(
        torch.nn.BatchNorm1d(4, momentum=None, affine=False))
    with pytest.raises(tl.ShapeError, match="expected a 4-d input"):
        nn.BatchNorm2d(3)(tl.Tensor(np.ones((2, 3))))
    with pytest.raises(tl.ShapeError, match="expected 3 channels on axis 1"):
        nn.BatchNorm1d(3)(tl.Tensor(np.ones((2, 4))))
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        nn.BatchNorm1d(0)


def test_batchnorm_reset_running_stats():
    bn = nn.BatchNorm1d(2)
    bn(tl.Tensor(np.arange(8.0).reshape(4, 2)))
    assert bn.num_batches_tracked.item() == 1 and bn.running_mean.numpy().any()
    bn.reset_running_stats()
    assert bn.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(bn.running_mean.numpy(), [0, 0])
    np.testing.assert_array_equal(bn.running_var.numpy(), [1, 1])


# ---- buffers ---------------------------------------------------------------------------------------

def test_buffers_are_saved_moved_and_cast_but_not_parameters(device):
    model = nn.Sequential(nn.Dense(3, 2), nn.BatchNorm1d(2))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    model.to(device)
    assert all(b.device == device for b in model.buffers())
    model(tl.Tensor(np.ones((4, 3), dtype=np.float32), device=device))
    model.double()
    assert model[1].running_mean.dtype == np.float64 and model[1].num_batches_tracked.dtype == np.int64
    assert model[1].num_batches_tracked.item() == 1
    assert not any(b.requires_grad for b in model.buffers())


def test_register_buffer_persistent_and_errors():
    m = nn.Module()
    m.register_buffer("kept", tl.Tensor([1.0, 2.0]))
    m.register_buffer("scratch", tl.Tensor([3.0]), persistent=False)
    m.register_buffer("absent", None)
    assert list(m.state_dict()) == ["kept"]
    assert [n for n, _ in m.named_buffers()] == ["kept", "scratch"]
    m.kept = tl.Tensor([5.0, 6.0])                 # reassigning keeps it a buffer, as torch
    np.testing.assert_array_equal(m.state_dict()["kept"], [5.0, 6.0])
    with pytest.raises(TypeError, match="buffer 'kept'"):
        m.kept = 3.0
    with pytest.raises(TypeError, match="not a Parameter"):
        m.register_buffer("w", nn.Parameter(np.ones(2)))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("training", tl.Tensor([1.0]))
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", tl.Tensor([1.0]))
    del m.kept
    assert list(m.state_dict()) == []
    assert list(m.parameters()) == []


def test_state_dict_round_trip_through_a_file_keeps_the_running_statistics(tmp_path):
    a = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    a(tl.Tensor(random_array((3, 1, 5, 5), dtype="float32")))
    a.save(tmp_path / "bn.npz")
    b = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)).load(tmp_path / "bn.npz")
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        np.testing.assert_array_equal(x, y, err_msg=key)
        assert x.dtype == y.dtype
    with pytest.raises(tl.DataError, match="missing keys.*running_var"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if "running_var" not in k})


# ---- layer_norm ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)), ((3, 2, 2, 3), (3,))], ids=str)
def test_layer_norm_matches_torch_with_gradients(shape, normalized, dtype):
    norm = (normalized,) if isinstance(normalized, int) else normalized
    check_op([shape], lambda x, w, b: F.layer_norm(x, normalized, w, b),
             torch_fn=lambda x, w, b: TF.layer_norm(x, norm, w, b),
             extra={"w": random_array(norm, "positive"), "b": random_array(norm)}, dtype=dtype,
             **({} if dtype == "float64" else dict(rtol=1e-5, atol=1e-5)))


def test_layer_norm_double_backward_matches_torch(device):
    arrays = [random_array((3, 4)), random_array((4,), "positive", np.random.default_rng(1)),
              random_array((4,), rng=np.random.default_rng(2))]
    check_double_backward(arrays, lambda x, w, b: F.layer_norm(x, 4, w, b).tanh(),
                          lambda x, w, b: TF.layer_norm(x, (4,), w, b).tanh(), device=device)


@pytest.mark.parametrize("config", [dict(), dict(eps=1e-3, bias=False), dict(elementwise_affine=False)], ids=str)
def test_layernorm_module_matches_torch(config):
    ours = nn.LayerNorm((3, 4), dtype="float64", **config)
    theirs = torch.nn.LayerNorm((3, 4), dtype=torch.float64, **config)
    if ours.weight is not None:
        ours.weight.data[...] = random_array((3, 4), "positive")
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    check_op([(2, 3, 4)], ours, torch_fn=theirs)
    assert repr(ours) == repr(theirs)


def test_layer_norm_errors():
    with pytest.raises(tl.ShapeError, match=r"last axes must be normalized_shape \(4,\)"):
        F.layer_norm(tl.Tensor(np.ones((2, 3))), 4)
    with pytest.raises(ValueError, match="normalized_shape must be a positive int"):
        nn.LayerNorm(0)


# ---- normalize -------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("p, dim", [(2.0, 1), (1.0, 0), (3.0, -1), (0.5, 1), (math.inf, 1), (0, 1), (-1, 0),
                                    (-2.5, 1), (-math.inf, -1)])
def test_normalize_matches_torch_with_gradients(p, dim, dtype):
    x = random_array((3, 4), "nonzero", dtype=dtype)
    check_op([x], lambda x: F.normalize(x, p=p, dim=dim), torch_fn=lambda x: TF.normalize(x, p=p, dim=dim),
             dtype=dtype)


@pytest.mark.parametrize("p", [2.0, 3.0, math.inf, 0.5, 0, -1, -math.inf])
def test_normalize_zero_vector_and_tiny_norms_as_torch(p):
    """Zero vectors and zeros inside vectors: p < 1 (|x|^p's infinite slope at 0) and p < 0 (a norm of
    0, then eps) included; p = 0 and -1 raised before."""
    x = random_array((3, 4))
    x[1] = 0.0
    x[2] *= 1e-14
    check_op([x], lambda x: F.normalize(x, p=p), torch_fn=lambda x: TF.normalize(x, p=p))


def test_normalize_inf_norm_shares_the_gradient_among_ties():
    check_op([np.array([[1.0, -2.0, 2.0], [0.5, 0.25, -0.5]])], lambda x: F.normalize(x, p=math.inf),
             torch_fn=lambda x: TF.normalize(x, p=math.inf))


def test_normalize_double_backward_matches_torch(device):
    x = random_array((3, 4), "nonzero")
    check_double_backward([x], lambda x: F.normalize(x, dim=1), lambda x: TF.normalize(x, dim=1), device=device)
    check_double_backward([x], lambda x: F.normalize(x, p=3.0, dim=0), lambda x: TF.normalize(x, p=3.0, dim=0),
                          device=device)
    check_double_backward([x], lambda x: F.normalize(x, p=-1, dim=0), lambda x: TF.normalize(x, p=-1, dim=0),
                          device=device)


def test_normalize_errors():
    with pytest.raises(ValueError, match="p must be a number"):
        F.normalize(tl.Tensor(np.ones((2, 3))), p=float("nan"))
    with pytest.raises(tl.ShapeError, match="dim must be an int in"):
        F.normalize(tl.Tensor(np.ones((2, 3))), dim=2)
