"""The optimiser and schedule tables (``experiments.optimizers``): each row builds the same optimiser
(or schedule) in both frameworks, with every option a RunConfig can give, and torch is the oracle of
its steps; the command line's --lr reaches the optimiser through one ``Overrides``."""
import json

import numpy as np
import pytest

import nn
import tinygrad_lite as tl
from experiments import cli, optimizers
from experiments.config import Overrides, RunConfig
from experiments.registry import RUNS

torch = pytest.importorskip("torch")

# each row with its options away from their defaults; between them, every option of every row
CASES = [
    ("sgd", {"momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("sgd", {"momentum": 0.8, "nesterov": True}),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.01}),
    ("adamw", {"betas": (0.85, 0.995), "eps": 1e-7, "weight_decay": 0.1}),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01, "momentum": 0.5, "centered": True}),
    ("adagrad", {"lr_decay": 0.01, "weight_decay": 0.01, "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("muon", {"weight_decay": 0.05, "momentum": 0.9, "nesterov": False, "ns_coefficients": (2.0, -1.5, 0.5),
              "eps": 1e-5, "ns_steps": 3, "adjust_lr_fn": "match_rms_adamw"}),
]
SCHEDULE_CASES = [("inverse_time", 0.5), ("step", 3, 0.5), ("exponential", 0.9), ("warmup_cosine", 3)]


def config(**changes):
    return RunConfig(**{"name": "table", "document": "-", "title": "-", "dataset": "mnist", "layers": (),
                        "epochs": 2, **changes})


def test_the_cases_reach_every_row_and_every_option():
    assert {name for name, _ in CASES} == set(optimizers.OPTIMIZERS)
    for name in optimizers.OPTIMIZERS:
        given = set().union(*(options for row, options in CASES if row == name))
        assert given == set(optimizers.option_names(name)), name
    assert {case[0] for case in SCHEDULE_CASES} == set(optimizers.SCHEDULES)


def _loss(weights, x):
    """sum((tanh(x W1ᵀ) W2ᵀ)²), in either framework: 2-D weights only (Muon takes no biases)."""
    h = (x @ weights[0].T).tanh() @ weights[1].T
    return (h * h).sum()


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{'-'.join(o)}" for n, o in CASES])
def test_a_row_builds_the_same_optimiser_on_both_sides_and_steps_as_torch(name, options, monkeypatch):
    monkeypatch.setattr(torch.Tensor, "bfloat16", lambda t: t.clone())   # torch's Muon iterates in bfloat16
    cfg = config(optimizer=name, lr=0.02, optimizer_options=options)
    rng = np.random.default_rng(len(name))
    start = [rng.standard_normal((4, 3)), rng.standard_normal((2, 4))]
    ours = [nn.Parameter(w.copy()) for w in start]
    theirs = [torch.nn.Parameter(torch.from_numpy(w.copy())) for w in start]
    opt = optimizers.build_optimizer(cfg, ours)
    topt = optimizers.build_optimizer(cfg, theirs, torch=torch)
    assert type(opt).__name__ == type(topt).__name__
    for key in ["lr", *optimizers.option_names(name)]:
        value, twin = opt.param_groups[0][key], topt.param_groups[0][key]
        assert (tuple(value) if isinstance(value, (tuple, list)) else value) == \
            (tuple(twin) if isinstance(twin, (tuple, list)) else twin), key
    for key, value in options.items():                                   # the RunConfig's value, not a default
        assert opt.param_groups[0][key] == value
    for step in range(3):
        x = rng.standard_normal((5, 3))
        opt.zero_grad()
        _loss(ours, tl.Tensor(x)).backward()
        opt.step()
        topt.zero_grad()
        _loss(theirs, torch.from_numpy(x)).backward()
        topt.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} after step {step + 1}")


@pytest.mark.parametrize("schedule", SCHEDULE_CASES, ids=[case[0] for case in SCHEDULE_CASES])
def test_a_schedule_row_gives_torch_s_rates(schedule):
    cfg = config(schedule=schedule, lr=0.1)
    opt = optimizers.build_optimizer(cfg, [nn.Parameter(np.zeros(2))])
    topt = optimizers.build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], torch=torch)
    ours = optimizers.build_schedule(cfg, opt, batches_per_epoch=4)
    theirs = optimizers.build_schedule(cfg, topt, batches_per_epoch=4, torch=torch)
    rates = [], []
    for _ in range(8):                           # 2 epochs of 4 steps: every step or every epoch alike
        for rate, optimizer, sched in zip(rates, (opt, topt), (ours, theirs)):
            rate.append(optimizer.param_groups[0]["lr"])
            optimizer.step()                     # no gradient: nothing moves (torch wants a step first)
            sched.step()
    np.testing.assert_allclose(rates[0], rates[1], rtol=1e-15)
    assert len(set(rates[0])) > 1                                   # the rate did move


def test_options_outside_the_row_are_refused_by_name():
    with pytest.raises(ValueError, match=r"optimizer_options \['nesterov'\] are not options of 'adam'; expected "
                                         r"one of \['betas', 'eps', 'weight_decay'\]"):
        optimizers.check(config(optimizer="adam", optimizer_options={"nesterov": True}))
    with pytest.raises(ValueError, match=r"\['lr'\] are not options of 'sgd'; expected RunConfig.lr"):
        optimizers.check(config(optimizer_options={"lr": 0.1}))
    with pytest.raises(ValueError, match=r"schedule must start with one of \['exponential', .*got \('cosine',\)"):
        optimizers.check(config(schedule=("cosine",)))


def test_overrides_change_only_what_they_name_and_say_what_changed():
    base = RUNS["B-mlp"]
    resolved, changed = Overrides(lr=0.5, epochs=base.epochs).apply(base)
    assert resolved == RunConfig(**{**base.to_dict(), "lr": 0.5})
    assert changed == {"lr": {"document": base.lr, "used": 0.5}}      # the same epochs is no change
    assert Overrides().apply(base) == (base, {})


def test_the_cli_s_lr_is_applied_once_and_reaches_both_optimisers(tmp_path, data_root, monkeypatch):
    """--lr 0.0321: one ``Overrides.apply`` per run; the resolved RunConfig in metrics.json, and the
    rate each epoch's row reads from the optimiser's param group, scratch and torch."""
    applied = []
    real = Overrides.apply
    monkeypatch.setattr(Overrides, "apply", lambda self, c: applied.append(c.name) or real(self, c))
    monkeypatch.setenv("TINYGRAD_LITE_DATA", str(data_root))
    assert cli.main(["run", "B-mlp", "--epochs", "1", "--subset", "100", "--lr", "0.0321", "--no-progress",
                     "--no-report", "--out", str(tmp_path)]) == 0
    assert applied == ["B-mlp"]
    metrics = json.loads((tmp_path / "B-mlp" / "metrics.json").read_text())
    assert metrics["config"]["lr"] == 0.0321 and metrics["config"]["epochs"] == 1
    assert metrics["overrides"]["lr"] == {"document": RUNS["B-mlp"].lr, "used": 0.0321}
    assert metrics["history"]["epochs"][0]["lr"] == 0.0321
    assert metrics["torch"]["history"]["epochs"][0]["lr"] == 0.0321
