"""The coursework: one module per document, each listing its replayed runs as ``RunConfig``s.

``mnist_mlp`` (A), ``fashion_backbone`` (B), ``fashion_pooling_init`` (C), ``fashion_adam`` (D); the
machinery that trains them is the rest of ``experiments``.
"""
