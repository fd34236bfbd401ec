"""trace_backward and detect_anomaly: the trace's lines follow the engine, anomalies name op and line."""
import inspect
import io
import os
import sys
import tracemalloc

import numpy as np
import pytest

import tinygrad_lite as tl
from tinygrad_lite import core, debug, hooks
from tinygrad_lite.hooks import Hook, installed
from tinygrad_lite.debug import detect_anomaly, trace_backward


def named(values, name):
    t = tl.Tensor(values, dtype="float64", requires_grad=True)
    t.name = name
    return t


def next_line():
    """The line number just after the caller's line."""
    return inspect.currentframe().f_back.f_lineno + 1


def test_trace_shows_each_op_in_engine_order_and_leaf_accumulation(capsys):
    a = named([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "a")
    b = named([[1.0, -1.0, 2.0], [0.0, 1.0, 1.0]], "b")
    with trace_backward() as tracer:
        (a * b + a).sum().backward()
    assert tracer.records == [
        ("start", (), 1),
        ("backward", "Sum", (), [(2, 3)]),
        ("backward", "Add", (2, 3), [(2, 3), (2, 3)]),
        ("accumulate", "a", (2, 3), 1),          # a's first contribution, through the Add
        ("backward", "Mul", (2, 3), [(2, 3), (2, 3)]),
        ("accumulate", "a", (2, 3), 2),          # a's second contribution, through the Mul: added
        ("accumulate", "b", (2, 3), 1),
    ]
    printed = capsys.readouterr().out.splitlines()
    assert printed == tracer.lines
    assert [line.split()[0] for line in printed] == ["==", "Sum", "Add", "a", "Mul", "a", "b"]
    assert "ACCUMULATES" in printed[5] and "contribution #2" in printed[5]
    assert "ACCUMULATES" not in printed[3] and "ACCUMULATES" not in printed[6]
    # the norms printed are those of the real gradients: d/da of the Mul is b, of the Add is ones
    assert f"a: (2, 3) |g|={np.linalg.norm(b.numpy()):.4g}" in printed[4]
    assert f"b: (2, 3) |g|={np.linalg.norm(a.numpy()):.4g}" in printed[4]
    assert f"now |g|={np.linalg.norm(b.numpy() + 1):.4g}" in printed[5]
    np.testing.assert_allclose(a.grad.numpy(), b.numpy() + 1)


@pytest.mark.parametrize("values, dtype", [
    ([3.0, 4.0], "float32"), ([[1.5, -2.0], [0.25, 8.0]], "float16"), ([1e-30, 3e-30], "float64"),
    ([3e38, 3e38], "float32"), ([1e200, 1e200], "float64"), ([np.inf, 1.0], "float64"),
    ([np.nan, 1.0], "float32"), ([], "float32"), (2.5, "float64"), ([3, 4], "int64"), ([True, True], "bool"),
])
def test_the_traced_norm_is_the_float64_l2_norm_without_a_warning(values, dtype):
    """Warnings are errors here: an overflow or a NaN still gives a norm, inf or nan. The sum of squares
    is float64's: past 1.8e308 (a float64 gradient past 1e154) the norm reads inf."""
    array = np.array(values, dtype=dtype)
    exact = np.sum(np.square(array.astype(np.longdouble)))      # the oracle: wider where there is one
    expected = np.inf if exact > np.finfo(np.float64).max else float(np.sqrt(exact))
    assert debug._norm(array) == pytest.approx(expected, rel=1e-15, nan_ok=True)


def test_tracing_a_long_chain_costs_what_the_trace_keeps():
    """5,000 ops (100,000 took 5 s and 108 MB before; the norms were four ufuncs under np.errstate):
    the memory tracing adds is the lines and records it returns, nothing per op besides."""
    y = tl.Tensor([1.0], requires_grad=True)
    for _ in range(5000):
        y = y * 1.0
    tracemalloc.start()
    try:
        with trace_backward(io.StringIO()) as tracer:
            y.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(tracer.lines) == 1 + 5000 + 1              # the call, each Mul, the leaf
    kept = sum(map(sys.getsizeof, tracer.lines)) + sum(
        sys.getsizeof(record) + sum(map(sys.getsizeof, record)) for record in tracer.records)
    assert peak < 1.25 * kept, (peak, kept)


def test_trace_shows_where_broadcasting_summed_a_gradient():
    x = tl.randn(2, 3, requires_grad=True)
    bias = named([0.5, -1.0, 2.0], "bias")
    out = io.StringIO()
    with trace_backward(file=out) as tracer:
        (x + bias).sum().backward()
    assert ("broadcast", "Add", 1, (2, 3), (3,)) in tracer.records
    assert "broadcast: Add input 1's gradient summed (2, 3) -> (3,)" in out.getvalue()
    assert tracer.records[-1] == ("accumulate", "bias", (3,), 1)
    np.testing.assert_allclose(bias.grad.numpy(), [2.0, 2.0, 2.0])


def test_trace_says_when_a_gradient_is_left_from_an_earlier_backward():
    w = named([1.0, 2.0], "w")
    with trace_backward(file=io.StringIO()) as tracer:
        (w * 3).sum().backward()
        (w * 3).sum().backward()
    starts = [r for r in tracer.records if r[0] == "start"]
    assert [r[2] for r in starts] == [1, 2]
    assert "EARLIER backward() call" in tracer.lines[-1]
    np.testing.assert_allclose(w.grad.numpy(), [6.0, 6.0])


def test_log_of_zero_raises_naming_log_and_the_line_that_called_it():
    x = tl.Tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(tl.AnomalyError) as info:
        with detect_anomaly():
            line = next_line()
            x.log()
    message = str(info.value)
    assert message.startswith("Log produced -inf in its forward output")
    assert "input shapes: [(2,)]" in message
    assert f"{os.path.basename(__file__)}:{line}" in message
    assert "x.log()" in message


def test_nan_first_made_in_backward_names_the_op_whose_backward_made_it():
    x = tl.Tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(tl.AnomalyError) as info:
        with detect_anomaly():
            line = next_line()
            y = x.sqrt() * 2         # forward fine (sqrt 0 = 0); d sqrt/dx = 1/(2 sqrt x) = inf at 0
            y.sum().backward()
    message = str(info.value)
    assert message.startswith("Sqrt's backward produced inf in the gradient of its input 0")
    assert f"{os.path.basename(__file__)}:{line}" in message


def test_anomaly_mode_is_silent_on_finite_values_and_with_create_graph():
    x = tl.Tensor([0.5, 2.0], dtype="float64", requires_grad=True)
    with detect_anomaly():
        x.tanh().sum().backward(create_graph=True)
        first = x.grad
        x.grad = None
        first.sum().backward()
    t = np.tanh([0.5, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), -2 * t * (1 - t * t))


def test_nan_made_by_a_second_backward_names_the_gradient_op_and_the_line_of_the_first():
    """d/dx x^1.5 = 1.5 x^0.5 is finite at 0, its own derivative 0.75 x^-0.5 is not: the op that fails
    was created inside PowScalar's backward, so the message names that backward and the user's line."""
    x = tl.Tensor([0.0, 4.0], dtype="float64", requires_grad=True)
    with pytest.raises(tl.AnomalyError) as info:
        with detect_anomaly():
            line = next_line()
            (x ** 1.5).sum().backward(create_graph=True)
            first, x.grad = x.grad, None
            first.sum().backward()
    message = str(info.value)
    assert message.startswith("PowScalar's backward produced inf in the gradient of its input 0")
    assert "was created at the backward of PowScalar (created at " in message
    assert f"{os.path.basename(__file__)}:{line} " in message


class EventLog(Hook):
    """Records every event the engine announces, by name."""
    def __init__(self):
        self.events = []

    def on_forward(self, fn, inputs, output):
        running = core.running_backward()
        self.events.append(("forward", fn.name) + ((running.name,) if running else ()))

    def on_backward_start(self, tensor, grad):
        self.events.append(("backward_start", tensor.shape))

    def on_backward_step(self, fn, grad_output, grads):
        self.events.append(("backward_step", fn.name, core.running_backward() is fn))

    def on_broadcast(self, fn, input_index, from_shape, to_shape):
        self.events.append(("broadcast", fn.name, input_index, from_shape, to_shape))

    def on_accumulate(self, leaf, grad):
        self.events.append(("accumulate", leaf.name))


def test_the_engine_announces_each_event_once_in_order():
    x = named([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "x")
    bias = named([1.0, 2.0, 3.0], "bias")
    with installed(EventLog()) as log:
        loss = (x + bias).sum()
        assert core.running_backward() is None
        loss.backward()
    assert core.running_backward() is None
    assert log.events == [
        ("forward", "Add"), ("forward", "Sum"),
        ("backward_start", ()),
        ("forward", "Reshape", "Sum"), ("forward", "BroadcastTo", "Sum"),   # ops of Sum's gradient
        ("backward_step", "Sum", True),
        ("backward_step", "Add", True),
        ("accumulate", "x"),
        ("forward", "SumTo", "Add"), ("broadcast", "Add", 1, (2, 3), (3,)),  # bias's gradient summed back
        ("accumulate", "bias"),
    ]


def test_anomaly_says_when_the_nan_came_in_with_the_data():
    x = tl.Tensor([np.nan, 1.0], requires_grad=True)
    with pytest.raises(tl.AnomalyError, match=r"Mul produced nan .* input\(s\) \[0\] already held NaN/Inf"):
        with detect_anomaly():
            x * 2


class Recorder(Hook):
    def __init__(self):
        self.ops = []

    def on_forward(self, fn, inputs, output):
        self.ops.append(fn.name)


def test_hooks_are_removed_on_exit_and_on_error_and_nest():
    before = list(hooks.active)
    outer, inner = Recorder(), Recorder()
    with installed(outer):
        with installed(inner):
            tl.Tensor([1.0]).exp()
        tl.Tensor([1.0]).log()
        assert hooks.active == before + [outer]
    assert outer.ops == ["Exp", "Log"] and inner.ops == ["Exp"]
    with pytest.raises(tl.AnomalyError):
        with trace_backward(file=io.StringIO()):
            with detect_anomaly():
                tl.Tensor([0.0]).log()
    assert hooks.active == before
    with pytest.raises(TypeError, match="Hook"):
        with installed(object()):
            pass
    assert hooks.active == before


def test_tensor_name_defaults_to_none_and_can_be_set():
    t = tl.Tensor([1.0])
    assert t.name is None and (t * 2).name is None
    t.name = "weights"
    assert t.name == "weights"


def test_backward_into_a_freed_part_of_the_graph_says_so():
    x = tl.Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    (y * 2).sum().backward()                 # frees y's creator
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (y * 3).sum().backward()


def test_create_graph_keeps_the_graph_for_a_second_backward_as_in_torch():
    x = tl.Tensor([0.5], dtype="float64", requires_grad=True)
    x.sigmoid().sum().backward(create_graph=True)     # sigmoid's backward uses its output
    first = x.grad
    x.grad = None
    first.sum().backward()
    s = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(x.grad.numpy(), [s * (1 - s) * (1 - 2 * s)])
