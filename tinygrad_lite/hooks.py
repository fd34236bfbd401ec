"""Hooks: observers of the engine. The engine (core.py) announces what it does to every installed
``Hook``; the debug tools in ``debug.py`` (``trace_backward``, ``detect_anomaly``) are hooks.

With none installed the engine pays one ``if active:`` test per event.
"""
import contextlib

active = []     # the installed Hooks, in installation order (changed in place: core.py holds this list)


class Hook:
    """An observer of the engine. Override the moments you care about; each default does nothing.

    - ``on_forward(fn, inputs, output)``: after every op's forward, recorded in the graph or not.
    - ``on_backward_start(tensor, grad)``: a ``backward()`` call begins from ``tensor``, seeded with ``grad``.
    - ``on_backward_step(fn, grad_output, grads)``: after ``fn``'s backward, in the order the engine runs
      them; ``grads`` has one entry (a Tensor or None) per input, still at the broadcast shape.
    - ``on_broadcast(fn, input_index, from_shape, to_shape)``: a gradient was summed back to its input's shape.
    - ``on_accumulate(leaf, grad)``: ``grad`` is about to be added to ``leaf.grad`` (which still holds the
      old value, or None for the first contribution).
    """

    def on_forward(self, fn, inputs, output):
        pass

    def on_backward_start(self, tensor, grad):
        pass

    def on_backward_step(self, fn, grad_output, grads):
        pass

    def on_broadcast(self, fn, input_index, from_shape, to_shape):
        pass

    def on_accumulate(self, leaf, grad):
        pass


@contextlib.contextmanager
def installed(hook):
    """Install ``hook`` for the ``with`` block and remove exactly that hook afterwards (even on error).

    Nesting is fine: each block removes only its own hook, so inner and outer hooks both see every op.
    """
    if not isinstance(hook, Hook):
        raise TypeError(f"installed: hook must be a tinygrad_lite.hooks.Hook, got {type(hook).__name__}")
    active.append(hook)
    try:
        yield hook
    finally:
        for i in range(len(active) - 1, -1, -1):
            if active[i] is hook:
                del active[i]
                break


def notify(event, *args):
    """Tell every installed hook that ``event`` happened: call its ``on_<event>(*args)``."""
    for hook in tuple(active):
        getattr(hook, "on_" + event)(*args)
