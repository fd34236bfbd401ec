"""Classification metrics in plain NumPy: the confusion matrix and a per-class precision/recall/F1 report.

For class ``k``, with ``C`` the confusion matrix (rows: true class, columns: predicted class):

    TP_k = C[k, k]      precision_k = TP_k / sum_i C[i, k]      (of everything predicted k, how much was k)
                        recall_k    = TP_k / sum_j C[k, j]      (of everything that was k, how much we found)
                        F1_k        = 2 * precision_k * recall_k / (precision_k + recall_k)
                        support_k   = sum_j C[k, j]             (how many true k there are)

A ratio whose denominator is 0 is taken as 0 (scikit-learn's ``zero_division=0``). The macro average is
the plain mean over classes; the weighted average weights each class by its support, so the weighted
recall always equals the accuracy (the "recall" the coursework reports print beside their accuracy).
"""
import numpy as np


def _as_labels(values, name, n_classes=None):
    """A 1-D integer NumPy array of class indices, or a ValueError naming ``name`` and what was wrong."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of class indices, got shape {array.shape}")
    if array.size and array.dtype.kind not in "iu":
        if array.dtype.kind == "f" and np.all(np.isfinite(array)) and np.all(array == np.round(array)):
            array = array.astype(np.int64)
        else:
            raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if n_classes is not None and array.size and (array.min() < 0 or array.max() >= n_classes):
        bad = array[(array < 0) | (array >= n_classes)][0]
        raise ValueError(f"{name} must hold class indices in [0, {n_classes}), found {int(bad)}")
    return array


def confusion_matrix(y_true, y_pred, n_classes):
    """``C[i, j]`` = how many samples of true class ``i`` were predicted as class ``j`` (int64, n x n)."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    y_true = _as_labels(y_true, "y_true", n_classes)
    y_pred = _as_labels(y_pred, "y_pred", n_classes)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length, got {y_true.size} and {y_pred.size}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def _safe_divide(numerator, denominator):
    """numerator / denominator elementwise, 0 where the denominator is 0 (no warning raised)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def classification_report(y_true, y_pred, class_names):
    """Per-class precision, recall, F1 and support, plus accuracy and the macro and weighted averages.

    Returns a dict (plain Python floats and ints, ready for JSON)::

        {"per_class": [{"name", "precision", "recall", "f1", "support"}, ...]   # in class order
         "accuracy": float, "support": int (total samples),
         "macro_avg": {"precision", "recall", "f1", "support"},
         "weighted_avg": {"precision", "recall", "f1", "support"},
         "confusion_matrix": [[int, ...], ...]}
    """
    class_names = [str(c) for c in class_names]
    if not class_names:
        raise ValueError("class_names must name at least one class, got an empty sequence")
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n)
    total = int(cm.sum())
    if total == 0:
        raise ValueError("y_true is empty: a classification report needs at least one sample")
    true_positives = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _safe_divide(true_positives, predicted)
    recall = _safe_divide(true_positives, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    weights = support / total

    def average(w):
        return {"precision": float(np.sum(w * precision)), "recall": float(np.sum(w * recall)),
                "f1": float(np.sum(w * f1)), "support": total}

    return {
        "per_class": [{"name": name, "precision": float(precision[k]), "recall": float(recall[k]),
                       "f1": float(f1[k]), "support": int(support[k])} for k, name in enumerate(class_names)],
        "accuracy": float(true_positives.sum() / total),
        "support": total,
        "macro_avg": average(np.full(n, 1.0 / n)),
        "weighted_avg": average(weights),
        "confusion_matrix": cm.tolist(),
    }


def format_classification_report(report, digits=2):
    """The report as text laid out like scikit-learn's ``classification_report``::

                      precision    recall  f1-score   support

             T-shirt       0.80      0.86      0.83      1000
                 ...
            accuracy                           0.86     10000
           macro avg       0.86      0.86      0.86     10000
        weighted avg       0.86      0.86      0.86     10000
    """
    headers = ["precision", "recall", "f1-score", "support"]
    last_heading = "weighted avg"
    width = max(max(len(row["name"]) for row in report["per_class"]), len(last_heading), digits)
    row_format = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    lines = ("{:>{width}s} " + " {:>9}" * len(headers)).format("", *headers, width=width) + "\n\n"
    for row in report["per_class"]:
        lines += row_format.format(row["name"], row["precision"], row["recall"], row["f1"], row["support"],
                                   width=width, digits=digits)
    lines += "\n"
    lines += ("{:>{width}s} " + " {:>9}" * 2 + " {:>9.{digits}f} {:>9}\n").format(
        "accuracy", "", "", report["accuracy"], report["support"], width=width, digits=digits)
    for heading, key in (("macro avg", "macro_avg"), (last_heading, "weighted_avg")):
        avg = report[key]
        lines += row_format.format(heading, avg["precision"], avg["recall"], avg["f1"], avg["support"],
                                   width=width, digits=digits)
    return lines
