r"""Calibration metrics for probabilistic classifiers.

Every function takes the true class labels ``y_true`` (shape ``(n_samples,)``) and
predicted probabilities ``proba`` (shape ``(n_samples, n_classes)``, each row a
distribution).  The columns of ``proba`` follow ``labels``; by default ``labels``
is the sorted unique values of ``y_true`` (the order of a scikit-learn
classifier's ``classes_``), which must then have exactly ``n_classes`` entries —
pass ``labels`` explicitly when some class does not occur in ``y_true``.  For two
classes a 1-D ``proba`` is read as the probability of the second label.

Binning (expected / maximum calibration error, reliability diagram), top-label:
each sample's *confidence* is :math:`c_i = \max_k p_{ik}`, its prediction
:math:`\hat y_i = \operatorname{argmax}_k p_{ik}` (the first maximum on ties) and
its *correctness* :math:`a_i = [\hat y_i = y_i]`.  With
edges :math:`e_b = b / n` (``np.arange(n_bins + 1) / n_bins``), bin :math:`b` (0-based)
is the interval :math:`(e_b, e_{b+1}]`; a confidence of exactly 0 goes to the first bin (it
cannot occur for a distribution over finitely many classes, but is accepted).
This is the convention of :func:`sklearn.calibration.calibration_curve`.  Then

.. math::

    \mathrm{ECE} = \sum_b \frac{n_b}{N}\,|\mathrm{acc}_b - \mathrm{conf}_b|, \qquad
    \mathrm{MCE} = \max_{b:\,n_b > 0} |\mathrm{acc}_b - \mathrm{conf}_b|,

with :math:`n_b` the number (total sample weight) of samples in bin :math:`b`,
:math:`\mathrm{acc}_b` their (weighted) mean correctness and
:math:`\mathrm{conf}_b` their mean confidence.  ``strategy="quantile"`` puts the
edges at the quantiles of the confidences instead (unweighted, as
``calibration_curve(strategy="quantile")`` does), so that bins hold about equally
many samples.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "ReliabilityDiagram",
    "brier_score",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_diagram",
]

Strategy = Literal["uniform", "quantile"]


@dataclass(frozen=True, eq=False)  # eq on arrays would be ambiguous
class ReliabilityDiagram:
    """The data of a top-label reliability diagram (see the module docstring for the bins).

    Attributes
    ----------
    bin_edges : ndarray of shape (n_bins + 1,)
        Bin ``b`` is ``(bin_edges[b], bin_edges[b + 1]]`` (the first also holds 0).
    mean_confidence : ndarray of shape (n_bins,)
        Weighted mean top-label confidence of the samples in each bin; NaN for an empty bin.
    accuracy : ndarray of shape (n_bins,)
        Weighted fraction of those samples whose top-label prediction is right; NaN if empty.
    counts : ndarray of int64, shape (n_bins,)
        Number of samples in each bin.
    weights : ndarray of shape (n_bins,)
        Total sample weight in each bin (equal to ``counts`` without ``sample_weight``).
        A bin is *empty* when its weight is 0.
    """

    bin_edges: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    weights: np.ndarray

    @property
    def gaps(self) -> np.ndarray:
        """``|accuracy - mean_confidence|`` per bin (NaN for empty bins)."""
        return np.abs(self.accuracy - self.mean_confidence)

    @property
    def expected_calibration_error(self) -> float:
        r"""ECE = :math:`\sum_b (n_b / N)\,|\mathrm{acc}_b - \mathrm{conf}_b|`."""
        nonempty = self.weights > 0
        w = self.weights[nonempty]
        return float(np.sum(w * self.gaps[nonempty]) / np.sum(w))

    @property
    def maximum_calibration_error(self) -> float:
        r"""MCE = :math:`\max_{b:\,n_b>0} |\mathrm{acc}_b - \mathrm{conf}_b|`."""
        return float(np.max(self.gaps[self.weights > 0]))


# ---------------------------------------------------------------------------- validation


def _check_labels_and_proba(
    y_true: Any, proba: Any, labels: Any, sample_weight: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.dtype]:
    """Validated ``(proba float64 (n, K), column index of each y_true, weights, input dtype)``."""
    P = np.asarray(proba)
    if P.dtype.kind not in "biuf":
        raise ValueError(f"proba must be an array of real numbers, got dtype {P.dtype}")
    in_dtype = P.dtype if P.dtype.kind == "f" else np.dtype(np.float64)
    P = P.astype(np.float64)
    if P.ndim == 1:
        # Binary shorthand, as scikit-learn: the probability of the second label.
        P = np.stack([1.0 - P, P], axis=1)
    if P.ndim != 2:
        raise ValueError(f"proba must have shape (n_samples, n_classes), got shape {P.shape}")
    n_samples, n_classes = P.shape
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y_true must be 1-D class labels, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(
            f"y_true has {y.shape[0]} samples but proba has {n_samples} "
            f"(proba shape {P.shape}); they must match"
        )
    if n_samples == 0:
        raise ValueError("y_true and proba are empty; at least one sample is needed")
    if n_classes < 2:
        raise ValueError(f"proba must have at least 2 columns (classes), got shape {P.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        i = int(np.flatnonzero(np.isnan(y))[0])
        raise ValueError(f"y_true contains NaN (first at row {i}); every row needs a class label")

    if not np.isfinite(P).all():
        i = int(np.flatnonzero(~np.isfinite(P).all(axis=1))[0])
        raise ValueError(f"proba contains NaN or inf (first in row {i}: {P[i].tolist()})")
    if P.min() < 0 or P.max() > 1:
        i = int(np.flatnonzero(((P < 0) | (P > 1)).any(axis=1))[0])
        raise ValueError(f"proba must lie in [0, 1]; row {i} is {P[i].tolist()}")
    # The tolerance scales with the input precision (sqrt(eps), scikit-learn's choice),
    # and with n_classes, since a sum of K rounded numbers carries K roundings.
    tol = np.sqrt(np.finfo(in_dtype).eps) * max(1.0, n_classes / 10.0)
    sums = P.sum(axis=1)
    bad = np.abs(sums - 1.0) > tol
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"each row of proba must sum to 1 (within {tol:.1e}); row {i} sums to {sums[i]!r}"
        )

    if y.dtype == object and any(v is None for v in y.tolist()):
        i = next(i for i, v in enumerate(y.tolist()) if v is None)
        raise ValueError(f"y_true contains None (first at row {i}); every row needs a class label")
    if labels is None:
        try:
            classes = np.unique(y)
        except TypeError as exc:  # labels of several types that do not compare
            raise ValueError(
                f"y_true mixes labels that cannot be compared ({exc}); use one type of label"
            ) from exc
        if classes.shape[0] != n_classes:
            raise ValueError(
                f"y_true has {classes.shape[0]} distinct classes {classes.tolist()} but proba "
                f"has {n_classes} columns; pass labels= to give the class of each column"
            )
        idx = np.searchsorted(classes, y)
    else:
        classes = np.asarray(labels)
        if classes.ndim != 1 or classes.shape[0] != n_classes:
            raise ValueError(
                f"labels must list one class per column of proba ({n_classes}), "
                f"got shape {classes.shape}"
            )
        order = np.argsort(classes, kind="stable")
        sorted_classes = classes[order]
        if np.any(sorted_classes[1:] == sorted_classes[:-1]):
            raise ValueError(f"labels must be unique, got {classes.tolist()}")
        try:
            pos = np.searchsorted(sorted_classes, y)
        except TypeError as exc:  # e.g. string labels, integer y_true
            raise ValueError(
                f"y_true ({y.dtype}) and labels ({classes.dtype}) are not comparable"
            ) from exc
        pos = np.clip(pos, 0, n_classes - 1)
        missing = sorted_classes[pos] != y
        if np.any(missing):
            unknown = np.unique(y[missing])
            raise ValueError(
                f"labels {classes.tolist()} do not cover y_true: "
                f"{unknown[:10].tolist()} not among them"
            )
        idx = order[pos]

    sw = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim != 1 or sw.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight has shape {sw.shape}, expected ({n_samples},) to match y_true"
            )
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
        if not sw.any():
            raise ValueError("sample_weight is zero for every sample; at least one must be > 0")
    return P, np.asarray(idx, dtype=np.intp), sw, in_dtype


def _check_n_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got n_bins={n_bins!r}")
    return int(n_bins)


# ---------------------------------------------------------------------------- metrics


def reliability_diagram(
    y_true: Any,
    proba: Any,
    *,
    n_bins: int = 15,
    labels: Any = None,
    sample_weight: Any = None,
    strategy: Strategy = "uniform",
) -> ReliabilityDiagram:
    r"""Per-bin top-label accuracy and confidence, :math:`(\mathrm{acc}_b, \mathrm{conf}_b, n_b)`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True class labels.
    proba : array-like of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``labels``.
    n_bins : int, default=15
        Number of bins on [0, 1].
    labels : array-like of shape (n_classes,), optional
        The class of each column of ``proba``; default: sorted unique ``y_true``.
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the samples in the bin means and totals.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins with edges ``np.arange(n_bins + 1) / n_bins``, or edges at the
        quantiles of the confidences (interior duplicates give empty bins).

    Returns
    -------
    ReliabilityDiagram
        ``bin_edges``, ``mean_confidence``, ``accuracy``, ``counts``, ``weights``.

    Raises
    ------
    ValueError
        For mismatched shapes, rows of ``proba`` outside [0, 1] or not summing to 1,
        ``labels`` that do not cover ``y_true``, or a bad ``n_bins`` / ``strategy``.
    """
    n_bins = _check_n_bins(n_bins)
    if strategy not in ("uniform", "quantile"):
        raise ValueError(f"strategy must be 'uniform' or 'quantile', got {strategy!r}")
    P, idx, sw, _ = _check_labels_and_proba(y_true, proba, labels, sample_weight)
    pred = np.argmax(P, axis=1)
    conf = P[np.arange(P.shape[0]), pred]
    correct = (pred == idx).astype(np.float64)
    if strategy == "uniform":
        # arange / n rather than linspace: each edge is the correctly rounded b / n, so
        # the documented bins (b/n, (b+1)/n] hold exactly (linspace can be 1 ulp off).
        edges = np.arange(n_bins + 1) / n_bins
    else:
        edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1))
        edges[0], edges[-1] = 0.0, 1.0
    # searchsorted(side="left") on the interior edges: bin b holds (e_b, e_{b+1}],
    # and anything <= e_1 (0 included) lands in bin 0 — calibration_curve's rule.
    bins = np.searchsorted(edges[1:-1], conf, side="left")
    w = np.ones_like(conf) if sw is None else sw
    weights = np.bincount(bins, weights=w, minlength=n_bins)
    counts = np.bincount(bins, minlength=n_bins).astype(np.int64)
    sum_conf = np.bincount(bins, weights=w * conf, minlength=n_bins)
    sum_acc = np.bincount(bins, weights=w * correct, minlength=n_bins)
    nonempty = weights > 0
    mean_conf = np.full(n_bins, np.nan)
    acc = np.full(n_bins, np.nan)
    mean_conf[nonempty] = sum_conf[nonempty] / weights[nonempty]
    acc[nonempty] = sum_acc[nonempty] / weights[nonempty]
    return ReliabilityDiagram(
        bin_edges=edges, mean_confidence=mean_conf, accuracy=acc, counts=counts, weights=weights
    )


def expected_calibration_error(
    y_true: Any,
    proba: Any,
    *,
    n_bins: int = 15,
    labels: Any = None,
    sample_weight: Any = None,
    strategy: Strategy = "uniform",
) -> float:
    r"""Top-label ECE = :math:`\sum_b (n_b/N)\,|\mathrm{acc}_b - \mathrm{conf}_b|`, in [0, 1].

    Bins and parameters as in :func:`reliability_diagram` (bin :math:`b` is
    :math:`(b/n, (b+1)/n]`, confidence 0 in the first bin).  It depends on
    ``n_bins``: report it with the number of bins.  Raises ``ValueError`` on bad input.
    """
    return reliability_diagram(
        y_true,
        proba,
        n_bins=n_bins,
        labels=labels,
        sample_weight=sample_weight,
        strategy=strategy,
    ).expected_calibration_error


def maximum_calibration_error(
    y_true: Any,
    proba: Any,
    *,
    n_bins: int = 15,
    labels: Any = None,
    sample_weight: Any = None,
    strategy: Strategy = "uniform",
) -> float:
    r"""Top-label MCE = :math:`\max_{b:\,n_b>0} |\mathrm{acc}_b - \mathrm{conf}_b|` (≥ ECE).

    Bins and parameters as in :func:`reliability_diagram`; empty bins are skipped.
    Raises ``ValueError`` on bad input.
    """
    return reliability_diagram(
        y_true,
        proba,
        n_bins=n_bins,
        labels=labels,
        sample_weight=sample_weight,
        strategy=strategy,
    ).maximum_calibration_error


def brier_score(y_true: Any, proba: Any, *, labels: Any = None, sample_weight: Any = None) -> float:
    r"""Multi-class Brier score :math:`\frac1N \sum_i \sum_k (p_{ik} - [y_i = k])^2`, in [0, 2].

    This is the original (Brier 1950) multi-class definition, which
    :func:`sklearn.metrics.brier_score_loss` also uses for more than two classes.
    For two classes scikit-learn by default scores only the positive class,
    :math:`\frac1N\sum_i (p_{i1} - y_i)^2`, which is exactly half of this value.

    Parameters as in :func:`reliability_diagram`; ``sample_weight`` gives a weighted mean.
    Raises ``ValueError`` on bad input.
    """
    P, idx, sw, _ = _check_labels_and_proba(y_true, proba, labels, sample_weight)
    diff = P.copy()
    diff[np.arange(P.shape[0]), idx] -= 1.0
    per_sample = np.einsum("ij,ij->i", diff, diff)
    return float(np.average(per_sample, weights=sw))


def negative_log_likelihood(
    y_true: Any, proba: Any, *, labels: Any = None, sample_weight: Any = None
) -> float:
    r"""Mean negative log-likelihood :math:`-\frac1N \sum_i \log p_{i,y_i}` (log loss).

    As :func:`sklearn.metrics.log_loss` does, probabilities are clipped to
    :math:`[\epsilon, 1 - \epsilon]` with :math:`\epsilon` the machine epsilon of
    ``proba``'s floating dtype (float64 for integer input) before the logarithm, so a
    zero probability on the true class costs :math:`-\log\epsilon` (about 36.04 in
    float64, 15.94 in float32) instead of infinity, and the result is always finite.
    The value equals ``log_loss(y_true, proba, labels=labels, sample_weight=...)``.

    Parameters as in :func:`reliability_diagram`.  Raises ``ValueError`` on bad input.
    """
    P, idx, sw, in_dtype = _check_labels_and_proba(y_true, proba, labels, sample_weight)
    eps = float(np.finfo(in_dtype).eps)
    p_true = np.clip(P[np.arange(P.shape[0]), idx], eps, 1.0 - eps)
    return float(np.average(-np.log(p_true), weights=sw))
