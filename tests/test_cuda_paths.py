"""The code paths a CUDA run takes, exercised on the CPU with stand-ins shaped like CuPy's objects
(``fake_cupy``): where each of these once crashed or went wrong on CuPy, the test fails on the CPU.
The real thing runs in the ``cuda``-marked tests on a GPU (``scripts/gpu_check.sh``)."""
import types

import numpy as np
import pytest
from hypothesis import given, strategies as st

import nn
import tinygrad_lite as tl
from tinygrad_lite import backend

import fake_cupy


@pytest.fixture
def cupy_module(monkeypatch):
    """A stand-in for the cupy module, returned where the backend would import CuPy."""
    module = types.SimpleNamespace(ndarray=fake_cupy.ndarray, asarray=fake_cupy.ndarray, __name__="cupy")
    monkeypatch.setattr(backend, "_import_cupy", lambda: module)
    return module


def test_a_cupy_array_is_known_by_its_type_before_cupy_is_imported(cupy_module):
    array = fake_cupy.ndarray(np.arange(6.0).reshape(2, 3))
    assert backend._cupy is None or tl.cuda_available()       # this process never imported CuPy
    assert backend.is_cupy_array(array) and not backend.is_cupy_array(np.zeros(2))
    assert backend.array_module(array) is cupy_module
    assert backend.device_of(array) == "cuda"
    np.testing.assert_array_equal(backend.as_numpy(array), np.arange(6.0).reshape(2, 3))
    assert backend.array_module(np.zeros(2)) is np and backend.array_module(3.0) is np
    assert backend.array_module(device="cuda") is cupy_module and backend.array_module(device="cpu") is np
    assert tl.Tensor([1.0]).array_module is np
    with pytest.warns(DeprecationWarning, match="array_module"):     # 0.1's public name, kept as an alias
        assert tl.get_array_module(array) is cupy_module


def test_load_state_dict_takes_cupy_arrays():
    model = nn.Dense(3, 2)
    saved = {k: v + 1 for k, v in model.state_dict().items()}
    model.load_state_dict({k: fake_cupy.ndarray(v) for k, v in saved.items()})
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, saved[k])


def test_a_dataloader_takes_cupy_arrays():
    from tinygrad_lite.dataloader import DataLoader, TensorDataset
    x, y = np.arange(12.0, dtype=np.float32).reshape(6, 2), np.arange(6)
    loader = DataLoader(TensorDataset(fake_cupy.ndarray(x), fake_cupy.ndarray(y)), 4, shuffle=False)
    (xb, yb), (xb2, _) = list(loader)
    np.testing.assert_array_equal(xb.data, x[:4])
    np.testing.assert_array_equal(yb.data, y[:4])
    np.testing.assert_array_equal(xb2.data, x[4:])


def test_save_arrays_takes_the_values_of_a_cupy_array_not_its_memory_pointer(tmp_path):
    from nn.serialization import load_arrays, save_arrays
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    save_arrays(tmp_path / "a.npz", {"w": fake_cupy.ndarray(values), "t": tl.Tensor(values)})
    loaded = load_arrays(tmp_path / "a.npz")
    np.testing.assert_array_equal(loaded["w"], values)
    np.testing.assert_array_equal(loaded["t"], values)


def test_an_optimizer_loads_state_held_in_device_tensors():
    model = nn.Dense(3, 2)
    optimizer = nn.optim.Adam(model.parameters(), lr=0.1)
    model(tl.ones((4, 3))).sum().backward()
    optimizer.step()
    saved = optimizer.state_dict()
    on_device = {k: tl.Tensor._wrap(fake_cupy.ndarray(v)) if k.startswith("state.") and np.ndim(v) else v
                 for k, v in saved.items()}
    fresh = nn.optim.Adam(nn.Dense(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(on_device)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, saved[k])


def _on_the_gpu(values):
    """A Tensor whose data is a stand-in CuPy array: its ``device`` says 'cuda'."""
    return tl.Tensor._wrap(fake_cupy.ndarray(np.asarray(values, dtype=np.float32)))


@pytest.mark.parametrize("op", [
    lambda cpu, gpu, gpu_row: tl.concatenate([cpu, gpu]),
    lambda cpu, gpu, gpu_row: nn.functional.linear(cpu, gpu),
    lambda cpu, gpu, gpu_row: nn.functional.linear(cpu, cpu, gpu_row),
    lambda cpu, gpu, gpu_row: tl.where(np.array([True, False]), cpu[0], gpu_row),
    lambda cpu, gpu, gpu_row: cpu + gpu,
], ids=["concatenate", "linear-weight", "linear-bias", "where", "add"])
def test_mixed_devices_are_one_device_error(cupy_module, op):
    cpu, gpu, gpu_row = tl.ones((2, 2)), _on_the_gpu(np.ones((2, 2))), _on_the_gpu(np.ones(2))
    with pytest.raises(tl.DeviceError, match=r"must be on one device, got [a-z, ]*(cpu, cuda|cuda, cpu)"):
        op(cpu, gpu, gpu_row)


def test_where_moves_the_condition_to_the_operands_device(cupy_module):
    condition = fake_cupy.ndarray(np.array([True, False, True]))   # the reverse trip: GPU condition, CPU data
    a, b = tl.Tensor([1.0, 2.0, 3.0], requires_grad=True), tl.Tensor([10.0, 20.0, 30.0])
    y = tl.where(condition, a, b)
    np.testing.assert_array_equal(y.data, [1.0, 20.0, 3.0])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 0.0, 1.0])


