"""classification_metrics against scikit-learn's metrics computed independently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    classification_report,
    confusion_matrix,
    log_loss,
)

from softmax.report import classification_metrics


@pytest.fixture
def predictions(rng):
    classes = np.array(["ant", "bee", "cat"], dtype=object)
    n = 200
    y = classes[rng.integers(0, 3, size=n)]
    logits = rng.normal(size=(n, 3)) + 2.0 * (y[:, None] == classes[None, :])
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, P, classes


def test_matches_sklearn(predictions):
    y, P, classes = predictions
    m = classification_metrics(y, P, classes)
    y_pred = classes[P.argmax(axis=1)]
    assert m["n_samples"] == 200
    assert m["classes"] == ["ant", "bee", "cat"]
    assert m["accuracy"] == pytest.approx(accuracy_score(y, y_pred), abs=1e-15)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, y_pred))
    assert m["log_loss"] == pytest.approx(log_loss(y, P, labels=classes), rel=1e-12)
    onehot = (y[:, None] == classes[None, :]).astype(float)
    assert m["brier_score"] == pytest.approx(np.mean(np.sum((P - onehot) ** 2, axis=1)))
    assert m["confusion_matrix"] == confusion_matrix(y, y_pred, labels=classes).tolist()
    report = classification_report(y, y_pred, labels=classes, output_dict=True)
    for row in m["per_class"]:
        ref = report[row["class"]]
        assert row["precision"] == pytest.approx(ref["precision"])
        assert row["recall"] == pytest.approx(ref["recall"])
        assert row["f1"] == pytest.approx(ref["f1-score"])
        assert row["support"] == ref["support"]
    assert 0 <= m["ece"] <= m["mce"] <= 1


def test_ece_by_hand():
    # Two bins used: confidences 0.9 (both right) and 0.6 (one right of two).
    classes = np.array([0, 1])
    P = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 0, 1, 0])
    m = classification_metrics(y, P, classes)
    assert m["ece"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    assert m["mce"] == pytest.approx(0.1)


def test_json_safe_and_absent_class(predictions):
    y, P, classes = predictions
    keep = y != "cat"  # a class of the model that the data does not contain
    m = classification_metrics(y[keep], P[keep], classes)
    json.dumps(m)
    assert m["per_class"][2]["support"] == 0
    assert len(m["confusion_matrix"]) == 3
