"""The loss modules (``nn.CrossEntropyLoss``, ...) against torch's: every functional loss has its
module; names, constructor arguments, attributes, buffers, reprs; values and gradients (of the input,
and of the target where torch differentiates it) for every reduction and option."""
import inspect

import numpy as np
import pytest

import nn
import nn.functional as F
import tinygrad_lite as tl
from nn.functional import losses
from tests.torch_oracle import check_op

torch = pytest.importorskip("torch", reason="torch is the oracle of these tests: pip install '.[dev]'")

MODULE_OF = {"cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss", "binary_cross_entropy": "BCELoss",
             "binary_cross_entropy_with_logits": "BCEWithLogitsLoss", "mse_loss": "MSELoss", "l1_loss": "L1Loss",
             "smooth_l1_loss": "SmoothL1Loss", "huber_loss": "HuberLoss", "kl_div": "KLDivLoss"}
PENALTIES = {"l1_penalty", "l2_penalty"}       # a model's weights, not (prediction, target): no module


def test_every_functional_loss_has_its_torch_module():
    public = {name for name, f in vars(losses).items()
              if inspect.isfunction(f) and f.__module__ == losses.__name__ and not name.startswith("_")}
    assert public - PENALTIES == set(MODULE_OF)
    for functional, module in MODULE_OF.items():
        assert getattr(F, functional) is getattr(losses, functional)
        assert issubclass(getattr(nn, module), nn.Module) and hasattr(torch.nn, module)
        assert hasattr(torch.nn.functional, functional)


def test_constructor_arguments_are_torchs():
    for module in MODULE_OF.values():
        ours = inspect.signature(getattr(nn, module)).parameters
        theirs = inspect.signature(getattr(torch.nn, module)).parameters
        assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()], module


def rng_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"logits": rng.standard_normal((6, 4)) * 2, "labels": rng.integers(0, 4, 6),
            "image_logits": rng.standard_normal((3, 4, 2, 2)), "image_labels": rng.integers(0, 4, (3, 2, 2)),
            "probabilities": rng.uniform(0.05, 0.95, (5, 3)), "targets": rng.random((5, 3)),
            "x": rng.standard_normal((5, 3)), "y": rng.standard_normal((5, 3)),
            "log_q": np.log(rng.dirichlet(np.ones(3), 5)), "p": rng.dirichlet(np.ones(3), 5),
            "class_weight": rng.uniform(0.2, 2.0, 4), "element_weight": rng.uniform(0.2, 2.0, 3)}


A = rng_arrays()
# (module, keyword arguments, input, target, whether the target is differentiated: torch's rule)
CASES = [
    ("CrossEntropyLoss", {}, "logits", "labels", False),
    ("CrossEntropyLoss", {"weight": "class_weight", "reduction": "sum", "label_smoothing": 0.2}, "logits", "labels",
     False),
    ("CrossEntropyLoss", {"ignore_index": 1, "reduction": "none"}, "image_logits", "image_labels", False),
    ("NLLLoss", {"weight": "class_weight"}, "logits", "labels", False),
    ("NLLLoss", {"ignore_index": 2, "reduction": "none"}, "image_logits", "image_labels", False),
    ("BCELoss", {}, "probabilities", "targets", False),
    ("BCELoss", {"weight": "element_weight", "reduction": "sum"}, "probabilities", "targets", False),
    ("BCEWithLogitsLoss", {"pos_weight": "element_weight"}, "x", "targets", True),
    ("BCEWithLogitsLoss", {"weight": "element_weight", "reduction": "none"}, "x", "targets", True),
    ("MSELoss", {}, "x", "y", True),
    ("MSELoss", {"reduction": "sum"}, "x", "y", True),
    ("L1Loss", {}, "x", "y", True),
    ("L1Loss", {"reduction": "none"}, "x", "y", True),
    ("SmoothL1Loss", {"beta": 0.5}, "x", "y", True),
    ("HuberLoss", {"delta": 0.7, "reduction": "sum"}, "x", "y", True),
    ("KLDivLoss", {"reduction": "batchmean"}, "log_q", "p", True),
    ("KLDivLoss", {"reduction": "sum", "log_target": True}, "log_q", "log_q", True),
]


def make(framework, name, kwargs):
    """The module ``name`` of ``framework`` (nn or torch.nn) with array arguments as its own tensors."""
    to_tensor = tl.Tensor if framework is nn else torch.from_numpy
    return getattr(framework, name)(**{k: to_tensor(A[v]) if isinstance(v, str) and v in A else v
                                       for k, v in kwargs.items()})


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")     # torch's advice
@pytest.mark.parametrize("name, kwargs, x, t, differentiable_target", CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values())) or 'defaults'}" for c in CASES])
def test_loss_module_matches_torch(name, kwargs, x, t, differentiable_target):
    ours, theirs = make(nn, name, kwargs), make(torch.nn, name, kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for attribute in ("reduction", "ignore_index", "label_smoothing", "beta", "delta", "log_target"):
        assert getattr(ours, attribute, None) == getattr(theirs, attribute, None), attribute
    inputs = [A[x], A[t]]
    check_op(inputs, lambda a, b: ours(a, b), lambda a, b: theirs(a, b),
             requires_grad=[True, differentiable_target])
    assert not list(ours.parameters())


def test_weights_are_buffers_moved_and_cast_with_the_module():
    criterion = nn.CrossEntropyLoss(weight=[1.0, 2.0, 0.5])
    assert isinstance(criterion.weight, tl.Tensor) and not criterion.weight.requires_grad
    assert list(criterion.state_dict()) == ["weight"]
    criterion.double()
    assert criterion.weight.dtype == np.float64
    loss = criterion(tl.Tensor(A["logits"][:, :3], requires_grad=True), A["labels"] % 3)
    want = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64))(
        torch.from_numpy(A["logits"][:, :3]), torch.from_numpy(A["labels"] % 3))
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-12)


def test_a_bad_reduction_or_weight_is_refused_when_the_module_is_made():
    with pytest.raises(ValueError, match=r"MSELoss: reduction must be one of \('mean', 'sum', 'none'\), "
                                         r"got 'batchmean'"):
        nn.MSELoss(reduction="batchmean")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
    with pytest.raises(TypeError, match="CrossEntropyLoss: weight must be a tensor of numbers, got list"):
        nn.CrossEntropyLoss(weight=["a", "b"])


@pytest.mark.parametrize("size_average, reduce, reduction", [(False, None, "sum"), (None, False, "none"),
                                                             (True, True, "mean")])
def test_torchs_deprecated_arguments_map_as_in_torch(size_average, reduce, reduction):
    with pytest.warns(UserWarning, match=f"please use reduction='{reduction}' instead"):
        ours = nn.MSELoss(size_average=size_average, reduce=reduce)
    with pytest.warns(UserWarning):
        theirs = torch.nn.MSELoss(size_average=size_average, reduce=reduce)
    assert ours.reduction == theirs.reduction == reduction


def test_a_training_step_with_a_loss_module():
    model = nn.Sequential(nn.Linear(4, 3))
    criterion = nn.CrossEntropyLoss()
    loss = criterion(model(tl.Tensor(A["logits"])), A["labels"] % 3)
    loss.backward()
    assert model[0].weight.grad is not None and loss.shape == ()