def test_the_install_hint_names_the_extras_setup_cfg_offers_and_how_to_pick(monkeypatch):
    import configparser
    import re
    import sys

    from conftest import REPO
    monkeypatch.setitem(sys.modules, "cupy", None)           # import cupy raises ImportError
    monkeypatch.setattr(backend, "_cupy", None)
    with pytest.raises(tl.DeviceError) as caught:
        backend.resolve_device("cuda")
    message = str(caught.value)
    assert "nvidia-smi" in message and "device='cpu'" in message and "\n" not in message
    named = re.findall(r"tinygrad_lite\[(\w+)\]", message)
    assert sorted(named) == ["cuda12", "cuda13"]
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    extras = config["options.extras_require"]
    for extra in named:            # each named extra holds the CuPy wheel built for its CUDA version
        cupy = [p for p in extras[extra].split() if p.startswith("cupy")]
        assert len(cupy) == 1 and cupy[0].startswith(f"cupy-cuda{extra[4:]}x>="), (extra, cupy)
    assert "cuda" not in extras        # the old extra installed the CUDA 12 wheel whatever the driver


def test_a_warning_while_importing_cupy_is_one_device_error_naming_it(monkeypatch):
    """Warnings are errors under pytest: CuPy's import-time warning about two CuPy packages side by
    side must become a DeviceError (so cuda_available() is False), not escape as a UserWarning."""
    import sys

    class WarnsOnImport:
        def find_spec(self, name, path=None, target=None):
            if name == "cupy":
                raise UserWarning("\n----\n  CuPy may not function correctly because multiple CuPy "
                                  "packages are installed in your environment:\n  cupy-cuda12x, cupy-cuda13x")
            return None

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [WarnsOnImport()] + sys.meta_path)
    monkeypatch.setattr(backend, "_cupy", None)
    with pytest.raises(tl.DeviceError, match="importing CuPy warned.*multiple CuPy packages.*cupy-cuda13x"):
        backend.resolve_device("cuda")
    assert not backend.cuda_available()


@st.composite
def shapes_and_indices(draw):
    """A shape and an index into it: ints and integer arrays (in range or not), slices, None, at most
    one Ellipsis, and boolean arrays of the right length, never more items than axes."""
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    items, axis = [], 0
    while axis < len(shape) and draw(st.booleans()):
        n = shape[axis]
        kind = draw(st.sampled_from(["int", "array", "slice", "none", "bool"]))
        if kind == "int":
            items.append(draw(st.integers(-6, 6)))
        elif kind == "array":
            items.append(np.array(draw(st.lists(st.integers(-6, 6), min_size=0, max_size=3)), dtype=np.int64))
        elif kind == "slice":
            items.append(slice(draw(st.integers(-6, 6)), None))
        elif kind == "bool":
            items.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool))
        else:
            items.append(None)
            continue
        axis += 1
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), Ellipsis)
    return shape, tuple(items)


