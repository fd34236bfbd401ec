"""SGD, Adam, AdamW, RMSprop, Adagrad and Muon equal torch.optim step for step (their state too);
clip_grad_norm_ equals torch's; the schedules give torch's learning rates."""
import numpy as np
import pytest

import nn
import nn.functional as F
import tinygrad_lite as tl
from nn.serialization import load_arrays, save_arrays
from tests.bounds import U32, gamma
from tests.torch_oracle import random_array

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")

STEPS = 50
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, betas=(0.85, 0.995), eps=1e-7, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.0)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-6, weight_decay=0.02)),
    ("RMSprop", dict(lr=0.003, momentum=0.9)),
    ("RMSprop", dict(lr=0.002, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.002, centered=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.02, initial_accumulator_value=0.1, eps=1e-8)),
    ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.5)),
]
# what each optimiser keeps per parameter, by torch's names
STATE_NAMES = {"SGD": ["momentum_buffer"], "Adam": ["step", "exp_avg", "exp_avg_sq"],
               "AdamW": ["step", "exp_avg", "exp_avg_sq"],
               "RMSprop": ["step", "square_avg", "momentum_buffer", "grad_avg"], "Adagrad": ["step", "sum"]}


def _models():
    ours = nn.Sequential(nn.Dense(5, 7, dtype="float64"), nn.Tanh(), nn.Dense(7, 3, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _data():
    return random_array((16, 5)), np.random.default_rng(1).integers(0, 3, 16)


@pytest.mark.parametrize("name, config", CONFIGS, ids=[f"{n}-{'-'.join(c)}" for n, c in CONFIGS])
def test_optimiser_equals_torch_at_every_step(name, config):
    """Parameters after each of 50 steps, then every state entry, against torch's."""
    ours, theirs = _models()
    opt = getattr(nn.optim, name)(ours.parameters(), **config)
    topt = getattr(torch.optim, name)(theirs.parameters(), **config)
    x, y = _data()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(STEPS):
        batch = slice(step % 2 * 8, step % 2 * 8 + 8)      # two alternating mini-batches
        opt.zero_grad()
        F.cross_entropy(ours(tl.Tensor(x[batch])), y[batch]).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(xt[batch]), yt[batch]).backward()
        topt.step()
        for (key, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13,
                                       err_msg=f"{key} after step {step + 1}")
    ours_state = opt.state_dict()
    for i, q in enumerate(theirs.parameters()):
        for key, value in topt.state[q].items():
            assert key in STATE_NAMES[name], f"torch keeps {key}, which this test does not know"
            np.testing.assert_allclose(ours_state[f"state.{i}.{key}"], value.numpy(), rtol=1e-12, atol=1e-13,
                                       err_msg=f"state.{i}.{key}")
        assert {k for k in ours_state if k.startswith(f"state.{i}.")} == {f"state.{i}.{k}" for k in topt.state[q]}


@pytest.mark.parametrize("name, config", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                          ("AdamW", dict(lr=0.01)), ("Adagrad", dict(lr=0.1)),
                                          ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_updates_are_in_place_in_float32(name, config):
    model = nn.Sequential(nn.Dense(5, 4), nn.ReLU(), nn.Dense(4, 3))
    arrays = [p.data for p in model.parameters()]
    opt = getattr(nn.optim, name)(model.parameters(), **config)
    x, y = _data()
    before = [a.copy() for a in arrays]
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(tl.Tensor(x, dtype="float32")), y).backward()
        opt.step()
    for p, array, old in zip(model.parameters(), arrays, before):
        assert p.data is array and array.dtype == np.float32 and not np.array_equal(array, old)


@pytest.mark.parametrize("grad, error, message", [
    (lambda: np.ones(2, np.float32), TypeError, "assigned grad expected to be a Tensor or None, got ndarray"),
    (lambda: tl.Tensor(np.ones(1, np.float32)), tl.ShapeError,
     r"shape \(1,\) cannot be assigned to a tensor of shape \(2,\)"),
    (lambda: tl.Tensor(np.ones(2, np.float64)), TypeError,
     "dtype float64 cannot be assigned to a tensor of dtype float32"),
])
def test_an_assigned_gradient_is_checked_like_torch(grad, error, message):
    """p.grad = ndarray failed inside SGD's step ('memoryview' has no 'copy'); a (1,) gradient for a
    (2,) parameter was broadcast silently. torch refuses both at the assignment."""
    p = tl.Tensor(np.ones(2, np.float32), requires_grad=True)
    with pytest.raises(error, match=message):
        p.grad = grad()
    assert p.grad is None
    q, value = torch.ones(2, requires_grad=True), grad()
    with pytest.raises((TypeError, RuntimeError)):
        q.grad = torch.from_numpy(value.numpy()) if isinstance(value, tl.Tensor) else value


def test_an_assigned_gradient_of_the_right_kind_steps_like_torch():
    p, q = tl.Tensor(np.ones(2, np.float32), requires_grad=True), torch.ones(2, requires_grad=True)
    opt, topt = nn.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([q], lr=0.1, momentum=0.9)
    for _ in range(3):
        p.grad, q.grad = tl.Tensor(np.array([1.0, -2.0], np.float32)), torch.tensor([1.0, -2.0])
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-6)


