r"""``SoftmaxRegression.partial_fit``: a multinomial online update by mini-batch AdaGrad.

Each call takes one step on the batch's estimate of the objective ``fit``
minimises (the penalised mean loss of :mod:`softmax.objective._objective`)::

    g = (1 / S_B) sum_{i in B} s_i grad loss_i(w) + alpha * [W, 0]
    alpha = 1 / (C * N)                      N = total_weight (see below)

with the *same* data-fit code as ``fit`` (one softmax over all classes — a
true multinomial model, not one-vs-rest), then

* AdaGrad, per coordinate: ``G += g**2``, ``w -= eta * g / (sqrt(G) + 1e-12)``
  with ``eta = 0.5`` — steps decay like ``1 / sqrt(t)`` and adapt to each
  feature's scale;
* polynomial-decay averaging of the iterates (Shamir & Zhang 2013):
  ``w_avg += (4 / (t + 3)) * (w - w_avg)`` at step ``t`` (1, 2, ...): an
  average that forgets the early, poor iterates.  ``coef_`` and
  ``intercept_`` are the averaged coefficients.

``N`` is the total sample weight of the data set the batches come from (its
number of rows for unit weights), so that the fixed point is ``fit``'s optimum
on that data: pass it as ``total_weight``.  By default it is the weight seen so
far (which equals the data's after one pass, and grows on further passes,
weakening the penalty).  A single call is one step, never a fit to convergence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import validate_data

from softmax.estimators._validation import (
    check_C,
    check_finite_features,
    check_labels,
    check_sample_weight,
)
from softmax.objective import Binomial, Multinomial, unpack

__all__ = ["partial_fit"]

ETA = 0.5
_AVERAGING = 3.0  # the eta of Shamir & Zhang's polynomial-decay averaging


class _OnlineState:
    """What partial_fit keeps between calls (private; not part of the model)."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = w.copy()
        self.w_avg = w.copy()
        self.sq_grad = np.zeros_like(w)
        self.steps = 0
        self.seen_weight = 0.0
        self.coef: np.ndarray | None = None  # the coef_ this state produced


def _check_classes(est: Any, classes: Any) -> np.ndarray:
    if classes is None:
        if not hasattr(est, "classes_"):
            raise ValueError(
                "classes must be passed on the first call to partial_fit (all the labels "
                "the model will ever see, e.g. classes=np.unique(y_full))"
            )
        return est.classes_
    classes = np.unique(check_labels(classes))
    if classes.shape[0] < 2:
        raise ValueError(f"classes={classes.tolist()!r} has fewer than 2 classes")
    if hasattr(est, "classes_") and not np.array_equal(classes, est.classes_):
        raise ValueError(
            f"classes={classes.tolist()!r} is not the same as on the first call to partial_fit "
            f"({est.classes_.tolist()!r})"
        )
    return classes


def partial_fit(
    est: Any, X: Any, y: Any, classes: Any, sample_weight: Any, total_weight: Any
) -> Any:
    """One AdaGrad step of ``est`` on the batch ``(X, y)`` (module docstring)."""
    kind, _, _ = est._check_params()
    if not kind.smooth:
        raise ValueError(
            f"partial_fit takes penalty='l2' or None, got penalty={est.penalty!r} with "
            f"l1_ratio={est.l1_ratio!r}: use fit for L1 and group penalties"
        )
    first = not hasattr(est, "classes_")
    classes = _check_classes(est, classes)
    y = check_labels(y)
    X, y = validate_data(
        est,
        X,
        y,
        accept_sparse=["csr", "csc"],
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
        reset=first,
    )
    check_finite_features(X, getattr(est, "feature_names_in_", None))
    if sp.issparse(X):
        X = X.tocsr()
    n_features = X.shape[1]
    idx = np.minimum(np.searchsorted(classes, y), classes.shape[0] - 1)
    unknown = classes[idx] != y
    if np.any(unknown):
        raise ValueError(
            f"y contains the label {y[unknown][0].tolist()!r}, which is not in "
            f"classes={classes.tolist()!r} "
            "(classes must list every label on the first call to partial_fit)"
        )
    sw = check_sample_weight(sample_weight, X.shape[0])
    if est.class_weight is not None:
        if isinstance(est.class_weight, str):
            raise ValueError(
                f"class_weight={est.class_weight!r} needs the whole data; partial_fit accepts "
                "only a dict of class weights (or None)"
            )
        from sklearn.utils.class_weight import compute_class_weight

        sw = sw * compute_class_weight(est.class_weight, classes=classes, y=classes)[idx]
    n_classes = classes.shape[0]
    binary = n_classes == 2
    datafit: Any = (
        Binomial(est.fit_intercept) if binary else Multinomial(n_classes, est.fit_intercept)
    )
    labels = (idx == 1).astype(np.intp) if binary else idx.astype(np.intp)
    n_params = datafit.n_rows * (n_features + int(est.fit_intercept))

    state: _OnlineState | None = getattr(est, "_online_state", None)
    if state is None or state.coef is not getattr(est, "coef_", None):
        # First call, or coef_ was set by fit since: continue from coef_.
        w0 = np.zeros(n_params)
        if hasattr(est, "coef_") and est.coef_.shape == (datafit.n_rows, n_features):
            b0 = np.ravel(est.intercept_) if est.fit_intercept else np.zeros(0)
            w0 = np.concatenate([np.ravel(est.coef_), b0]).astype(np.float64)
        state = _OnlineState(w0)
    batch_weight = float(sw.sum())
    state.seen_weight += batch_weight
    if total_weight is None:
        total = state.seen_weight
    elif isinstance(total_weight, bool) or not float(total_weight) > 0:
        raise ValueError(f"total_weight must be a positive number, got {total_weight!r}")
    else:
        total = float(total_weight)

    _, g, _ = datafit.value_and_grad(state.w, X, labels, sw)
    g = g / batch_weight
    if not kind.unpenalised:
        W, _ = unpack(state.w, datafit.n_rows, n_features, est.fit_intercept)
        g[: W.size] += W.ravel() / (check_C(est.C) * total)
    state.sq_grad += g * g
    state.w -= ETA * g / (np.sqrt(state.sq_grad) + 1e-12)
    state.steps += 1
    rate = (_AVERAGING + 1.0) / (state.steps + _AVERAGING)
    state.w_avg += rate * (state.w - state.w_avg)

    W, b = unpack(state.w_avg, datafit.n_rows, n_features, est.fit_intercept)
    est.classes_ = classes
    est.coef_ = np.ascontiguousarray(W, dtype=X.dtype)
    est.intercept_ = np.zeros(datafit.n_rows, dtype=X.dtype) if b is None else b.astype(X.dtype)
    est.n_iter_ = np.array([state.steps], dtype=np.int32)
    # The record of a solver run describes these coefficients now: online steps,
    # no stopping rule, no objective over the whole data; and the previous fit's
    # inference does not describe them at all.
    est.solver_ = "partial_fit"
    est.converged_ = False
    est.objective_history_ = []
    est.__dict__.pop("_inference_info_", None)
    state.coef = est.coef_
    est._online_state = state
    return est
