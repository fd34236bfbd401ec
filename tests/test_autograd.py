"""Engine behaviour, each checked against what torch does: accumulation, no_grad, retain_graph, deep
graphs, errors, dtypes, repr, conversions and the creation functions."""
import numpy as np
import pytest
from torch_oracle import check_op, random_array, torch

import tinygrad_lite as tl


def pair(array, device="cpu"):
    """The same float64 leaf in both frameworks."""
    return (tl.Tensor(array, requires_grad=True, dtype="float64", device=device),
            torch.tensor(array, dtype=torch.float64, requires_grad=True))


# ---- backward ------------------------------------------------------------------------------------

def test_gradients_accumulate_across_backward_calls(device):
    x, tx = pair(random_array((3,)), device)
    for _ in range(3):
        (x * x).sum().backward()
        (tx * tx).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 3.0))


def test_a_reused_node_sums_its_gradients(device):
    check_op([(4,)], lambda x: (lambda y: y * y + y.exp() * y)(x.tanh()), device=device)


def test_leaves_get_their_own_writable_gradients(device):
    """As in torch: two leaves fed the same gradient tensor (add) get independent, writable copies."""
    a, b = tl.ones(3, requires_grad=True, device=device), tl.ones(3, requires_grad=True, device=device)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad.data[0] = 5.0            # a broadcast view would be read-only; b.grad must not change
    assert b.grad.numpy().tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("build", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: (a * 1) + b,
                                   lambda a, b: (a + b) * 1])
def test_kept_gradients_share_no_memory_with_each_other_or_the_seed(build):
    """The engine keeps a fresh gradient array without copying it; never one another leaf or the
    caller's seed also holds, so writing into one gradient changes no other."""
    a, b = tl.ones((2, 3), requires_grad=True), tl.ones((2, 3), requires_grad=True)
    seed = tl.Tensor(np.full((2, 3), 2.0, dtype=np.float32))
    build(a, b).backward(seed)
    arrays = [a.grad.data, b.grad.data, seed.data]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.shares_memory(arrays[i], arrays[j]), (i, j)
    a.grad.data[...] = 7.0
    assert abs(b.grad.numpy()).tolist() == [[2.0] * 3] * 2 and seed.numpy().tolist() == [[2.0] * 3] * 2


def test_retain_graph_allows_a_second_backward(device):
    x, tx = pair(random_array((3,)), device)
    y, ty = (x.exp() * x).sum(), (tx.exp() * tx).sum()
    y.backward(retain_graph=True)
    y.backward()
    ty.backward(retain_graph=True)
    ty.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_second_backward_without_retain_graph_says_so():
    x = tl.Tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        y.backward()


def test_deep_chain_of_100000_ops_has_no_recursion_error():
    x = tl.Tensor([0.5], requires_grad=True, dtype="float64")
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.numpy().tolist() == [1.0]
    z = x                       # a deep graph that is only dropped, never walked back, is freed cleanly
    for _ in range(100_000):
        z = z + 0.0
    del z


def test_backward_on_non_scalar_needs_grad(device):
    x = tl.ones(2, 3, requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match=r"one element.*shape \(2, 3\); pass grad="):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad must have the tensor's shape \(2, 3\), got \(3,\)"):
        (x * 2).backward(np.ones(3, dtype=np.float32))
    g = random_array((2, 3))
    x64, tx = pair(random_array((2, 3)), device)
    (x64 * x64).backward(g)
    (tx * tx).backward(torch.tensor(g))
    np.testing.assert_allclose(x64.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_backward_without_requires_grad_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (tl.ones(2) * 2).sum().backward()


def test_integer_tensors_refuse_requires_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, got dtype int64"):
        tl.Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="int32"):
        tl.Tensor(np.arange(3, dtype=np.int32)).requires_grad_()
    with pytest.raises(TypeError, match="bool"):
        tl.Tensor([True, False], requires_grad=True)


def test_inputs_without_requires_grad_get_no_gradient(device):
    a = tl.ones(3, requires_grad=True, device=device)
    b = tl.ones(3, device=device)
    (a * b).sum().backward()
    assert b.grad is None and not b.requires_grad and a.grad is not None


def test_broadcast_gradients_are_summed_to_each_input_shape(device):
    check_op([(2, 1, 3), (4, 1), ()], lambda a, b, c: a * b + c, device=device)


def test_comparisons_are_not_differentiable(device):
    x = tl.Tensor([1.0, -2.0, 3.0], requires_grad=True, device=device)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.grad_fn is None
    assert mask.numpy().tolist() == [True, False, True]
    (x * mask).sum().backward()      # the gradient passes through the product only
    assert x.grad.numpy().tolist() == [1.0, 0.0, 1.0]


