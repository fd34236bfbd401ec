"""docs/api.md, the API reference generated from the docstrings (scripts/build_api_docs.py, pdoc3): it
builds, it documents every public name of tinygrad_lite, nn and their torch-named corners, and the
committed page lists exactly what the code has (a name added, removed or renamed needs a rebuild)."""
import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

import nn
import tinygrad_lite as tl

REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("pdoc") is None:
    pytest.skip("pdoc3 is not installed (pip install -e '.[dev]')", allow_module_level=True)
sys.path.insert(0, str(REPO / "scripts"))
import build_api_docs  # noqa: E402  (after the skip and sys.path naming scripts/)

NAMESPACES = (tl, tl.utils.data, nn, nn.functional, nn.optim, nn.init)


@pytest.fixture(scope="module")
def built():
    return build_api_docs.build()


def public_names():
    """'module.qualname' of every class and function the namespaces export (defined in the packages)."""
    names = set()
    for namespace in NAMESPACES:
        for attribute, value in vars(namespace).items():
            if attribute.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
                continue
            if value.__module__.split(".")[0] in build_api_docs.PACKAGES:
                names.add(f"{value.__module__}.{value.__qualname__}")
    return names


@pytest.mark.slow           # pdoc3 imports both packages in a fresh interpreter: ~5 s
def test_the_reference_builds_and_documents_every_public_name(built):
    documented = build_api_docs.documented(built)
    missing = public_names() - documented
    assert not missing, f"public names missing from the reference: {sorted(missing)[:20]}"
    for name in ("tinygrad_lite.saving.save", "tinygrad_lite.dataloader.DataLoader", "nn.loss.CrossEntropyLoss",
                 "tinygrad_lite.core.Tensor.backward", "nn.optim.adam.Adam"):
        assert name in documented
    section = built[built.index('<a id="nn.loss.CrossEntropyLoss"></a>'):][:1500]
    assert "label_smoothing=0.0" in section and "F.cross_entropy" in section      # signature and docstring


@pytest.mark.slow
def test_the_committed_reference_lists_what_the_code_has(built):
    committed = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    fresh, old = build_api_docs.documented(built), build_api_docs.documented(committed)
    assert fresh == old, (f"docs/api.md is out of date: run python scripts/build_api_docs.py "
                          f"(new: {sorted(fresh - old)[:10]}, gone: {sorted(old - fresh)[:10]})")
