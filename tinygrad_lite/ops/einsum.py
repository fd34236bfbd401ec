"""``einsum``: Einstein summation by NumPy's (or CuPy's) ``einsum``, and its gradient as one more einsum.

For y = einsum("ij,jk->ik", a, b), the gradient of a is einsum("ik,jk->ij", gy, b): the output's
subscripts take the operand's place and the operand's subscripts become the output. Two cases need
a constant operand, because an einsum output cannot name a letter twice or name a letter no input has:
a letter that only this operand has (summed away: "ij->i") comes from a ones vector, and a repeated
letter (a diagonal: "ii->i") is linked to a fresh letter by an identity matrix.

The order of work matters as much as in a matmul chain: "ij,kl->" summed letter by letter is 10^12
products for two 1000 x 1000 operands, the sum of each times the other's is 2 * 10^6. So a letter only
one operand has is summed out of it first (torch's rule), and the rest is contracted pairwise in
the order NumPy's greedy ``einsum_path`` picks (CuPy picks its own); every intermediate of that
order is checked against ``limits.MAX_ELEMENTS`` before anything is computed.

The fast path, ``contract_by_matmul``: NumPy's einsum sums a two-operand contraction in its own
loops, where BLAS is many times faster, so when every letter is shared by both operands or kept by
the output (a batched matrix product, attention's "bhqd,bhkd->bhqk"), the operands are transposed to
(batch, kept, summed) and (batch, summed, kept) and multiplied by ``matmul``; the same sums in
another order (a test checks it against ``einsum``).
"""
from __future__ import annotations

import string
from collections import Counter

import numpy as np

from ..backend import array_module
from ..core import Function, Tensor
from ..errors import ShapeError
from .convert import check_same_device
from .limits import check_elements


class EinsumOp(Function):
    """y = einsum("s_1,...,s_n->t", x_1, ..., x_n);  dx_i = einsum("t,s_j (j != i)->s_i", gy, x_j ...),
    with a ones vector for each letter of s_i no other subscript has, and an identity linking each
    repeat of a letter in s_i to a fresh letter (see the module docstring)"""
    def __init__(self, inputs, output, sizes):
        self.subscripts, self.target, self.sizes = inputs, output, sizes
        self.reduced, self.path = plan(inputs, output, sizes)

    def forward(self, *xs):
        xp = array_module(xs[0])
        xs = [x if kept == subs else xp.einsum(f"{subs}->{kept}", x)        # each operand's own letters summed
              for x, subs, kept in zip(xs, self.subscripts, self.reduced)]
        if len(xs) == 1:
            return xp.einsum(",".join(self.reduced) + "->" + self.target, xs[0])
        if len(xs) == 2:
            y = contract_by_matmul(*self.reduced, self.target, *xs)
            if y is not None:
                return y
        equation = ",".join(self.reduced) + "->" + self.target
        return xp.einsum(equation, *xs, optimize=self.path if xp is np else True)

    def backward(self, gy):
        return tuple(self._gradient(i, gy) if needed else None for i, needed in enumerate(self.needs_grad))

    def _gradient(self, i, gy):
        operands = [gy] + [x for j, x in enumerate(self.inputs) if j != i]
        subscripts = [self.target] + [s for j, s in enumerate(self.subscripts) if j != i]
        available = set("".join(subscripts))
        fresh = iter(c for c in string.ascii_letters if c not in set("".join(self.subscripts) + self.target))
        xp, target = gy.array_module, ""
        for letter in self.subscripts[i]:
            n = self.sizes[letter]
            if letter in target:                       # a repeat: the diagonal, through an identity
                new = next(fresh)
                operands.append(Tensor._wrap(xp.eye(n, dtype=gy.dtype)))
                subscripts.append(letter + new)
                target += new
                continue
            if letter not in available:                # summed away by this operand alone: ones
                operands.append(Tensor._wrap(xp.ones(n, dtype=gy.dtype)))
                subscripts.append(letter)
                available.add(letter)
            target += letter
        return einsum(",".join(subscripts) + "->" + target, *operands)


def plan(inputs, output, sizes):
    """(each operand's subscripts with the letters only it has, and the output lacks, summed out;
    NumPy's greedy contraction path of what is left), after checking that no intermediate of that
    path, nor the output, holds more than ``limits.MAX_ELEMENTS`` elements."""
    everywhere = [set(output)] + [set(s) for s in inputs]
    reduced = []
    for i, subs in enumerate(inputs):
        elsewhere = set().union(*(letters for j, letters in enumerate(everywhere) if j != i + 1))
        reduced.append("".join(dict.fromkeys(c for c in subs if c in elsewhere)) if set(subs) - elsewhere else subs)
    check_elements(tuple(sizes[c] for c in output), "einsum", "the output")
    if len(reduced) == 1:
        return reduced, None
    dummies = [np.broadcast_to(np.empty(()), tuple(sizes[c] for c in subs)) for subs in reduced]   # shapes, no memory
    path = np.einsum_path(",".join(reduced) + "->" + output, *dummies, optimize="greedy")[0]
    operands = list(reduced)
    for step in path[1:]:
        taken = [operands.pop(i) for i in sorted(step, reverse=True)]
        rest = set(output).union(*operands)
        letters = "".join(dict.fromkeys(c for subs in taken for c in subs if c in rest))
        check_elements(tuple(sizes[c] for c in letters), "einsum", "an intermediate of the contraction")
        operands.append(letters)
    return reduced, path


