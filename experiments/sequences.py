"""Sequence tasks made up on the spot, minGPT's synthetic tasks: nothing to download, no corpus.

    sort   six digits 0-9 -> the same digits in ascending order       3 1 4 1 5 9 -> 1 1 3 4 5 9
    add    two 2-digit numbers -> their sum in 3 digits, lowest first  37 + 45: 3 7 4 5 -> 2 8 0 (= 082)

An example is one token sequence, its prompt then its answer. A GPT reads it shifted by one, as it
trains on text: x = sequence[:-1], y = sequence[1:], so position i predicts token i + 1; y is IGNORE
(not scored) where the next token is still part of the prompt. The sum comes lowest digit first, as
written addition does it: each digit then needs only the digits below it and their carry, which the
model has already written.

Every split holds different problems: one seeded draw of distinct problems, cut into training,
validation and test (``config.split = ("generated", n_train, n_val, n_test)``), so the test accuracy
is the share of problems never seen in training that the model answers right.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .targets import IGNORE

DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class SequenceTask:
    """A made-up task: ``problems`` distinct prompts, numbered 0..problems-1 (``prompt`` turns numbers
    into prompt tokens), ``answer`` the answer tokens of each prompt, ``show`` one problem as text."""
    name: str
    prompt_length: int
    answer_length: int
    problems: int
    prompt: Callable
    answer: Callable
    show: Callable
    vocabulary: tuple = DIGITS

    @property
    def length(self):
        """The model's input length, T = prompt + answer - 1 (the last answer token is never read)."""
        return self.prompt_length + self.answer_length - 1

    def examples(self, numbers):
        """(x, y) of the problems ``numbers``: int64 arrays (N, T), y IGNORE before the answer."""
        prompts = self.prompt(np.asarray(numbers))
        sequences = np.concatenate([prompts, self.answer(prompts)], axis=1).astype(np.int64)
        x, y = sequences[:, :-1], sequences[:, 1:].copy()
        y[:, :self.prompt_length - 1] = IGNORE
        return x, y


def _digits(numbers, width):
    """Each number's ``width`` decimal digits, most significant first: (N,) -> (N, width)."""
    return (numbers[:, None] // 10 ** np.arange(width - 1, -1, -1)) % 10


def _value(digits):
    return (digits * 10 ** np.arange(digits.shape[-1] - 1, -1, -1)).sum(axis=-1)


def _show_sort(prompt, answer):
    return f"{' '.join(map(str, prompt))} -> {' '.join(map(str, answer))}"


def _show_add(prompt, answer):
    a, b = _value(np.asarray(prompt[:2])), _value(np.asarray(prompt[2:]))
    return f"{a} + {b} = {_value(np.asarray(answer)[::-1])}"


TASKS = {
    "sort": SequenceTask("sort", 6, 6, 10 ** 6, lambda n: _digits(n, 6), lambda p: np.sort(p, axis=1), _show_sort),
    "add": SequenceTask("add", 4, 3, 10 ** 4, lambda n: _digits(n, 4),
                        lambda p: _digits(_value(p[:, :2]) + _value(p[:, 2:]), 3)[:, ::-1], _show_add),
}


def split_sizes(config):
    """(n_train, n_val, n_test) from ``config.split = ("generated", n_train, n_val, n_test)``."""
    split, task = config.split, TASKS[config.dataset]
    if (len(split) != 4 or split[0] != "generated"
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in split[1:])):
        raise ValueError(f"config {config.name}: a sequence task's split must be ('generated', n_train, n_val, "
                         f"n_test) with positive ints, got {split!r}")
    if sum(split[1:]) > task.problems:
        raise ValueError(f"config {config.name}: {sum(split[1:])} problems asked, the task has only "
                         f"{task.problems} different ones")
    return split[1:]


def draw_splits(config, seed=0):
    """{split: (x, y)} of distinct problems (one seeded draw, cut into train, val, test)."""
    task, sizes = TASKS[config.dataset], split_sizes(config)
    numbers = np.random.default_rng(seed).choice(task.problems, size=sum(sizes), replace=False)
    bounds = np.cumsum((0,) + tuple(sizes))
    return {name: task.examples(numbers[bounds[i]:bounds[i + 1]]) for i, name in enumerate(("train", "val", "test"))}