def test_parameters_without_gradient_are_left_alone():
    a, b = nn.Parameter(np.ones(3)), nn.Parameter(np.ones(2))
    opt = nn.optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * a).sum().backward()
    opt.step()
    np.testing.assert_array_equal(a.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(b.numpy(), [1.0, 1.0])


def test_param_groups_take_their_own_lr():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = nn.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.numpy(), [0.9, 0.9])
    np.testing.assert_allclose(b.numpy(), [0.5, 0.5])
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("name, config", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                          ("Adam", dict(lr=0.01, weight_decay=0.1)),
                                          ("AdamW", dict(lr=0.01, weight_decay=0.1)),
                                          ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
                                          ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
                                          ("Muon", dict(lr=0.02, weight_decay=0.05))])
def test_state_dict_resumes_bit_identically_through_a_file(name, config, tmp_path):
    x, y = _data()

    def optimiser(model, **options):         # Muon takes the 2-D weights only
        params = [p for p in model.parameters() if p.ndim == 2 or name != "Muon"]
        return getattr(nn.optim, name)(params, **options)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(tl.Tensor(x)), y).backward()
            opt.step()

    model, _ = _models()
    opt = optimiser(model, **config)
    train(model, opt, 5)
    save_arrays(tmp_path / "model.npz", model.state_dict())
    save_arrays(tmp_path / "opt.npz", opt.state_dict())
    train(model, opt, 5)

    resumed, _ = _models()
    resumed.load_state_dict(load_arrays(tmp_path / "model.npz"))
    resumed_opt = optimiser(resumed, lr=123.0)
    resumed_opt.load_state_dict(load_arrays(tmp_path / "opt.npz"))
    assert resumed_opt.param_groups[0]["lr"] == config["lr"]
    train(resumed, resumed_opt, 5)
    for p, q in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.parametrize("key, value, words", [("lr", -1.0, "lr must be >= 0, got -1"),
                                               ("lr", float("nan"), "lr must be >= 0, got nan"),
                                               ("weight_decay", -0.5, "weight_decay must be >= 0"),
                                               ("lr", "fast", "lr must be a number, got 'fast'")])
def test_a_state_dict_with_a_hyperparameter_out_of_range_is_refused_and_changes_nothing(key, value, words):
    """A saved state (a checkpoint) holding lr -1 must not train with lr -1: the constructor's checks apply."""
    opt = nn.optim.Adam([nn.Parameter(np.ones(3))], lr=0.01)
    state = {**opt.state_dict(), f"param_groups.0.{key}": value}
    with pytest.raises((ValueError, TypeError), match=words):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["weight_decay"] == 0


@pytest.mark.parametrize("key, value, words", [("last_epoch", -2, "last_epoch must be a number >= 0"),
                                               ("last_epoch", 1.5, "last_epoch must be an int >= 0"),
                                               ("base_lrs.0", -1.0, "base_lrs.0 must be a number >= 0"),
                                               ("base_lrs.0", "x", "base_lrs.0 must be a number >= 0")])
def test_a_schedule_state_out_of_range_is_refused_and_changes_nothing(key, value, words):
    schedule = nn.optim.StepLR(nn.optim.SGD([nn.Parameter(np.ones(3))], lr=0.1), step_size=2)
    schedule.step()
    with pytest.raises(ValueError, match=words):
        schedule.load_state_dict({**schedule.state_dict(), key: value})
    assert schedule.last_epoch == 1 and schedule.base_lrs == [0.1]


