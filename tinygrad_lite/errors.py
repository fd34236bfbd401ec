"""The errors tinygrad_lite raises on purpose, so a user can catch them by type.

Every one subclasses a builtin as well, so code written for NumPy or PyTorch that catches those keeps
working. Where NumPy and torch raise different builtins for one mistake, ours is both (subclasses, so
the messages stay ours):

    mistake                           ours               NumPy's (and ours before)   torch's
    shapes that do not fit            ShapeError         ValueError                  RuntimeError
    a dim out of range                AxisError          ValueError (its AxisError)  IndexError
    a mode or dtype not implemented   UnsupportedError   ValueError                  NotImplementedError
    a result past MAX_ELEMENTS        SizeError          ValueError                  RuntimeError
"""


class TinygradLiteError(Exception):
    """Base class of every error this project raises deliberately."""


class ShapeError(TinygradLiteError, ValueError, RuntimeError):
    """Shapes that cannot work together (matmul, broadcasting, a layer's expected input): a ValueError,
    as NumPy raises, and a RuntimeError, as torch raises."""


class AxisError(ShapeError, IndexError):
    """An axis (a dim) outside [-ndim, ndim): also an IndexError, torch's class for it (NumPy's own
    ``numpy.exceptions.AxisError`` is a ValueError and an IndexError too)."""


class UnsupportedError(TinygradLiteError, ValueError, NotImplementedError):
    """A mode or a dtype that an op does not implement: a ValueError (a bad argument value) and a
    NotImplementedError, torch's class for it (itself a RuntimeError)."""


class SizeError(ShapeError):
    """An output or a piece of work whose size, asked for by an argument, is past the bound
    ``tinygrad_lite.ops.limits.MAX_ELEMENTS``: refused before anything is allocated."""


class DeviceError(TinygradLiteError, RuntimeError):
    """A device that is unknown or not available here (``cuda`` without CuPy or a GPU)."""


class DataError(TinygradLiteError, ValueError):
    """A data or model file that is missing, truncated, of the wrong format or fails verification."""


class CorruptDataError(DataError):
    """A copy of a data file exists but fails verification (its size or SHA-256 is wrong), and no
    good copy was found, or the data folder named cannot be used (a symbolic link loop): an error to
    fix, never a reason to fall back to the bundled sample."""


class AnomalyError(TinygradLiteError, FloatingPointError):
    """Raised by ``detect_anomaly()`` at the first NaN or Inf in a forward output or a gradient."""


class GradcheckError(TinygradLiteError, AssertionError):
    """Raised by ``gradcheck`` when analytic and numerical gradients disagree."""