def contract_by_matmul(sa, sb, target, a, b):
    """einsum(f"{sa},{sb}->{target}", a, b) as one batched matmul, or None where it is not one: a
    letter repeated in an operand, summed away by one operand alone, or broadcast (size 1 against n).

        batch letters   in a, b and the output        A = a as (batch, kept_a, summed)
        summed letters  in a and b only                B = b as (batch, summed, kept_b)
        kept_a, kept_b  in one operand and the output  y = (A @ B) as batch + kept_a + kept_b -> target
    """
    if len(set(sa)) < len(sa) or len(set(sb)) < len(sb) or not set(sa) <= set(sb) | set(target) \
            or not set(sb) <= set(sa) | set(target):
        return None
    size = dict(zip(sa, a.shape))
    if any(size[c] != n for c, n in zip(sb, b.shape) if c in size):
        return None
    size.update(zip(sb, b.shape))
    batch = [c for c in target if c in sa and c in sb]
    summed = [c for c in sa if c in sb and c not in target]
    kept_a, kept_b = [c for c in target if c in sa and c not in sb], [c for c in target if c in sb and c not in sa]

    def count(letters):
        n = 1
        for c in letters:
            n *= size[c]
        return n

    xp = array_module(a)
    a3 = a.transpose([sa.index(c) for c in batch + kept_a + summed]).reshape(count(batch), count(kept_a), count(summed))
    b3 = b.transpose([sb.index(c) for c in batch + summed + kept_b]).reshape(count(batch), count(summed), count(kept_b))
    order = batch + kept_a + kept_b
    y = xp.matmul(a3, b3).reshape([size[c] for c in order])
    return y.transpose([order.index(c) for c in target])


def _expand(equation, shapes):
    """The equation with an explicit output and '...' replaced by letters the equation does not use:
    (input subscripts, output subscripts). The implicit output is NumPy's and torch's: the ellipsis
    axes, then the letters that appear once, in alphabetical order."""
    equation = equation.replace(" ", "")
    if set(equation) - set(string.ascii_letters + ",.->") or equation.count("->") > 1:
        raise ValueError(f"einsum: the equation may hold letters, ',', '...' and one '->', got {equation!r}")
    lhs, arrow, output = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} names {len(inputs)} operands, got {len(shapes)} tensors")
    spare = [c for c in string.ascii_letters if c not in equation]
    ellipsis_axes = []
    for k, (subs, shape) in enumerate(zip(inputs, shapes)):
        named = len(subs.replace("...", ""))
        if subs.replace("...", "").count(".") or subs.count("...") > 1:
            raise ValueError(f"einsum: operand {k}'s subscripts {subs!r} have a '.' outside one '...'")
        if ("..." in subs and named > len(shape)) or ("..." not in subs and named != len(shape)):
            raise ShapeError(f"einsum: operand {k} has {len(shape)} axes (shape {tuple(shape)}) but its "
                             f"subscripts {subs!r} name {named}")
        ellipsis_axes.append(len(shape) - named if "..." in subs else 0)
    ellipsis = "".join(spare[:max(ellipsis_axes)])
    inputs = [subs.replace("...", ellipsis[len(ellipsis) - n:] if n else "") for subs, n in zip(inputs, ellipsis_axes)]
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        counts = Counter("".join(inputs))
        output = ellipsis + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ellipsis))
    return inputs, output


def einsum(equation, *operands) -> Tensor:
    """Einstein summation, torch's ``einsum(equation, *operands)`` (a list of operands works too):
    ``einsum("ij,jk->ik", a, b)`` is a @ b, ``einsum("ii", a)`` the trace, ``einsum("...ij->...ji", a)``
    a batch transpose. Differentiable in every operand, to any order."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string such as 'ij,jk->ik', got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    for k, x in enumerate(operands):
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum: operand {k} must be a Tensor, got {type(x).__name__}")
    check_same_device("einsum", operands)
    inputs, output = _expand(equation, [x.shape for x in operands])
    sizes = {}
    for k, (subs, x) in enumerate(zip(inputs, operands)):
        for letter, n in zip(subs, x.shape):
            if sizes.get(letter, n) not in (n, 1) and n != 1:
                raise ShapeError(f"einsum: subscript {letter!r} has size {sizes[letter]} in one operand and "
                                 f"{n} in operand {k} (equation {equation!r}, shapes {[t.shape for t in operands]})")
            sizes[letter] = n if sizes.get(letter, 1) == 1 else sizes[letter]
    unknown = set(output) - set(sizes)
    if unknown or len(set(output)) != len(output):
        raise ValueError(f"einsum: the output subscripts {output!r} must be distinct letters that the operands "
                         f"have (equation {equation!r})")
    return EinsumOp(inputs, output, sizes)(*operands)
