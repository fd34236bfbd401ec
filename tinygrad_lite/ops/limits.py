"""The one bound on sizes that an argument asks for: an op whose output, or whose work, grows with an
argument (a factory's shape, interpolate's size, an adaptive pool's output size, repeat's counts,
einsum's intermediates) checks the count here before allocating anything.

Why a bound at all: ``adaptive_avg_pool2d(x, (10**5, 10**5))`` or ``interpolate(x, size=(2**63, 1))``
is one keystroke from a 40 GB allocation that swaps a laptop to a halt (or from NumPy's wrap-around
of an index past 2**63); a clear refusal at once is the better answer. 2**31 elements (8 GiB of
float32) is past anything this project's coursework needs; raise ``MAX_ELEMENTS`` for bigger work.
"""
import math

from ..errors import SizeError

MAX_ELEMENTS = 2 ** 31


def check_elements(shape, op, what="the output"):
    """Raise a SizeError naming ``op``, ``what`` and the bound when ``shape`` (a tuple of sizes, or an
    element count) holds more than ``MAX_ELEMENTS`` elements; return the count otherwise."""
    count = shape if isinstance(shape, int) else math.prod(int(n) for n in shape)
    if count > MAX_ELEMENTS:
        shown = "" if isinstance(shape, int) else f" of shape {tuple(int(n) for n in shape)}"
        many = f"{count:.3g}" if count < 10 ** 300 else f"about 1e{len(str(count)) - 1}"
        raise SizeError(f"{op}: {what}{shown} would hold {many} elements, more than "
                        f"tinygrad_lite.ops.limits.MAX_ELEMENTS = {MAX_ELEMENTS:.3g}; refused before "
                        f"allocating (raise MAX_ELEMENTS for bigger work)")
    return count
