"""The loaders: ``load_dataset`` (and its two named forms), and ``load_or_sample`` for offline use.

They return ``(x_train, y_train), (x_test, y_test)`` as ``uint8`` arrays of shapes (N, 28, 28) and
(N,), the convention of ``keras.datasets.mnist.load_data()``. Finding and verifying the files is
``sources.locate``'s job; this module only decodes what it hands back.
"""
import warnings

from ..errors import CorruptDataError, DataError
from .catalog import get_spec
from .idx import parse_idx
from .sample import SampleDataWarning, load_sample
from .sources import locate


def load_dataset(name, root=None, *, download=True):
    """Load "mnist" or "fashion-mnist" from the first verified source (see ``sources``).

    ``root``: a folder holding ``<name>/`` or the four IDX files (gzipped or raw), then the only
    place looked at. ``download=False`` never touches the network. Raises ``DataError`` listing
    every place tried (``CorruptDataError`` when a copy exists but fails verification).
    """
    spec = get_spec(name)
    found = locate(spec, root, download)
    arrays = {role: parse_idx(data, name=str(source)) for role, (source, data) in found.items()}
    return ((arrays["train_images"], arrays["train_labels"]),
            (arrays["test_images"], arrays["test_labels"]))


def load_mnist(root=None, *, download=True):
    """MNIST, 60,000 + 10,000 handwritten digits: ``(x_train, y_train), (x_test, y_test)``."""
    return load_dataset("mnist", root, download=download)


def load_fashion_mnist(root=None, *, download=True):
    """Fashion-MNIST, 60,000 + 10,000 clothing images: ``(x_train, y_train), (x_test, y_test)``."""
    return load_dataset("fashion-mnist", root, download=download)


def load_or_sample(name, root=None, *, download=True):
    """``(load_dataset(...), False)``, or ``(load_sample(name), True)`` without the full set.

    Falling back emits a ``SampleDataWarning`` that says why; anything reporting results must also
    say it used the sample (the returned flag is there for that). Only missing data falls back: a
    copy that fails verification raises its ``CorruptDataError``.
    """
    try:
        return load_dataset(name, root, download=download), False
    except CorruptDataError:
        raise
    except DataError as exc:
        data = load_sample(name)
        (x_train, _), (x_test, _) = data
        warnings.warn(SampleDataWarning(
            f"{get_spec(name).title}: the full data set is unavailable, so this uses the small "
            f"bundled SAMPLE ({len(x_train)} training and {len(x_test)} test images); numbers "
            f"obtained on it are not comparable with full-data results.\nWhy:\n{exc}"),
            stacklevel=2)
        return data, True
