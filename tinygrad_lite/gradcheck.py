"""Check analytic gradients against central finite differences, in float64 (Chainer's method).

For a function f with any output shape, the checked scalar is L = sum(f(x) * v) with v a fixed random
direction, so every output element takes part; then for every input element i
    numeric_i = (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)
is compared with the i-th element of dL/dx from ``backward``.
"""
from dataclasses import dataclass

import numpy as np

from .core import Tensor, no_grad
from .errors import GradcheckError


@dataclass
class InputReport:
    """The worst element of one input's gradient."""
    index: int
    worst_element: tuple
    analytic: float
    numeric: float
    abs_error: float
    ok: bool


@dataclass
class GradcheckReport:
    inputs: list

    @property
    def ok(self):
        return all(r.ok for r in self.inputs)

    def __str__(self):
        lines = ["input  worst element   analytic          numeric           abs error   ok"]
        for r in self.inputs:
            lines.append(f"{r.index:<6} {str(r.worst_element):<15} {r.analytic:<17.10g} "
                         f"{r.numeric:<17.10g} {r.abs_error:<11.3g} {'yes' if r.ok else 'NO'}")
        return "\n".join(lines)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_on_failure=True, device="cpu"):
    """Compare ``fn``'s gradients with finite differences; return a ``GradcheckReport``.

    ``inputs`` are Tensors or arrays; each is copied to float64 on ``device`` with requires_grad, so
    ``device='cuda'`` checks the CuPy kernels themselves (in float64 on the GPU). An element passes
    when |analytic - numeric| <= atol + rtol * |numeric| (so a NaN on either side fails, as in torch).
    Raises ``GradcheckError`` on failure unless ``raise_on_failure=False``.
    """
    xs = [Tensor(np.array(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float64), requires_grad=True,
                 device=device) for x in inputs]
    out = fn(*xs)
    direction = Tensor(np.random.default_rng(seed).standard_normal(out.shape), device=device)

    def scalar(*args):
        return float((fn(*args) * direction).sum().item())

    (out * direction).sum().backward()
    reports = []
    for k, x in enumerate(xs):
        analytic = np.zeros(x.shape) if x.grad is None else x.grad.numpy()
        numeric = np.zeros(x.shape)
        with no_grad():
            for i in np.ndindex(*x.shape):
                original = x.data[i].item()     # a copy: on CuPy x.data[i] is a view of the element
                x.data[i] = original + eps
                plus = scalar(*xs)
                x.data[i] = original - eps
                minus = scalar(*xs)
                x.data[i] = original
                numeric[i] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric)
        bad = ~(error <= atol + rtol * np.abs(numeric))      # not error > ...: NaN > tol is False
        worst = np.unravel_index(np.argmax(error - atol - rtol * np.abs(numeric)), x.shape) if x.shape else ()
        reports.append(InputReport(k, tuple(int(i) for i in worst), float(analytic[worst]),
                                   float(numeric[worst]), float(error[worst]), not bad.any()))
    report = GradcheckReport(reports)
    if raise_on_failure and not report.ok:
        raise GradcheckError(f"gradcheck failed (eps={eps}, atol={atol}, rtol={rtol}):\n{report}")
    return report
