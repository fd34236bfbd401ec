"""Every run by name, and the groups ``all-A`` .. ``all-D``, ``all`` (the whole coursework) and
``examples`` (runs that are not replays, ``experiments.examples``).

    from experiments.registry import RUNS, resolve
    configs = resolve(["all-A", "B-mlp"])       # RunConfigs, in order, each once
"""
import difflib

from . import examples
from .coursework import fashion_adam, fashion_backbone, fashion_pooling_init, mnist_mlp

MODULES = {"A": mnist_mlp, "B": fashion_backbone, "C": fashion_pooling_init, "D": fashion_adam}
RUNS = {run.name: run for module in MODULES.values() for run in module.RUNS}
GROUPS = {f"all-{letter}": [run.name for run in module.RUNS] for letter, module in MODULES.items()}
GROUPS["all"] = list(RUNS)
RUNS.update((run.name, run) for run in examples.RUNS)
GROUPS["examples"] = [run.name for run in examples.RUNS]


WITH_TORCH = 2.0   # a run's time with its torch column: the torch reference trains the same model again, about
                   # as fast as ours (benchmarks/RESULTS-cpu.md)


class UnknownRunError(ValueError):
    """A run or group name that the registry does not know."""


def resolve(names):
    """The RunConfigs named by ``names`` (run names or group names), in order, each once.

    A run trained on another run's features (``features_from``) comes after that run when both are
    asked for. Raises ``UnknownRunError`` naming the unknown name and the closest known ones.
    """
    ordered = []
    for name in names:
        if name in GROUPS:
            ordered += GROUPS[name]
        elif name in RUNS:
            ordered.append(name)
        else:
            close = difflib.get_close_matches(name, list(RUNS) + list(GROUPS), n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise UnknownRunError(f"unknown run {name!r}{hint} (`tinygrad-lite list` shows all "
                                  f"{len(RUNS)} runs and the groups {', '.join(GROUPS)})")
    seen, out = set(), []
    for name in ordered:
        if name not in seen:
            seen.add(name)
            out.append(RUNS[name])
    return out
