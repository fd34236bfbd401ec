"""Module, Parameter and Sequential: registration, names and printing as torch's, state dicts, modes."""
from collections import OrderedDict

import numpy as np
import pytest

import nn
import tinygrad_lite as tl

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(4, 6)
        self.act = nn.ReLU()
        self.block = nn.Sequential(nn.Dense(6, 5), nn.Tanh(), nn.Dropout(0.25))
        self.fc2 = nn.Dense(5, 2, bias=False)

    def forward(self, x):
        return self.fc2(self.block(self.act(self.fc1(x))))


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 6)
        self.act = torch.nn.ReLU()
        self.block = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Dropout(0.25))
        self.fc2 = torch.nn.Linear(5, 2, bias=False)


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.ones((2, 3)))
    assert isinstance(p, tl.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    (p * 2).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 3), 2.0))


def test_named_parameters_and_modules_match_torch():
    ours, theirs = Net(), TorchNet()
    assert [(n, p.shape) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.children()] == ["Dense", "ReLU", "Sequential", "Dense"]
    assert len(list(ours.parameters())) == 5
    assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())


def test_repr_matches_torch():
    ours, theirs = Net(), TorchNet()
    want = repr(theirs).replace("Linear", "Dense").replace("TorchNet", "Net")
    assert repr(ours) == want.replace("Dropout(p=0.25, inplace=False)", "Dropout(p=0.25)")


def test_shared_parameters_are_listed_once():
    layer = nn.Dense(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_assignment_rules():
    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))
    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Early()
    layer = nn.Dense(2, 3)
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'weight' of Dense"):
        layer.weight = tl.zeros(3, 2)
    layer.weight = nn.Parameter(np.zeros((3, 2)))          # a new Parameter replaces the old one
    assert layer.weight.numpy().sum() == 0 and dict(layer.named_parameters())["weight"] is layer.weight
    layer.bias = None
    assert [n for n, _ in layer.named_parameters()] == ["weight"]
    layer.note = "plain attributes are just attributes"
    assert [n for n, _ in layer.named_parameters()] == ["weight"]


def test_zero_grad_train_eval():
    model = Net()
    model(tl.randn(3, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    x = tl.randn(3, 4)
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model.train()
    assert all(m.training for m in model.modules())


def test_forward_must_be_written():
    class NoForward(nn.Module):
        pass
    with pytest.raises(NotImplementedError, match="NoForward must define forward"):
        NoForward()(tl.zeros(1))


def test_sequential_indexing_len_iteration_and_apply():
    a, b, c = nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1)
    model = nn.Sequential(a, b, c)
    assert len(model) == 3 and model[0] is a and model[-1] is c and list(model) == [a, b, c]
    head = model[:2]
    assert isinstance(head, nn.Sequential) and list(head) == [a, b]
    with pytest.raises(IndexError, match="index 3 is out of range for 3 modules"):
        model[3]
    with pytest.raises(TypeError, match="item 1 must be a Module"):
        nn.Sequential(a, "relu")
    model.append(nn.Sigmoid())
    assert len(model) == 4 and [n for n, _ in model.named_children()][-1] == "3"
    visited = []
    model.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Dense", "ReLU", "Dense", "Sigmoid", "Sequential"]
    named = nn.Sequential(OrderedDict([("hidden", nn.Dense(2, 2)), ("out", nn.Dense(2, 1))]))
    assert [n for n, _ in named.named_parameters()] == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]


def test_astype_converts_parameters_and_outputs():
    model = Net()
    assert model.double() is model
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model(tl.Tensor(np.ones((2, 4)))).dtype == np.float64
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="must be a floating type"):
        model.astype("int32")


def test_to_moves_every_parameter(device):
    model = Net().to(device)
    assert all(p.device == device for p in model.parameters())
    out = model(tl.randn(2, 4, device=device))
    assert out.device == device
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    fresh = Net().to(device)
    fresh.load_state_dict(state)
    assert all(p.device == device for p in fresh.parameters())
    np.testing.assert_array_equal(fresh.fc1.weight.numpy(), model.fc1.weight.numpy())


def test_state_dict_is_an_ordered_copy():
    model = Net()
    state = model.state_dict()
    assert list(state) == ["fc1.weight", "fc1.bias", "block.0.weight", "block.0.bias", "fc2.weight"]
    state["fc1.weight"][...] = 0
    assert model.fc1.weight.numpy().any()


def test_load_state_dict_round_trip_casts_dtype_in_place():
    source, target = Net().double(), Net()
    array = target.fc1.weight.data
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target.fc1.weight.data is array and array.dtype == np.float32
    for (k, p), q in zip(source.named_parameters(), target.parameters()):
        np.testing.assert_array_equal(p.numpy().astype(np.float32), q.numpy(), err_msg=k)


def test_load_state_dict_errors_name_the_keys_and_change_nothing():
    model = Net()
    before = model.state_dict()
    state = model.state_dict()
    del state["fc1.bias"]
    state["extra.weight"] = np.zeros(3)
    state["fc2.weight"] = np.zeros((2, 7))
    with pytest.raises(tl.DataError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert "missing keys ['fc1.bias']" in message and "unexpected keys ['extra.weight']" in message
    assert "fc2.weight: model (2, 5), state_dict (2, 7)" in message
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(tl.ShapeError, match=r"fc2.weight: model \(2, 5\), state_dict \(2, 7\)"):
        model.load_state_dict(state, strict=False)


def test_load_state_dict_non_strict_reports_keys():
    model = Net()
    partial = {k: v for k, v in Net().state_dict().items() if k.startswith("fc1")}
    partial["other"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(partial, strict=False)
    assert missing == ["block.0.weight", "block.0.bias", "fc2.weight"] and unexpected == ["other"]
    np.testing.assert_array_equal(model.fc1.weight.numpy(), partial["fc1.weight"])


def test_deepcopy_gives_an_independent_model():
    import copy
    model = Net()
    clone = copy.deepcopy(model)
    clone.fc1.weight.data[...] = 0
    assert model.fc1.weight.numpy().any()
    assert isinstance(clone.fc1.weight, nn.Parameter) and [n for n, _ in clone.named_parameters()] == \
        [n for n, _ in model.named_parameters()]
