"""The numbers of an evaluation report, as one JSON-safe dict."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["classification_metrics"]


def classification_metrics(
    y_true: Any, proba: Any, classes: Any, *, n_bins: int = 15
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, log-loss, Brier score, ECE/MCE, per-class table, confusion.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, each one of ``classes``.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : array-like of shape (n_classes,)
        The model's ``classes_``.
    n_bins : int, default=15
        Equal-width confidence bins for the calibration errors.

    Returns
    -------
    dict
        ``n_samples``, ``classes`` (as strings), ``accuracy``,
        ``balanced_accuracy``, ``log_loss`` (mean negative log-likelihood),
        ``brier_score`` (multi-class, in [0, 2]), ``ece``, ``mce``,
        ``per_class`` (list of dicts: class, precision, recall, f1, support)
        and ``confusion_matrix`` (rows: true class, columns: predicted class).
        Every value is a plain Python number, string or list.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    from softmax.metrics import (
        brier_score,
        expected_calibration_error,
        maximum_calibration_error,
        negative_log_likelihood,
    )

    y_true = np.asarray(y_true)
    proba = np.asarray(proba, dtype=np.float64)
    classes = np.asarray(classes)
    y_pred = classes[np.argmax(proba, axis=1)]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0.0
    )
    present = np.isin(classes, y_true)
    with warnings.catch_warnings():
        # balanced accuracy averages recall over the classes present in y_true; it
        # warns when a prediction is a class absent from y_true, which is fine here.
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred)) if present.any() else 0.0
    return {
        "n_samples": int(y_true.shape[0]),
        "classes": [str(c) for c in classes],
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced,
        "log_loss": negative_log_likelihood(y_true, proba, labels=classes),
        "brier_score": brier_score(y_true, proba, labels=classes),
        "ece": expected_calibration_error(y_true, proba, n_bins=n_bins, labels=classes),
        "mce": maximum_calibration_error(y_true, proba, n_bins=n_bins, labels=classes),
        "per_class": [
            {
                "class": str(c),
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
            }
            for c, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
        ],
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }
