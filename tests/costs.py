"""Bounded costs: the peak memory a call allocates, for the tests of hostile sizes.

NumPy reports its allocations to ``tracemalloc``, so the peak of a traced call is what its arrays
took at most: a refusal that comes before allocating peaks near zero, a 5 GB blow-up does not.
No timing: a time bound would hold on one machine only; the memory a call allocates holds on all.
"""
import tracemalloc


def peak_bytes(call):
    """(peak bytes traced while ``call()`` ran, its result or the exception it raised)."""
    tracemalloc.start()
    try:
        try:
            outcome = call()
        except Exception as exc:      # the test inspects what was raised
            outcome = exc
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()