def test_detach_cuts_the_graph(device):
    check_op([(3,)], lambda x: x * x.detach(), device=device)
    x = tl.ones(2, requires_grad=True, device=device)
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.data is x.data


# ---- no_grad and set_grad_enabled ------------------------------------------------------------------

def test_no_grad_context_and_decorator():
    x = tl.ones(2, requires_grad=True)
    with tl.no_grad():
        assert not tl.is_grad_enabled()
        y = x * 2
    assert tl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @tl.no_grad()
    def double(t):
        return t * 2
    assert not double(x).requires_grad
    assert (x * 2).requires_grad


def test_set_grad_enabled_as_switch_and_context():
    x = tl.ones(2, requires_grad=True)
    try:
        tl.set_grad_enabled(False)
        assert not (x * 2).requires_grad
    finally:
        tl.set_grad_enabled(True)
    assert (x * 2).requires_grad
    with tl.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with tl.set_grad_enabled(True):
            assert (x * 2).requires_grad
    assert tl.is_grad_enabled()


# ---- dtypes ----------------------------------------------------------------------------------------

def test_default_dtype_is_float32_and_can_be_float64():
    assert tl.get_default_dtype() == np.float32
    assert tl.Tensor([1.0, 2.0]).dtype == np.float32 and tl.Tensor(1.5).dtype == np.float32
    assert tl.Tensor([1, 2]).dtype == np.int64 and tl.Tensor([True]).dtype == np.bool_
    assert tl.Tensor(np.ones(2)).dtype == np.float64          # arrays keep their dtype, as torch.from_numpy
    assert tl.Tensor([1.0], dtype="float64").dtype == np.float64
    tl.set_default_dtype("float64")
    assert tl.Tensor([1.0]).dtype == np.float64
    assert tl.randn(2).dtype == tl.zeros(2).dtype == tl.arange(0.0, 1.0, 0.5).dtype == np.float64
    with pytest.raises(TypeError, match="floating type, got int32"):
        tl.set_default_dtype("int32")


def test_float32_in_float32_gradients_out(device):
    check_op([(3, 4), (4,)], lambda a, b: ((a @ b) * 2.5).tanh().sum() / 3, dtype="float32", device=device)
    x = tl.Tensor(random_array((3,), dtype="float32"), requires_grad=True, device=device)
    y = x * 2 + np.float64(1.0) - 0.5 * x.exp()
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_mixed_precision_gradients_come_back_in_each_inputs_dtype(device):
    a = tl.Tensor(random_array((3,), dtype="float32"), requires_grad=True, device=device)
    b = tl.Tensor(random_array((3,)), requires_grad=True, device=device)
    y = a * b
    assert y.dtype == np.float64
    y.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    c = tl.Tensor(random_array((2,)), requires_grad=True, device=device)
    c.float().sum().backward()
    assert c.grad.dtype == np.float64 and c.grad.numpy().tolist() == [1.0, 1.0]


# ---- conversions and repr ----------------------------------------------------------------------------

def test_numpy_item_tolist_to_cpu(device):
    x = tl.Tensor([[1.0, 2.0]], device=device)
    assert type(x.numpy()) is np.ndarray and x.numpy().tolist() == [[1.0, 2.0]]
    assert x.sum().item() == 3.0 and isinstance(x.sum().item(), float)
    assert x.tolist() == [[1.0, 2.0]]
    with pytest.raises(ValueError, match=r"only one-element tensors .* shape \(1, 2\)"):
        x.item()
    host = x.to("cpu")
    assert host.device == "cpu" and host.numpy().tolist() == [[1.0, 2.0]]
    assert x.shape == (1, 2) and x.ndim == 2 and x.numel() == 2 and len(x) == 1 and x.device == device


def test_to_cpu_is_differentiable_and_a_no_op_on_cpu():
    x = tl.ones(2, requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x


def test_cuda_without_a_gpu_is_one_clear_error():
    if tl.cuda_available():
        pytest.skip("a GPU is present, so device='cuda' works here")
    with pytest.raises(tl.DeviceError, match="device 'cuda' needs (CuPy|a CUDA GPU)"):
        tl.ones(2).to("cuda")
    with pytest.raises(tl.DeviceError, match=r"device must be one of \('cpu', 'cuda'\), got 'tpu'"):
        tl.Tensor([1.0], device="tpu")


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [0.1, -0.25], 2.5, [[1.5, -2.0], [3.0, 4.0]], [1e-5, 1.0],
                                    [1.0, 2000.0], [1, 2], [True, False]])
def test_repr_matches_torch(values):
    assert repr(tl.Tensor(values)) == repr(torch.tensor(values))
    assert repr(tl.Tensor(values, requires_grad=isinstance(values, float) or isinstance(values[0], float))) == \
        repr(torch.tensor(values, requires_grad=isinstance(values, float) or isinstance(values[0], float)))


