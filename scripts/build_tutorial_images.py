"""Regenerate the pictures of docs/tutorial.md (docs/images/*.png) by running the tutorial's blocks.

    TINYGRAD_LITE_DATA=../shared/data python scripts/build_tutorial_images.py [--images DIR]

It runs every ```python block of the tutorial in order, from the repository root, exactly as
``tests/test_tutorial.py`` does (both use ``tinygrad_lite.docs_runner``), and fails on the first block
that raises or prints something other than the output shown under it. The graph picture needs
Graphviz's ``dot``; without it the tutorial writes ``graph.dot`` instead and says so. Commit the
PNGs it writes (each should stay under 200 KB).
"""
import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))   # run from a checkout
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")   # before NumPy loads: as the test runs it (small matmuls, no thread fights)

from tinygrad_lite.docs_runner import TUTORIAL, DocumentError, run_document  # noqa: E402

PNG_BUDGET_BYTES = 200_000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=str(REPO / "docs" / "images"),
                        help="where to write the pictures (default: docs/images)")
    args = parser.parse_args(argv)
    images = Path(args.images).resolve()
    data = os.environ.get("TINYGRAD_LITE_DATA")
    if data:                              # a relative data folder must survive the chdir below
        os.environ["TINYGRAD_LITE_DATA"] = str(Path(data).resolve())
    os.chdir(REPO)
    try:
        run_document(TUTORIAL, image_dir=images, echo=sys.stdout)
    except DocumentError as exc:
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
