"""experiments.metrics against hand-worked cases, a brute-force count, scikit-learn's documented output,
and scikit-learn itself where it is installed."""
import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.metrics import classification_report, confusion_matrix, format_classification_report

HAVE_SKLEARN = importlib.util.find_spec("sklearn") is not None


def brute_force_report(y_true, y_pred, n):
    """Count every quantity one sample at a time, straight from the definitions (zero division -> 0)."""
    rows = []
    for k in range(n):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == k and p == k)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != k and p == k)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == k and p != k)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((precision, recall, f1, tp + fn))
    return rows


def test_confusion_matrix_hand_worked():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert cm.dtype == np.int64


def test_report_hand_worked():
    r = classification_report([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], ["a", "b", "c"])
    got = [(c["precision"], c["recall"], c["f1"], c["support"]) for c in r["per_class"]]
    np.testing.assert_allclose(got, [(0.5, 0.5, 0.5, 2), (0.5, 1.0, 2 / 3, 1), (1.0, 2 / 3, 0.8, 3)])
    assert r["accuracy"] == pytest.approx(4 / 6) and r["support"] == 6
    macro, weighted = r["macro_avg"], r["weighted_avg"]
    assert (macro["precision"], macro["recall"], macro["f1"]) == pytest.approx((2 / 3, 13 / 18, 59 / 90))
    assert (weighted["precision"], weighted["recall"], weighted["f1"]) == pytest.approx((0.75, 4 / 6, 61 / 90))


def test_zero_division_gives_zero_without_warning():
    # class 1 is predicted but never true; class 2 neither: every undefined ratio is 0, and no warning
    r = classification_report([0, 0], [0, 1], ["x", "y", "z"])
    got = [(c["precision"], c["recall"], c["f1"], c["support"]) for c in r["per_class"]]
    np.testing.assert_allclose(got, [(1.0, 0.5, 2 / 3, 2), (0, 0, 0, 0), (0, 0, 0, 0)])
    assert r["macro_avg"]["f1"] == pytest.approx((2 / 3) / 3)


def test_format_matches_sklearn_documented_output():
    # the example printed in scikit-learn's classification_report docstring
    expected = (
        "              precision    recall  f1-score   support\n\n"
        "     class 0       0.50      1.00      0.67         1\n"
        "     class 1       0.00      0.00      0.00         1\n"
        "     class 2       1.00      0.67      0.80         3\n\n"
        "    accuracy                           0.60         5\n"
        "   macro avg       0.50      0.56      0.49         5\n"
        "weighted avg       0.70      0.60      0.61         5\n")
    r = classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1], ["class 0", "class 1", "class 2"])
    assert format_classification_report(r) == expected


labels = st.integers(min_value=1, max_value=6).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                                             min_size=1, max_size=60)))


@given(labels)
def test_matches_brute_force_count(case):
    n, pairs = case
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    r = classification_report(y_true, y_pred, [f"c{k}" for k in range(n)])
    expected = brute_force_report(y_true, y_pred, n)
    got = [(c["precision"], c["recall"], c["f1"], c["support"]) for c in r["per_class"]]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    supports = np.array([e[3] for e in expected], dtype=float)
    assert r["accuracy"] == pytest.approx(sum(t == p for t, p in pairs) / len(pairs))
    assert r["macro_avg"]["f1"] == pytest.approx(np.mean([e[2] for e in expected]))
    assert r["weighted_avg"]["recall"] == pytest.approx(r["accuracy"])
    assert r["weighted_avg"]["precision"] == pytest.approx(np.dot([e[0] for e in expected], supports) / len(pairs))
    cm = np.array(r["confusion_matrix"])
    brute_cm = [[sum(1 for pair in pairs if pair == (i, j)) for j in range(n)] for i in range(n)]
    np.testing.assert_array_equal(cm, brute_cm)


@pytest.mark.skipif(not HAVE_SKLEARN, reason="scikit-learn is not installed; the brute-force count above is "
                                              "the oracle instead (pip install scikit-learn to add this check)")
@given(labels)
def test_matches_sklearn(case):
    from sklearn import metrics as skm
    n, pairs = case
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    names = [f"c{k}" for k in range(n)]
    ours = classification_report(y_true, y_pred, names)
    theirs = skm.classification_report(y_true, y_pred, labels=list(range(n)), target_names=names,
                                       zero_division=0, output_dict=True)
    for row in ours["per_class"]:
        t = theirs[row["name"]]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (t["precision"], t["recall"], t["f1-score"], t["support"]))
    for key, sk_key in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        assert (ours[key]["precision"], ours[key]["recall"], ours[key]["f1"]) == pytest.approx(
            (theirs[sk_key]["precision"], theirs[sk_key]["recall"], theirs[sk_key]["f1-score"]))
    np.testing.assert_array_equal(ours["confusion_matrix"],
                                  skm.confusion_matrix(y_true, y_pred, labels=list(range(n))))
    assert format_classification_report(ours) == skm.classification_report(
        y_true, y_pred, labels=list(range(n)), target_names=names, zero_division=0)


@pytest.mark.parametrize("args, message", [
    (([0, 1], [0], 2), "same length"),
    (([0, 2], [0, 1], 2), r"y_true must hold class indices in \[0, 2\), found 2"),
    (([0, 1], [0, -1], 2), "y_pred must hold class indices"),
    (([[0, 1]], [[0, 1]], 2), "y_true must be a 1-D"),
    (([0.5], [0], 2), "integer class indices"),
    (([0], [0], 0), "n_classes must be a positive integer"),
])
def test_bad_input_names_the_argument(args, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(*args)


def test_empty_input_is_rejected():
    with pytest.raises(ValueError, match="y_true is empty"):
        classification_report([], [], ["a"])
