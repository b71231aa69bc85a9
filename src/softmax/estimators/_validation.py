"""Input validation shared by the estimators: clear errors that name the problem."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import column_or_1d

__all__ = [
    "check_C",
    "check_finite_features",
    "check_labels",
    "check_sample_weight",
    "check_tol_max_iter",
]


def _column_name(j: int, feature_names: Any) -> str:
    if feature_names is not None:
        return f"column {j} ({feature_names[j]!r})"
    return f"column {j}"


def check_finite_features(X: Any, feature_names: Any = None, name: str = "X") -> None:
    """Raise ValueError naming the first column of ``X`` with a NaN or an infinity."""
    data = X.data if sp.issparse(X) else X
    # A finite sum proves every entry finite in one fast pass; only a non-finite
    # sum (a NaN, an inf, or an overflow) pays for the search below.
    if data.size == 0 or np.isfinite(data.sum(dtype=np.float64)):
        return
    if sp.issparse(X):
        csc = X.tocsc()
        bad = np.flatnonzero(~np.isfinite(csc.data))
        if bad.size == 0:
            return
        j = int(np.searchsorted(csc.indptr, bad[0], side="right") - 1)
        value = csc.data[bad[0]]
    else:
        bad_cols = np.flatnonzero(~np.isfinite(X).all(axis=0))
        if bad_cols.size == 0:
            return
        j = int(bad_cols[0])
        col = X[:, j]
        value = col[~np.isfinite(col)][0]
    kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    raise ValueError(
        f"Input {name} contains {kind} in {_column_name(j, feature_names)}; "
        "impute or drop missing values first (e.g. sklearn.impute.SimpleImputer in a Pipeline)"
    )


def check_labels(y: Any) -> np.ndarray:
    """``y`` as a 1-D array of class labels; clear errors for NaN and multi-label input."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        raise ValueError(
            f"y has shape {y.shape}: SoftmaxRegression is for exclusive classes (one label per "
            "row); for a multi-label indicator matrix use MultiLabelLogisticRegression"
        )
    if y.ndim == 2:
        y = column_or_1d(y, warn=True)  # warns DataConversionWarning, as scikit-learn does
    if y.dtype.kind == "f" and np.isnan(y).any():
        i = int(np.flatnonzero(np.isnan(y))[0])
        raise ValueError(f"y contains NaN (first at row {i}); every row needs a class label")
    if y.dtype.kind == "c":
        raise ValueError(
            "Complex data not supported in y; class labels must be integers, strings or booleans"
        )
    return y


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray:
    """Float64 weights of length ``n_samples``: finite, non-negative, not all zero."""
    if sample_weight is None:
        return np.ones(n_samples)
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, float(sample_weight))  # type: ignore[arg-type]
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim != 1 or sw.shape[0] != n_samples:
        raise ValueError(f"sample_weight has shape {sw.shape}, expected ({n_samples},) to match X")
    bad = ~np.isfinite(sw) | (sw < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"sample_weight must be finite and non-negative; sample_weight[{i}] = {sw[i].item()!r}"
        )
    if not sw.any():
        raise ValueError("sample_weight is zero for every sample; at least one must be positive")
    return sw


def check_C(C: Any) -> float:
    """``C`` as a float in (0, inf]."""
    if isinstance(C, bool) or not isinstance(C, numbers.Real):
        raise ValueError(f"C must be a positive number (np.inf for no penalty), got {C!r}")
    C = float(C)
    if not C > 0:  # also rejects NaN
        raise ValueError(f"C must be > 0 (np.inf for no penalty), got C={C!r}")
    return C


def check_tol_max_iter(tol: Any, max_iter: Any) -> tuple[float, int]:
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not float(tol) >= 0:
        raise ValueError(f"tol must be a number >= 0, got tol={tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0, got max_iter={max_iter!r}")
    return float(tol), int(max_iter)
