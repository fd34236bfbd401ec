"""NumPy's ``axis=`` / ``keepdims=`` or torch's ``dim=`` / ``keepdim=``: the one rule for the two spellings.

Every op that takes an axis takes both spellings, so ``x.sum(axis=1, keepdims=True)`` and
``x.sum(dim=1, keepdim=True)`` are the same call. Giving both names of one argument is a TypeError.
"""


def _either(op, numpy_name, numpy_value, torch_name, torch_value, default):
    """``torch_value`` when given (not None), else ``numpy_value``; a TypeError naming both when both
    are given (``numpy_value`` other than the op's ``default``)."""
    if torch_value is None:
        return numpy_value
    numpy_given = numpy_value is not default and not (isinstance(numpy_value, int) and numpy_value == default)
    if numpy_given:
        raise TypeError(f"{op}: got both {numpy_name}={numpy_value!r} and {torch_name}={torch_value!r}; "
                        f"they are NumPy's and torch's names for one argument, give only one")
    return torch_value


def axis_or_dim(op, axis, dim, default=None):
    """The axis argument of ``op``, given as NumPy's ``axis`` or torch's ``dim``."""
    return _either(op, "axis", axis, "dim", dim, default)


def keepdims_or_keepdim(op, keepdims, keepdim):
    """The keep-the-reduced-axes flag of ``op``, given as NumPy's ``keepdims`` or torch's ``keepdim``."""
    return _either(op, "keepdims", keepdims, "keepdim", keepdim, False)


def axis_and_keepdims(op, axis, keepdims, dim, keepdim):
    """A reduction's (axis, keepdims), each given in either spelling."""
    if dim is None and keepdim is None:         # the common call, NumPy's names: no work
        return axis, keepdims
    return axis_or_dim(op, axis, dim), keepdims_or_keepdim(op, keepdims, keepdim)


def ddof_or_correction(op, ddof, correction):
    """The degrees-of-freedom correction of ``op`` (var, std), given as NumPy's ``ddof`` or torch's
    ``correction``; None when neither is given (the op picks its default)."""
    if ddof is not None and correction is not None:
        raise TypeError(f"{op}: got both ddof={ddof!r} and correction={correction!r}; they are NumPy's and "
                        f"torch's names for one argument, give only one")
    return correction if correction is not None else ddof