def test_optimiser_load_state_dict_refuses_a_different_model():
    opt = nn.optim.Adam([nn.Parameter(np.ones(3))])
    (opt.param_groups[0]["params"][0].sum()).backward()
    opt.step()
    state = opt.state_dict()
    other = nn.optim.Adam([nn.Parameter(np.ones(4))])
    with pytest.raises(tl.DataError, match=r"state.0.exp_avg has shape \(3,\), but parameter 0 has shape \(4,\)"):
        other.load_state_dict(state)
    with pytest.raises(tl.DataError, match="unexpected key 'bogus'"):
        other.load_state_dict({"bogus": 1})


def test_hyperparameter_errors():
    p = [nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="lr must be >= 0, got -0.1"):
        nn.optim.SGD(p, lr=-0.1)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        nn.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas must be two numbers in"):
        nn.optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty list of parameters"):
        nn.optim.Adam([])
    with pytest.raises(ValueError, match="more than one place"):
        nn.optim.SGD(p + p, lr=0.1)
    with pytest.raises(ValueError, match=r"AdamW: betas must be two numbers in \[0, 1\)"):
        nn.optim.AdamW(p, betas=(1.5, 0.9))
    with pytest.raises(ValueError, match="RMSprop: alpha must be >= 0, got -0.5"):
        nn.optim.RMSprop(p, alpha=-0.5)
    with pytest.raises(ValueError, match="RMSprop: momentum must be >= 0"):
        nn.optim.RMSprop(p, momentum=-1)
    with pytest.raises(ValueError, match="Adagrad: lr_decay must be >= 0"):
        nn.optim.Adagrad(p, lr_decay=-0.1)
    with pytest.raises(ValueError, match="AdamW: weight_decay must be >= 0"):
        nn.optim.AdamW(p, weight_decay=-0.1)


# ---- Muon: the 2-D weights only; torch iterates its Newton-Schulz step in bfloat16 ----------------------

MUON_CONFIGS = [dict(lr=0.02), dict(lr=0.01, nesterov=False, weight_decay=0.0),
                dict(lr=0.02, momentum=0.9, adjust_lr_fn="match_rms_adamw", weight_decay=0.05),
                dict(lr=0.005, ns_steps=3, ns_coefficients=(2.0, -1.5, 0.5), eps=1e-5, adjust_lr_fn="original")]


def _muon_pair(config, models=None):
    ours, theirs = models or _models()
    opt = nn.optim.Muon([p for p in ours.parameters() if p.ndim == 2], **config)
    topt = torch.optim.Muon([p for p in theirs.parameters() if p.ndim == 2], **config)
    return ours, theirs, opt, topt


def _step_both(ours, theirs, opt, topt, batch):
    x, y = _data()
    opt.zero_grad()
    F.cross_entropy(ours(tl.Tensor(x[batch])), y[batch]).backward()
    opt.step()
    topt.zero_grad()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x[batch])), torch.from_numpy(y[batch])).backward()
    topt.step()


@pytest.mark.parametrize("config", MUON_CONFIGS, ids=lambda c: "-".join(c))
def test_muon_equals_torch_step_for_step_without_bfloat16(config, monkeypatch):
    """torch's own Muon, its Newton-Schulz iteration run in float64 instead of bfloat16 (NumPy has no
    bfloat16; ours runs in the parameter's dtype): the same weights and momentum buffers for 30 steps."""
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda t: t.clone())
    ours, theirs, opt, topt = _muon_pair(config)
    for step in range(30):
        _step_both(ours, theirs, opt, topt, slice(step % 2 * 8, step % 2 * 8 + 8))
        for (key, p), q in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-11, atol=1e-12,
                                       err_msg=f"{key} after step {step + 1}")
    weights = [q for q in theirs.parameters() if q.ndim == 2]
    state = opt.state_dict()
    for i, q in enumerate(weights):
        assert set(topt.state[q]) == {"momentum_buffer"}
        np.testing.assert_allclose(state[f"state.{i}.momentum_buffer"], topt.state[q]["momentum_buffer"].numpy(),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("config", MUON_CONFIGS, ids=lambda c: "-".join(c))
@pytest.mark.parametrize("shape", [(7, 5), (3, 8), (16, 16)])
def test_muon_step_is_torchs_to_bfloat16s_precision(config, shape):
    """One step against torch as it is, bfloat16 included, from a well-conditioned (Gaussian) gradient:
    the orthogonalised update O (entries up to about 1) agrees to a few bfloat16 roundings, 16 u =
    2^-4 in all, so the weight moves by lr * s * O within lr * s * 2^-4 of torch's (s: the lr
    adjustment). (Along tiny singular values torch's bfloat16 iteration is noisier: see Muon.)"""
    rng = np.random.default_rng(sum(shape))
    weight, grad = rng.standard_normal(shape), rng.standard_normal(shape)
    ours, theirs = nn.Parameter(weight.copy()), torch.nn.Parameter(torch.from_numpy(weight.copy()))
    ours.grad, theirs.grad = tl.Tensor(grad), torch.from_numpy(grad.copy())
    opt, topt = nn.optim.Muon([ours], **config), torch.optim.Muon([theirs], **config)
    opt.step()
    topt.step()
    scale = nn.optim.muon.ADJUST_LR[opt.param_groups[0]["adjust_lr_fn"]](*shape)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=0, atol=config["lr"] * scale * 2 ** -4)


def test_muon_refuses_what_torch_refuses():
    bias = nn.Parameter(np.ones(3))
    with pytest.raises(ValueError):
        torch.optim.Muon([torch.nn.Parameter(torch.ones(3))])
    with pytest.raises(tl.ShapeError, match=r"Muon: only 2-D parameters .* got one of shape \(3,\); give biases"):
        nn.optim.Muon([bias])
    weight = [nn.Parameter(np.ones((2, 3)))]
    with pytest.raises(ValueError, match=r"Muon: adjust_lr_fn must be None or one of .* got 'sqrt'"):
        nn.optim.Muon(weight, adjust_lr_fn="sqrt")
    with pytest.raises(ValueError, match=r"Muon: ns_steps must be an int in \[0, 100\), got 100"):
        nn.optim.Muon(weight, ns_steps=100)
    with pytest.raises(ValueError, match="Muon: momentum must be >= 0"):
        nn.optim.Muon(weight, momentum=-0.5)


# ---- clip_grad_norm_ -----------------------------------------------------------------------------

def _with_gradients(dtype="float64"):
    """Both models with the same gradients: each framework's own backward in float64 (equal to 1e-12);
    in float32 the float64 gradients rounded once, given to both, so that the clipping's arithmetic is
    all that differs (two float32 backward passes differ by their own summation orders)."""
    ours, theirs = _models()
    x, y = _data()
    F.cross_entropy(ours(tl.Tensor(x, dtype="float64")), y).backward()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    if dtype == "float32":
        grads = [p.grad.numpy().astype(np.float32) for p in ours.parameters()]
        ours.float()
        theirs.float()
        for p, q, g in zip(ours.parameters(), theirs.parameters(), grads):
            p.grad, q.grad = tl.Tensor(g), torch.from_numpy(g.copy())
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.0, float("inf"), "inf"])
@pytest.mark.parametrize("max_norm", [0.05, 1e3])
def test_clip_grad_norm_equals_torch(max_norm, norm_type, dtype):
    ours, theirs = _with_gradients(dtype)
    total = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    # float32: the norm sums n = 66 powers (torch per parameter, then over the 4 norms), each power and
    # the root a few roundings: each side within gamma(n + 8) + 8 u relative, the scaled gradients 3 u more
    n = sum(p.numel() for p in theirs.parameters())
    rtol = 1e-12 if dtype == "float64" else 2 * (gamma(n + 8) + 11 * U32)
    assert isinstance(total, tl.Tensor) and total.shape == () and total.dtype == np.dtype(dtype)
    np.testing.assert_allclose(total.numpy(), want.numpy(), rtol=rtol)
    for (key, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=1e-14 if dtype == "float64" else 0,
                                   err_msg=key)
    clipped = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type).item()
    assert clipped == pytest.approx(min(max_norm, want.item()), rel=1e-5)


