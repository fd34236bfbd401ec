"""docs/tutorial.md runs: every python block, in order, in one namespace, printing what the page shows,
and drawing the pictures the page references. The pictures go to a temporary folder
(``$TUTORIAL_IMAGE_DIR``), so the committed ones are never rewritten by a test run."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_lite.docs_runner import DocumentError, extract_python_blocks, run_blocks

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial.md"
COMMITTED_IMAGES = REPO / "docs" / "images"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(images/([^)\s]+)\)")


@pytest.fixture(scope="module")
def tutorial_run(tmp_path_factory):
    """Run the whole tutorial once, as ``python -m tinygrad_lite.docs_runner``, in a temporary working
    folder with its pictures sent there; returns (the completed process, the picture folder).

    A separate process keeps the tutorial's global state (seed, matplotlib) out of this one, and
    lets BLAS run single-threaded: on a loaded 2-core machine its threads fight over the cores and
    make the small matmuls of the training loops several times slower.
    """
    workdir = tmp_path_factory.mktemp("tutorial")
    images = workdir / "images"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONWARNINGS="error,ignore::DeprecationWarning,ignore::PendingDeprecationWarning")  # setup.cfg's filters
    if os.environ.get("TINYGRAD_LITE_DATA"):  # a relative data folder must survive the change of folder
        env["TINYGRAD_LITE_DATA"] = str(Path(os.environ["TINYGRAD_LITE_DATA"]).resolve())
    process = subprocess.run([sys.executable, "-m", "tinygrad_lite.docs_runner", str(TUTORIAL),
                              "--images", str(images), "--quiet"],
                             cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False)
    return process, images


def _require_success(process):
    if process.returncode != 0:
        pytest.fail(f"the tutorial failed (exit code {process.returncode}):\n{process.stderr[-4000:]}")


@pytest.mark.slow          # the whole tutorial, run once for the three tests: ~10 s
def test_every_block_runs_and_prints_the_output_shown(tutorial_run):
    process, _ = tutorial_run
    _require_success(process)
    blocks = extract_python_blocks(TUTORIAL.read_text(encoding="utf-8"))
    checked = sum(b.expected_output is not None for b in blocks)
    assert checked >= 8                               # the stable outputs are shown, and checked
    assert f"{len(blocks)} python blocks of {TUTORIAL} ran; {checked} printed the output shown" in process.stderr
    assert len(blocks) >= 10


@pytest.mark.slow
def test_the_pictures_are_drawn(tutorial_run):
    process, images = tutorial_run
    _require_success(process)
    for name in ("im2col_digit.png", "cnn_filters.png"):
        assert (images / name).read_bytes()[:8] == PNG_SIGNATURE, name
    if shutil.which("dot"):
        assert (images / "graph.png").read_bytes()[:8] == PNG_SIGNATURE
    else:
        assert (images / "graph.dot").read_text(encoding="utf-8").startswith("digraph autograd {")
        pytest.skip("Graphviz's `dot` is not installed: the graph block wrote graph.dot (checked) "
                    "instead of graph.png; apt-get install graphviz to render it")


@pytest.mark.slow
def test_every_referenced_picture_is_drawn_and_committed_within_budget(tutorial_run):
    process, images = tutorial_run
    _require_success(process)
    referenced = IMAGE_LINK.findall(TUTORIAL.read_text(encoding="utf-8"))
    assert {"graph.png", "im2col_digit.png", "cnn_filters.png"} <= set(referenced)
    total = 0
    for name in referenced:
        committed = COMMITTED_IMAGES / name
        assert committed.read_bytes()[:8] == PNG_SIGNATURE, f"docs/images/{name} is not committed"
        assert committed.stat().st_size < 200_000, f"docs/images/{name} is over 200 KB"
        total += committed.stat().st_size
        if name != "graph.png" or shutil.which("dot"):
            assert (images / name).is_file(), f"no block of the tutorial draws images/{name}"
    assert total < 1_000_000


# ---- the runner itself ------------------------------------------------------------------------------

DOCUMENT = """# a page

```python
x = 6 * 7
```

text

```bash
not python
```

```python
print(x)
```

```output
42
```

```text
an ordinary text block
```
"""


def test_extractor_finds_python_blocks_their_lines_and_their_output():
    blocks = extract_python_blocks(DOCUMENT)
    assert [(b.line, b.source) for b in blocks] == [(4, "x = 6 * 7\n"), (14, "print(x)\n")]
    assert [b.expected_output for b in blocks] == [None, "42\n"]


def test_blocks_share_one_namespace_and_output_is_compared():
    results = run_blocks(extract_python_blocks(DOCUMENT), "page.md")
    assert [r.stdout for r in results] == ["", "42\n"]
    wrong = DOCUMENT.replace("```output\n42", "```output\n43")
    with pytest.raises(DocumentError, match=r"block #2 \(line 14\) printed\n42"):
        run_blocks(extract_python_blocks(wrong), "page.md")


def test_a_failing_block_is_reported_at_its_line_in_the_document():
    page = "intro\n\n```python\nok = 1\n```\n\n```python\n\nraise KeyError('boom')\n```\n"
    with pytest.raises(DocumentError, match=r"page.md: python block #2 \(line 8\) raised KeyError") as info:
        run_blocks(extract_python_blocks(page), "page.md")
    frames = []
    traceback = info.value.__cause__.__traceback__
    while traceback is not None:
        frames.append((traceback.tb_frame.f_code.co_filename, traceback.tb_lineno))
        traceback = traceback.tb_next
    assert frames[-1] == ("page.md", 9)                     # the line of the raise in the page


def test_an_unclosed_block_or_a_detached_output_block_is_an_error():
    with pytest.raises(DocumentError, match="line 1: .* never closed"):
        extract_python_blocks("```python\nx = 1\n")
    with pytest.raises(DocumentError, match="must follow its python block directly"):
        extract_python_blocks("```python\nx = 1\n```\nsome prose\n```output\n1\n```\n")
