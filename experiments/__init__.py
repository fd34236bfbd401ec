"""Replays of the coursework runs with tinygrad_lite (see ``experiments.cli`` and docs/coursework.md).

``coursework/`` holds one module per document (``mnist_mlp`` A, ``fashion_backbone`` B,
``fashion_pooling_init`` C, ``fashion_adam`` D), each listing its runs as ``RunConfig``s; ``registry``
names them all. The machinery: ``models`` (layer specs -> scratch and torch models, one table),
``optimizers`` (the optimiser and schedule tables), ``loop`` (the one training loop), ``adapter`` (its
contract, a Protocol), ``train`` and ``torch_reference`` (the scratch and torch adapters), ``parity``
(both in lockstep), ``checkpoint`` (a run folder's training files), ``run_folder`` (claiming the folder,
keeping its files while training, Ctrl-C), ``data`` (a run's arrays), ``runner`` (the overrides applied
once, metrics.json and the report), ``executor`` and ``sweep`` (many runs at once on Dask,
docs/cluster.md); ``cli`` is the ``tinygrad-lite`` command.
"""
