"""Losses: cross-entropy from logits (one fused, numerically stable op), NLL, binary cross-entropy (of
probabilities and of logits), MSE, L1, smooth L1 / Huber, KL divergence, and L1/L2 penalties. Each loss
has its module in ``nn.loss`` (``nn.CrossEntropyLoss``, ...).

``reduction`` is 'mean' (default), 'sum' or 'none', as in torch (``kl_div`` also 'batchmean').
Class-label losses take torch's ``weight`` (one per class) and ``ignore_index``, and N-D inputs
(N, C, d1, ...) with labels (N, d1, ...). Targets and class weights are not differentiated, except
where torch differentiates them too (the element-wise losses, built from Tensor ops).
"""
import math

import numpy as np

import tinygrad_lite as tl
from tinygrad_lite import backend
from tinygrad_lite.core import Function, Tensor
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.ops.convert import as_tensor
from tinygrad_lite.ops.indexing import one_hot_array
from tinygrad_lite.ops.reduce import log_softmax_array

from .activations import SoftplusOp

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyOp(Function):
    """loss_n = -sum_c t_nc * log_softmax(z_n)_c  (t one-hot for class labels), reduced over n;
    dz = (softmax(z) * sum_c t_c - t) * gy  (divided by N for 'mean').

    log_softmax subtracts each row's maximum first, so logits of any size are safe. ``forward`` keeps
    the log-probabilities, from which ``_fast_backward`` computes the gradient on arrays.
    """
    def __init__(self, targets, reduction):
        self.targets, self.reduction = targets, reduction   # (N,) int labels or (N, C) probabilities

    def forward(self, logits):
        xp = backend.array_module(logits)
        self.log_probs = log_probs = log_softmax_array(logits, 1)
        if self.targets.ndim == 1:
            losses = -log_probs[xp.arange(len(log_probs)), self.targets]
        else:
            losses = -(self.targets * log_probs).sum(axis=1)
        if self.reduction == "none":
            return losses
        return xp.asarray(losses.mean() if self.reduction == "mean" else losses.sum())

    def backward(self, gy):
        t = self.targets
        logits, = self.inputs
        probs = tl.softmax(logits, axis=1)
        if t.ndim == 1:
            grad = probs - Tensor._wrap(one_hot_array(t, logits.shape[1], logits.dtype))
        else:
            target = Tensor._wrap(t)
            grad = probs * target.sum(axis=1, keepdims=True) - target
        return grad * self._scale(gy, gy.reshape(-1, 1))

    def _fast_backward(self, gy):
        """``backward`` on arrays, in place: exp of the kept log-probabilities, minus 1 at each label."""
        t = self.targets
        xp = gy.array_module
        grad = xp.exp(self.log_probs)
        if t.ndim == 1:
            grad[xp.arange(len(grad)), t] -= 1
        else:
            grad *= t.sum(axis=1, keepdims=True)
            grad -= t
        grad *= self._scale(gy.data, gy.data.reshape(-1, 1) if self.reduction == "none" else None)
        return Tensor._wrap(grad)

    def _scale(self, gy, gy_column):
        if self.reduction == "mean":
            return gy / len(self.targets)
        return gy if self.reduction == "sum" else gy_column