def test_clip_grad_norm_single_tensor_missing_gradients_and_nonfinite():
    a, b = nn.Parameter(np.array([3.0, 4.0])), nn.Parameter(np.ones(2))
    (a * a).sum().backward()                      # b has no gradient: skipped
    assert nn.utils.clip_grad_norm_([a, b], 1.0).item() == 10.0
    np.testing.assert_allclose(a.grad.numpy(), np.array([6.0, 8.0]) / (10 + 1e-6))
    assert nn.utils.clip_grad_norm_(b, 1.0).item() == 0.0
    a.grad = tl.Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite, so it cannot be clipped"):
        nn.utils.clip_grad_norm_(a, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(a.grad.numpy(), [np.inf, 1.0])
    assert nn.utils.clip_grad_norm_(a, 1.0).item() == np.inf        # scaled by 1/inf, as torch
    np.testing.assert_array_equal(a.grad.numpy(), [np.nan, 0.0])
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        nn.utils.clip_grad_norm_(a, 1.0, norm_type=0)


# ---- schedules -----------------------------------------------------------------------------------

def _lr_sequences(make_ours, make_theirs, epochs=12):
    opt = nn.optim.SGD([nn.Parameter(np.ones(1))], lr=0.3)
    topt = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.3)
    ours, theirs = make_ours(opt), make_theirs(topt)
    got, want = [opt.param_groups[0]["lr"]], [topt.param_groups[0]["lr"]]
    for _ in range(epochs):
        topt.step()           # torch warns when a scheduler steps before its optimiser
        ours.step()
        theirs.step()
        got.append(opt.param_groups[0]["lr"])
        want.append(topt.param_groups[0]["lr"])
    assert ours.get_last_lr() == [got[-1]]
    return got, want


def test_step_lr_equals_torch():
    got, want = _lr_sequences(lambda o: nn.optim.StepLR(o, step_size=3, gamma=0.5),
                              lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
    np.testing.assert_allclose(got, want, rtol=1e-15)
    assert got[2] == 0.3 and got[3] == pytest.approx(0.15)


def test_exponential_lr_equals_torch():
    got, want = _lr_sequences(lambda o: nn.optim.ExponentialLR(o, gamma=0.9),
                              lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9))
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_inverse_time_decay_equals_torch_lambda_lr():
    got, want = _lr_sequences(lambda o: nn.optim.InverseTimeDecay(o, decay_rate=0.02),
                              lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + 0.02 * e)))
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_warmup_cosine_equals_torch_s_linear_warmup_then_cosine_annealing():
    """torch's own pieces: LinearLR from lr0 / warmup up to lr0, then CosineAnnealingLR down to 0."""
    warmup, total = 4, 14
    got, want = _lr_sequences(
        lambda o: nn.optim.WarmupCosineLR(o, warmup, total),
        lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
            torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / warmup, total_iters=warmup - 1),
            torch.optim.lr_scheduler.ConstantLR(o, factor=1.0, total_iters=0),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup)], milestones=[warmup - 1, warmup]),
        epochs=total)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[0] == pytest.approx(0.3 / 4) and got[warmup - 1] == got[warmup] == pytest.approx(0.3)
    assert got[total] == pytest.approx(0.0, abs=1e-15) and got[(warmup + total) // 2] == pytest.approx(0.15)
    with pytest.raises(ValueError, match="total_steps must be an int >= 1"):
        nn.optim.WarmupCosineLR(nn.optim.SGD([nn.Parameter(np.ones(1))], lr=0.1), 2, 0)


def test_scheduler_state_dict_round_trip():
    opt = nn.optim.SGD([nn.Parameter(np.ones(1))], lr=0.3)
    schedule = nn.optim.InverseTimeDecay(opt, decay_rate=0.1)
    for _ in range(4):
        schedule.step()
    state = schedule.state_dict()
    opt2 = nn.optim.SGD([nn.Parameter(np.ones(1))], lr=99.0)
    schedule2 = nn.optim.InverseTimeDecay(opt2, decay_rate=0.1)
    schedule2.load_state_dict(state)
    schedule.step()
    schedule2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(0.3 / 1.5)


@pytest.mark.parametrize("name, config", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                          ("AdamW", dict(lr=0.01)), ("Adagrad", dict(lr=0.1)),
                                          ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True))])
def test_optimiser_on_every_device_equals_torch(name, config, device):
    ours, theirs = _models()
    ours.to(device)
    opt = getattr(nn.optim, name)(ours.parameters(), **config)
    topt = getattr(torch.optim, name)(theirs.parameters(), **config)
    x, y = _data()
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(ours(tl.Tensor(x, device=device)), y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        topt.step()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert p.device == device
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13)
