"""Newton's method for the minimum of f(x) = x^4 - 3x^2 + 2, with both derivatives from autograd.

    x_{k+1} = x_k - f'(x_k) / f''(x_k)

``backward(create_graph=True)`` records the graph of f'(x), so a second ``backward()`` through that
graph gives f''(x). Starting from x0 = 2 the iterates converge to the minimum at sqrt(3/2) = 1.2247...

    python examples/newton.py [--x0 2.0] [--steps 10]
"""
import argparse

import tinygrad_lite as tl


def f(x):
    return x ** 4 - 3 * x ** 2 + 2


def derivatives(x0):
    """(f(x0), f'(x0), f''(x0)) as Python floats, by two reverse passes."""
    x = tl.Tensor(x0, dtype="float64", requires_grad=True)
    y = f(x)
    y.backward(create_graph=True)     # x.grad = f'(x), itself a graph we can differentiate
    first = x.grad
    x.grad = None                     # gradients accumulate: clear before the second pass
    first.backward()                  # x.grad = d f'(x) / dx = f''(x)
    return y.item(), first.item(), x.grad.item()


def newton(x0=2.0, steps=10, tol=1e-12, log=print):
    """Iterate Newton's step from ``x0``; returns the list of iterates (x0 first)."""
    xs = [float(x0)]
    log(f"{'k':>2}  {'x':>20}  {'f(x)':>12}  {'f_prime':>12}  {'f_second':>12}")
    for k in range(steps):
        fx, d1, d2 = derivatives(xs[-1])
        log(f"{k:>2}  {xs[-1]:>20.15f}  {fx:>12.4e}  {d1:>12.4e}  {d2:>12.4e}")
        if d2 == 0:
            raise ZeroDivisionError(f"f''(x) = 0 at x = {xs[-1]}: Newton's step is undefined there")
        xs.append(xs[-1] - d1 / d2)
        if abs(xs[-1] - xs[-2]) < tol:
            break
    log(f"converged to x = {xs[-1]:.15f} after {len(xs) - 1} steps (f'' > 0 there: a minimum)"
        if derivatives(xs[-1])[2] > 0 else f"stopped at x = {xs[-1]:.15f} (f'' <= 0: not a minimum)")
    return xs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x0", type=float, default=2.0, help="starting point (default 2.0)")
    parser.add_argument("--steps", type=int, default=10, help="at most this many Newton steps")
    args = parser.parse_args(argv)
    return newton(args.x0, args.steps)


if __name__ == "__main__":
    main()