class ClassAxisCrossEntropyOp(CrossEntropyOp):
    """``CrossEntropyOp`` on logits (N, C, d1, ...) with class labels (N, d1, ...), along the class
    axis 1 where it lies: the fast path of ``cross_entropy``'s plain call on N-D logits, which the
    general route reads as (N*d1*..., C) rows (a transposed copy of the logits and of their gradient).
    The forward keeps the softmax it divides out of the same exponentials, so the backward takes no exp.

        loss[n, d] = -log_softmax(z[n, :, d])[y[n, d]],   dz = (softmax(z) - one_hot(y)) * gy
        (the one-hot along axis 1; 'mean' divides by the number of labels, N*d1*...)
    """
    def forward(self, logits):
        xp = backend.array_module(logits)
        log_probs, self.probs = log_softmax_array(logits, 1, with_softmax=True)
        losses = -log_probs[self._at_labels(xp)]
        if self.reduction == "none":
            return losses
        return xp.asarray(losses.mean() if self.reduction == "mean" else losses.sum())

    def _at_labels(self, xp):
        """The index of each label's entry along axis 1: (n, y[n, d1, ...], d1, ...), broadcast."""
        t = self.targets
        ranges = [xp.arange(size).reshape((size,) + (1,) * (t.ndim - 1 - axis)) for axis, size in enumerate(t.shape)]
        return (ranges[0], t) + tuple(ranges[1:])

    def backward(self, gy):
        logits, = self.inputs
        one_hot = logits.array_module.moveaxis(one_hot_array(self.targets, logits.shape[1], logits.dtype), -1, 1)
        grad = tl.softmax(logits, axis=1) - Tensor._wrap(one_hot)
        return grad * self._scale(gy, gy.unsqueeze(1) if self.reduction == "none" else None)

    def _fast_backward(self, gy):
        """``backward`` on arrays: the kept softmax times the scale, the scale taken off at each label."""
        xp = gy.array_module
        scale = self._scale(gy.data, gy.data[:, None] if self.reduction == "none" else None)
        grad = self.probs * scale
        grad[self._at_labels(xp)] -= scale if self.reduction != "none" else gy.data
        return Tensor._wrap(grad)

    def _scale(self, gy, gy_column):
        if self.reduction == "mean":
            return gy / self.targets.size
        return gy if self.reduction == "sum" else gy_column


