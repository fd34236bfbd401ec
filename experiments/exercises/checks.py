"""Torch-free checks of each task, answered like a patient teaching assistant.

Gradients are compared with central finite differences in float64 (the method of
``tinygrad_lite.gradcheck``), calling the op's own ``forward`` and ``backward`` so that a blank task
elsewhere (the backward walk, sum_to) cannot break an unrelated task's check; the other checks compare
with values written out here from the docstrings' formulas, or train the real run.
"""
import dataclasses
import traceback

import numpy as np

from .course import BY_NUMBER, COURSE, blank_task

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3


class CheckFailed(Exception):
    """One check's failure: what was checked, on which input, where, expected vs got, and a hint."""

    def __init__(self, check, inputs="", element=None, expected=None, got=None, hint=""):
        super().__init__(check)
        self.check, self.inputs, self.element = check, inputs, element
        self.expected, self.got, self.hint = expected, got, hint

    def explain(self):
        lines = [f"  check:    {self.check}"]
        if self.inputs:
            lines.append(f"  input:    {self.inputs}")
        if self.element is not None:
            lines.append(f"  element:  {self.element}")
        if self.expected is not None or self.got is not None:
            lines.append(f"  expected: {self.expected}")
            lines.append(f"  got:      {self.got}")
        if self.hint:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)


@dataclasses.dataclass
class Outcome:
    task: int
    passed: bool
    check: str = ""          # the first failing check
    details: str = ""        # the TA's explanation
    blank: bool = False      # failed because the stub is still there

    def as_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Options:
    subset: int = None       # task 11: train on this many images (a smoke run, not the assignment's bar)
    epochs: int = None       # task 11: this many epochs instead of the assignment's


def _rng(seed=0):
    return np.random.default_rng(seed)


def _fmt(value):
    return f"{value:.8g}" if isinstance(value, (float, np.floating)) else str(value)


def _sum_to(array, shape):
    """The checker's own broadcast undo (independent of task 3's SumTo)."""
    lead = array.ndim - len(shape)
    if lead < 0:
        return array
    array = array.sum(axis=tuple(range(lead))) if lead else array
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    return array.sum(axis=axes, keepdims=True) if axes else array


def compare_arrays(check, inputs, expected, got, hints=()):
    """Raise CheckFailed at the worst element unless ``got`` matches ``expected`` within tolerance."""
    expected = np.asarray(expected, dtype=np.float64)
    if got is None:
        raise CheckFailed(check, inputs, expected=f"an array of shape {expected.shape}", got="None",
                          hint="return a value for this input (None means 'no gradient')")
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        hint = "the shape is wrong"
        if got.shape == expected.shape[::-1] and got.ndim >= 2:
            hint = "wrong transpose: the shape is the transpose of the expected one"
        elif got.size > expected.size:
            hint = ("gradient not summed over the broadcast axis: an input that was broadcast gets the "
                    "sum of the copies' gradients")
        raise CheckFailed(check, inputs, expected=f"shape {expected.shape}", got=f"shape {got.shape}", hint=hint)
    error = np.abs(got - expected)
    slack = error - (ATOL + RTOL * np.abs(expected))
    if not np.any(~(slack <= 0)):
        return
    worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(slack), np.inf, slack))), expected.shape) \
        if expected.shape else ()
    hint = next((text for test, text in hints if test(expected, got)), "")
    if not hint:
        hint = _generic_hint(expected, got)
    raise CheckFailed(check, inputs, tuple(int(i) for i in worst), _fmt(float(expected[worst])),
                      _fmt(float(got[worst])), hint)


def _generic_hint(expected, got):
    if np.allclose(got, -expected, atol=ATOL, rtol=RTOL):
        return "the sign is flipped"
    if got.ndim >= 2 and got.shape[-1] == got.shape[-2] and np.allclose(
            got.swapaxes(-1, -2), expected, atol=ATOL, rtol=RTOL):
        return "wrong transpose: your answer is the transpose of the expected one"
    nonzero = np.abs(expected) > 1e-8
    if nonzero.any():
        ratio = got[nonzero] / expected[nonzero]
        if np.allclose(ratio, ratio.flat[0], rtol=1e-6) and not np.isclose(ratio.flat[0], 1):
            return f"off by a constant factor {ratio.flat[0]:.4g} (a missing or extra 1/N, or a factor of 2?)"
    return "compare your formula with the docstring's, term by term"


