"""Torch-free checks of each task, answered like a patient teaching assistant.

A task's check is a list of ``Check``s. Each asks for computations with the student's code
(``Request``s: a ``worker`` kind on inputs drawn here from a seed) and judges the answers against
values computed here: central finite differences in float64 of the teacher's forward (the method of
``tinygrad_lite.gradcheck``), values written out from the docstrings' formulas, or the teacher's own
evaluation of weights the student's training produced. Calling an op's own ``forward`` and
``backward`` keeps a blank task elsewhere (the backward walk, sum_to) from breaking an unrelated check.

``run_task`` answers the requests in this process (``exercise check``: the copy is the code);
``grade`` sends them to a sandboxed worker and judges its answers with the same ``judge``.
"""
import dataclasses
import os

import numpy as np

from . import worker
from .course import BY_NUMBER, COURSE
from .graft import split_target

EPS, ATOL, RTOL = 1e-6, 1e-5, 1e-3
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAFT_HINT = ("grading takes only the body of each blank function: a helper or an import you added "
              "elsewhere in the file or the copy is not there; define or import it inside the function")


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


class StudentRaised(Exception):
    """The student's code raised while a check ran it (``error`` as ``worker.describe_error`` gives)."""

    def __init__(self, check, function, error):
        super().__init__(check)
        self.check, self.function, self.error = check, function, error


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
    seed: int = 0            # the inputs' draws (grading draws one per run and copy)
    allow_sample: bool = None    # task 11 may train on the bundled sample (default: in check, not in grading)
    grading: bool = False    # the answers come from a sandboxed worker with the student's bodies grafted

    @property
    def sample_allowed(self):
        return (not self.grading) if self.allow_sample is None else self.allow_sample


@dataclasses.dataclass
class Request:
    """One computation for the worker: ``kind`` (see ``worker.KINDS``), JSON ``args``, named arrays."""
    kind: str
    args: dict
    arrays: dict
    id: str = ""


def _fmt(value):
    return f"{value:.8g}" if isinstance(value, (float, np.floating)) else str(value)


def _sum_to(array, shape):
    """The checker's own broadcast undo (independent of task 3's SumToOp); ``array`` if it cannot."""
    lead = array.ndim - len(shape)
    if lead < 0:
        return array
    array = array.sum(axis=tuple(range(lead))) if lead else array
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and array.shape[i] != 1)
    return array.sum(axis=axes, keepdims=True) if axes else array


def compare_arrays(check, inputs, expected, got, hints=(), too_big=None):
    """Raise CheckFailed at the worst element unless ``got`` matches ``expected`` within tolerance.
    ``hints``: (test(expected, got), text) tried in order on a wrong value; ``too_big``: the hint for
    an answer with more elements than expected (by default: a gradient not summed back)."""
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
            hint = too_big or ("gradient not summed over the broadcast axis: an input that was broadcast gets "
                               "the sum of the copies' gradients")
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
    with np.errstate(all="ignore"):
        if np.allclose(got, -expected, atol=ATOL, rtol=RTOL):
            return "the sign is flipped"
        if got.ndim >= 2 and got.shape[-1] == got.shape[-2] and np.allclose(
                got.swapaxes(-1, -2), expected, atol=ATOL, rtol=RTOL):
            return "wrong transpose: your answer is the transpose of the expected one"
        nonzero = np.abs(expected) > 1e-3         # finite differences are good to ~1e-9 there
        if nonzero.any():
            ratio = got[nonzero] / expected[nonzero]
            if np.allclose(ratio, ratio.flat[0], rtol=1e-4) and not np.isclose(ratio.flat[0], 1):
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


def _resolve(spec):
    return worker._resolve(spec)


def _as_json(value, arrays):
    """Constructor arguments for a request: arrays go by reference into ``arrays``, tuples as lists."""
    if isinstance(value, np.ndarray):
        name = f"init{len(arrays)}"
        arrays[name] = value
        return {"array": name}
    if isinstance(value, (tuple, list)):
        return [_as_json(v, arrays) for v in value]
    return value


class Check:
    """What one check asks (``requests``) and how it judges the answers (``judge``)."""
    name = ""
    function = ""            # the blank function the check runs, as the explanation names it

    def answer(self, replies, request):
        """(arrays, values) of ``request``'s reply, or ``StudentRaised`` if the student's code raised."""
        reply = replies[request.id]
        if not reply["ok"]:
            raise StudentRaised(self.name, self.function, reply["error"])
        return reply["arrays"], reply["values"]


