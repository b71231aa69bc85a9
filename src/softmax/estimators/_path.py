"""The regularization path: one model per ``C``, from the strongest penalty down.

Each fit starts from the previous one's coefficients (a warm start), so the
whole path costs little more than its last, least-regularised point.  For a
penalty with an L1 (or group) part, the weakest regularisation at which every
coefficient is zero, ``C_min``, follows from the gradient at zero (see
:func:`C_min` and ``docs/math.md``); the default grid starts there.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_array

from softmax.backends._chunks import check_balanced_weights
from softmax.estimators._penalty_choice import choose_penalty
from softmax.estimators._softmax_regression import SoftmaxRegression
from softmax.estimators._validation import (
    check_finite_features,
    check_labels,
    check_sample_weight,
)

__all__ = ["C_min", "RegularizationPath", "check_Cs", "regularization_path"]

#: glmnet's early-stopping constants: stop once the deviance ratio exceeds
#: ``_DEV_MAX`` or grows by less than ``_DEV_CHANGE`` (relative) from one C to the next.
_DEV_MAX, _DEV_CHANGE = 0.999, 1e-5
#: The default grid starts at ``C_min * (1 - _INSIDE)``.
_INSIDE = 1e-4


@dataclass
class RegularizationPath:
    r"""Models along a regularization path, in increasing order of ``C``.

    Attributes
    ----------
    Cs : ndarray of shape (n_Cs,)
        The inverse regularisation strengths fitted, increasing (fewer than
        asked when the path stopped early).
    coefs : ndarray of shape (n_Cs, n_rows, n_features)
        ``coef_`` at each C (``n_rows``: 1 for two classes, else ``n_classes``).
    intercepts : ndarray of shape (n_Cs, n_rows)
    objective : ndarray of shape (n_Cs,)
        The penalised mean objective :math:`\frac1S\sum_i s_i\ell_i +
        \frac{1}{CS}\big(\frac{1-\rho}{2}\|W\|^2 + \rho P(W)\big)` reached.
    loss : ndarray of shape (n_Cs,)
        Its data-fit part, the weighted mean cross-entropy.
    deviance_ratio : ndarray of shape (n_Cs,)
        ``1 - loss / null_loss``: the fraction of the intercept-only model's
        loss that the features explain.
    n_nonzero : ndarray of int of shape (n_Cs,)
        Features with a nonzero coefficient for some class.
    n_iter : ndarray of int of shape (n_Cs,)
    converged : ndarray of bool of shape (n_Cs,)
    classes : ndarray of shape (n_classes,)
    C_min : float or None
        The largest C at which every coefficient is zero (None without an
        L1 or group term).
    null_loss : float
        The weighted mean cross-entropy of the intercept-only model.
    penalty : str or None
    l1_ratio : float or None
    """

    Cs: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray
    objective: np.ndarray
    loss: np.ndarray
    deviance_ratio: np.ndarray
    n_nonzero: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    classes: np.ndarray
    C_min: float | None
    null_loss: float
    penalty: str | None
    l1_ratio: float | None


def check_Cs(Cs: Any, name: str = "Cs") -> np.ndarray:
    """An explicit grid of C values as a float array: non-empty, every value > 0."""
    try:
        arr = np.asarray(Cs, dtype=np.float64) if not isinstance(Cs, str) else np.array([[]])
    except (TypeError, ValueError):
        arr = np.array([[]])
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(
            f"{name} must be a positive int or a non-empty 1-D list of C > 0, got {name}={Cs!r}"
        )
    if not np.all(arr > 0):  # also rejects NaN
        raise ValueError(f"{name} must hold values > 0, got {name}={Cs!r}")
    return arr


def _weights_and_labels(
    y: Any, sample_weight: Any, class_weight: Any, n_samples: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(classes, encoded labels, sample weights times class weights)``."""
    y = check_labels(y)
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} rows, X has {n_samples}")
    classes, labels = np.unique(y, return_inverse=True)
    sw = check_sample_weight(sample_weight, n_samples)
    if class_weight is not None:
        # As SoftmaxRegression.fit: "balanced" by the classes' summed weights.
        if isinstance(class_weight, str):
            check_balanced_weights(classes, np.bincount(labels, weights=sw))
        cw = compute_class_weight(class_weight, classes=classes, y=y, sample_weight=sw)
        sw = sw * cw[labels]
    return classes, labels, sw


def _null_model(labels: np.ndarray, sw: np.ndarray, n_classes: int, fit_intercept: bool):
    """Probabilities and weighted mean loss of the model with zero coefficients."""
    counts = np.bincount(labels, weights=sw, minlength=n_classes)
    total = counts.sum()
    prior = counts / total if fit_intercept else np.full(n_classes, 1.0 / n_classes)
    with np.errstate(divide="ignore"):
        loss = -float(np.dot(counts[counts > 0], np.log(prior[counts > 0]))) / total
    return prior, loss


def C_min(
    X: Any,
    y: Any,
    *,
    penalty: str | None = "l1",
    l1_ratio: float | None = None,
    fit_intercept: bool = True,
    class_weight: Any = None,
    sample_weight: Any = None,
) -> float | None:
    r"""The largest ``C`` whose model has every coefficient zero.

    With the intercepts at their optimum for zero coefficients (the weighted
    class log-frequencies), the gradient of the loss sum is
    :math:`G = (P_0 - Y)^\top \operatorname{diag}(s)\, X`; zero is optimal
    while :math:`C \max_{kj} |G_{kj}| \le \rho` (L1) or :math:`C \max_j
    \|G_{:,j}\|_2 \le \rho` (group), so :math:`C_{\min} = \rho / \|G\|`.
    None when the penalty has no L1 or group part (no finite C zeroes a
    ridge model), ``inf`` when X carries no signal (G = 0).
    """
    choice = choose_penalty(penalty, 1.0, l1_ratio)
    if choice.kind == "none" or choice.l1_ratio == 0.0:
        return None
    X = check_array(X, accept_sparse=["csr", "csc"], dtype=np.float64, ensure_all_finite=False)
    check_finite_features(X)
    classes, labels, sw = _weights_and_labels(y, sample_weight, class_weight, X.shape[0])
    n_classes = classes.shape[0]
    prior, _ = _null_model(labels, sw, n_classes, fit_intercept)
    R = np.tile(prior, (X.shape[0], 1))
    R[np.arange(X.shape[0]), labels] -= 1.0
    R *= sw[:, None]
    if n_classes == 2:
        R = R[:, 1:]  # the binomial model's one row: the log-odds of the second class
    G = np.asarray((X.T @ R).T)
    norm = (
        float(np.max(np.sqrt((G * G).sum(axis=0)), initial=0.0))
        if choice.kind == "group"
        else float(np.max(np.abs(G), initial=0.0))
    )
    return float("inf") if norm == 0.0 else choice.l1_ratio / norm


def _penalty_value(coef: np.ndarray, kind: str, l1_ratio: float) -> float:
    W = np.asarray(coef, dtype=np.float64)
    if kind == "none":
        return 0.0
    part = np.sqrt((W * W).sum(axis=0)).sum() if kind == "group" else np.abs(W).sum()
    return 0.5 * (1.0 - l1_ratio) * float(np.vdot(W, W)) + l1_ratio * float(part)


