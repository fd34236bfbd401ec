"""Backprop through one Dense layer, by hand and by autograd, number by number.

Run ``python examples/worked_gradients.py``. A batch of 2 inputs with 3 features each goes
through a Dense layer with 2 outputs and a squared-error loss:

    Z = X W^T + b            X: (2, 3), W: (2, 3) in torch's (out, in) layout, b: (2,)
    L = 1/2 * sum((Z - T)^2) so  dZ = dL/dZ = Z - T

and the chain rule gives

    dW = dZ^T X      (2, 3), torch layout (out, in)
    db = sum(dZ)     summed over the batch (rows), shape (2,)
    dX = dZ W        (2, 3)

The reports write the weight the other way round, W_r = W^T of shape (in, out) and Z = X W_r + b;
in that layout the same numbers read ``dW_r = X^T dZ`` and ``dX = dZ W_r^T``.
"""
import sys

import numpy as np

from tinygrad_lite import Tensor

# Small integers and halves, so every product can be checked by hand.
X_DEFAULT = [[1.0, 2.0, -1.0],
             [0.5, -1.0, 3.0]]
W_DEFAULT = [[0.5, -1.0, 2.0],      # (out=2, in=3)
             [1.0, 0.0, -0.5]]
B_DEFAULT = [0.5, -1.0]
T_DEFAULT = [[1.0, 0.0],
             [0.0, 1.0]]


def dense_gradients(X=X_DEFAULT, W=W_DEFAULT, b=B_DEFAULT, T=T_DEFAULT):
    """Forward and backward of ``L = 1/2 sum((X W^T + b - T)^2)`` with autograd, and the same gradients
    from the formulas in NumPy. Returns a dict of float64 NumPy arrays:
    X, W, b, T, Z, L, dZ, and for each of dW, db, dX both ``<name>_formula`` and ``<name>_autograd``.
    """
    x = Tensor(X, dtype="float64", requires_grad=True)
    w = Tensor(W, dtype="float64", requires_grad=True)
    bias = Tensor(b, dtype="float64", requires_grad=True)
    target = Tensor(T, dtype="float64")
    z = x @ w.T + bias
    loss = 0.5 * ((z - target) ** 2).sum()
    loss.backward()

    Xn, Wn, Tn, Zn = x.numpy(), w.numpy(), target.numpy(), z.numpy()
    dZ = Zn - Tn
    return {
        "X": Xn, "W": Wn, "b": bias.numpy(), "T": Tn, "Z": Zn, "L": loss.numpy(), "dZ": dZ,
        "dW_formula": dZ.T @ Xn, "dW_autograd": w.grad.numpy(),
        "db_formula": dZ.sum(axis=0), "db_autograd": bias.grad.numpy(),
        "dX_formula": dZ @ Wn, "dX_autograd": x.grad.numpy(),
    }


def _matrix(name, array):
    rows = np.atleast_2d(array)
    text = [f"{name} ="] + ["    [" + "  ".join(f"{v:7.3f}" for v in row) + " ]" for row in rows]
    return "\n".join(text)


def _entry_dW(r, i, j):
    """dW[i, j] = sum_n dZ[n, i] * X[n, j], written out with the numbers."""
    dZ, X = r["dZ"], r["X"]
    terms = " + ".join(f"({dZ[n, i]:g})({X[n, j]:g})" for n in range(X.shape[0]))
    return f"dW[{i},{j}] = " + " + ".join(f"dZ[{n},{i}] X[{n},{j}]" for n in range(X.shape[0])) + \
        f" = {terms} = {r['dW_formula'][i, j]:g}"


def _entry_db(r, i):
    dZ = r["dZ"]
    terms = " + ".join(f"({dZ[n, i]:g})" for n in range(dZ.shape[0]))
    return f"db[{i}] = " + " + ".join(f"dZ[{n},{i}]" for n in range(dZ.shape[0])) + \
        f" = {terms} = {r['db_formula'][i]:g}"


def _entry_dX(r, n, j):
    dZ, W = r["dZ"], r["W"]
    terms = " + ".join(f"({dZ[n, i]:g})({W[i, j]:g})" for i in range(W.shape[0]))
    return f"dX[{n},{j}] = " + " + ".join(f"dZ[{n},{i}] W[{i},{j}]" for i in range(W.shape[0])) + \
        f" = {terms} = {r['dX_formula'][n, j]:g}"


def report(results):
    """The printout as text; raises AssertionError if a formula disagrees with autograd."""
    r = results
    out = ["One Dense layer, batch of 2, 3 inputs -> 2 outputs",
           "Forward:  Z = X W^T + b,   L = 1/2 * sum((Z - T)^2)", "",
           _matrix("X (2x3)", r["X"]), _matrix("W (2x3, torch layout (out, in))", r["W"]),
           _matrix("b (2,)", r["b"]), _matrix("T (2x2)", r["T"]), _matrix("Z = X W^T + b", r["Z"]),
           f"L = {float(r['L']):g}", "",
           "Backward: dZ = dL/dZ = Z - T", _matrix("dZ", r["dZ"]), ""]
    checks = [
        ("dW", "dW = dZ^T X    (torch layout (out, in); reports' layout (in, out): dW_r = X^T dZ)",
         _entry_dW(r, 0, 0)),
        ("db", "db = sum(dZ)   (summed over the batch: one number per output unit)", _entry_db(r, 0)),
        ("dX", "dX = dZ W      (reports' layout: dX = dZ W_r^T)", _entry_dX(r, 0, 0)),
    ]
    for name, formula, worked in checks:
        by_formula, by_autograd = r[f"{name}_formula"], r[f"{name}_autograd"]
        agree = np.allclose(by_formula, by_autograd, rtol=1e-12, atol=1e-12)
        out += [formula, "  e.g. " + worked, _matrix(f"{name} by the formula", by_formula),
                _matrix(f"{name} by autograd", by_autograd),
                f"  formula == autograd: {'yes' if agree else 'NO'}", ""]
        if not agree:
            raise AssertionError(f"{name}: the formula gives {by_formula.tolist()} but autograd gives "
                                 f"{by_autograd.tolist()}")
    out.append(_matrix("dW_r = X^T dZ  (the reports' (in, out) layout, = dW^T)", r["X"].T @ r["dZ"]))
    return "\n".join(out)


def main(argv=None):
    """Print the worked gradients of one Dense layer (no arguments)."""
    if argv:
        raise SystemExit(f"usage: python examples/worked_gradients.py (takes no arguments, got {argv})")
    results = dense_gradients()
    print(report(results))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
