"""Losses: cross-entropy from logits (one fused, numerically stable op), NLL, MSE, and L1/L2 penalties.

``reduction`` is 'mean' (default), 'sum' or 'none', as in torch.
"""
import numpy as np

import tinygrad_lite as tl
from tinygrad_lite import backend
from tinygrad_lite.autograd import Function, is_grad_enabled
from tinygrad_lite.errors import ShapeError
from tinygrad_lite.tensor import Tensor, as_tensor

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """loss_n = -sum_c t_nc * log_softmax(z_n)_c  (t one-hot for class labels), reduced over n;
    dz = (softmax(z) * sum_c t_c - t) * gy  (divided by N for 'mean').

    log_softmax subtracts each row's maximum first, so logits of any size are safe.
    """
    def __init__(self, targets, reduction):
        self.targets, self.reduction = targets, reduction   # (N,) int labels or (N, C) probabilities

    def forward(self, logits):
        xp = backend.get_array_module(logits)
        log_probs = logits - logits.max(axis=1, keepdims=True)
        log_probs -= xp.log(xp.exp(log_probs).sum(axis=1, keepdims=True))
        self.log_probs = log_probs
        if self.targets.ndim == 1:
            losses = -log_probs[xp.arange(len(log_probs)), self.targets]
        else:
            losses = -(self.targets * log_probs).sum(axis=1)
        if self.reduction == "none":
            return losses
        return xp.asarray(losses.mean() if self.reduction == "mean" else losses.sum())

    def backward(self, gy):
        t = self.targets
        if is_grad_enabled():          # create_graph=True: build the gradient from Tensor ops
            logits, = self.inputs
            probs = tl.softmax(logits, axis=1)
            if t.ndim == 1:
                grad = probs - Tensor._wrap(_one_hot(t, logits.shape[1], logits.dtype))
            else:
                target = Tensor._wrap(t)
                grad = probs * target.sum(axis=1, keepdims=True) - target
            return grad * self._scale(gy, gy.reshape(-1, 1))
        xp = gy.xp
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


def cross_entropy(logits, targets, reduction="mean"):
    """Cross-entropy of ``logits`` (N, C) against class labels (N,) in [0, C) or probabilities (N, C)
    (one-hot, or soft labels), like ``torch.nn.functional.cross_entropy``. Targets are not
    differentiated."""
    _check_reduction("cross_entropy", reduction)
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must have shape (batch, classes), got {logits.shape}")
    n, classes = logits.shape
    raw = targets.data if isinstance(targets, Tensor) else backend.to_device(targets, logits.device)
    if raw.ndim == 2:
        if raw.shape != logits.shape:
            raise ShapeError(f"cross_entropy: probability (one-hot) targets must have the logits' shape "
                             f"{logits.shape}, got {raw.shape}")
        if raw.dtype != logits.dtype:
            raw = raw.astype(logits.dtype)
    else:
        raw = _class_labels("cross_entropy", raw, n, classes)
    if n == 0 and reduction == "mean":
        raise ValueError("cross_entropy: the batch is empty (0 rows); a mean over nothing is undefined")
    return CrossEntropy(raw, reduction)(logits)


def nll_loss(log_probs, targets, reduction="mean"):
    """Negative log-likelihood: -log_probs[n, targets[n]], reduced over n (log_probs from log_softmax)."""
    _check_reduction("nll_loss", reduction)
    if log_probs.ndim != 2:
        raise ShapeError(f"nll_loss: log_probs must have shape (batch, classes), got {log_probs.shape}")
    n, classes = log_probs.shape
    raw = targets.data if isinstance(targets, Tensor) else backend.to_device(targets, log_probs.device)
    labels = _class_labels("nll_loss", raw, n, classes)
    losses = -log_probs[log_probs.xp.arange(n), labels]
    return _reduce(losses, reduction)


def mse_loss(pred, target, reduction="mean"):
    """Mean squared error: mean((pred - target)^2) over every element (or 'sum' / 'none').

    The shapes must match exactly: broadcasting (N, 1) against (N,) silently makes an (N, N) loss.
    """
    _check_reduction("mse_loss", reduction)
    if not isinstance(target, Tensor):
        target = Tensor(target, dtype=pred.dtype, device=pred.device)
    if target.shape != pred.shape:
        raise ShapeError(f"mse_loss: pred has shape {pred.shape} but target has shape {target.shape}; "
                         f"they must match")
    diff = pred - target
    return _reduce(diff * diff, reduction)


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


def _class_labels(op, labels, n, classes):
    """Check integer class labels: shape (n,), integer dtype, every one in [0, classes) (CuPy's
    indexing would wrap an outside label around instead of failing)."""
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ShapeError(f"{op}: targets must be class labels of shape ({n},) (one per row of the "
                         f"input {(n, classes)}) or probabilities of shape {(n, classes)}, got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-label targets must be integers, got dtype {labels.dtype}; "
                        f"convert them with .astype('int64')")
    if backend.get_array_module(labels) is np:
        outside = n and (int(labels.min()) < 0 or int(labels.max()) >= classes)
    else:           # one device-side any, so one host-device sync per call, not two (min and max)
        outside = n and bool(((labels < 0) | (labels >= classes)).any())
    if outside:
        bad = int(((labels < 0) | (labels >= classes)).argmax())
        raise ValueError(f"{op}: label {int(labels[bad])} (at position {bad}) is outside [0, {classes}) "
                         f"for an input with {classes} classes")
    return labels


def _one_hot(labels, classes, dtype):
    xp = backend.get_array_module(labels)
    out = xp.zeros((len(labels), classes), dtype=dtype)
    out[xp.arange(len(labels)), labels] = 1
    return out


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
