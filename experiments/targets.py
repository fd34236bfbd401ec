"""What a run predicts, and how its loss and accuracy are counted: one row per kind of target.

| kind     | y                               | loss                               | correct (accuracy)            |
|----------|---------------------------------|------------------------------------|-------------------------------|
| "class"  | one label per example, (N,)     | cross-entropy of the logits (N, C) | the examples whose arg-max is |
|          |                                 |                                    | the label                     |
| "tokens" | one token per position, (N, T); | cross-entropy over the scored      | the examples whose every      |
|          | IGNORE = -100 where nothing is  | positions of (N, T, V)             | scored token is right         |
|          | scored (a prompt)               |                                    |                               |

A sequence counts as right only when all its answer tokens are: the teacher-forced arg-max at each
position equals greedy generation's answer exactly when every position is right, so this accuracy is
the share of problems the model solves by generating its answer (``experiments.gpt.generate``).

Both frameworks go through the same rows: ``F`` is ``nn.functional`` or ``torch.nn.functional``, and
``logits``, ``y`` are arrays or tensors of either (``argmax``, ``all``, ``sum``, ``reshape`` and
comparisons are spelled alike in NumPy, CuPy and torch).
"""
IGNORE = -100          # torch's default ignore_index: a position whose target is not scored


class Classes:
    """One class label per example (the image runs)."""

    @staticmethod
    def loss(F, logits, y, reduction="mean"):
        return F.cross_entropy(logits, y, reduction=reduction)

    @staticmethod
    def correct(logits, y):
        return (logits.argmax(1) == y).sum()

    @staticmethod
    def predicted(logits, y):
        """What the model answers: the arg-max class of each example."""
        return logits.argmax(1)

    @staticmethod
    def truth(y):
        """The right answers, in ``predicted``'s form."""
        return y

    @staticmethod
    def scored(y):
        """How many targets the summed loss adds up (its mean divides by this)."""
        return len(y)


class Tokens:
    """One token per position, IGNORE where not scored (the sequence runs)."""

    @staticmethod
    def loss(F, logits, y, reduction="mean"):
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction=reduction)

    @staticmethod
    def correct(logits, y):
        return ((logits.argmax(-1) == y) | (y == IGNORE)).all(-1).sum()

    @staticmethod
    def predicted(logits, y):
        """The answer tokens (the scored positions) of each example, (N, answer length)."""
        return logits.argmax(-1)[y != IGNORE].reshape(len(y), -1)

    @staticmethod
    def truth(y):
        return y[y != IGNORE].reshape(len(y), -1)

    @staticmethod
    def scored(y):
        return int((y != IGNORE).sum())


TARGETS = {"class": Classes, "tokens": Tokens}
