"""Redraw the pictures of docs/tutorial.md (docs/images/*.png) by running the notebook in a Jupyter kernel.

    TINYGRAD_LITE_DATA=/path/to/data python scripts/build_tutorial_images.py [--images DIR]

It executes the tutorial (a Jupytext Markdown notebook) cell by cell through nbclient, in docs/, as
``tests/test_notebooks.py`` does, and fails on the first cell that raises. The graph picture needs
Graphviz's ``dot``; without it that cell shows the graph as text and writes no graph.png. Commit the
PNGs it writes (each should stay under 200 KB). Needs the ``notebook`` extra (jupytext, nbclient,
ipykernel).
"""
import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / "docs" / "tutorial.md"
PNG_BUDGET_BYTES = 200_000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO / "docs" / "images"),
                        help="where to write the pictures (default: docs/images)")
    args = parser.parse_args(argv)
    import jupytext
    import nbclient
    images = Path(args.images).resolve()
    env = dict(os.environ, TUTORIAL_IMAGE_DIR=str(images), MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")          # small matmuls: one BLAS thread is fastest
    if env.get("TINYGRAD_LITE_DATA"):     # a relative data folder must survive the change of folder
        env["TINYGRAD_LITE_DATA"] = str(Path(env["TINYGRAD_LITE_DATA"]).resolve())
    notebook = jupytext.read(TUTORIAL)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(TUTORIAL.parent)}})
    try:
        client.execute(env=env)
    except nbclient.exceptions.CellExecutionError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
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
