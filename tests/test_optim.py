"""SGD and Adam equal torch.optim step for step; the schedules give torch's learning rates."""
import numpy as np
import pytest

import nn
import nn.functional as F
import tinygrad_lite as tl
from nn.serialization import load_arrays, save_arrays
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
]


def _models():
    ours = nn.Sequential(nn.Dense(5, 7, dtype="float64"), nn.Tanh(), nn.Dense(7, 3, dtype="float64"))
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _data():
    return random_array((16, 5)), np.random.default_rng(1).integers(0, 3, 16)


@pytest.mark.parametrize("name, config", CONFIGS, ids=[f"{n}-{'-'.join(c)}" for n, c in CONFIGS])
def test_optimiser_equals_torch_at_every_step(name, config):
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


@pytest.mark.parametrize("name, config", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01))])
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
                                          ("Adam", dict(lr=0.01, weight_decay=0.1))])
def test_state_dict_resumes_bit_identically_through_a_file(name, config, tmp_path):
    x, y = _data()

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(tl.Tensor(x)), y).backward()
            opt.step()

    model, _ = _models()
    opt = getattr(nn.optim, name)(model.parameters(), **config)
    train(model, opt, 5)
    save_arrays(tmp_path / "model.npz", model.state_dict())
    save_arrays(tmp_path / "opt.npz", opt.state_dict())
    train(model, opt, 5)

    resumed, _ = _models()
    resumed.load_state_dict(load_arrays(tmp_path / "model.npz"))
    resumed_opt = getattr(nn.optim, name)(resumed.parameters(), lr=123.0)
    resumed_opt.load_state_dict(load_arrays(tmp_path / "opt.npz"))
    assert resumed_opt.param_groups[0]["lr"] == config["lr"]
    train(resumed, resumed_opt, 5)
    for p, q in zip(model.parameters(), resumed.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


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


@pytest.mark.parametrize("name, config", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01))])
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