def cross_entropy(logits, targets, weight=None, *, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Cross-entropy of ``logits`` (N, C) or (N, C, d1, ...) against class labels (N,) / (N, d1, ...) in
    [0, C) or probabilities of the logits' shape (one-hot or soft labels), as
    ``torch.nn.functional.cross_entropy``:

    loss_n = -sum_c t_nc * log_softmax(z_n)_c with, for labels y_n, t_nc = (1 - eps) w_y [c = y_n] + eps w_c / C
    (eps = ``label_smoothing``, w = ``weight``, 1 if None), t_n = 0 where y_n == ``ignore_index``;
    for probabilities p, t_nc = w_c ((1 - eps) p_nc + eps / C). 'mean' divides by sum_n w_y over the
    labels not ignored (by N for probability targets). Targets and weight are not differentiated.

    The plain call (no weight, no smoothing, no ignored label) is the fused op alone, along axis 1
    where the classes lie for N-D logits.
    """
    _check_reduction("cross_entropy", reduction)
    if isinstance(weight, str):
        raise TypeError(f"cross_entropy: weight must be a tensor of one weight per class, got {weight!r}; "
                        f"reduction is keyword-only: cross_entropy(logits, targets, reduction={weight!r})")
    if not (isinstance(label_smoothing, (int, float, np.number)) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"cross_entropy: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    if logits.ndim < 2:
        raise ShapeError(f"cross_entropy: logits must have shape (batch, classes) or (batch, classes, d1, ...), "
                         f"got {logits.shape}")
    classes = logits.shape[1]
    raw = targets.data if isinstance(targets, Tensor) else backend.to_device(targets, logits.device)
    probabilities = raw.ndim == logits.ndim
    if probabilities:
        if raw.shape != logits.shape:
            raise ShapeError(f"cross_entropy: probability (one-hot) targets must have the logits' shape "
                             f"{logits.shape}, got {raw.shape}")
        if raw.dtype != logits.dtype:
            raw = raw.astype(logits.dtype)
    rows, raw, unflatten = _classes_last("cross_entropy", logits, raw, probabilities)
    n = math.prod((logits.shape[0],) + logits.shape[2:])       # rows, one per label
    if not probabilities:
        raw = _class_labels("cross_entropy", raw, n, classes, ignore_index)
    if n == 0 and reduction == "mean":
        raise ValueError("cross_entropy: the batch is empty (0 rows); a mean over nothing is undefined")
    w = _class_weight("cross_entropy", weight, classes, logits)
    if probabilities:
        if label_smoothing:
            raw = raw * (1.0 - label_smoothing) + label_smoothing / classes
        if w is not None:
            raw = raw * w
        return unflatten(CrossEntropyOp(raw, reduction)(rows()))
    ignored = raw == ignore_index
    if w is None and not label_smoothing and not ignored.any():
        if logits.ndim > 2 and ClassAxisCrossEntropyOp.backward is not None:   # not in task 6's copy
            return ClassAxisCrossEntropyOp(raw.reshape((logits.shape[0],) + logits.shape[2:]), reduction)(logits)
        return unflatten(CrossEntropyOp(raw, reduction)(rows()))
    z = rows()
    safe, row_weight = _label_weights(raw, ignored, w, z)
    soft = one_hot_array(safe, classes, z.dtype) * ((1.0 - label_smoothing) * row_weight)[:, None]
    if label_smoothing:
        per_class = z.array_module.ones(classes, z.dtype) if w is None else w
        soft += (~ignored)[:, None] * per_class * (label_smoothing / classes)
    if reduction == "none":
        return unflatten(CrossEntropyOp(soft, "none")(z))
    total = CrossEntropyOp(soft, "sum")(z)
    return total / Tensor._wrap(row_weight.sum()) if reduction == "mean" else total


def nll_loss(log_probs, targets, weight=None, *, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood (log_probs from log_softmax, (N, C) or (N, C, d1, ...)):
    loss_n = -w_y log_probs[n, y_n] (0 where y_n == ``ignore_index``); 'mean' divides by sum_n w_y
    over the labels not ignored (by N when there is no weight and nothing is ignored)."""
    _check_reduction("nll_loss", reduction)
    if isinstance(weight, str):
        raise TypeError(f"nll_loss: weight must be a tensor of one weight per class, got {weight!r}; "
                        f"reduction is keyword-only: nll_loss(log_probs, targets, reduction={weight!r})")
    if log_probs.ndim < 2:
        raise ShapeError(f"nll_loss: log_probs must have shape (batch, classes) or (batch, classes, d1, ...), "
                         f"got {log_probs.shape}")
    classes = log_probs.shape[1]
    raw = targets.data if isinstance(targets, Tensor) else backend.to_device(targets, log_probs.device)
    rows, raw, unflatten = _classes_last("nll_loss", log_probs, raw, False)
    flat = rows()
    n = flat.shape[0]
    labels = _class_labels("nll_loss", raw, n, classes, ignore_index)
    w = _class_weight("nll_loss", weight, classes, log_probs)
    ignored = labels == ignore_index
    if w is None and not ignored.any():
        losses = -flat[flat.array_module.arange(n), labels]
        return unflatten(losses) if reduction == "none" else _reduce(losses, reduction)
    safe, row_weight = _label_weights(labels, ignored, w, flat)
    losses = -flat[flat.array_module.arange(n), safe] * Tensor._wrap(row_weight)
    if reduction == "none":
        return unflatten(losses)
    total = losses.sum()
    return total / Tensor._wrap(row_weight.sum()) if reduction == "mean" else total


class BinaryCrossEntropyOp(Function):
    """loss = -(t ln p + (1 - t) ln(1 - p)), each logarithm clamped at -100 (torch's rule, so p = 0 or 1
    stays finite);  dp = gy (p - t) / max(p (1 - p), 1e-12)  (torch's formula; t is not differentiated)."""
    EPSILON = 1e-12

    def __init__(self, target): self.target = target

    def forward(self, p):
        xp = backend.array_module(p)
        with np.errstate(divide="ignore"):
            log_p, log_q = xp.maximum(xp.log(p), -100), xp.maximum(xp.log(1 - p), -100)
        return -(self.target * log_p + (1 - self.target) * log_q)

    def backward(self, gy):
        p, = self.inputs
        return gy * (p - Tensor._wrap(self.target)) / tl.maximum(p * (1.0 - p), self.EPSILON)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # torch's name
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target`` of the same shape:
    loss = -w (t ln p + (1 - t) ln(1 - p)), logarithms clamped at -100 as in torch; ``weight``
    broadcasts to the input. The target is not differentiated (pass logits to
    ``binary_cross_entropy_with_logits`` for a stabler loss)."""
    _check_reduction("binary_cross_entropy", reduction)
    target = _target_like("binary_cross_entropy", input, target)
    low, high = (float(input.data.min()), float(input.data.max())) if input.data.size else (0.0, 1.0)
    if not (0.0 <= low and high <= 1.0):
        raise ValueError(f"binary_cross_entropy: input must be probabilities in [0, 1], got values in "
                         f"[{low}, {high}]; apply sigmoid first, or use binary_cross_entropy_with_logits")
    losses = BinaryCrossEntropyOp(target.data)(input)
    if weight is not None:
        losses = losses * _broadcast_weight("binary_cross_entropy", "weight", weight, input)
    return _reduce(losses, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Binary cross-entropy of logits x: loss = w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)), which is
    -w (pw t ln sigmoid(x) + (1 - t) ln(1 - sigmoid(x))) without overflow; ``pos_weight`` pw broadcasts
    along the last axis (one per class), ``weight`` w to the input. Built from Tensor ops, so
    differentiable in every tensor argument (torch: input and target only)."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    target = _target_like("binary_cross_entropy_with_logits", input, target)
    softplus_of_minus_x = SoftplusOp(1.0, float("inf"))(-input)
    if pos_weight is None:
        losses = (1.0 - target) * input + softplus_of_minus_x
    else:
        pos_weight = _broadcast_weight("binary_cross_entropy_with_logits", "pos_weight", pos_weight, input)
        losses = (1.0 - target) * input + ((pos_weight - 1.0) * target + 1.0) * softplus_of_minus_x
    if weight is not None:
        losses = losses * _broadcast_weight("binary_cross_entropy_with_logits", "weight", weight, input)
    return _reduce(losses, reduction)


def mse_loss(pred, target, reduction="mean"):
    """Mean squared error: mean((pred - target)^2) over every element (or 'sum' / 'none').

    The shapes must match exactly: broadcasting (N, 1) against (N,) silently makes an (N, N) loss.
    """
    _check_reduction("mse_loss", reduction)
    diff = pred - _target_like("mse_loss", pred, target, "pred")
    return _reduce(diff * diff, reduction)


def l1_loss(input, target, reduction="mean"):  # torch's name
    """Mean absolute error: mean(|input - target|) over every element (or 'sum' / 'none'); the
    gradient at a zero difference is 0, as torch's. The shapes must match exactly (see ``mse_loss``)."""
    _check_reduction("l1_loss", reduction)
    return _reduce((input - _target_like("l1_loss", input, target)).abs(), reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):  # torch's name
    """loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta, d = input - target (beta = 0: |d|)."""
    _check_reduction("smooth_l1_loss", reduction)
    beta = _non_negative("smooth_l1_loss", "beta", beta)
    diff = input - _target_like("smooth_l1_loss", input, target)
    size = diff.abs()
    if beta == 0:
        return _reduce(size, reduction)
    return _reduce(tl.where(size.data < beta, diff * diff * (0.5 / beta), size - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):  # torch's name
    """loss = 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target
    (``smooth_l1_loss`` with beta = delta, times delta)."""
    _check_reduction("huber_loss", reduction)
    delta = _non_negative("huber_loss", "delta", delta)
    if delta == 0:
        raise ValueError("huber_loss: delta must be positive, got 0")
    diff = input - _target_like("huber_loss", input, target)
    size = diff.abs()
    return _reduce(tl.where(size.data < delta, diff * diff * 0.5, (size - 0.5 * delta) * delta), reduction)


def kl_div(input, target, reduction="mean", log_target=False):  # torch's name
    """KL divergence with ``input`` the log-probabilities q: loss = t (ln t - q) (0 where t = 0), or with
    ``log_target`` (target holds ln t) e^t (t - q). 'batchmean' divides the sum by the batch size
    (the true KL divergence per sample), 'mean' by the number of elements (torch's default)."""
    if reduction not in REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be one of {REDUCTIONS + ('batchmean',)}, got {reduction!r}")
    target = _target_like("kl_div", input, target)
    if log_target:
        losses = target.exp() * (target - input)
    else:
        if target.data.size and float(target.data.min()) < 0:
            raise ValueError(f"kl_div: target must hold probabilities (>= 0), got a minimum of "
                             f"{float(target.data.min())}; pass log_target=True for log-probabilities")
        positive = target.data > 0
        target_log_target = tl.where(positive, target * tl.where(positive, target, 1.0).log(), 0.0)
        losses = target_log_target - target * input
    if reduction == "batchmean":
        return losses.sum() / float(input.shape[0]) if input.ndim else losses.sum()
    return _reduce(losses, reduction)


def l1_penalty(module_or_params, alpha):
    """alpha * sum over weights of |w| (the L1 / lasso term), a differentiable Tensor to add to the loss.

    ``module_or_params``: a Module (biases, i.e. parameters named 'bias' or '*.bias', are left out,
    as regularisation conventionally is), an iterable of (name, tensor) pairs (same rule), or an
    iterable of tensors (all used).
    """
    return _penalty("l1_penalty", module_or_params, alpha, lambda w: w.abs().sum())


def l2_penalty(module_or_params, alpha):
    """alpha * sum over weights of w^2 (the L2 / ridge term; its gradient is 2 * alpha * w, so it
    equals torch's ``weight_decay=2*alpha`` in SGD). Biases are left out, as in ``l1_penalty``."""
    return _penalty("l2_penalty", module_or_params, alpha, lambda w: (w * w).sum())


# ---- helpers -------------------------------------------------------------------------------------

def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _class_labels(op, labels, n, classes, ignore_index=None):
    """Check integer class labels: shape (n,), integer dtype, every one in [0, classes) or equal to
    ``ignore_index`` (CuPy's indexing would wrap an outside label around instead of failing)."""
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ShapeError(f"{op}: targets must be class labels of shape ({n},) (one per row of the "
                         f"input {(n, classes)}) or probabilities of shape {(n, classes)}, got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-label targets must be integers, got dtype {labels.dtype}; "
                        f"convert them with .astype('int64')")
    if backend.array_module(labels) is np and ignore_index is None:
        outside = n and (int(labels.min()) < 0 or int(labels.max()) >= classes)
    else:           # one device-side any, so one host-device sync per call, not two (min and max)
        outside = n and bool(_outside(labels, classes, ignore_index).any())
    if outside:
        bad = int(_outside(labels, classes, ignore_index).argmax())
        raise ValueError(f"{op}: label {int(labels[bad])} (at position {bad}) is outside [0, {classes}) "
                         f"for an input with {classes} classes"
                         + ("" if ignore_index is None else f" and is not ignore_index={ignore_index}"))
    return labels


def _outside(labels, classes, ignore_index):
    outside = (labels < 0) | (labels >= classes)
    return outside if ignore_index is None else outside & (labels != ignore_index)


def _classes_last(op, x, targets, probabilities):
    """(rows, targets, unflatten): the function giving (N, C, d1, ...) inputs as (N * d1 * ..., C) rows
    (a transposed copy, made only when called), their targets flattened to match, and the function
    that puts a 'none' loss back into the shape (N, d1, ...)."""
    if x.ndim == 2:
        return lambda: x, targets, lambda loss: loss
    spatial = (x.shape[0],) + x.shape[2:]
    if not probabilities and targets.shape != spatial:
        raise ShapeError(f"{op}: class-label targets for an input of shape {x.shape} must have shape "
                         f"{spatial}, got {targets.shape}")
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    targets = targets.transpose(order).reshape(-1, x.shape[1]) if probabilities else targets.reshape(-1)
    return (lambda: x.permute(*order).reshape(-1, x.shape[1])), targets, (
        lambda loss: loss.reshape(spatial) if loss.ndim == 1 else loss)


def _class_weight(op, weight, classes, like):
    """``weight`` (one per class) as an array of ``like``'s dtype on its device, or None."""
    if weight is None:
        return None
    raw = weight.data if isinstance(weight, Tensor) else backend.to_device(np.asarray(weight), like.device)
    if raw.shape != (classes,):
        raise ShapeError(f"{op}: weight must have one entry per class, shape ({classes},), got {raw.shape}")
    if raw.dtype.kind not in "biuf":
        raise TypeError(f"{op}: weight must hold numbers, got dtype {raw.dtype}")
    return raw.astype(like.dtype, copy=False)


def _label_weights(labels, ignored, weight, like):
    """The labels with ignored ones replaced by 0 (a valid index), and each row's weight w_y
    (0 where ignored)."""
    xp = like.array_module
    safe = xp.where(ignored, 0, labels)
    row_weight = (~ignored).astype(like.dtype)
    if weight is not None:
        row_weight *= weight[safe]
    return safe, row_weight


def _target_like(op, input, target, input_name="input"):
    """``target`` as a Tensor of ``input``'s dtype and device, with ``input``'s shape exactly."""
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=input.dtype, device=input.device)
    if target.shape != input.shape:
        raise ShapeError(f"{op}: {input_name} has shape {input.shape} but target has shape {target.shape}; "
                         f"they must match")
    return target


def _broadcast_weight(op, name, weight, input):
    """A weight Tensor (``name`` in messages) that broadcasts to ``input``'s shape."""
    if not isinstance(weight, Tensor):
        weight = Tensor(weight, dtype=input.dtype, device=input.device)
    try:
        np.broadcast_shapes(weight.shape, input.shape)
    except ValueError:
        raise ShapeError(f"{op}: {name} of shape {weight.shape} does not broadcast to the input's shape "
                         f"{input.shape}") from None
    return weight


def _non_negative(op, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or value < 0:
        raise ValueError(f"{op}: {name} must be a non-negative number, got {value!r}")
    return float(value)


def _reduce(losses, reduction):
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


def _penalty(op, module_or_params, alpha, term):
    if isinstance(alpha, Tensor) or not isinstance(alpha, (int, float, np.number)) or alpha < 0:
        raise ValueError(f"{op}: alpha must be a non-negative number, got {alpha!r}")
    weights = _weights(module_or_params)
    if not weights:
        raise ValueError(f"{op}: found no weights to penalise in {type(module_or_params).__name__}")
    total = term(weights[0])
    for w in weights[1:]:
        total = total + term(w)
    return total * as_tensor(alpha, like=total)


def _weights(source):
    """The tensors a penalty covers: every parameter except biases (see ``l1_penalty``)."""
    items = list(source.named_parameters()) if hasattr(source, "named_parameters") else list(source)
    weights = []
    for item in items:
        if isinstance(item, tuple):
            name, tensor = item
            if name == "bias" or name.endswith(".bias"):
                continue
            weights.append(tensor)
        elif isinstance(item, Tensor):
            weights.append(item)
        else:
            raise TypeError(f"penalty: expected a Module, tensors or (name, tensor) pairs, "
                            f"got an item of type {type(item).__name__}")
    return weights
