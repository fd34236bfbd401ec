"""Tolerances from the arithmetic: how far apart two correct computations of the same numbers may lie.

Every float operation rounds its exact result to the nearest representable value, off by at most
the dtype's unit roundoff u relative (half its machine epsilon: 2^-11 for float16, 2^-24 for float32,
2^-53 for float64). A sum of n terms, accumulated in ANY order (left to right, pairwise, in BLAS's
blocks, with fused multiply-adds), is off by at most

    gamma(n) * sum |terms|,    gamma(n) = n u / (1 - n u)

(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., section 3.1). Two libraries
summing the same terms in different orders, on different CPUs, thus agree within twice that. A
tolerance built this way holds on every machine; a tolerance read off one machine's result does not.
"""
import numpy as np

UNIT_ROUNDOFF = {np.dtype(np.float16): 2.0 ** -11, np.dtype(np.float32): 2.0 ** -24,
                 np.dtype(np.float64): 2.0 ** -53}
U32 = UNIT_ROUNDOFF[np.dtype(np.float32)]


def unit_roundoff(dtype):
    """u of a float dtype: the largest relative error of one correctly rounded operation."""
    return UNIT_ROUNDOFF[np.dtype(dtype)]


def gamma(n, u=U32):
    """The error bound of a sum of n terms in any order: |error| <= gamma(n) * sum |terms|."""
    return n * u / (1 - n * u)


def float16_spacing(values):
    """The distance from each value to the next float16 (one ulp): two correct roundings to float16 of
    float32 results that straddle a rounding boundary are one ulp apart."""
    return np.spacing(np.abs(np.asarray(values, np.float16))).astype(np.float64)


def assert_within(got, want, bound, what):
    """|got - want| <= bound element by element (bound broadcasts), else an AssertionError naming the
    worst element, both values and what was allowed there."""
    got64, want64 = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got64.shape == want64.shape, f"{what}: shape {got64.shape}, expected {want64.shape}"
    error = np.abs(got64 - want64)
    allowed = np.broadcast_to(np.asarray(bound, np.float64), error.shape)
    outside = ~(error <= allowed) & ~(np.isnan(got64) & np.isnan(want64))
    if outside.any():
        worst = np.unravel_index(np.argmax(np.where(outside, error - allowed, -np.inf)), error.shape)
        raise AssertionError(f"{what}: {int(outside.sum())} elements outside the bound; at {worst}: got "
                             f"{got64[worst]!r}, expected {want64[worst]!r}, allowed {allowed[worst]:.3g}")
