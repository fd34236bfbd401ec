"""Loss modules, as ``torch.nn`` has them: each holds its options and calls its ``nn.functional`` loss.

    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    loss = criterion(model(x), y)              # = F.cross_entropy(model(x), y, label_smoothing=0.1)

Names, constructor arguments (torch's deprecated ``size_average`` / ``reduce`` too, with torch's
warning), attributes, buffers (``weight`` and ``pos_weight`` are moved by ``.to`` and saved by
``state_dict``) and reprs are torch's. The formulas are in the functionals' docstrings.

| module | functional |
|---|---|
| ``CrossEntropyLoss`` | ``cross_entropy`` (logits and class labels or probabilities) |
| ``NLLLoss`` | ``nll_loss`` (log-probabilities and class labels) |
| ``BCELoss`` / ``BCEWithLogitsLoss`` | ``binary_cross_entropy`` / ``binary_cross_entropy_with_logits`` |
| ``MSELoss`` / ``L1Loss`` | ``mse_loss`` / ``l1_loss`` |
| ``SmoothL1Loss`` / ``HuberLoss`` | ``smooth_l1_loss`` / ``huber_loss`` |
| ``KLDivLoss`` | ``kl_div`` |

``l1_penalty`` and ``l2_penalty`` are regularisation terms of a model's weights, not losses of a
prediction and a target, and have no module (torch has none either).
"""
import warnings

import numpy as np

from tinygrad_lite.core import Tensor

from . import functional as F
from .functional.losses import REDUCTIONS
from .module import Module


def _legacy_reduction(size_average, reduce, reduction):
    """torch's rule for its deprecated arguments: reduce=False gives 'none', size_average=False 'sum'."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else "mean" if size_average else "sum"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{reduction}' "
                  f"instead.", UserWarning, stacklevel=4)
    return reduction


class _Loss(Module):
    """A loss module: ``reduction`` ('mean', 'sum' or 'none'), checked when the module is made."""
    reductions = REDUCTIONS

    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in self.reductions:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {self.reductions}, "
                             f"got {reduction!r}")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    """A loss with a per-class (or per-element) ``weight``, kept as a buffer as in torch."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_buffer(weight, type(self).__name__, "weight"))


def _as_buffer(value, owner, name):
    """None, or ``value`` (a Tensor, array or list of numbers) as a Tensor that does not require grad."""
    if value is None or isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {name} must be a tensor of numbers, got {type(value).__name__} "
                        f"of dtype {array.dtype}")
    return Tensor(array)


class CrossEntropyLoss(_WeightedLoss):
    """``F.cross_entropy(input, target, weight, ignore_index=, reduction=, label_smoothing=)``: logits
    (N, C) or (N, C, d1, ...) against class labels or class probabilities."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                 label_smoothing=0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):  # torch's name
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """``F.nll_loss(input, target, weight, ignore_index=, reduction=)``: log-probabilities (from
    ``LogSoftmax``) against class labels."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """``F.binary_cross_entropy(input, target, weight, reduction)``: probabilities in [0, 1]."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """``F.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)``: logits,
    sigmoid and binary cross-entropy in one stable formula."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _as_buffer(weight, "BCEWithLogitsLoss", "weight"))
        self.register_buffer("pos_weight", _as_buffer(pos_weight, "BCEWithLogitsLoss", "pos_weight"))

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class MSELoss(_Loss):
    """``F.mse_loss(input, target, reduction)``: the mean (or sum) of squared differences."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """``F.l1_loss(input, target, reduction)``: the mean (or sum) of absolute differences."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """``F.smooth_l1_loss(input, target, reduction, beta)``: quadratic below ``beta``, linear above."""

    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """``F.huber_loss(input, target, reduction, delta)``: quadratic below ``delta``, linear above."""

    def __init__(self, reduction="mean", delta=1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, self.reduction, self.delta)


class KLDivLoss(_Loss):
    """``F.kl_div(input, target, reduction, log_target)``: ``input`` holds log-probabilities;
    'batchmean' gives the KL divergence per sample ('mean' divides by every element, as torch)."""
    reductions = REDUCTIONS + ("batchmean",)

    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, self.reduction, self.log_target)