@given(shapes_and_indices())
def test_the_index_bounds_check_refuses_exactly_what_numpy_refuses(case):
    """NumPy is the oracle: CuPy wraps, so on a GPU this check is what stands in for NumPy's."""
    from tinygrad_lite.ops.shape import check_index_bounds
    shape, index = case
    try:
        np.zeros(shape)[index]
        numpy_says = None
    except IndexError as exc:
        numpy_says = str(exc)
    try:
        check_index_bounds(shape, index, "getitem")
        ours = None
    except IndexError as exc:
        ours = str(exc)
    if numpy_says is not None and "out of bounds" in numpy_says:
        assert ours is not None, (shape, index, numpy_says)
    if ours is not None:              # NumPy refuses it too, though maybe for another reason first
        assert numpy_says is not None, (shape, index, ours)
    if ours is not None:
        assert ours.startswith("getitem: index ") and "is out of bounds for axis" in ours


def test_an_out_of_range_index_on_the_gpu_raises_instead_of_wrapping(cupy_module):
    x = _on_the_gpu(np.arange(10.0).reshape(5, 2))
    for index in (10, -6, [0, 7], (slice(None), 2), (Ellipsis, [[1], [-3]])):
        with pytest.raises(IndexError, match="out of bounds for axis"):
            x[index]
    np.testing.assert_array_equal(backend.as_numpy(x[[4, -5]].data), [[8.0, 9.0], [0.0, 1.0]])


def test_a_host_index_goes_to_the_device_once_for_forward_and_backward(cupy_module):
    x = _on_the_gpu(np.arange(10.0).reshape(5, 2)).requires_grad_()
    y = x[[0, 3, 3]]
    assert backend.is_cupy_array(y._creator.index)        # the backward's scatter-add reuses it


def test_device_labels_are_checked_with_one_sync_and_the_same_message(cupy_module):
    from nn.functional.losses import _class_labels
    fake_cupy.ndarray.syncs = 0
    labels = fake_cupy.ndarray(np.array([0, 3, 9, 2]))
    assert _class_labels("cross_entropy", labels, 4, 10) is labels
    assert fake_cupy.ndarray.syncs == 1                       # it was two: int(min()) and int(max())
    for bad, message in (([0, 3, 10, 2], r"label 10 \(at position 2\)"),
                         ([0, -1, 1, 2], r"label -1 \(at position 1\)")):
        with pytest.raises(ValueError, match=message + r" is outside \[0, 10\)"):
            _class_labels("cross_entropy", fake_cupy.ndarray(np.array(bad)), 4, 10)
        with pytest.raises(ValueError, match=message + r" is outside \[0, 10\)"):   # the CPU's words
            _class_labels("cross_entropy", np.array(bad), 4, 10)


def test_a_python_number_next_to_a_tensor_stays_a_scalar_and_gives_the_same_bits():
    """``x * 2``, ``1 - y*y`` (tanh's backward) and ``gy * (1/n)`` (mean's) take the number as a NumPy
    scalar of the tensor's dtype: no device array per operand on a GPU, and on the CPU the very
    numbers a 0-d array gave (the committed replay figures depend on it)."""
    from tinygrad_lite.ops.convert import as_tensor
    rng = np.random.default_rng(0)
    for dtype in (np.float16, np.float32, np.float64):
        x = tl.Tensor(rng.standard_normal((3, 4)).astype(dtype), requires_grad=True)
        operand = as_tensor(0.1, like=x)
        assert isinstance(operand.data, np.generic) and operand.dtype == dtype
        for number in (2, 0.1, 1 / 3, -7.25):
            with_array = x.data * np.asarray(number, dtype=dtype)
            assert np.array_equal((x * number).data, with_array) and (x * number).dtype == dtype
            assert np.array_equal((number - x).data, np.asarray(number, dtype=dtype) - x.data)
            assert np.array_equal((x / number).data, x.data / np.asarray(number, dtype=dtype))
        y = x.tanh()
        y.mean().backward()
        expected = (np.asarray(1 / x.data.size, dtype=dtype) * (np.asarray(1, dtype=dtype) - y.data * y.data))
        assert np.array_equal(x.grad.data, expected)


def test_a_number_next_to_a_gpu_tensor_makes_no_device_array(cupy_module):
    made = []
    cupy_module.asarray = lambda *args, **kwargs: made.append(args) or fake_cupy.ndarray(*args)
    x = _on_the_gpu(np.ones(3))
    from tinygrad_lite.ops.convert import as_tensor
    for number in (2, 0.5, np.float64(3.0)):
        assert isinstance(as_tensor(number, like=x).data, np.generic)
    assert made == []
    with pytest.raises(tl.DeviceError):        # a real CPU tensor next to it is still refused
        tl.Tensor(np.ones(3, dtype=np.float32)) + x


