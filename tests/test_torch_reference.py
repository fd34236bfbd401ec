"""The torch twins of the replayed models: same parameter names and shapes, same forward output,
and weight conversion that loses nothing in either direction."""
import numpy as np
import pytest

import tinygrad_lite as tl
from experiments import models
from experiments.config import cnn, mlp
from experiments.models import output_shape
from experiments.sequences import TASKS

torch = pytest.importorskip("torch", reason="torch is the reference these tests compare against: pip install '.[dev]'")
from experiments.models import build_torch  # noqa: E402  (after importorskip: needs torch)
from experiments.torch_reference import copy_weights, from_torch_state, to_torch_state  # noqa: E402  (after importorskip: needs torch)

# The architectures of ASSIGNMENTS.md, spelled with the config helpers (the registry's are added below).
DOCUMENT_ARCHITECTURES = {
    "A-mlp-sigmoid": (mlp([784, 500, 250, 100, 10], "sigmoid"), (784,)),
    "B-cnn-backbone": (cnn([49, 98, 196, 392, 784], (3, 2, 2, 2, 2), "max", padding=1), (1, 28, 28)),
    "C-mlp-leaky-dropout": (mlp([784, 400, 250, 100, 10], "leaky_relu", dropout=0.2), (784,)),
    "C-cnn-gap": (cnn([16] * 5, 3, "gap", padding=1, hidden=(32,), pool_last=False), (1, 28, 28)),
    "C-cnn-avg-5x5": (cnn([32, 64, 128, 256, 512], 5, "avg", padding=2, hidden=(1024,), pool_last=False),
                      (1, 28, 28)),
    "D-lenet": (cnn([6, 16], 5, "avg", padding=0, hidden=(120, 84)), (1, 28, 28)),
    "gelu-strided": ((("conv", 4, 5, 2, 2), ("gelu",), ("maxpool", 2), ("flatten",), ("dense", 16),
                      ("tanh",), ("dropout", 0.5), ("dense", 10)), (1, 28, 28)),
}


def registry_architectures():
    """Every distinct (layers, input shape) that a registered run trains, with one run's name."""
    from experiments.registry import RUNS
    found = {}
    for name, config in RUNS.items():
        if config.dataset in TASKS:                                # tokens of a sequence task
            input_shape = (TASKS[config.dataset].length,)
        elif config.features_from:
            backbone = RUNS[config.features_from].layers
            flat = [spec[0] for spec in backbone].index("flatten")
            input_shape = output_shape(backbone, (1, 28, 28))[flat]
        else:
            first = next(spec[0] for spec in config.layers if spec[0] != "flatten")
            input_shape = (1, 28, 28) if first == "conv" else (784,)
        found.setdefault((config.layers, tuple(input_shape)), name)
    return {name: key for key, name in found.items()}


def all_architectures():
    cases = dict(DOCUMENT_ARCHITECTURES)
    cases.update({f"registry:{k}": v for k, v in registry_architectures().items()})
    return cases


ARCHITECTURES = all_architectures()


def scratch_model(layers, input_shape, dtype="float64"):
    return models.build(layers, input_shape, "torch_default").astype(dtype)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_twin_has_same_parameters_and_forward_output(name):
    torch.set_num_threads(1)
    layers, input_shape = ARCHITECTURES[name]
    ours = scratch_model(layers, input_shape)
    twin = build_torch(layers, input_shape, dtype="float64")
    our_shapes = {k: v.shape for k, v in ours.state_dict().items()}
    their_shapes = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert list(our_shapes) == list(their_shapes)          # same names, in the same order
    assert our_shapes == their_shapes
    copy_weights(ours, twin)
    tokens = layers[0][0] == "tokens"                 # a GPT: token inputs, a prediction per position
    rng = np.random.default_rng(1)
    x = rng.integers(0, 10, (2,) + tuple(input_shape)) if tokens else rng.standard_normal((2,) + tuple(input_shape))
    ours.eval()
    twin.eval()
    expected = twin(torch.from_numpy(x)).detach().numpy()
    got = ours(tl.Tensor(x)).numpy()
    assert got.shape == expected.shape == ((2,) + tuple(input_shape) + (10,) if tokens else (2, 10))
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_state_dict_round_trip_is_identity(dtype):
    layers, input_shape = DOCUMENT_ARCHITECTURES["D-lenet"]
    state = scratch_model(layers, input_shape, dtype).state_dict()
    converted = to_torch_state(state, dtype)
    assert list(converted) == list(state)
    assert all(t.dtype == getattr(torch, dtype) for t in converted.values())
    back = from_torch_state(converted)
    assert list(back) == list(state)
    for key in state:
        assert back[key].dtype == state[key].dtype
        np.testing.assert_array_equal(back[key], state[key])
    # a copy, not a view: changing the torch side leaves the scratch arrays alone
    converted["0.weight"].add_(1.0)
    np.testing.assert_array_equal(back["0.weight"], state["0.weight"])


def test_state_dict_dtype_conversion_keeps_float32_values_exactly():
    layers, input_shape = DOCUMENT_ARCHITECTURES["A-mlp-sigmoid"]
    state = scratch_model(layers, input_shape, "float32").state_dict()
    widened = from_torch_state(to_torch_state(state, "float64"))
    for key in state:
        assert widened[key].dtype == np.float64
        np.testing.assert_array_equal(widened[key].astype(np.float32), state[key])


def test_copy_weights_names_the_mismatched_parameter():
    ours = scratch_model(mlp([784, 32, 10], "relu"), (784,))
    twin = build_torch(mlp([784, 16, 10], "relu"), (784,), dtype="float64")
    with pytest.raises(ValueError, match=r"1\.weight: scratch shape \(32, 784\), torch shape \(16, 784\)"):
        copy_weights(ours, twin)


def test_unknown_layer_spec_is_refused_by_name():
    with pytest.raises(ValueError, match="'groupnorm'"):
        build_torch((("flatten",), ("groupnorm",), ("dense", 10)), (784,))


def test_leaky_relu_slope_and_exact_gelu_carry_over():
    twin = build_torch((("leaky_relu", 0.2), ("gelu",)), (3,), dtype="float64")
    assert twin[0].negative_slope == 0.2
    assert twin[1].approximate == "none"