class Backward(Check):
    """``op``'s backward against central finite differences of the teacher's ``op.forward``.

    ``strict``: a gradient must have its input's shape (the op, not the engine, sums it back);
    otherwise a broadcast gradient is summed back first, as the engine does (task 3's job).
    ``names``: what each input is called in a shape message (e.g. the bias)."""

    def __init__(self, name, op, inputs, rng, init=(), strict=False, names=None, reference=None, mistakes=()):
        self.name, self.op, self.init, self.strict = name, op, tuple(init), strict
        self.function = op.split(":")[1] + ".backward"
        self.inputs = [np.array(a, dtype=np.float64) for a in inputs]
        self.names = names or [f"input {k}" for k in range(len(inputs))]
        self.reference, self.mistakes = reference, mistakes
        out = self.forward_of(self.inputs)
        self.gy = rng.standard_normal(np.shape(out))
        self.requests = [self._request(self.gy)]
        if np.ndim(self.gy) > 0:                 # the same with gy = 1: does the answer follow gy?
            self.requests.append(self._request(np.ones_like(self.gy)))

    def make(self):
        return _resolve(self.op)(*self.init)

    def forward_of(self, arrays):
        """The output for ``arrays``: the checker's own formula (``reference``) when the task blanks the
        forward too, else the teacher's op's forward."""
        if self.reference is not None:
            return self.reference(*[x.copy() for x in arrays])
        return self.make().forward(*[x.copy() for x in arrays])

    def _request(self, gy):
        arrays = {f"x{k}": a for k, a in enumerate(self.inputs)}
        arrays["gy"] = gy
        init = _as_json(list(self.init), arrays)
        return Request("backward", {"op": self.op, "init": init, "inputs": [f"x{k}" for k in range(len(self.inputs))]},
                       arrays)

    def judge(self, replies):
        arrays, values = self.answer(replies, self.requests[0])
        returned = values.get("returned")
        if returned != len(self.inputs):
            raise CheckFailed(f"{self.function} returns one gradient per input",
                              expected=f"{len(self.inputs)} gradient(s)", got=f"{returned}",
                              hint="return a tuple with one Tensor (or None) per input of forward")
        ones = {}
        if len(self.requests) > 1 and replies[self.requests[1].id]["ok"]:
            ones = replies[self.requests[1].id]["arrays"]
        described = " and ".join(f"{n} of shape {a.shape}" for n, a in zip(self.names, self.inputs))
        for k, a in enumerate(self.inputs):
            expected = _numeric(self.forward_of, self.inputs, k, self.gy)
            got, with_ones = arrays.get(f"g{k}"), ones.get(f"g{k}")
            if got is not None and got.shape != a.shape:
                if self.strict:
                    raise CheckFailed(f"{self.name}: the shape of the {self.names[k]}'s gradient", described,
                                      expected=f"shape {a.shape}", got=f"shape {got.shape}",
                                      hint=_shape_hint(self.names[k], got.shape, a.shape))
                got = _sum_to(got, a.shape)      # the engine sums a broadcast gradient back (task 3)
                with_ones = None if with_ones is None else _sum_to(with_ones, a.shape)
            hints = [] if with_ones is None else [
                (lambda e, g, ones=with_ones: ones.shape == g.shape and np.allclose(g, ones),
                 "forgot to multiply by the incoming gradient gy (your answer does not change when gy does)")]
            for wrong, text in self.mistakes:         # (gy -> the wrong gradient of each input, its hint)
                answer = wrong(self.gy)[k]
                hints.append((lambda e, g, answer=answer: answer is not None and answer.shape == g.shape
                              and np.allclose(g, answer, atol=ATOL, rtol=RTOL), text))
            compare_arrays(f"{self.name}: gradient of the {self.names[k]} against finite differences", described,
                           expected, got, hints)


def _shape_hint(name, got, want):
    if len(got) > len(want) and tuple(got[len(got) - len(want):]) == tuple(want):
        lead = len(got) - len(want)
        return (f"{name} gradient has shape {tuple(got)}; the {name} has shape {tuple(want)}: sum over the "
                f"batch {'axis' if lead == 1 else 'axes'}")
    if tuple(got) == tuple(want)[::-1]:
        return f"{name} gradient has shape {tuple(got)}, the transpose of the {name}'s {tuple(want)}"
    return f"{name} gradient has shape {tuple(got)}; the {name} has shape {tuple(want)}"


class Compare(Check):
    """One request whose answer ``key`` must equal ``expected`` (computed here), with ``hints``."""

    def __init__(self, name, inputs, function, request, expected, key="y", hints=(), too_big=None):
        self.name, self.inputs, self.function, self.key = name, inputs, function, key
        self.expected, self.hints, self.too_big, self.requests = expected, hints, too_big, [request]

    def judge(self, replies):
        arrays, _ = self.answer(replies, self.requests[0])
        compare_arrays(self.name, self.inputs, self.expected, arrays.get(self.key), self.hints, self.too_big)


# ---- the checks of each task ----------------------------------------------------------------------

def task1(rng, options):
    task = BY_NUMBER[1]
    mul, div, exp, log = (task.function(i) for i in range(4))
    return [Backward("Mul (b broadcast over rows)", mul, [rng.standard_normal((3, 4)), rng.standard_normal(4)], rng),
            Backward("Div (b broadcast over columns)", div,
                     [rng.standard_normal((3, 4)), rng.uniform(0.5, 2.0, (3, 1)) * rng.choice([-1, 1], (3, 1))], rng),
            Backward("Exp", exp, [rng.standard_normal((2, 3))], rng),
            Backward("Log", log, [rng.uniform(0.2, 3.0, (2, 3))], rng)]


