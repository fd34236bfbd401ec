"""The second derivative of tanh by double backward, against the closed form.

    d/dx tanh x = 1 - tanh^2 x          d^2/dx^2 tanh x = -2 tanh x (1 - tanh^2 x)

``backward(create_graph=True)`` keeps the graph of the first derivative; a second ``backward()``
through it gives the second. Optionally plots all three curves (needs matplotlib):

    python examples/tanh_second_derivative.py [--points 61] [--plot tanh.png]
"""
import argparse
import os
import tempfile

import numpy as np

import tinygrad_lite as tl


def tanh_derivatives(xs):
    """(tanh x, d tanh/dx, d^2 tanh/dx^2) at the points ``xs``, by autograd, as float64 NumPy arrays."""
    x = tl.Tensor(np.asarray(xs, dtype=np.float64), requires_grad=True)
    y = x.tanh()
    y.sum().backward(create_graph=True)   # elementwise op: d(sum y)/dx_i = tanh'(x_i)
    first = x.grad
    x.grad = None
    first.sum().backward()                # and d(sum tanh'(x))/dx_i = tanh''(x_i)
    return y.numpy(), first.numpy(), x.grad.numpy()


def closed_form_second(xs):
    t = np.tanh(xs)
    return -2 * t * (1 - t * t)


def plot(xs, y, first, second, path):
    """Save the three curves to ``path`` as PNG (written atomically). Needs matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install matplotlib") from None
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, y, label="tanh x")
    ax.plot(xs, first, label="first derivative (autograd)")
    ax.plot(xs, second, label="second derivative (autograd)")
    ax.plot(xs, closed_form_second(xs), "k:", label="-2 tanh x (1 - tanh^2 x)")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("x")
    ax.set_ylim(-1.1, 1.7)                # room above the curves for the legend
    ax.legend(loc="upper center", ncol=2, fontsize="small")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".png.tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=61, help="points in [-3, 3] (default 61)")
    parser.add_argument("--plot", metavar="PNG", help="also save a plot of the curves to this PNG path")
    args = parser.parse_args(argv)
    xs = np.linspace(-3, 3, args.points)
    y, first, second = tanh_derivatives(xs)
    expected = closed_form_second(xs)
    error = float(np.max(np.abs(second - expected)))
    print(f"{'x':>6}  {'autograd tanh_second':>21}  {'closed form':>12}")
    for i in np.linspace(0, len(xs) - 1, min(7, len(xs))).astype(int):
        print(f"{xs[i]:>6.2f}  {second[i]:>21.12f}  {expected[i]:>12.12f}")
    print(f"largest difference over {len(xs)} points: {error:.3e}")
    if args.plot:
        plot(xs, y, first, second, args.plot)
        print(f"plot saved to {args.plot}")
    return {"x": xs, "tanh": y, "first": first, "second": second, "closed_form": expected, "max_error": error}


if __name__ == "__main__":
    main()
