"""``python -m tinygrad_lite``: the library has no command of its own; this says what to run instead."""
import sys

WHAT_TO_RUN = """tinygrad_lite is a library: import it (import tinygrad_lite as tl). To run something:

  tinygrad-lite list                     the coursework replays and their expected times
  tinygrad-lite run A-sigmoid            train one (also: python -m experiments run A-sigmoid)
  python examples/worked_gradients.py    one Dense layer's gradients, worked out by hand
  python -m pytest -n 2                  the tests

Notebooks (pip install -e '.[notebook]'):
  jupytext --to ipynb docs/tutorial.md && jupyter lab docs/tutorial.ipynb     from a scalar to a CNN
  jupytext --to ipynb docs/replay_A.md && jupyter lab docs/replay_A.ipynb     replay assignment A, look at it
"""


def main(argv=None):
    print(WHAT_TO_RUN, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
