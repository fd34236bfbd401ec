"""The notebooks run: docs/tutorial.md, docs/replay_A.md and docs/transformer.md (Jupytext Markdown) are
executed cell by cell through a real Jupyter kernel (nbclient), in docs/, as a student's Jupyter runs them.

Every ```output block right under a code cell is the text that cell must print. The tutorial runs as
it is (its pictures go to a scratch folder of its own, here under the test's temporary folder); the
replay notebook trains on a subset (``$REPLAY_SUBSET``, ``$REPLAY_EPOCHS``, ``$REPLAY_LR``) into a
temporary ``$REPLAY_OUT``, not to clobber a run of the student's; the transformer notebook trains its
sorter for one epoch (``$TRANSFORMER_EPOCHS``) instead of six. None may change the repository:
``git status`` is the same after as before.
"""
import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext", reason="jupytext is not installed (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[dev]')")
pytest.importorskip("ipykernel", reason="ipykernel (the Jupyter kernel) is not installed (pip install -e '.[dev]')")

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
TUTORIAL = DOCS / "tutorial.md"
REPLAY = DOCS / "replay_A.md"
TRANSFORMER = DOCS / "transformer.md"
COMMITTED_IMAGES = DOCS / "images"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(images/([^)\s]+)\)")
OUTPUT_FENCE = re.compile(r"\A```output\n(.*?)^```", re.S | re.M)


def kernel_env(**extra):
    """The kernel's environment: this checkout first on the path, one BLAS thread (a loaded 2-core machine
    runs the small matmuls several times slower with more), no display, setup.cfg's warning filters."""
    env = dict(os.environ, MPLBACKEND="Agg", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               PYTHONWARNINGS="error,ignore::DeprecationWarning,ignore::PendingDeprecationWarning")
    if os.environ.get("TINYGRAD_LITE_DATA"):     # a relative data folder must survive the change of folder
        env["TINYGRAD_LITE_DATA"] = str(Path(os.environ["TINYGRAD_LITE_DATA"]).resolve())
    env.update({k: str(v) for k, v in extra.items()})
    return env