def task2(rng, options):
    tanh, sigmoid = (BY_NUMBER[2].function(i) for i in range(2))
    return [Backward("Tanh", tanh, [rng.standard_normal((2, 5)) * 2], rng),
            Backward("Sigmoid", sigmoid, [rng.standard_normal((2, 5)) * 3], rng)]


def task3(rng, options):
    sum_to = BY_NUMBER[3].function(0)
    x = rng.standard_normal((2, 3, 4))
    checks = []
    for shape, expected in (((1, 3, 4), x.sum(axis=0, keepdims=True)), ((2, 1, 4), x.sum(axis=1, keepdims=True)),
                            ((3, 1), x.sum(axis=0).sum(axis=1, keepdims=True)), ((4,), x.sum(axis=(0, 1))),
                            ((2, 3, 4), x)):
        request = Request("forward", {"op": sum_to, "init": [list(shape)], "inputs": ["x"]}, {"x": x})
        checks.append(Compare(f"SumToOp({shape}) of x", "x of shape (2, 3, 4), standard normal draws",
                              "SumToOp.forward", request, expected,
                              too_big="summed over too few axes: every axis that was broadcast (leading, or "
                                      "size 1) adds up"))
    return checks


def task4(rng, options):
    x, seed = rng.standard_normal(2), rng.standard_normal(2)
    walk = Compare("x.grad for c = Counted(b) + b, b = a + a, a = Counted(x)",
                   f"x of shape (2,), seed gradient g = {np.round(seed, 4).tolist()}", "backward",
                   Request("walk", {}, {"x": x, "seed": seed}), 4 * seed, key="grad",
                   hints=[(lambda e, g: np.allclose(g, e / 2) or np.allclose(g, e / 4),
                           "a node used twice must receive the SUM of both gradients before its backward runs")])
    x2 = rng.standard_normal((2, 3))
    seed2 = rng.standard_normal((2, 3))
    quartic = Compare("gradient of (x*x + x) * (x*x) through your backward walk", "x of shape (2, 3), seeded",
                      "backward", Request("gradient", {"expression": "(x*x + x) * (x*x)"}, {"x": x2, "seed": seed2}),
                      seed2 * (4 * x2 ** 3 + 3 * x2 ** 2), key="grad",
                      hints=[(lambda e, g: True, "x*x is used twice: its gradient is the sum from both places")])
    return [walk, CountedOnce(walk), quartic]


class CountedOnce(Check):
    """The walk of ``walk`` ran each Counted op's backward exactly once."""
    name, function = "each Function's backward runs exactly once", "backward"

    def __init__(self, walk):
        self.requests, self.walk = [], walk

    def judge(self, replies):
        _, values = self.answer(replies, self.walk.requests[0])
        if values.get("calls") != 2:
            raise CheckFailed(self.name, "the graph above", expected="2 calls (one per Counted op)",
                              got=f"{values.get('calls')} calls",
                              hint="queue a Function once and run it after all its consumers (deepest first, "
                                   "by generation), not once per path")


def task5(rng, options):
    matmul, linear = (BY_NUMBER[5].function(i) for i in range(2))
    names = ["x", "weight", "bias"]
    return [Backward("MatMul (3,4) @ (4,2)", matmul, [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))], rng),
            Backward("MatMul batched (2,3,4) @ (4,5)", matmul,
                     [rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5))], rng),
            Backward("MatMul vector (4,) @ (4,2)", matmul, [rng.standard_normal(4), rng.standard_normal((4, 2))], rng),
            Backward("Linear x (4,5), w (3,5), b (3,)", linear,
                     [rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)], rng,
                     strict=True, names=names),
            Backward("Linear x (2,4,5), w (3,5), b (3,)", linear,
                     [rng.standard_normal((2, 4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)], rng,
                     strict=True, names=names)]


def task6(rng, options):
    cross_entropy = BY_NUMBER[6].function(0)
    logits = rng.standard_normal((4, 5)) * 2
    labels = rng.integers(0, 5, 4)
    probs = rng.dirichlet(np.ones(5), size=4)
    return [Backward(f"CrossEntropy(labels {labels.tolist()}, {reduction!r})", cross_entropy, [logits], rng,
                     init=(labels, reduction), names=["logits"]) for reduction in ("mean", "sum", "none")] + \
        [Backward("CrossEntropy(probability targets, 'mean')", cross_entropy, [logits], rng, init=(probs, "mean"),
                  names=["logits"])]


