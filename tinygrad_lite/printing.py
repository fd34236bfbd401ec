"""How a Tensor prints: torch's layout, ``tensor([1.0000, 2.5000], grad_fn=<MulBackward>)``."""
import numpy as np


def format_numbers(array):
    """The numbers as torch prints them: ``1.`` when all are whole, else 4 decimals, or ``1.0000e-05``
    style when they span more than three orders of magnitude."""
    options = {}
    nonzero = (np.abs(array[np.isfinite(array) & (array != 0)]).astype(np.float64)   # float64: 6e4 / 1e-3
               if array.dtype.kind == "f" else np.empty(0))                               # overflows float16
    if nonzero.size:
        whole = bool((nonzero == np.ceil(nonzero)).all())
        wide = nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8
        if wide or (not whole and nonzero.min() < 1e-4):
            width = max(len(f"{v:.4e}") for v in array.flat)
            options["formatter"] = {"float_kind": lambda v: f"{v:.4e}".rjust(width)}
        elif not whole:
            options["floatmode"] = "fixed"
    return np.array2string(array, separator=", ", prefix="tensor(", precision=4, **options)


def tensor_repr(numbers, device, dtype, default_dtype, grad_fn, requires_grad):
    """``tensor(<numbers>, <what differs from a plain CPU tensor of the default dtype>)``."""
    extras = []
    if device != "cpu":
        extras.append(f"device='{device}'")
    if dtype != default_dtype and dtype.kind == "f":
        extras.append(f"dtype={dtype}")
    if grad_fn is not None:
        extras.append(f"grad_fn=<{grad_fn.name}Backward>")
    elif requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + ", ".join([format_numbers(numbers)] + extras) + ")"
