"""The higher-order-gradient examples converge to the truth; the worked Dense gradients equal torch's."""
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_newton_converges_to_the_true_minimum(capsys):
    newton = load_example("newton")
    xs = newton.main(["--x0", "2.0"])
    assert abs(xs[-1] - math.sqrt(1.5)) < 1e-12             # f'(x) = 4x^3 - 6x = 0, f'' > 0
    assert len(xs) < 10                                     # quadratic convergence: a handful of steps
    errors = [abs(x - math.sqrt(1.5)) for x in xs[1:5]]
    assert all(e2 < e1 for e1, e2 in zip(errors, errors[1:]))
    assert "converged to x = 1.2247448713" in capsys.readouterr().out


def test_newton_derivatives_match_the_closed_form_and_torch():
    newton = load_example("newton")
    torch = pytest.importorskip("torch", reason="torch is the oracle for the second derivative")
    for x0 in (-1.7, 0.3, 2.0):
        fx, d1, d2 = newton.derivatives(x0)
        assert d1 == pytest.approx(4 * x0 ** 3 - 6 * x0, rel=1e-12, abs=1e-12)
        assert d2 == pytest.approx(12 * x0 ** 2 - 6, rel=1e-12)
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(x ** 4 - 3 * x ** 2 + 2, x, create_graph=True)
        (h,) = torch.autograd.grad(g, x)
        assert (d1, d2) == pytest.approx((g.item(), h.item()), rel=1e-12, abs=1e-12)


def test_tanh_second_derivative_matches_the_closed_form_and_torch(capsys):
    example = load_example("tanh_second_derivative")
    result = example.main(["--points", "41"])
    t = np.tanh(np.linspace(-3, 3, 41))
    np.testing.assert_allclose(result["second"], -2 * t * (1 - t * t), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(result["first"], 1 - t * t, rtol=1e-12)
    assert result["max_error"] < 1e-12
    assert "largest difference over 41 points" in capsys.readouterr().out
    torch = pytest.importorskip("torch", reason="torch is the oracle for the second derivative")
    x = torch.tensor(result["x"], requires_grad=True)
    (g,) = torch.autograd.grad(torch.tanh(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(result["second"], h.numpy(), rtol=1e-12, atol=1e-14)


def test_tanh_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed: the plot is optional")
    example = load_example("tanh_second_derivative")
    path = tmp_path / "tanh.png"
    example.main(["--points", "21", "--plot", str(path)])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["tanh.png"]


def test_worked_dense_gradients_equal_torchs_and_are_printed(capsys):
    worked_gradients = load_example("worked_gradients")
    torch = pytest.importorskip("torch", reason="torch is the oracle for the Dense layer's gradients")
    result = worked_gradients.main([])
    printed = capsys.readouterr().out
    X = torch.tensor(worked_gradients.X_DEFAULT, dtype=torch.float64, requires_grad=True)
    W = torch.tensor(worked_gradients.W_DEFAULT, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(worked_gradients.B_DEFAULT, dtype=torch.float64, requires_grad=True)
    T = torch.tensor(worked_gradients.T_DEFAULT, dtype=torch.float64)
    Z = torch.nn.functional.linear(X, W, b)
    loss = 0.5 * ((Z - T) ** 2).sum()
    loss.backward()
    np.testing.assert_allclose(result["Z"], Z.detach().numpy(), rtol=1e-12)
    assert float(result["L"]) == pytest.approx(loss.item(), rel=1e-12)
    for name, expected in (("dW", W.grad), ("db", b.grad), ("dX", X.grad)):
        np.testing.assert_allclose(result[f"{name}_autograd"], expected.numpy(), rtol=1e-12)
        np.testing.assert_allclose(result[f"{name}_formula"], expected.numpy(), rtol=1e-12)
    # every printed matrix row of dW, db, dX is torch's numbers, in the printout's format
    for expected in (W.grad, b.grad, X.grad):
        for row in np.atleast_2d(expected.numpy()):
            assert "    [" + "  ".join(f"{v:7.3f}" for v in row) + " ]" in printed
    assert printed.count("formula == autograd: yes") == 3
    assert "dW = dZ^T X" in printed and "dW_r = X^T dZ" in printed and "db = sum(dZ)" in printed
    w_r_rows = X.detach().numpy().T @ (Z - T).detach().numpy()      # the reports' (in, out) layout
    for row in w_r_rows:
        assert "    [" + "  ".join(f"{v:7.3f}" for v in row) + " ]" in printed


def test_worked_gradients_catch_a_wrong_formula():
    worked_gradients = load_example("worked_gradients")
    results = worked_gradients.dense_gradients()
    results["db_formula"] = results["dZ"].sum(axis=1)[:2]          # summed over the wrong axis
    with pytest.raises(AssertionError, match="db: the formula gives"):
        worked_gradients.report(results)


def test_worked_gradients_run_as_the_readme_says():
    """``python examples/worked_gradients.py`` from a checkout prints the three checks."""
    root = EXAMPLES.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(EXAMPLES / "worked_gradients.py")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("formula == autograd: yes") == 3