class OptimiserSteps(Check):
    """Three steps of ``optimiser`` on one parameter against ``reference(p, g, t, state)``."""

    def __init__(self, name, optimiser, kwargs, reference, rng, steps=3):
        self.name, self.function = name, optimiser.split(":")[1] + ".update"
        p0 = rng.standard_normal((2, 3))
        grads = rng.standard_normal((steps, 2, 3))
        self.requests = [Request("optimiser", {"optimiser": optimiser, "kwargs": kwargs}, {"p0": p0, "grads": grads})]
        self.expected, p, state = [], p0.copy(), {}
        for t, g in enumerate(grads, start=1):
            p = reference(p, g, t, state)
            self.expected.append(p)

    def judge(self, replies):
        arrays, _ = self.answer(replies, self.requests[0])
        after = arrays.get("p")
        for t, expected in enumerate(self.expected, start=1):
            got = None if after is None or after.shape[:1] != (len(self.expected),) else after[t - 1]
            compare_arrays(f"{self.name}: the parameter after step {t}", "p (2, 3) and three gradients, seeded",
                           expected, got,
                           [(lambda e, g, t=t: t > 1 and "momentum" in self.name,
                             "keep the momentum buffer in `state` between steps (b = momentum * b + g)")])


def task7(rng, options):
    sgd_class, adam_class = (BY_NUMBER[7].function(i) for i in range(2))
    adamw_class = adam_class.rsplit(":", 1)[0] + ":AdamW"
    lr, mu, wd = 0.1, 0.9, 0.01

    def sgd(p, g, t, state, nesterov=False, momentum=mu):
        g = g + wd * p
        if momentum:
            state["b"] = g.copy() if t == 1 else momentum * state["b"] + g
            g = g + momentum * state["b"] if nesterov else state["b"]
        return p - lr * g

    def adam(p, g, t, state, decoupled=False, b1=0.9, b2=0.999, eps=1e-8, lr=0.01):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = state.get("m", 0) * b1 + (1 - b1) * g
        v = state.get("v", 0) * b2 + (1 - b2) * g * g
        state.update(m=m, v=v)
        return p - lr / (1 - b1 ** t) * m / (np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps)

    return [OptimiserSteps("SGD plain", sgd_class, dict(lr=lr, weight_decay=wd),
                           lambda *a: sgd(*a, momentum=0), rng),
            OptimiserSteps("SGD with momentum 0.9", sgd_class, dict(lr=lr, momentum=mu, weight_decay=wd), sgd, rng),
            OptimiserSteps("SGD with Nesterov momentum 0.9", sgd_class,
                           dict(lr=lr, momentum=mu, nesterov=True, weight_decay=wd),
                           lambda *a: sgd(*a, nesterov=True), rng),
            OptimiserSteps("Adam (bias-corrected)", adam_class, dict(lr=0.01, weight_decay=wd), adam, rng),
            OptimiserSteps("AdamW (decoupled weight decay)", adamw_class, dict(lr=0.01, weight_decay=wd),
                           lambda *a: adam(*a, decoupled=True), rng)]


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


def _adds_overlaps(covered):
    """A hint for a scatter that overwrote where windows overlap: right on pixels one window reaches
    (``covered`` == 1), wrong where several do."""
    return (lambda e, g: np.allclose(g[covered == 1], e[covered == 1], atol=ATOL, rtol=RTOL)
            and not np.allclose(g[covered > 1], e[covered > 1], atol=ATOL, rtol=RTOL),
            "overlapping windows must ADD onto a pixel (+=), not overwrite it")


def task8(rng, options):
    im2col, col2im = (BY_NUMBER[8].function(i) for i in range(2))
    x = rng.standard_normal((2, 3, 5, 6))
    checks = []
    for kernel, stride, padding in GEOMETRIES:
        where = f"x (2, 3, 5, 6), kernel {kernel}, stride {stride}, padding {padding}"
        geometry = [list(kernel), list(stride), list(padding)]
        expected = _naive_im2col(x, kernel, stride, padding)
        checks.append(Compare("im2col_array: rows (n, oh, ow), columns (i, j, c)", where, "im2col_array",
                              Request("call", {"function": im2col, "args": [{"array": "x"}, *geometry]}, {"x": x}),
                              expected))
        kh, kw = kernel
        checks.append(Compare("im2col_array(offset_major=True): (kh*kw, n*oh*ow, c)", where, "im2col_array",
                              Request("call", {"function": im2col, "args": [{"array": "x"}, *geometry],
                                               "kwargs": {"offset_major": True}}, {"x": x}),
                              expected.reshape(-1, kh * kw, 3).transpose(1, 0, 2)))
        cols = rng.standard_normal(expected.shape)
        image = _naive_col2im(cols, x.shape, kernel, stride, padding)
        overlap = [_adds_overlaps(_naive_col2im(np.ones(expected.shape), x.shape, kernel, stride, padding))]
        major = np.ascontiguousarray(cols.reshape(-1, kh * kw, 3).transpose(1, 0, 2))
        for label, given in (("col2im_array of (n*oh*ow, kh*kw*c) cols", cols),
                             ("col2im_array of offset-major (kh*kw, n*oh*ow, c) cols", major)):
            checks.append(Compare(label, where, "col2im_array",
                                  Request("call", {"function": col2im,
                                                   "args": [{"array": "cols"}, list(x.shape), *geometry]},
                                          {"cols": given}), image, hints=overlap))
    return checks


