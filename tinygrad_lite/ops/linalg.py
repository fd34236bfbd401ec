"""Matrix multiplication, with NumPy's rules for 1-D operands and batch broadcasting."""
from __future__ import annotations

from ..backend import array_module
from ..core import Function, Operand, Tensor
from ..errors import ShapeError
from .elementwise import _binary_operands


class MatMulOp(Function):
    """y = a @ b;  da = gy @ b^T, db = a^T @ gy  (batch axes summed back by the engine)

    A 1-D ``a`` acts as a row (1, n) and a 1-D ``b`` as a column (n, 1); the added axis is removed
    from the result and from the gradients, as NumPy does.
    """
    def forward(self, a, b): return array_module(a).matmul(a, b)

    def backward(self, gy):
        a, b = self.inputs
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        if b.ndim == 1:             # first: for vector @ vector gy is 0-d, and unsqueeze(-2) needs an axis
            gy = gy.unsqueeze(-1)
        if a.ndim == 1:
            gy = gy.unsqueeze(-2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = gy @ b2.swapaxes(-1, -2)
            ga = ga.squeeze(-2) if a.ndim == 1 else ga
        if self.needs_grad[1]:
            gb = a2.swapaxes(-1, -2) @ gy
            gb = gb.squeeze(-1) if b.ndim == 1 else gb
        return ga, gb


def matmul(a: Operand, b: Operand) -> Tensor:
    """a @ b: NumPy's matmul (1-D operands as a row or a column, batch axes broadcast); see ``MatMulOp``."""
    a, b = _binary_operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least one axis, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not line up: {a.shape[-1]} != "
                         f"{b.shape[-2 if b.ndim > 1 else 0]} (a's last axis must equal b's "
                         f"{'second-to-last' if b.ndim > 1 else 'only'} axis)")
    try:
        return MatMulOp()(a, b)
    except ValueError:
        raise ShapeError(f"matmul: batch axes of shapes {a.shape} and {b.shape} cannot be broadcast") from None