def regularization_path(
    X: Any,
    y: Any,
    *,
    Cs: int | Any = 20,
    penalty: str | None = "l1",
    l1_ratio: float | None = None,
    eps: float = 1e-4,
    fit_intercept: bool = True,
    class_weight: Any = None,
    sample_weight: Any = None,
    solver: str = "auto",
    tol: float = 1e-8,
    max_iter: int = 1000,
    early_stop: bool = False,
) -> RegularizationPath:
    r"""Fit :class:`SoftmaxRegression` along a grid of ``C``, warm-starting each fit.

    The fits run from the smallest ``C`` (strongest penalty) up, each starting
    from the previous coefficients; every fit is solved to ``tol`` as a cold
    fit would be, so the path equals independent fits at each ``C``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    Cs : int or array-like of float, default=20
        The grid, or its size: ``Cs`` values spaced geometrically from
        ``C_min`` (every coefficient zero, see :func:`C_min`; the grid starts
        a relative 1e-4 below it) to ``C_min / eps``; without an L1 or group
        term (no ``C_min``), from 1e-4 to 1e4 as in scikit-learn's
        ``LogisticRegressionCV``.  Explicit values are fitted in increasing
        order.
    penalty, l1_ratio, fit_intercept, class_weight, solver, tol, max_iter
        As in :class:`SoftmaxRegression`.
    eps : float, default=1e-4
        ``C_min / C_max`` for the default grid.
    sample_weight : array-like of shape (n_samples,), optional
    early_stop : bool, default=False
        Stop once the model saturates, with glmnet's rule: the deviance ratio
        ``1 - loss / null_loss`` exceeds 0.999, or grows by less than 1e-5
        (relative) from one C to the next.

    Returns
    -------
    RegularizationPath

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> import softmax
    >>> X, y = load_iris(return_X_y=True)
    >>> path = softmax.regularization_path(X, y, Cs=5, penalty="l1")
    >>> path.n_nonzero.tolist()
    [0, 1, 3, 4, 4]
    """
    choice = choose_penalty(penalty, 1.0, l1_ratio)
    if isinstance(eps, bool) or not isinstance(eps, float | int) or not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got eps={eps!r}")
    X_checked = check_array(
        X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], ensure_all_finite=False
    )
    check_finite_features(X_checked)
    n_samples = X_checked.shape[0]
    classes, labels, sw = _weights_and_labels(y, sample_weight, class_weight, n_samples)
    c_min = C_min(
        X_checked,
        labels,
        penalty=penalty,
        l1_ratio=l1_ratio,
        fit_intercept=fit_intercept,
        sample_weight=sw,
    )
    if isinstance(Cs, Integral) and not isinstance(Cs, bool):
        if Cs < 1:
            raise ValueError(f"Cs must be a positive int or a list of C > 0, got Cs={Cs!r}")
        if c_min is None or not np.isfinite(c_min):
            grid = np.logspace(-4, 4, int(Cs))
        else:
            # Just inside the all-zero region: at C_min itself the zero model sits
            # on the KKT boundary, where rounding in the intercepts can wake up a
            # coefficient at the 1e-12 level.
            start = c_min * (1.0 - _INSIDE)
            grid = np.geomspace(start, start / eps, int(Cs))
    else:
        grid = np.sort(check_Cs(Cs))
    _, null_loss = _null_model(labels, sw, classes.shape[0], fit_intercept)
    total = float(sw.sum())

    model = SoftmaxRegression(
        penalty=penalty,
        l1_ratio=l1_ratio,
        fit_intercept=fit_intercept,
        class_weight=class_weight,
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        warm_start=True,
    )
    rows: list[tuple] = []
    for C in grid:
        model.set_params(C=float(C)).fit(X, y, sample_weight=sample_weight)
        F = float(model.objective_history_[-1])
        if np.isfinite(C):
            loss = F - _penalty_value(model.coef_, choice.kind, choice.l1_ratio) / (C * total)
        else:
            loss = F
        dev = 1.0 - loss / null_loss if null_loss > 0 else 1.0
        rows.append(
            (
                float(C),
                model.coef_.copy(),
                model.intercept_.copy(),
                F,
                loss,
                dev,
                int(np.count_nonzero(np.any(model.coef_ != 0, axis=0))),
                int(model.n_iter_[0]),
                bool(model.converged_),
            )
        )
        if early_stop and (
            dev >= _DEV_MAX or (len(rows) > 1 and dev - rows[-2][5] < _DEV_CHANGE * abs(dev))
        ):
            break
    cols = list(zip(*rows, strict=True))
    return RegularizationPath(
        Cs=np.array(cols[0]),
        coefs=np.stack(cols[1]),
        intercepts=np.stack(cols[2]),
        objective=np.array(cols[3]),
        loss=np.array(cols[4]),
        deviance_ratio=np.array(cols[5]),
        n_nonzero=np.array(cols[6], dtype=np.intp),
        n_iter=np.array(cols[7], dtype=np.intp),
        converged=np.array(cols[8], dtype=bool),
        classes=classes,
        C_min=c_min,
        null_loss=null_loss,
        penalty=penalty,
        l1_ratio=l1_ratio,
    )