def task9(rng, options):
    conv = BY_NUMBER[9].function(0)
    return [Backward(f"Conv2d stride {stride} padding {padding}", conv,
                     [rng.standard_normal((2, 3, size, size)), rng.standard_normal((4, 3, 3, 3)),
                      rng.standard_normal(4)], rng, init=(stride, padding), names=["x", "weight", "bias"])
            for stride, padding, size in (((1, 1), (1, 1), 5), ((2, 2), (0, 1), 6))]


def _max_pool_gradients(x, kernel, stride, gy):
    """(the gradient routed to each window's first maximum, the same given to every tied maximum, the same
    given to every pixel of the window, how many windows each pixel wins)."""
    n, c, h, w = x.shape
    oh, ow = gy.shape[2:]
    expected, ties, everywhere, wins = (np.zeros_like(x) for _ in range(4))
    for a in range(oh):
        for b in range(ow):
            rows = slice(a * stride[0], a * stride[0] + kernel[0])
            columns = slice(b * stride[1], b * stride[1] + kernel[1])
            window = x[:, :, rows, columns]
            first = window.reshape(n, c, -1).argmax(axis=2)          # the first maximum, row-major
            everywhere[:, :, rows, columns] += gy[:, :, a:a + 1, b:b + 1]
            for i in range(n):
                for j in range(c):
                    r, s = divmod(int(first[i, j]), kernel[1])
                    expected[i, j, a * stride[0] + r, b * stride[1] + s] += gy[i, j, a, b]
                    wins[i, j, a * stride[0] + r, b * stride[1] + s] += 1
                    ties[i, j, rows, columns] += (window[i, j] == window[i, j].max()) * gy[i, j, a, b]
    return expected, ties, everywhere, wins


def task10(rng, options):
    tied = rng.integers(0, 3, (2, 2, 6, 6)).astype(np.float64)     # many ties
    checks = []
    for x, (kernel, stride), label in ((rng.standard_normal((2, 2, 6, 6)), ((2, 2), (2, 2)), "no ties"),
                                       (tied, ((2, 2), (2, 2)), "integer values 0-2 (ties)"),
                                       (tied, ((3, 3), (1, 1)), "ties, overlapping windows (stride 1)")):
        oh, ow = (6 - kernel[0]) // stride[0] + 1, (6 - kernel[1]) // stride[1] + 1
        gy = rng.standard_normal((2, 2, oh, ow))
        expected, ties, everywhere, wins = _max_pool_gradients(x, kernel, stride, gy)
        hints = [(lambda e, g, everywhere=everywhere: np.allclose(g, everywhere),
                  "each window's gradient goes to its winning pixel only (self.winner == offset), not to "
                  "every pixel of the window"),
                 (lambda e, g, ties=ties: np.allclose(g, ties),
                  "tie handling: only the window's FIRST maximum (row-major, self.winner) gets the gradient, "
                  "not every tied pixel"),
                 (lambda e, g, wins=wins: np.allclose(g[wins <= 1], e[wins <= 1]),
                  "windows that share a winning pixel must ADD their gradients there (+=), not overwrite")]
        checks.append(Compare(f"max-pool gradient, kernel {kernel}, stride {stride}", f"x (2, 2, 6, 6), {label}",
                              "RouteToWinnerOp.forward",
                              Request("max_pool_backward", {"kernel": list(kernel), "stride": list(stride)},
                                      {"x": x, "gy": gy}), expected, key="gx", hints=hints))
    return checks


def _attention(q, k, v, bias=None, scale=1.0, keep=None, axis=-1, scaled=True):
    """The checker's own attention, (softmax(q k^T * scale + bias) * keep) v, a row masked everywhere 0;
    ``axis`` and ``scaled`` make the common mistakes (the softmax over the queries, no scale)."""
    scores = q @ k.swapaxes(-1, -2) * (scale if scaled else 1.0)
    if bias is not None:
        scores = scores + bias
    top = scores.max(axis=axis, keepdims=True)
    seen = top > -np.inf
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - np.where(seen, top, 0.0))
    p = weights / np.where(seen, weights.sum(axis=axis, keepdims=True), 1.0)
    return (p if keep is None else p * keep) @ v


