"""``python -m experiments ...`` is the ``tinygrad-lite`` command (see ``experiments.cli``)."""
import sys

from .cli import main

sys.exit(main())