def test_repr_shows_grad_fn_and_dtype():
    x = tl.Tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert repr(torch.tensor([1.0, 2.0], requires_grad=True) * 2) == "tensor([2., 4.], grad_fn=<MulBackward0>)"
    assert repr(tl.Tensor([0.5], dtype="float64")) == "tensor([0.5000], dtype=float64)"


def test_tensor_accepts_lists_scalars_arrays_and_refuses_objects():
    assert tl.Tensor(3).shape == () and tl.Tensor([[1, 2]]).shape == (1, 2)
    assert tl.Tensor(np.zeros((2, 2))).shape == (2, 2) and tl.Tensor(tl.ones(2)).shape == (2,)
    with pytest.raises(TypeError, match="data must be a number, a .* got dict"):
        tl.Tensor({"a": 1})


# ---- custom Functions: mistakes name the op and what was expected ---------------------------------

class Double(tl.Function):
    def forward(self, x): return x * 2
    def backward(self, gy): return gy * 2


class BackwardReturnsAnArray(Double):
    def backward(self, gy): return gy.data * 2


class BackwardReturnsTooMany(Double):
    def backward(self, gy): return gy * 2, gy


class ForwardReturnsATensor(Double):
    def forward(self, x): return tl.Tensor(x * 2)


class NoBackward(tl.Function):
    def forward(self, x): return x * 2


@pytest.mark.parametrize("fn, error, message", [
    (BackwardReturnsAnArray, TypeError, r"BackwardReturnsAnArray.backward returned a value of type ndarray as "
                                        r"the gradient of input 0; return a Tensor \(or None\)"),
    (BackwardReturnsTooMany, TypeError, r"BackwardReturnsTooMany.backward returned 2 gradient\(s\) for 1 input"),
    (ForwardReturnsATensor, TypeError, r"ForwardReturnsATensor.forward must return an array .* got Tensor"),
    (NoBackward, NotImplementedError, r"NoBackward has no backward: a Function subclass must define "
                                      r"backward\(self, grad_output\)"),
])
def test_a_custom_function_with_a_mistake_names_the_op_and_what_was_expected(fn, error, message):
    """The memoryview AttributeErrors and the bare NotImplementedError that students used to get."""
    x = tl.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(error, match=message):
        fn()(x).sum().backward()


def test_a_correct_custom_function_matches_torch():
    check_op([(3,)], lambda x: Double()(x) * x, lambda x: (x * 2) * x)


# ---- creation ----------------------------------------------------------------------------------------

def test_creation_functions():
    assert tl.zeros(2, 3).shape == tl.zeros((2, 3)).shape == (2, 3)
    assert tl.zeros(2).numpy().tolist() == [0.0, 0.0] and tl.ones(2).numpy().tolist() == [1.0, 1.0]
    assert tl.ones(2, requires_grad=True).requires_grad and tl.ones(2, dtype="float64").dtype == np.float64
    assert tl.zeros(3).dtype == tl.rand(3).dtype == tl.randn(3).dtype == np.float32
    assert tl.arange(4).dtype == np.int64 and tl.arange(4).numpy().tolist() == torch.arange(4).tolist()
    assert tl.arange(1, 7, 2).numpy().tolist() == torch.arange(1, 7, 2).tolist()
    assert tl.arange(0.0, 1.0, 0.25).dtype == np.float32
    assert tl.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    u = tl.rand(1000).numpy()
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.05
    n = tl.randn(4000).numpy()
    assert abs(n.mean()) < 0.1 and abs(n.std() - 1) < 0.1
    with pytest.raises(ValueError, match=r"non-negative ints, got \(2, -1\)"):
        tl.zeros(2, -1)


@pytest.mark.parametrize("data, dtype", [([3 + 4j], "float32"), (np.array([1 + 2j]), None), (1j, None),
                                         (["1.5", "2"], "float32"), (np.array(["1"]), "float64"),
                                         (np.array([1.0], dtype=object), "float32")])
def test_complex_string_and_object_data_are_a_type_error_even_with_a_dtype(data, dtype):
    """They were cast (the imaginary part dropped with a ComplexWarning, strings parsed); torch
    refuses strings, and a real tensor of a complex value loses its imaginary part silently nowhere."""
    with pytest.raises(TypeError, match="Tensor: data must"):
        tl.Tensor(data, dtype=dtype)