def _numeric(forward_of, arrays, k, direction):
    """d sum(forward(*arrays) * direction) / d arrays[k], by central differences in float64."""
    x = arrays[k]
    numeric = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        original = x[i]
        x[i] = original + EPS
        plus = float((forward_of(arrays) * direction).sum())
        x[i] = original - EPS
        minus = float((forward_of(arrays) * direction).sum())
        x[i] = original
        numeric[i] = (plus - minus) / (2 * EPS)
    return numeric


def _analytic(make_fn, arrays, gy):
    from tinygrad_lite.autograd import no_grad
    from tinygrad_lite.tensor import Tensor
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    fn = make_fn()
    output = fn(*xs)           # kept alive: backward may read self.output() (the engine keeps it too)
    with no_grad():            # the engine runs backward with graph building off
        grads = fn.backward(Tensor(gy))
    del output
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(arrays):
        raise CheckFailed(f"{type(fn).__name__}.backward returns one gradient per input",
                          expected=f"{len(arrays)} gradient(s)", got=f"{len(grads)}",
                          hint="return a tuple with one Tensor (or None) per input of forward")
    return [None if g is None else (g.numpy() if hasattr(g, "numpy") else np.asarray(g)) for g in grads]


def compare_backward(name, make_fn, arrays, seed=0):
    """``make_fn()``'s backward against finite differences of its forward, for every input."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    out = make_fn().forward(*[a.copy() for a in arrays])
    gy = _rng(seed).standard_normal(np.shape(out))
    grads = _analytic(make_fn, arrays, gy)
    described = " and ".join(f"input {k} of shape {a.shape}" for k, a in enumerate(arrays))
    for k, a in enumerate(arrays):
        expected = _numeric(lambda xs: make_fn().forward(*[x.copy() for x in xs]), arrays, k, gy)
        got = grads[k]
        if got is not None and got.shape != a.shape:
            got = _sum_to(got, a.shape)     # the engine sums a broadcast gradient back (task 3)
        hints = []
        if got is not None and np.ndim(gy) > 0:
            ones = _analytic(make_fn, arrays, np.ones_like(gy))[k]
            if ones is not None and ones.shape != a.shape:
                ones = _sum_to(ones, a.shape)
            hints.append((lambda e, g, ones=ones: ones is not None and np.allclose(g, ones),
                          "forgot to multiply by the incoming gradient gy (your answer does not change "
                          "when gy does)"))
        compare_arrays(f"{name}: gradient of input {k} against finite differences", described, expected, got, hints)


# ---- the checks of each task ----------------------------------------------------------------------

def task1():
    from tinygrad_lite.ops import elementwise as ew
    rng = _rng(1)
    compare_backward("Mul (b broadcast over rows)", ew.Mul, [rng.standard_normal((3, 4)), rng.standard_normal(4)])
    compare_backward("Div (b broadcast over columns)", ew.Div,
                     [rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, (3, 1)) * rng.choice([-1, 1], (3, 1))])
    compare_backward("Exp", ew.Exp, [rng.standard_normal((2, 3))])
    compare_backward("Log", ew.Log, [rng.uniform(0.2, 3.0, (2, 3))])


def task2():
    from tinygrad_lite.ops import elementwise as ew
    rng = _rng(2)
    compare_backward("Tanh", ew.Tanh, [rng.standard_normal((2, 5)) * 2])
    compare_backward("Sigmoid", ew.Sigmoid, [rng.standard_normal((2, 5)) * 3])


def task3():
    from tinygrad_lite.ops.shape import SumTo
    x = _rng(3).standard_normal((2, 3, 4))
    for shape, expected in (((3, 1), x.sum(axis=0).sum(axis=1, keepdims=True)), ((4,), x.sum(axis=(0, 1))),
                            ((1, 3, 4), x.sum(axis=0, keepdims=True)), ((2, 1, 4), x.sum(axis=1, keepdims=True)),
                            ((2, 3, 4), x)):
        got = SumTo(shape).forward(x.copy())
        hints = [(lambda e, g: g.shape == e.shape and np.allclose(g * 2, e),
                  "summed over too few axes: every axis that was broadcast (leading, or size 1) adds up")]
        compare_arrays(f"SumTo({shape}) of x", "x of shape (2, 3, 4), values 0 .. 23 drawn at random",
                       expected, np.asarray(got), hints)


def task4():
    import tinygrad_lite as tl
    from tinygrad_lite.autograd import Function
    from tinygrad_lite.gradcheck import gradcheck

    class Counted(Function):
        """y = x (counts its backward calls)"""
        calls = 0

        def forward(self, x): return x.copy()

        def backward(self, gy):
            Counted.calls += 1
            return gy

    x = tl.Tensor(np.array([1.5, -2.0]), requires_grad=True)
    a = Counted()(x)
    b = a + a                       # a is used twice
    c = Counted()(b) + b            # and so is b
    c.backward(tl.Tensor(np.ones(2)))
    compare_arrays("x.grad for c = b + b_copy, b = a + a, a = x", "x = [1.5, -2.0], seed gradient ones",
                   np.full(2, 4.0), None if x.grad is None else x.grad.numpy(),
                   [(lambda e, g: np.allclose(g, 2.0) or np.allclose(g, 1.0),
                     "a node used twice must receive the SUM of both gradients before its backward runs")])
    if Counted.calls != 2:
        raise CheckFailed("each Function's backward runs exactly once", "the graph above",
                          expected="2 calls (one per Counted op)", got=f"{Counted.calls} calls",
                          hint="queue a Function once and run it after all its consumers (deepest first, "
                               "by generation), not once per path")
    x = np.array([[0.3, -1.2, 0.8], [1.1, 0.5, -0.4]])
    report = gradcheck(lambda t: (t * t + t) * (t * t), x, raise_on_failure=False)
    for r in report.inputs:
        if not r.ok:
            raise CheckFailed("gradcheck of (x*x + x) * (x*x) through your backward walk", f"x = {x.tolist()}",
                              r.worst_element, _fmt(r.numeric), _fmt(r.analytic),
                              "x*x is used twice: its gradient is the sum from both places")


def task5():
    from nn.functional.activations import Linear
    from tinygrad_lite.ops.linalg import MatMul
    rng = _rng(5)
    compare_backward("MatMul (3,4) @ (4,2)", MatMul, [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))])
    compare_backward("MatMul batched (2,3,4) @ (4,5)", MatMul,
                     [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))])
    compare_backward("MatMul vector (4,) @ (4,2)", MatMul, [rng.standard_normal(4), rng.standard_normal((4, 2))])
    compare_backward("Linear x (5,4), w (3,4), b (3,)", Linear,
                     [rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)])
    compare_backward("Linear x (2,5,4), w (3,4), b (3,)", Linear,
                     [rng.standard_normal((2, 5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)])


def task6():
    from nn.functional.losses import CrossEntropy
    rng = _rng(6)
    logits = rng.standard_normal((4, 5)) * 2
    labels = np.array([0, 3, 4, 3])
    probs = rng.dirichlet(np.ones(5), size=4)
    for reduction in ("mean", "sum", "none"):
        compare_backward(f"CrossEntropy(labels {labels.tolist()}, {reduction!r})",
                         lambda r=reduction: CrossEntropy(labels, r), [logits])
    compare_backward("CrossEntropy(probability targets, 'mean')", lambda: CrossEntropy(probs, "mean"), [logits])


def _optimiser_steps(make, reference, name, steps=3):
    from tinygrad_lite.tensor import Tensor
    rng = _rng(7)
    p0 = rng.standard_normal((2, 3))
    grads = [rng.standard_normal((2, 3)) for _ in range(steps)]
    param = Tensor(p0.copy(), requires_grad=True)
    optimiser = make([param])
    expected, state = p0.copy(), {}
    for t, g in enumerate(grads, start=1):
        param.grad = Tensor(g.copy())
        optimiser.step()
        expected = reference(expected, g, t, state)
        compare_arrays(f"{name}: the parameter after step {t}", "p (2, 3) and three gradients, seeded",
                       expected, param.data.copy(),
                       [(lambda e, got, t=t: t > 1 and name.startswith("SGD") and "momentum" in name,
                         "keep the momentum buffer in `state` between steps (b = momentum * b + g)")])


def task7():
    from nn.optim.adam import Adam, AdamW
    from nn.optim.sgd import SGD
    lr, mu, wd = 0.1, 0.9, 0.01

    def sgd(p, g, t, state, nesterov=False, momentum=mu):
        g = g + wd * p
        if momentum:
            state["b"] = g.copy() if t == 1 else momentum * state["b"] + g
            g = g + momentum * state["b"] if nesterov else state["b"]
        return p - lr * g

    _optimiser_steps(lambda ps: SGD(ps, lr=lr, weight_decay=wd), lambda *a: sgd(*a, momentum=0), "SGD plain")
    _optimiser_steps(lambda ps: SGD(ps, lr=lr, momentum=mu, weight_decay=wd), sgd, "SGD with momentum 0.9")
    _optimiser_steps(lambda ps: SGD(ps, lr=lr, momentum=mu, nesterov=True, weight_decay=wd),
                     lambda *a: sgd(*a, nesterov=True), "SGD with Nesterov momentum 0.9")

    def adam(p, g, t, state, decoupled=False, b1=0.9, b2=0.999, eps=1e-8, lr=0.01):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = state.get("m", 0) * b1 + (1 - b1) * g
        v = state.get("v", 0) * b2 + (1 - b2) * g * g
        state.update(m=m, v=v)
        return p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)

    _optimiser_steps(lambda ps: Adam(ps, lr=0.01, weight_decay=wd), adam, "Adam (bias-corrected)")
    _optimiser_steps(lambda ps: AdamW(ps, lr=0.01, weight_decay=wd), lambda *a: adam(*a, decoupled=True),
                     "AdamW (decoupled weight decay)")


def _naive_windows(x, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    padded[:, :, ph:ph + h, pw:pw + w] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    return padded, oh, ow


def _naive_im2col(x, kernel, stride, padding):
    padded, oh, ow = _naive_windows(x, kernel, stride, padding)
    (kh, kw), (sh, sw) = kernel, stride
    n, c = x.shape[:2]
    cols = np.zeros((n, oh, ow, kh, kw, c))
    for a in range(oh):
        for b in range(ow):
            cols[:, a, b] = padded[:, :, a * sh:a * sh + kh, b * sw:b * sw + kw].transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, kh * kw * c)


def _naive_col2im(cols, shape, kernel, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = shape
    padded, oh, ow = _naive_windows(np.zeros(shape), kernel, stride, padding)
    blocks = cols.reshape(n, oh, ow, kh, kw, c)
    for a in range(oh):
        for b in range(ow):
            padded[:, :, a * sh:a * sh + kh, b * sw:b * sw + kw] += blocks[:, a, b].transpose(0, 3, 1, 2)
    return padded[:, :, ph:ph + h, pw:pw + w]


GEOMETRIES = (((3, 3), (1, 1), (1, 1)), ((2, 3), (2, 1), (0, 1)), ((3, 3), (2, 2), (1, 1)))


def task8():
    from nn.functional.conv import col2im_array, im2col_array
    rng = _rng(8)
    x = rng.standard_normal((2, 3, 5, 6))
    overlap = [(lambda e, g: np.allclose(g[g != 0], e[g != 0]) and (g == 0).sum() > (e == 0).sum(),
                "overlapping windows must ADD onto a pixel (+=), not overwrite it")]
    for kernel, stride, padding in GEOMETRIES:
        where = f"x (2, 3, 5, 6), kernel {kernel}, stride {stride}, padding {padding}"
        expected = _naive_im2col(x, kernel, stride, padding)
        compare_arrays("im2col_array: rows (n, oh, ow), columns (i, j, c)", where, expected,
                       im2col_array(x.copy(), kernel, stride, padding))
        kh, kw = kernel
        major = expected.reshape(-1, kh * kw, 3).transpose(1, 0, 2)
        compare_arrays("im2col_array(offset_major=True): (kh*kw, n*oh*ow, c)", where, major,
                       im2col_array(x.copy(), kernel, stride, padding, offset_major=True))
        cols = rng.standard_normal(expected.shape)
        expected_image = _naive_col2im(cols, x.shape, kernel, stride, padding)
        compare_arrays("col2im_array of (n*oh*ow, kh*kw*c) cols", where, expected_image,
                       col2im_array(cols.copy(), x.shape, kernel, stride, padding), overlap)
        compare_arrays("col2im_array of offset-major (kh*kw, n*oh*ow, c) cols", where, expected_image,
                       col2im_array(np.ascontiguousarray(cols.reshape(-1, kh * kw, 3).transpose(1, 0, 2)),
                                    x.shape, kernel, stride, padding), overlap)


def task9():
    from nn.functional.conv import Conv2d
    rng = _rng(9)
    for stride, padding, size in (((1, 1), (1, 1), 5), ((2, 2), (0, 1), 6)):
        compare_backward(f"Conv2d stride {stride} padding {padding}", lambda s=stride, p=padding: Conv2d(s, p),
                         [rng.standard_normal((2, 3, size, size)), rng.standard_normal((4, 3, 3, 3)),
                          rng.standard_normal(4)])


def task10():
    from nn.functional.pooling import max_pool2d
    from tinygrad_lite.autograd import no_grad
    from tinygrad_lite.tensor import Tensor
    rng = _rng(10)
    tied = rng.integers(0, 3, (2, 2, 6, 6)).astype(np.float64)     # many ties
    for x, (kernel, stride), label in ((rng.standard_normal((2, 2, 6, 6)), ((2, 2), (2, 2)), "no ties"),
                                       (tied, ((2, 2), (2, 2)), "integer values 0-2 (ties)"),
                                       (tied, ((3, 3), (1, 1)), "ties, overlapping windows (stride 1)")):
        n, c, h, w = x.shape
        oh, ow = (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
        output = max_pool2d(Tensor(x.copy(), requires_grad=True), kernel, stride)
        fn = output._creator                  # the MaxPool2d op (the public function sets its geometry)
        gy = rng.standard_normal((n, c, oh, ow))
        with no_grad():
            got = fn.backward(Tensor(gy))
        expected, spread = np.zeros_like(x), np.zeros_like(x)
        for a in range(oh):
            for b in range(ow):
                window = x[:, :, a * stride[0]:a * stride[0] + kernel[0], b * stride[1]:b * stride[1] + kernel[1]]
                flat = window.reshape(n, c, -1)
                first = flat.argmax(axis=2)           # the first maximum, row-major
                for i in range(n):
                    for j in range(c):
                        r, s = divmod(int(first[i, j]), kernel[1])
                        expected[i, j, a * stride[0] + r, b * stride[1] + s] += gy[i, j, a, b]
                        winners = window[i, j] == window[i, j].max()
                        spread[i, j, a * stride[0]:a * stride[0] + kernel[0],
                               b * stride[1]:b * stride[1] + kernel[1]] += winners * gy[i, j, a, b]
        compare_arrays(f"max-pool gradient, kernel {kernel}, stride {stride}", f"x (2, 2, 6, 6), {label}",
                       expected, None if got is None else got.numpy(),
                       [(lambda e, g, spread=spread: np.allclose(g, spread),
                         "tie handling: only the window's FIRST maximum (row-major, self.winner) gets the "
                         "gradient, not every tied pixel")])


def task11(options):
    import tinygrad_lite as tl
    from experiments.data import prepare
    from experiments.models import build
    from experiments.registry import RUNS
    from experiments.train import evaluate, train
    config = RUNS["A-sigmoid"]
    if options.epochs:
        config = dataclasses.replace(config, epochs=options.epochs)
    data = prepare(config, seed=0, subset=options.subset)
    tl.manual_seed(0)                    # the network train() starts from (same seed, same draws)
    untrained_loss = evaluate(build(config.layers, data.input_shape, config.init), data.x_train, data.y_train)[0]
    result = train(config, data, seed=0, progress=False, subset=options.subset)
    accuracy, figure = result.final["test_acc"], RUNS["A-sigmoid"].reported["test_acc"]
    loss = result.final["train_loss"]
    what = (f"A-sigmoid, {config.epochs} epoch(s) on {len(data.y_train)} training images"
            + (" of the bundled sample" if data.used_sample else ""))
    short = options.subset is not None or options.epochs is not None or data.used_sample
    if short:    # too short to reach the assignment's figure: the training loss must fall, though
        if not loss < untrained_loss - 1e-3:
            raise CheckFailed("a short run of the assignment's sigmoid MLP with your engine", what,
                              expected=f"training loss below the untrained network's {untrained_loss:.4f}",
                              got=f"{loss:.4f}", hint="the loss must fall; if it rises, a gradient's sign is "
                                                      "wrong (re-run the checks of tasks 2 and 4-7)")
        return (f"training loss {untrained_loss:.4f} -> {loss:.4f}, test accuracy {accuracy:.4f} ({what}; a short "
                f"run: the full one must reach the assignment's {figure:.2f})")
    if not accuracy >= figure:
        raise CheckFailed("the assignment's sigmoid MLP trained with your engine", what,
                          expected=f"test accuracy >= {figure:.2f} (the assignment's figure)", got=f"{accuracy:.4f}",
                          hint="the loss should fall from ln 10 = 2.30; if not, re-run the checks of tasks 2, 4-7")
    return f"test accuracy {accuracy:.4f}, the assignment's figure {figure:.2f}: reached ({what})"


CHECKS = {1: task1, 2: task2, 3: task3, 4: task4, 5: task5, 6: task6, 7: task7, 8: task8, 9: task9,
          10: task10, 11: task11}


def run_task(number, options=None):
    """Run task ``number``'s checks; an Outcome, never an exception (a crash is a failure, explained)."""
    options = options or Options()
    task = BY_NUMBER[number]
    try:
        note = CHECKS[number](options) if number == 11 else CHECKS[number]()
    except CheckFailed as failure:
        return Outcome(number, False, failure.check, failure.explain())
    except Exception as error:      # noqa: BLE001  (a student's bug is reported, not raised)
        blank = blank_task(error)
        if blank is not None:
            stub_here = blank == number
            return Outcome(number, False, f"Task {blank} is still blank",
                           f"  {error}\n  hint:     " + ("write this function's body (the docstring gives the "
                                                         "formula)" if stub_here else
                                                         f"this task's checks run through task {blank}: do it first"),
                           blank=stub_here)
        frame = traceback.extract_tb(error.__traceback__)[-1]
        return Outcome(number, False, f"{type(error).__name__} raised",
                       f"  {type(error).__name__}: {error}\n  at:       {frame.filename}:{frame.lineno} "
                       f"({frame.name})\n  hint:     check the shapes and the types you return "
                       f"(one Tensor or None per input)")
    return Outcome(number, True, details=f"  {note}" if note else f"  all checks of task {number} pass "
                   f"({task.title})")


def summary_table(outcomes):
    """Tasks done / to do, as text."""
    lines = ["task  status  title"]
    for task in COURSE:
        outcome = outcomes.get(task.number)
        status = "-" if outcome is None else ("done" if outcome.passed else "to do")
        lines.append(f"{task.number:>4}  {status:<6}  {task.title}")
    return "\n".join(lines)
