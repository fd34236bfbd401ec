"""Replays of the coursework runs with tinygrad_lite (see ``experiments.cli`` and docs/coursework.md).

One module per document (``mnist_mlp`` A, ``fashion_backbone`` B, ``fashion_pooling_init`` C,
``fashion_adam`` D) lists its runs as ``RunConfig``s; ``registry`` names them all; ``data`` prepares
a run's arrays, ``train`` trains, ``runner`` writes metrics.json and the report; ``cli`` is the
``tinygrad-lite`` command.
"""