def test_a_cuda_run_says_its_figures_are_not_the_cpus_bit_for_bit():
    from experiments.runner import device_notes
    assert device_notes("cpu") == []
    note, = device_notes("cuda")
    assert "dropout" in note and "atomic" in note and "not bit for bit" in note


READ_ONLY_CASES = {
    "arithmetic": lambda a, b: (a * b - a / (b * b + 1) + (-a) ** 2).sum(),
    "unary": lambda a, b: (a.exp() + (b * b + 1).log() + (b * b).sqrt() + a.abs() + a.tanh() + a.sigmoid()).sum(),
    "transcendental-rounding": lambda a, b: (
        a.sin() + a.cos() + (a * 0.5).tan() + a.sinh() + a.cosh() + (a * 0.3).asin() + (a * 0.3).acos()
        + a.atan() + (b * b + 1).log2() + (b * b + 1).log10() + (b * b).log1p() + a.exp2()
        + (b * b + 1).rsqrt() + a.lerp(b, 0.3) + a.logaddexp(b) + a.sign() + a.floor() + a.ceil()
        + a.round() + a.trunc() + a % 0.7 + a.fmod(b) + a // b + abs(a)).sum(),
    "prod-scan-sort": lambda a, b: (a.prod(axis=1).sum() + a.std() + a.cumsum(1).sum() + (a * b).cumprod(0).sum()
                                    + a.sort(dim=0).values[0].sum() + a.topk(2).values.sum()
                                    + tl.where(a.data > 0, 0.0, a).cumprod(1).sum() + a.sum(dtype="float32")),
    "einsum": lambda a, b: (tl.einsum("ij,kj->ik", a, b) ** 2).sum() + tl.einsum("ij->", a * b)
                           + tl.einsum("ii", a[:, :3]) + tl.einsum("ij->i", a).sum(),
    "max-min-clip-where": lambda a, b: (tl.maximum(a, b) + tl.minimum(a, 0.0) + a.clip(-0.5, 0.5)
                                        + tl.where(a.data > 0, a, b)).sum(),
    "reductions": lambda a, b: a.mean() + a.max(axis=1).sum() + a.var() + a.logsumexp(axis=0).sum()
                               + a.softmax(axis=1)[0, 1] + a.log_softmax(axis=0)[1, 2],
    "shape": lambda a, b: (tl.concatenate([a, b]).reshape(2, -1).T[[0, 5, 5]].sum() + a.pad(1).sum()
                           + a.broadcast_to((2, 3, 4)).sum() + tl.stack([a, b], axis=1)[:, 0, ::2].sum()),
    "matmul-linear": lambda a, b: (a @ b.T).sum() + nn.functional.linear(a, b, b[0, :3]).sum(),
    "layers": lambda a, b: (nn.functional.cross_entropy(a, np.array([0, 3, 1])) + nn.functional.gelu(b).sum()
                            + nn.functional.leaky_relu(a).sum()
                            + nn.functional.dropout(a, 0.5, mask=np.array([[1, 0, 1, 1]] * 3)).sum()),
    "conv-pool": lambda a, b: (nn.functional.max_pool2d(nn.functional.conv2d(
        a.reshape(1, 1, 3, 4), b.reshape(3, 1, 2, 2)[:2], padding=1), 2).sum()
        + nn.functional.avg_pool2d(a.reshape(1, 1, 3, 4), 2).sum()),
}


@pytest.mark.parametrize("case", list(READ_ONLY_CASES), ids=list(READ_ONLY_CASES))
def test_no_op_writes_into_an_array_it_was_handed(case):
    """CuPy has no read-only arrays, so on a GPU a write into an input, a saved array or a broadcast
    view handed out by an op would go unnoticed. On the CPU, with every input and the backward's seed
    read-only, NumPy raises at any such write: forward, backward and double backward must make none."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((3, 4)) for _ in range(2)]
    for v in values:
        v.flags.writeable = False
    a, b = (tl.Tensor._wrap(v).requires_grad_() for v in values)
    loss = READ_ONLY_CASES[case](a, b)
    seed = np.ones((), dtype=loss.dtype)
    seed.flags.writeable = False
    loss.backward(tl.Tensor._wrap(seed), create_graph=True)
    ga = a.grad
    a.grad = b.grad = None
    if ga.requires_grad:                       # the gradient's own graph, through the same arrays
        ga.sum().backward()
