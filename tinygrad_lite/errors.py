"""The errors tinygrad_lite raises on purpose, so a user can catch them by type.

Every one subclasses a builtin (``ValueError``, ``TypeError``, ``RuntimeError``) as well, so code
written for NumPy or PyTorch that catches those keeps working.
"""


class TinygradLiteError(Exception):
    """Base class of every error this project raises deliberately."""


class ShapeError(TinygradLiteError, ValueError):
    """Shapes that cannot work together (matmul, broadcasting, a layer's expected input)."""


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
