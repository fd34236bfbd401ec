"""The bundled sample: a small stratified subset of each set, shipped inside the package.

It lets the tutorial and the main command run on a machine with no data and no network. Each
``sample_data/<set>.npz`` holds ``x_train, y_train, x_test, y_test`` (``uint8``), the rows of the
full sets they were taken from (``train_indices``, ``test_indices``) and the ``seed`` used. It is
made from the verified full files by ``scripts/make_sample.py``, with the class balance of the full
sets, and written by ``save_sample`` so that the same seed gives the same bytes.
"""
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..npz import read_npz
from .catalog import get_spec

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
SAMPLE_MAX_BYTES = 16 << 20             # the samples hold ~3 MB of arrays; more is not our file
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)     # zip entries carry a time stamp; fix it for reproducibility


class SampleDataWarning(UserWarning):
    """Emitted when results come from the bundled sample instead of the full data set."""


def sample_path(name):
    """Where the sample of data set ``name`` lives."""
    return SAMPLE_DIR / f"{get_spec(name).name}.npz"


def load_sample(name):
    """The bundled sample of ``name``: ``(x_train, y_train), (x_test, y_test)``, offline."""
    arrays = read_sample(name)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def read_sample(name):
    """Every array stored in the sample file of ``name`` (including indices and seed), as a dict."""
    path = sample_path(name)
    if not path.is_file():
        raise DataError(f"{path}: the bundled sample is missing; regenerate it with "
                        "scripts/make_sample.py")
    try:
        return read_npz(path, max_bytes=SAMPLE_MAX_BYTES)
    except DataError as exc:
        raise DataError(f"the bundled sample cannot be read: {exc}") from exc


def save_sample(path, **arrays):
    """Like ``np.savez_compressed``, but reproducible: fixed entry time stamps, so the same arrays
    give the same bytes (with the same zlib; builds such as zlib-ng compress differently)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array, order="C"), allow_pickle=False)
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=_FIXED_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, buffer.getvalue())
    os.replace(tmp, path)
