"""``tl.gradcheck``: passes on correct ops, fails loudly and readably on a wrong backward."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch_oracle import arrays, op_settings, random_array, shapes

import tinygrad_lite as tl


class SquareWithWrongBackward(tl.Function):
    """y = x^2, but backward forgets the factor 2 (the classic student slip)."""
    def forward(self, x): return x * x
    def backward(self, gy): return gy * self.inputs[0]


class SquareWithRightBackward(SquareWithWrongBackward):
    def backward(self, gy): return gy * 2 * self.inputs[0]


class SquareWithNanBackward(SquareWithWrongBackward):
    def backward(self, gy): return gy * float("nan")


def test_passes_on_correct_ops_and_reports_each_input():
    a, b = random_array((3, 4)), random_array((4,), "positive")
    report = tl.gradcheck(lambda a, b: (a * b.log()).softmax(axis=-1) @ b.sqrt(), a, b)
    assert report.ok and [r.index for r in report.inputs] == [0, 1]
    for r, x in zip(report.inputs, (a, b)):
        assert r.ok and len(r.worst_element) == x.ndim and all(0 <= i < n for i, n in zip(r.worst_element, x.shape))
        assert r.abs_error == abs(r.analytic - r.numeric) and r.abs_error < 1e-6
    assert "worst element" in str(report) and str(report).count("yes") == 2


def test_a_custom_function_with_the_right_backward_passes():
    assert tl.gradcheck(lambda x: SquareWithRightBackward()(x), random_array((2, 3))).ok


def test_a_wrong_backward_raises_a_readable_error():
    x = np.array([[0.5, -1.0, 2.0]])
    with pytest.raises(tl.GradcheckError) as caught:
        tl.gradcheck(lambda x: SquareWithWrongBackward()(x), x)
    message = str(caught.value)
    assert message.startswith("gradcheck failed (eps=1e-06, atol=1e-05, rtol=0.001):")
    assert "analytic" in message and "numeric" in message and "NO" in message
    assert isinstance(caught.value, AssertionError)


def test_a_wrong_backward_report_points_at_the_worst_element():
    x = np.array([[0.5, -1.0, 2.0]])
    report = tl.gradcheck(lambda x: SquareWithWrongBackward()(x).sum(), x, raise_on_failure=False)
    worst, = report.inputs
    assert not report.ok and not worst.ok
    assert worst.worst_element == (0, 2)            # |x - 2x| is largest where |x| is largest
    # both sides are d(sum(f * v))/dx for gradcheck's random direction v: their ratio is the missing 2
    assert worst.numeric / worst.analytic == pytest.approx(2.0, rel=1e-6)
    assert worst.abs_error == pytest.approx(abs(worst.numeric - worst.analytic))


def test_only_the_wrong_input_fails():
    a, b = random_array((3,)), random_array((3,), rng=np.random.default_rng(1))
    report = tl.gradcheck(lambda a, b: SquareWithWrongBackward()(a) + b * b, a, b, raise_on_failure=False)
    assert [r.ok for r in report.inputs] == [False, True]


def test_accepts_tensors_and_float32_and_checks_in_float64():
    x = tl.Tensor(random_array((2, 2), dtype="float32"))
    assert tl.gradcheck(lambda x: (x * x).tanh(), x).ok


def test_an_input_that_does_not_matter_gets_zero_gradient():
    report = tl.gradcheck(lambda a, b: a * 2, random_array((2,)), random_array((2,)))
    assert report.ok and report.inputs[1].analytic == 0.0 and report.inputs[1].numeric == 0.0


@op_settings
@given(data=st.data(), op=st.sampled_from(["tanh", "sigmoid", "exp", "softmax", "log_softmax", "logsumexp"]))
def test_hypothesis_drawn_inputs(data, op):
    x = data.draw(arrays(data.draw(shapes(min_dims=1, max_side=3))))
    assert tl.gradcheck(lambda t: getattr(t, op)(), x).ok


def test_a_backward_that_returns_nan_fails_like_torchs_gradcheck():
    """NaN > tol is False, so a NaN gradient used to pass."""
    x = np.array([0.5, -1.0])
    with pytest.raises(tl.GradcheckError, match="NO"):
        tl.gradcheck(lambda x: SquareWithNanBackward()(x), x)
    report = tl.gradcheck(lambda x: SquareWithNanBackward()(x), x, raise_on_failure=False)
    assert not report.ok and np.isnan(report.inputs[0].analytic)
    torch = pytest.importorskip("torch")

    class TorchSquareWithNanBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x): return x * x

        @staticmethod
        def backward(ctx, gy): return gy * float("nan")
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):     # torch.autograd.GradcheckError
        torch.autograd.gradcheck(TorchSquareWithNanBackward.apply, torch.tensor(x, requires_grad=True))


def test_checks_the_kernels_of_the_device_asked_for(device):
    """device='cuda': the inputs, the direction and every finite difference stay on the GPU in float64,
    so CuPy's kernels are what is checked (a CPU gradcheck never runs one); a wrong backward still fails."""
    import nn
    seen = []

    def conv_pool_loss(x, w, b):
        seen.append({x.device, w.device, b.device})
        assert x.dtype == np.float64
        y = nn.functional.max_pool2d(nn.functional.conv2d(x, w, b, padding=1).tanh(), 2)
        return nn.functional.cross_entropy(y.reshape(2, -1), np.array([1, 5]))

    x, w, b = random_array((2, 1, 4, 4)), random_array((2, 1, 3, 3)), random_array((2,))
    assert tl.gradcheck(conv_pool_loss, x, w, b, device=device).ok
    assert seen and all(s == {device} for s in seen)
    assert tl.gradcheck(lambda a: (a[[0, 2, 2]] * a[1:].sum()).softmax(axis=-1), random_array((3, 4)),
                        device=device).ok
    with pytest.raises(tl.GradcheckError):
        tl.gradcheck(lambda x: SquareWithWrongBackward()(x), np.array([[0.5, -1.0, 2.0]]), device=device)