def git_status():
    """``git status --porcelain`` of the repository (run in it), or None where it is not a git checkout."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        return None
    result = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    return result.stdout if result.returncode == 0 else None


def execute(path, workdir, **env):
    """Run the notebook at ``path`` in a fresh kernel with ``workdir`` as its folder; the executed notebook.
    A cell that raises fails the test with the kernel's traceback (nbclient's CellExecutionError)."""
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    try:
        client.execute(env=kernel_env(**env))
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed in the kernel:\n{str(exc)[-4000:]}")
    return notebook


def printed(cell):
    """What a code cell wrote to stdout."""
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.get("output_type") == "stream" and out.get("name") == "stdout")


def _normalise(text):
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def checked_outputs(notebook):
    """[(code cell, the text of the ```output block right under it)]."""
    pairs = []
    for cell, after in zip(notebook.cells, notebook.cells[1:]):
        match = OUTPUT_FENCE.match(after.source) if after.cell_type == "markdown" else None
        if cell.cell_type == "code" and match:
            pairs.append((cell, match.group(1)))
    return pairs


def rich_outputs(notebook, mime):
    return [out["data"][mime] for cell in notebook.cells for out in cell.get("outputs", [])
            if mime in out.get("data", {})]


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    """The tutorial executed in docs/, as it is; (notebook, its pictures' folder, git status before, after).
    Its scratch folder for pictures is made under TMPDIR, here a temporary folder of the test's."""
    scratch = tmp_path_factory.mktemp("tutorial")
    before = git_status()
    notebook = execute(TUTORIAL, DOCS, TMPDIR=scratch)
    folders = list(scratch.glob("tinygrad_lite-tutorial-*"))
    assert len(folders) == 1, f"the tutorial drew its pictures elsewhere than one scratch folder: {folders}"
    return notebook, folders[0], before, git_status()


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """The replay notebook executed in docs/ on 3000 images, 2 epochs at rate 0.5 (sigmoid learns
    then), without torch: (notebook, run folder, git status before, after)."""
    out = tmp_path_factory.mktemp("replay") / "runs"
    before = git_status()
    notebook = execute(REPLAY, DOCS, REPLAY_OUT=out, REPLAY_SUBSET=3000, REPLAY_EPOCHS=2, REPLAY_LR=0.5,
                       REPLAY_TORCH=0)
    return notebook, out / "A-sigmoid", before, git_status()


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    """The transformer notebook executed in docs/, its sorter trained one epoch instead of six:
    (notebook, its pictures' folder, git status before, after)."""
    scratch = tmp_path_factory.mktemp("transformer")
    before = git_status()
    notebook = execute(TRANSFORMER, DOCS, TMPDIR=scratch, TRANSFORMER_EPOCHS=1)
    folders = list(scratch.glob("tinygrad_lite-transformer-*"))
    assert len(folders) == 1, f"the notebook drew its pictures elsewhere than one scratch folder: {folders}"
    return notebook, folders[0], before, git_status()


@pytest.mark.slow          # the whole tutorial in a kernel, once for the tests below: ~15 s
def test_the_tutorial_runs_in_a_kernel_and_prints_the_output_shown(tutorial):
    notebook, *_ = tutorial
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert len(code) >= 10 and all(c.execution_count for c in code)
    pairs = checked_outputs(notebook)
    assert len(pairs) >= 9
    for cell, expected in pairs:
        assert _normalise(printed(cell)) == _normalise(expected), (
            f"the cell\n{cell.source}\nprinted\n{printed(cell)}\nbut the output block under it says\n{expected}")


@pytest.mark.slow
def test_the_tutorial_names_the_notebook_cell_where_the_nan_was_made(tutorial):
    notebook, *_ = tutorial
    anomaly = next(c for c in notebook.cells if c.cell_type == "code" and "detect_anomaly()" in c.source)
    place = re.search(r"created at Cell In\[(\d+)\], line (\d+) \(in <module>: (.*)\)", printed(anomaly))
    assert place, printed(anomaly)
    cell_number, line, source = int(place.group(1)), int(place.group(2)), place.group(3)
    assert cell_number == anomaly.execution_count
    assert anomaly.source.splitlines()[line - 1].strip() == source
    assert "ipykernel" not in printed(anomaly) and ".py:" not in printed(anomaly)


@pytest.mark.slow
def test_the_tutorial_shows_its_graph_and_pictures_inline(tutorial):
    notebook, *_ = tutorial
    pictures = rich_outputs(notebook, "image/png")
    assert len(pictures) >= 2
    assert all(base64.b64decode(p)[:8] == PNG_SIGNATURE for p in pictures)
    if shutil.which("dot"):
        assert any("<svg" in svg and "MulBackward" not in svg and ">Mul<" in svg
                   for svg in rich_outputs(notebook, "image/svg+xml"))
    else:
        text = "\n".join(rich_outputs(notebook, "text/plain"))
        assert "autograd graph of y (): 3 ops, 5 tensors" in text and "apt-get install graphviz" in text


@pytest.mark.slow
def test_every_referenced_picture_is_drawn_and_committed_within_budget(tutorial):
    _, images, *_ = tutorial
    referenced = IMAGE_LINK.findall(TUTORIAL.read_text(encoding="utf-8"))
    assert {"graph.png", "im2col_digit.png", "cnn_filters.png"} <= set(referenced)
    total = 0
    for name in referenced:
        committed = COMMITTED_IMAGES / name
        assert committed.read_bytes()[:8] == PNG_SIGNATURE, f"docs/images/{name} is not committed"
        assert committed.stat().st_size < 200_000, f"docs/images/{name} is over 200 KB"
        total += committed.stat().st_size
        if name != "graph.png" or shutil.which("dot"):
            assert (images / name).read_bytes()[:8] == PNG_SIGNATURE, f"no cell of the tutorial draws images/{name}"
    assert total < 1_000_000


def test_an_anomaly_in_a_cell_is_placed_at_the_cell_and_its_line(tmp_path):
    """The detector names the cell as IPython's tracebacks do, not the kernel's temporary file."""
    import nbformat
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import tinygrad_lite as tl\nfrom tinygrad_lite.debug import detect_anomaly"),
        nbformat.v4.new_code_cell("x = tl.Tensor([0.0, 1.0], requires_grad=True)\n\ntry:\n"
                                  "    with detect_anomaly():\n        y = x.log()\n"
                                  "except tl.AnomalyError as error:\n    print(error)"),
    ])
    path = tmp_path / "anomaly.ipynb"
    nbformat.write(notebook, path)
    executed = execute(path, tmp_path)
    assert "created at Cell In[2], line 5 (in <module>: y = x.log())" in printed(executed.cells[1])


@pytest.mark.slow
def test_the_replay_notebook_learns_and_shows_its_curves_report_pictures_and_graph(replay):
    notebook, run_dir, *_ = replay
    for cell, expected in checked_outputs(notebook):
        assert _normalise(printed(cell)) == _normalise(expected)
    assert (run_dir / "metrics.json").is_file() and (run_dir / "REPORT.md").is_file()
    accuracy = re.search(r"test accuracy: ours ([\d.]+) %", "".join(map(printed, notebook.cells)))
    assert accuracy and float(accuracy.group(1)) > 50, "well above chance (10 %)"
    report_cell = notebook.cells[[i for i, c in enumerate(notebook.cells) if "REPORT.md" in c.source
                                  and c.cell_type == "code"][-1]]
    report_pictures = [out for out in report_cell.outputs if "image/png" in out.get("data", {})]
    linked = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", (run_dir / "REPORT.md").read_text())
    assert len(report_pictures) == len(linked) >= 5                # every picture REPORT.md links, shown
    assert all(base64.b64decode(p["data"]["image/png"])[:8] == PNG_SIGNATURE for p in report_pictures)
    assert not any("](" in text and ".png" in text for text in rich_outputs(notebook, "text/markdown"))
    if shutil.which("dot"):
        assert any("1.weight" in svg for svg in rich_outputs(notebook, "image/svg+xml"))
    else:
        assert any("1.weight" in text for text in rich_outputs(notebook, "text/plain"))


@pytest.mark.slow
def test_the_saved_progress_shows_the_finished_count(replay):
    """A widget's saved text is what the notebook file keeps: the finished count, not '0/94 0%'."""
    pytest.importorskip("ipywidgets", reason="the progress widget needs ipywidgets (pip install -e '.[dev]')")
    notebook, *_ = replay
    bars = [text for text in rich_outputs(notebook, "text/plain") if "batch" in text and "%|" in text]
    assert bars, "no progress bar was saved"
    for text in bars:
        done, total = map(int, re.search(r"\| ?(\d+)/(\d+) ", text).groups())
        assert done == total > 0 and "100%" in text, text


@pytest.mark.slow          # attention by hand, then a GPT trained for an epoch: ~30 s
def test_the_transformer_notebook_prints_its_hand_computations_and_learns_to_sort(transformer):
    notebook, images, *_ = transformer
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    pairs = checked_outputs(notebook)
    assert len(pairs) >= 9
    for cell, expected in pairs:
        assert _normalise(printed(cell)) == _normalise(expected), (
            f"the cell\n{cell.source}\nprinted\n{printed(cell)}\nbut the output block under it says\n{expected}")
    accuracy = re.search(r"test problems sorted right: ([\d.]+) %", "".join(map(printed, notebook.cells)))
    assert accuracy and float(accuracy.group(1)) > 20, "one epoch already sorts a good part of the problems"
    assert any(base64.b64decode(p)[:8] == PNG_SIGNATURE for p in rich_outputs(notebook, "image/png"))
    referenced = IMAGE_LINK.findall(TRANSFORMER.read_text(encoding="utf-8"))
    assert referenced == ["gpt_sort_attention.png"]
    committed = COMMITTED_IMAGES / referenced[0]
    assert committed.read_bytes()[:8] == PNG_SIGNATURE and committed.stat().st_size < 200_000
    assert (images / referenced[0]).read_bytes()[:8] == PNG_SIGNATURE, "the notebook draws its picture"


@pytest.mark.slow
def test_running_the_notebooks_changes_nothing_in_the_repository(tutorial, replay, transformer):
    """Executing the notebooks where a student does (in docs/) leaves ``git status`` as it was: no
    committed picture redrawn, no file added beside them. The replay's default output folder (runs/
    beside the notebook) is one git ignores."""
    for name, (_, _, before, after) in (("tutorial", tutorial), ("replay_A", replay),
                                        ("transformer", transformer)):
        if before is None:
            pytest.skip("not a git checkout: nothing to compare git status with")
        assert after == before, f"running {name} changed the repository:\n{after}"
    ignored = subprocess.run(["git", "check-ignore", "-q", "docs/runs/A-sigmoid/metrics.json"], cwd=REPO)
    assert ignored.returncode == 0, "the replay's default run folder, docs/runs/, is not ignored by git"
