"""Redraw the pictures of docs/ (docs/images/*.png): the tutorial's and the transformer notebook's, by
running the notebooks in a Jupyter kernel, and the two in README, by running the replay they show.

    TINYGRAD_LITE_DATA=/path/to/data python scripts/build_tutorial_images.py [--images DIR]
                                                             [--only tutorial|transformer|readme]

Each notebook (Jupytext Markdown) is executed cell by cell through nbclient, in docs/, as
``tests/test_notebooks.py`` does, with ``TUTORIAL_IMAGE_DIR`` set to the images folder (without it a
notebook draws into a scratch folder, never over these files); it fails on the first cell that raises.
The transformer notebook trains its sorter in full (six epochs, a minute or two on two cores): its
gpt_sort_attention.png, also shown in README.
The graph picture needs Graphviz's ``dot``; without it that cell shows the graph as text and writes no
graph.png. README's two pictures come from ``tinygrad-lite run A-relu --subset 2000 --epochs 10`` (the
full MNIST and torch are needed): its scratch_vs_torch.png and confusion_test.png, as
A-relu_scratch_vs_torch.png and A-relu_confusion_test.png. Commit the PNGs it writes (each should stay
under 200 KB). Needs the ``notebook`` extra (jupytext, nbclient, ipykernel) and torch.
"""
import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"tutorial": REPO / "docs" / "tutorial.md", "transformer": REPO / "docs" / "transformer.md"}
PNG_BUDGET_BYTES = 200_000
README_RUN = ("A-relu", ["--subset", "2000", "--epochs", "10"])
README_PICTURES = ("scratch_vs_torch.png", "confusion_test.png")


def notebook_images(notebook_path, images):
    """Execute a notebook with its pictures going to ``images``; 0, or 1 when a cell failed."""
    import jupytext
    import nbclient
    env = dict(os.environ, TUTORIAL_IMAGE_DIR=str(images), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")          # small matmuls: one BLAS thread is fastest
    if env.get("TINYGRAD_LITE_DATA"):     # a relative data folder must survive the change of folder
        env["TINYGRAD_LITE_DATA"] = str(Path(env["TINYGRAD_LITE_DATA"]).resolve())
    for knob in ("TRANSFORMER_EPOCHS", "TRANSFORMER_SUBSET"):   # the tests' short run, never the pictures'
        env.pop(knob, None)
    notebook = jupytext.read(notebook_path)
    client = nbclient.NotebookClient(notebook, timeout=1200, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook_path.parent)}})
    try:
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def readme_images(images):
    """Run README's replay in a scratch folder and copy its two pictures; 0, or the run's exit status."""
    sys.path.insert(0, str(REPO))
    from experiments.cli import main as tinygrad_lite
    name, options = README_RUN
    with tempfile.TemporaryDirectory() as out:
        status = tinygrad_lite(["run", name, *options, "--out", out, "--no-progress"])
        if status:
            return status
        for picture in README_PICTURES:
            shutil.copyfile(Path(out) / name / picture, images / f"{name}_{picture}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO / "docs" / "images"),
                        help="where to write the pictures (default: docs/images)")
    parser.add_argument("--only", choices=("tutorial", "transformer", "readme"), help="redraw only these pictures")
    args = parser.parse_args(argv)
    images = Path(args.images).resolve()
    images.mkdir(parents=True, exist_ok=True)
    builds = {kind: (lambda images, path=path: notebook_images(path, images)) for kind, path in NOTEBOOKS.items()}
    for kind, build in {**builds, "readme": readme_images}.items():
        if args.only in (None, kind):
            status = build(images)
            if status:
                return status
    too_big = []
    for png in sorted(images.glob("*.png")):
        size = png.stat().st_size
        print(f"{png.relative_to(REPO) if png.is_relative_to(REPO) else png}: {size / 1000:.0f} KB")
        if size > PNG_BUDGET_BYTES:
            too_big.append(png.name)
    if too_big:
        print(f"over the {PNG_BUDGET_BYTES // 1000} KB budget: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
