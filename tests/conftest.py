"""Shared fixtures: where the data is, which devices to run on, and hypothesis settings."""
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import tinygrad_lite as tl

# CI and the default run use the "ci" profile; HYPOTHESIS_PROFILE=thorough draws ten times as many cases.
settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
# A user's default cluster would send the tests' runs and grading there: they run here, or on the clusters
# tests/test_cluster.py starts, named by --scheduler
os.environ.pop("TINYGRAD_LITE_SCHEDULER", None)


def find_data_root():
    """TINYGRAD_LITE_DATA, else ../shared/data beside the checkout (where CI puts it), else None."""
    candidates = [os.environ.get("TINYGRAD_LITE_DATA"), REPO.parent / "shared" / "data"]
    for c in candidates:
        if c and (Path(c) / "mnist").is_dir():
            return Path(c).resolve()
    return None


@pytest.fixture(scope="session")
def data_root():
    root = find_data_root()
    if root is None:
        pytest.skip("the MNIST/Fashion-MNIST files are not here: set TINYGRAD_LITE_DATA to the folder "
                    "holding mnist/ and fashion-mnist/")
    return root


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]
# scripts/gpu_check.sh fails its CUDA stage if any test skips with this reason on the GPU machine
NO_CUDA = "no CUDA device: CuPy is not installed or finds no GPU (cupy.cuda.is_available() is False)"


@pytest.fixture(params=DEVICES)
def device(request):
    """Run a test on every device: 'cpu' always, 'cuda' where CuPy sees a GPU (skipped, saying so, elsewhere)."""
    if request.param == "cuda" and not tl.cuda_available():
        pytest.skip(NO_CUDA)
    return request.param


@pytest.fixture(params=[pytest.param("cuda", marks=pytest.mark.cuda)])
def cuda_device(request):
    """For a test that only makes sense on a GPU: it carries the cuda mark (so ``pytest -m cuda``
    selects it) and skips with the same reason as ``device`` where there is none."""
    if not tl.cuda_available():
        pytest.skip(NO_CUDA)
    return request.param


@pytest.fixture(autouse=True)
def _fresh_state():
    """Every test starts from the same seed and the float32 default, whatever the test before did."""
    tl.manual_seed(0)
    dtype = tl.get_default_dtype()
    yield
    tl.set_default_dtype(dtype)
