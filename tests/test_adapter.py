"""Both framework adapters keep the loop's contract, ``experiments.adapter.Adapter`` (a Protocol):
every member there, each method taking the Protocol's arguments; and a RunConfig's optimiser
options reach both adapters' optimisers."""
import inspect

import numpy as np
import pytest

from experiments.adapter import Adapter
from experiments.data import RunData
from experiments.registry import RUNS
from experiments.torch_reference import TorchAdapter
from experiments.train import ScratchAdapter

torch = pytest.importorskip("torch")          # TorchAdapter imports it when built

METHODS = sorted(name for name, member in vars(Adapter).items()
                 if inspect.isfunction(member) and not name.startswith("_"))


def _adapters():
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64)
    data = RunData(x, y, x[:16], y[:16], x[:16], y[:16], [str(i) for i in range(10)])
    config = RUNS["B-mlp"].with_overrides(epochs=1, batch_size=32, lr=0.03,
                                          optimizer_options={"momentum": 0.9, "nesterov": True, "weight_decay": 1e-3})
    scratch = ScratchAdapter(config, data)
    return scratch, TorchAdapter(config, data, scratch.state_dict())


def _argument_names(function):
    return [p.name for p in inspect.signature(function).parameters.values()][1:]     # without self


def test_both_adapters_are_adapters_with_the_protocol_s_signatures():
    assert METHODS == ["batches", "evaluate", "host", "load_state_dict", "lr", "schedule_step", "state_dict", "step"]
    for adapter in _adapters():
        assert isinstance(adapter, Adapter), type(adapter).__name__
        for name in METHODS:
            ours, theirs = _argument_names(getattr(Adapter, name)), _argument_names(getattr(type(adapter), name))
            extra = list(inspect.signature(getattr(type(adapter), name)).parameters.values())[1 + len(ours):]
            assert theirs[:len(ours)] == ours, f"{type(adapter).__name__}.{name}{tuple(theirs)}: expected {ours}"
            assert all(p.default is not p.empty for p in extra), f"{type(adapter).__name__}.{name}: extra arguments"
        assert adapter.n_batches == 2 and set(adapter.splits) == {"train", "val", "test"}


def test_an_object_missing_a_member_is_not_an_adapter():
    scratch, _ = _adapters()

    class Partial:
        n_batches, splits = scratch.n_batches, scratch.splits

    for name in METHODS[:-1]:
        setattr(Partial, name, getattr(ScratchAdapter, name))
    assert METHODS[-1] == "step" and not isinstance(Partial(), Adapter)      # no step: not an adapter
    Partial.step = ScratchAdapter.step
    assert isinstance(Partial(), Adapter)


def test_a_run_config_s_optimiser_options_reach_both_optimisers():
    for adapter in _adapters():
        group = adapter.optimizer.param_groups[0]
        assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (0.03, 0.9, True, 1e-3)
        assert group["dampening"] == 0.0                                   # nn.optim.SGD's default, on both sides