def _attention_without_the_softmax_jacobian(q, k, v, bias, scale, keep):
    """gy -> the gradients of (q, k, v, bias) when gS is taken as P * gP (the row-sum term forgotten)."""
    def wrong(gy):
        scores = q @ k.swapaxes(-1, -2) * scale + (0.0 if bias is None else bias)
        p = np.exp(scores - scores.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        g_p = gy @ v.swapaxes(-1, -2) * (1.0 if keep is None else keep)
        g_s = p * g_p
        return [g_s @ k * scale, g_s.swapaxes(-1, -2) @ q * scale, None, g_s]
    return wrong


def task12(rng, options):
    forward, backward = (BY_NUMBER[12].function(i) for i in range(2))
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    mask = np.where(rng.random((3, 5)) < 0.3, -np.inf, rng.standard_normal((3, 5)))
    mask[:, 0] = 0.0
    blind = mask.copy()
    blind[1] = -np.inf                                   # query 1 may see no key
    keep = (rng.random((2, 3, 5)) >= 0.3) / 0.7
    where = "q (2, 3, 4), k (2, 5, 4), v (2, 5, 3), scale 0.5"
    checks = []
    softmax_axis = ("the softmax runs over the keys: each query's row of q k^T (its last axis) sums to 1",
                    lambda *a, **kw: _attention(*a, axis=-2, **kw))
    for label, inputs, init, extra, hint in (
            ("attention", (q, k, v), (0.5,), {}, ("multiply the scores q k^T by self.scale before the softmax",
                                                  lambda *a, **kw: _attention(*a, scaled=False, **kw))),
            ("attention of large scores", (q * 40, k, v), (0.5,), {},
             ("subtract each row's maximum score before exp: exp of a large score overflows to inf (inf / inf "
              "is nan)", None)),
            ("a float mask added to the scores, -inf = not seen", (q, k, v, mask), (0.5,), {"bias": mask},
             ("add the mask (the 4th input, bias) to the scaled scores before the softmax",
              lambda q, k, v, bias=None, **kw: _attention(q, k, v, **kw))),
            ("a query whose keys are all masked", (q, k, v, blind), (0.5,), {"bias": blind},
             ("a row whose scores are all -inf has no key to look at: its P row, and y there, is 0 (not nan)",
              None)),
            ("dropout: P times the mask self.keep", (q, k, v), (0.5, keep), {"keep": keep},
             ("multiply P by self.keep (when it is not None) before the product with v",
              lambda *a, keep=None, **kw: _attention(*a, **kw)))):
        arrays = {f"x{i}": a for i, a in enumerate(inputs)}
        names = list(arrays)
        init_json = _as_json(list(init), arrays)             # adds the keep mask to the arrays sent
        expected = _attention(q * 40 if "large" in label else q, k, v, scale=0.5, **extra)
        hints = [(lambda e, g: not np.isfinite(g).all(), hint[0]) if hint[1] is None else
                 (lambda e, g, wrong=hint[1], x=inputs[0], extra=extra: np.allclose(
                     g, wrong(x, k, v, scale=0.5, **extra), atol=ATOL, rtol=RTOL), hint[0]),
                 (lambda e, g, x=inputs[0], extra=extra: np.allclose(
                     g, softmax_axis[1](x, k, v, scale=0.5, **extra), atol=ATOL, rtol=RTOL), softmax_axis[0])]
        checks.append(Compare(f"AttentionOp.forward: {label}", where + (", mask (3, 5)" if "bias" in extra else ""),
                              "AttentionOp.forward", Request("forward", {"op": forward, "init": init_json,
                                                                        "inputs": names}, arrays),
                              expected, hints=hints))
    jacobian = ("the softmax's gradient is gS = P * (gP - sum over the keys of gP * P): the row-sum term is "
                "missing")
    finite = np.where(np.isfinite(mask), mask, -3.0)
    for label, inputs, init, names in (("q, k, v", (q, k, v), (0.5,), ["q", "k", "v"]),
                                       ("and a float mask", (q, k, v, finite), (0.5,), ["q", "k", "v", "mask"]),
                                       ("with the dropout mask", (q, k, v), (0.5, keep), ["q", "k", "v"])):
        keep_of = init[1] if len(init) > 1 else None
        bias = inputs[3] if len(inputs) > 3 else None
        checks.append(Backward(f"AttentionOp.backward: {label}", backward, list(inputs), rng, init=init, names=names,
                               reference=lambda *xs, keep=keep_of: _attention(*xs[:3], xs[3] if len(xs) > 3 else None,
                                                                             0.5, keep),
                               mistakes=[(_attention_without_the_softmax_jacobian(q, k, v, bias, 0.5, keep_of),
                                          jacobian)]))
    return checks


RUN = "A-sigmoid"                       # task 11 trains assignment A's sigmoid MLP
_TRAINING = {}


@dataclasses.dataclass
class Training:
    """The data task 11 trains on and is measured on, prepared once per process and setting."""
    config: object
    data: object
    short: bool              # a subset or fewer epochs, or the sample: the bar is 'the loss falls'

    @property
    def what(self):
        data = self.data
        source = "the bundled sample" if data.used_sample else "MNIST"
        return f"{RUN}, {self.config.epochs} epoch(s) on {len(data.y_train)} training images of {source}"

    def shared(self, name):
        """The arrays the worker trains on (never the test split)."""
        return {"x_train": self.data.x_train, "y_train": self.data.y_train, "x_val": self.data.x_val,
                "y_val": self.data.y_val}[name]


DATA_VARIABLES = ("TINYGRAD_LITE_DATA", "TINYGRAD_LITE_OFFLINE", "TINYGRAD_LITE_NO_SAMPLE", "XDG_CACHE_HOME")


def training(options):
    """The ``Training`` of ``options`` (prepared once per process, setting and data environment)."""
    key = (options.subset, options.epochs) + tuple(os.environ.get(v) for v in DATA_VARIABLES)
    if key not in _TRAINING:
        from experiments.data import prepare
        from experiments.registry import RUNS
        config = RUNS[RUN]
        if options.epochs:
            config = dataclasses.replace(config, epochs=options.epochs)
        data = prepare(config, seed=0, subset=options.subset)
        _TRAINING[key] = Training(config, data, options.subset is not None or options.epochs is not None
                                  or data.used_sample)
    return _TRAINING[key]


class Train(Check):
    """The student's step trains the run in the worker; the weights it returns are measured here."""
    function = "ScratchAdapter.step"

    def __init__(self, context, seed):
        self.context, self.seed = context, seed
        self.name = f"the assignment's sigmoid MLP trained with your engine ({context.what})"
        self.requests = [Request("train", {"run": RUN, "epochs": context.config.epochs, "seed": seed}, {})]

    def judge(self, replies):
        from experiments.train import evaluate, scratch_model
        weights, _ = self.answer(replies, self.requests[0])
        config, data, what = self.context.config, self.context.data, self.context.what
        model = scratch_model(config, data.input_shape, self.seed)       # the teacher's engine and network
        untrained = evaluate(model, data.x_train, data.y_train)[0]
        try:
            model.load_state_dict(weights)
        except Exception as error:      # names or shapes that do not fit
            raise CheckFailed("the weights your training returned fit the network", what,
                              expected="the network's parameters, by name and shape", got=str(error)[:300],
                              hint="train the model the adapter built; do not replace or reshape its parameters"
                              ) from None
        loss = evaluate(model, data.x_train, data.y_train)[0]
        accuracy, figure = evaluate(model, data.x_test, data.y_test)[1], _figure()
        if self.context.short:    # too short to reach the assignment's figure: the training loss must fall
            if not loss < untrained - 1e-3:
                raise CheckFailed(f"a short run of {self.name}", what,
                                  expected=f"training loss below the untrained network's {untrained:.4f}",
                                  got=f"{loss:.4f}", hint="the loss must fall; if it rises, a gradient's sign is "
                                                          "wrong (re-run the checks of tasks 2 and 4-7)")
            return (f"training loss {untrained:.4f} -> {loss:.4f}, test accuracy {accuracy:.4f} ({what}; a short "
                    f"run: the full one must reach the assignment's {figure:.2f})")
        if not accuracy >= figure:
            raise CheckFailed(self.name, what, expected=f"test accuracy >= {figure:.2f} (the assignment's figure)",
                              got=f"{accuracy:.4f}",
                              hint="the loss should fall from ln 10 = 2.30; if not, re-run the checks of tasks 2, 4-7")
        return f"test accuracy {accuracy:.4f}, the assignment's figure {figure:.2f}: reached ({what})"


def _figure():
    from experiments.registry import RUNS
    return RUNS[RUN].reported["test_acc"]


class Refused(Check):
    """Task 11 when only the bundled sample is there and grading did not allow it."""
    function, requests = "ScratchAdapter.step", []

    def __init__(self, context):
        self.name, self.context = "task 11 trains on the real MNIST data", context

    def judge(self, replies):
        raise CheckFailed(self.name, self.context.what, expected="MNIST's 60000 training images",
                          got="only the bundled sample was found",
                          hint="put MNIST where TINYGRAD_LITE_DATA points (see README), or grade with "
                               "--allow-sample for a trial run on the sample")


def task11(rng, options):
    context = training(options)
    if context.data.used_sample and not options.sample_allowed:
        return [Refused(context)]
    return [Train(context, int(rng.integers(2 ** 31)))]


CHECKS = {1: task1, 2: task2, 3: task3, 4: task4, 5: task5, 6: task6, 7: task7, 8: task8, 9: task9,
          10: task10, 11: task11, 12: task12}


def plan(number, options):
    """Task ``number``'s checks, their inputs drawn from ``options.seed`` and the task's number, their
    requests numbered '<task>.<i>'."""
    checks = CHECKS[number](np.random.default_rng([options.seed, number]), options)
    for i, request in enumerate(r for check in checks for r in check.requests):
        request.id = f"{number}.{i}"
    return checks


def requests_of(checks):
    return [r for check in checks for r in check.requests]


def judge(number, checks, replies, options, grafts=None):
    """The Outcome of task ``number`` from the worker's ``replies``; never raises for what they hold.
    ``grafts``: in grading, each blank function's graft report (a function missing from the copy
    fails its task saying so)."""
    task = BY_NUMBER[number]
    missing = [grafts[t]["error"] for t in task.blanks if grafts and t in grafts and not grafts[t].get("ok")]
    if missing:
        return Outcome(number, False, missing[0], "\n".join(f"  {m}" for m in missing) +
                       "\n  hint:     grading reads each blank function from its file in the copy, at the path "
                       "and name the course gives (`exercise list`)")
    notes = [w for t in task.blanks for w in (grafts or {}).get(t, {}).get("warnings", [])]
    try:
        said = [check.judge(replies) for check in checks]
    except CheckFailed as failure:
        return Outcome(number, False, failure.check, _with_notes(failure.explain(), notes))
    except StudentRaised as raised:
        return _raised(number, raised, options)
    except Exception as error:      # an answer of the wrong form: the task fails, saying so
        return Outcome(number, False, "the answer could not be read",
                       f"  {type(error).__name__}: {str(error)[:300]}\n  hint:     return Tensors of the "
                       f"shapes the docstring gives")
    note = next((s for s in reversed(said) if s), None)
    return Outcome(number, True, details=_with_notes(f"  {note}" if note else f"  all checks of task {number} pass "
                                                     f"({task.title})", notes))


def _with_notes(text, notes):
    return text + "".join(f"\n  note:     {n}" for n in notes)


def _relative(path):
    """A frame's file as a path inside the project ('tinygrad_lite/core.py'), wherever it ran."""
    path = str(path).replace(os.sep, "/")
    for package in ("tinygrad_lite/", "nn/", "experiments/"):
        at = path.find("/" + package)
        if at >= 0 or path.startswith(package):
            return path[at + 1:] if at >= 0 else path
    return os.path.basename(path)


def _raised(number, raised, options):
    """The explanation of an exception the student's code raised: the student's line first."""
    error, frames = raised.error, raised.error.get("frames", [])
    message = f"{error.get('type')}: {error.get('message')}"
    blank = error.get("blank")
    if blank is not None:
        here = blank == number
        return Outcome(number, False, f"Task {blank} is still blank",
                       f"  {error.get('message')}\n  hint:     " + ("write this function's body (the docstring gives "
                                                                   "the formula)" if here else
                                                                   f"this task's checks run through task {blank}: "
                                                                   f"do it first"), blank=here)
    mine = [f for f in frames if f.get("target")]
    function = split_target(mine[-1]["target"])[1] if mine else raised.function
    lines = [f"  check:    {raised.check}", f"  function: {function} raised {message}"]
    if mine:
        frame = mine[-1]
        lines.append(f"  at:       {_relative(frame['file'])}:{frame['line']}, in {function} (your code)")
        if frame.get("text"):
            lines.append(f"            {frame['text']}")
        if frames[-1] is not frame:
            last = frames[-1]
            lines.append(f"  (it surfaced in {_relative(last['file'])}:{last['line']}, {last['function']})")
    elif error.get("bad_answer"):
        lines[1] = f"  function: {raised.function} returned something the check cannot read: {error.get('message')}"
    elif frames:
        lines.append(f"  where:    {_relative(frames[-1]['file'])}:{frames[-1]['line']}, in {frames[-1]['function']}")
    hint = "check the shapes and the types you return (one Tensor or None per input)"
    if options.grading and error.get("type") in ("NameError", "ImportError", "ModuleNotFoundError"):
        hint = GRAFT_HINT
    lines.append(f"  hint:     {hint}")
    check = f"{function} raised {error.get('type')}" if not error.get("bad_answer") else \
        f"{raised.function} returned a value that is not an array"
    return Outcome(number, False, check, "\n".join(lines))


def answer_here(requests, options, targets):
    """Answer ``requests`` in this process with the code imported here (``exercise check``)."""
    codes = worker.target_codes(targets)

    def shared(name):
        return training(options).shared(name)
    return {r.id: worker.execute(r.kind, r.args, r.arrays, shared, codes) for r in requests}


def run_task(number, options=None, targets=None):
    """Run task ``number``'s checks here; an Outcome, never an exception (a crash is a failure, explained).
    ``targets``: the blank functions whose frames are 'your code' (default: every task's)."""
    options = options or Options()
    targets = targets if targets is not None else [t for task in COURSE for t in task.blanks]
    try:
        checks = plan(number, options)
    except Exception as error:      # the copy's own forward, edited, may raise
        return Outcome(number, False, "the checks could not start", f"  {type(error).__name__}: {error}")
    return judge(number, checks, answer_here(requests_of(checks), options, targets), options)


def summary_table(outcomes):
    """Tasks done / to do, as text."""
    lines = ["task  status  title"]
    for task in COURSE:
        outcome = outcomes.get(task.number)
        status = "-" if outcome is None else ("done" if outcome.passed else "to do")
        lines.append(f"{task.number:>4}  {status:<6}  {task.title}")
    return "\n".join(lines)