def test_arange_with_only_a_stop_keeps_the_step_like_numpy_and_torch():
    for args, kwargs in [((10,), dict(step=2)), ((10,), dict(step=3)), ((10,), dict(step=-1)),
                         ((2.5,), dict(step=0.5)), ((-5,), dict(step=-2))]:
        ours = tl.arange(*args, **kwargs).numpy()
        np.testing.assert_array_equal(ours, np.arange(0, *args, kwargs["step"]))
        if kwargs["step"] > 0 or args[0] < 0:       # torch refuses a step pointing away from stop
            np.testing.assert_allclose(ours, torch.arange(0, *args, kwargs["step"]).numpy())


def test_full_rand_and_huge_shapes_at_their_edges():
    assert tl.full(3, True).dtype == torch.full((3,), True).numpy().dtype == np.bool_
    assert tl.full(3, 2.0).dtype == np.float32 and tl.full(2, 1, dtype="int64").numpy().tolist() == [1, 1]
    with pytest.raises(TypeError, match="data must hold bool, integer or floating numbers, got an array of dtype "
                                        "complex"):
        tl.full((2,), 1 + 2j)
    for make in (tl.rand, tl.randn):
        with pytest.raises(TypeError, match=rf"{make.__name__}: dtype must be a floating type .* got int32"):
            make(3, dtype="int32")
        with pytest.raises((TypeError, RuntimeError, NotImplementedError)):
            getattr(torch, make.__name__)(3, dtype=torch.int32)
    with pytest.raises(tl.SizeError, match=r"zeros: the tensor of shape \(100000000000000000000,\) would hold 1e\+20 "
                                            r"elements, more than .*MAX_ELEMENTS"):
        tl.zeros(10**20)
    with pytest.raises(ValueError, match=r"ones: shape must be non-negative ints, got \(True, 2\)"):
        tl.ones(True, 2)


def test_manual_seed_makes_random_tensors_reproducible():
    tl.manual_seed(123)
    a, b = tl.randn(5).numpy(), tl.rand(2, 2).numpy()
    tl.manual_seed(123)
    assert np.array_equal(a, tl.randn(5).numpy()) and np.array_equal(b, tl.rand(2, 2).numpy())
    assert not np.array_equal(a, tl.randn(5).numpy())
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        tl.manual_seed(-1)


# ---- the Tensor class at its edges, against torch -------------------------------------------------

def test_a_0d_tensor_cannot_be_iterated_like_torch():
    """list(tl.Tensor(5.0)) was [] and sum(...) 0, silently."""
    for make in (lambda: tl.Tensor(5.0), lambda: torch.tensor(5.0)):
        with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
            list(make())
        with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
            sum(make())


def test_iterating_gives_the_rows_with_their_gradients_like_torch():
    check_op([(3, 2)], lambda x: tuple(row * (i + 1) for i, row in enumerate(x)))
    check_op([(4,)], lambda x: sum(x) * 2)


def test_numpy_sees_a_plain_array_and_refuses_a_tensor_that_requires_grad_like_torch():
    """np.asarray(t) was an object array of 0-d Tensors, so plt.plot(t) and np.mean(t) failed."""
    values = np.array([[1.0, 2.0, 4.0], [3.0, 0.5, -1.0]])
    ours, theirs = tl.Tensor(values, dtype="float64"), torch.tensor(values)
    assert np.asarray(ours).dtype == np.asarray(theirs).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert np.asarray(ours, dtype=np.float32).dtype == np.float32
    assert np.array([tl.Tensor(1.0), tl.Tensor(2.0)]).tolist() == [1.0, 2.0]
    # NumPy's functions on a Tensor, with NumPy on the plain array as the oracle (torch 2.13 fails np.mean)
    for reduce in (np.mean, np.sum, np.max, np.min, np.var, np.std, np.argmax):
        np.testing.assert_allclose(np.asarray(reduce(ours)), reduce(values), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(np.sum(ours, axis=1)), np.sum(values, axis=1))
    assert np.mean(tl.Tensor([1, 2], dtype="float32"), dtype="float64").dtype == np.float64
    with pytest.raises(TypeError, match="sum: out= is not supported"):
        np.sum(ours, out=np.zeros(()))
    needs_grad = (tl.Tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True))
    for t in needs_grad:
        with pytest.raises(RuntimeError, match=r"tensor.detach\(\).numpy\(\)"):
            np.asarray(t)
    assert np.mean(needs_grad[0]).requires_grad          # differentiable, like np.mean of a torch tensor


def test_requires_grad_false_on_a_computed_tensor_is_refused_like_torch():
    """It was accepted, and backward failed later."""
    for make in (lambda: tl.Tensor([1.0], requires_grad=True), lambda: torch.tensor([1.0], requires_grad=True)):
        y = make() * 2
        with pytest.raises(RuntimeError, match="only .*leaf"):
            y.requires_grad_(False)
    leaf = tl.Tensor([1.0], requires_grad=True)
    assert leaf.requires_grad_(False) is leaf and not leaf.requires_grad
