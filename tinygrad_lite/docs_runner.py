"""Run a Markdown document's ```python blocks in order, like notebook cells, and check their output.

    python -m tinygrad_lite.docs_runner docs/tutorial.md          # run it, printing each block's output

Every ```python block runs in ONE shared namespace, in document order. A block is compiled with the
Markdown file as its file name and its first line at the line where it stands in that file, so a
traceback (and ``detect_anomaly``'s "created at") points at the right line of the document.

A fenced block whose info string is ``output`` that directly follows a python block (only blank lines
between) is the text that block must print: ``run_document`` compares it with what the block wrote to
stdout (trailing spaces on each line and blank lines at the end ignored) and fails on a difference.
Use it only for output that is the same on every machine; leave data-dependent numbers unshown.

The tutorial's blocks write their pictures to ``$TUTORIAL_IMAGE_DIR`` (default ``docs/images``), so a
test can send them to a temporary folder; ``scripts/build_tutorial_images.py`` regenerates the
committed ones.
"""
import argparse
import contextlib
import io
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

IMAGE_DIR_ENV = "TUTORIAL_IMAGE_DIR"
TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"

_FENCE_OPEN = re.compile(r"^(?P<fence>`{3,})[ \t]*(?P<info>[^`\n]*?)[ \t]*$")


class DocumentError(AssertionError):
    """A block failed: it raised, or its output differs from the ``output`` block that follows it."""


@dataclass
class CodeBlock:
    """One ```python block: ``line`` is the 1-based line of its first code line in the document;
    ``expected_output`` is the text of the ``output`` block right after it, or None."""
    index: int
    line: int
    source: str
    expected_output: str = None


@dataclass
class BlockResult:
    block: CodeBlock
    stdout: str


def _fences(text):
    """Every fenced block as (info string, 1-based line of its first content line, content,
    0-based index of its opening fence line, 0-based index of the line after its closing fence)."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        match = _FENCE_OPEN.match(lines[i].rstrip("\n"))
        if not match:
            i += 1
            continue
        fence, info = match.group("fence"), match.group("info").strip().lower()
        end = i + 1
        while end < len(lines) and lines[end].strip() != fence:   # a closing fence of the same length
            end += 1
        if end == len(lines):
            raise DocumentError(f"line {i + 1}: the {fence}{info} block is never closed")
        yield info, i + 2, "".join(lines[i + 1:end]), i, end + 1
        i = end + 1


def extract_python_blocks(text):
    """The ```python blocks of Markdown ``text``, in order, each with its expected ``output`` (or None)."""
    blocks, previous_end, lines = [], None, text.splitlines()
    for info, first_line, content, open_index, after in _fences(text):
        language = info.split()[0] if info else ""
        if language in ("python", "py", "python3"):
            blocks.append(CodeBlock(len(blocks), first_line, content))
            previous_end = after
        elif language == "output" and blocks and previous_end is not None:
            between = lines[previous_end:open_index]
            if any(line.strip() for line in between):
                raise DocumentError(f"line {open_index + 1}: an output block must follow its python "
                                    f"block directly (only blank lines between)")
            blocks[-1].expected_output = content
            previous_end = None
        else:
            previous_end = None
    return blocks


def _normalise(text):
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


class _Tee(io.TextIOBase):
    """Writes to a buffer and, when ``echo`` is set, to the real stdout as well."""

    def __init__(self, echo):
        self.buffer_, self.echo = io.StringIO(), echo

    def write(self, text):
        self.buffer_.write(text)
        if self.echo is not None:
            self.echo.write(text)
        return len(text)

    def flush(self):
        if self.echo is not None:
            self.echo.flush()


def run_blocks(blocks, filename, namespace=None, echo=None):
    """Run ``blocks`` in order in one namespace; return a ``BlockResult`` per block.

    Raises ``DocumentError`` naming the block and its line in ``filename`` at the first block that
    raises or prints something other than its ``output`` block. ``echo``: a stream that also receives
    every block's output as it runs (None: capture only).
    """
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    results = []
    for block in blocks:
        code = compile("\n" * (block.line - 1) + block.source, str(filename), "exec")
        tee = _Tee(echo)
        try:
            with contextlib.redirect_stdout(tee):
                exec(code, namespace)   # noqa: S102  (running the document is the point)
        except Exception as exc:
            raise DocumentError(f"{filename}: python block #{block.index + 1} (line {block.line}) raised "
                                f"{type(exc).__name__}: {exc}") from exc
        stdout = tee.buffer_.getvalue()
        if block.expected_output is not None and _normalise(stdout) != _normalise(block.expected_output):
            raise DocumentError(
                f"{filename}: python block #{block.index + 1} (line {block.line}) printed\n"
                f"{stdout}\nbut the output block after it says\n{block.expected_output}")
        results.append(BlockResult(block, stdout))
    return results


def run_document(path, image_dir=None, echo=None):
    """Run every python block of the Markdown file ``path``; returns the ``BlockResult`` list.

    ``image_dir`` (if given) is put in ``$TUTORIAL_IMAGE_DIR`` for the run and the old value restored
    afterwards. Matplotlib is set to the non-interactive Agg backend (pictures go to files only).
    """
    path = Path(path)
    blocks = extract_python_blocks(path.read_text(encoding="utf-8"))
    old_image_dir = os.environ.get(IMAGE_DIR_ENV)
    old_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    if image_dir is not None:
        os.environ[IMAGE_DIR_ENV] = str(image_dir)
    try:
        return run_blocks(blocks, path.resolve(), echo=echo)
    finally:
        for name, old in ((IMAGE_DIR_ENV, old_image_dir), ("MPLBACKEND", old_backend)):
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("document", nargs="?", default=str(TUTORIAL),
                        help="the Markdown file (default: docs/tutorial.md)")
    parser.add_argument("--images", metavar="DIR",
                        help=f"where the blocks write pictures (sets ${IMAGE_DIR_ENV}; the tutorial's "
                             "default is docs/images)")
    parser.add_argument("--quiet", action="store_true", help="do not echo the blocks' output")
    args = parser.parse_args(argv)
    try:
        results = run_document(args.document, args.images, echo=None if args.quiet else sys.stdout)
    except DocumentError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    checked = sum(r.block.expected_output is not None for r in results)
    print(f"{len(results)} python blocks of {args.document} ran; {checked} printed the output shown "
          f"under them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
