"""SoftmaxRegressionCV: C (and l1_ratio) chosen by cross-validation along
warm-started regularization paths, a drop-in for LogisticRegressionCV."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from softmax.backends._chunks import check_balanced_weights
from softmax.estimators._path import check_Cs
from softmax.estimators._penalty_choice import check_l1_ratio, choose_penalty
from softmax.estimators._softmax_regression import SoftmaxRegression
from softmax.estimators._validation import (
    check_finite_features,
    check_labels,
    check_sample_weight,
)

__all__ = ["SoftmaxRegressionCV"]


def _index(X: Any, rows: np.ndarray) -> Any:
    return X.iloc[rows] if hasattr(X, "iloc") else X[rows]


def _fold_path(
    X: Any,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    train: np.ndarray,
    test: np.ndarray,
    Cs: np.ndarray,
    params: dict,
    scorer: Any,
    n_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit the path on ``train`` (increasing C, warm starts), score each C on ``test``.

    Returns ``(coefs (n_Cs, n_rows, n_features + fit_intercept), scores (n_Cs,),
    n_iter (n_Cs,))`` in the order of ``Cs``.
    """
    order = np.argsort(Cs, kind="stable")
    model = SoftmaxRegression(**params, warm_start=True)
    X_train, y_train = _index(X, train), y[train]
    sw_train = None if sample_weight is None else sample_weight[train]
    X_test, y_test = _index(X, test), y[test]
    score_kw = {} if sample_weight is None else {"sample_weight": sample_weight[test]}
    coefs: list[np.ndarray] = [np.empty(0)] * len(Cs)
    scores, n_iter = np.empty(len(Cs)), np.empty(len(Cs), np.intp)
    for i in order:
        model.set_params(C=float(Cs[i])).fit(X_train, y_train, sample_weight=sw_train)
        if model.classes_.shape[0] != n_classes:
            raise ValueError(
                f"a training fold holds only {model.classes_.shape[0]} of the {n_classes} "
                "classes; use stratified folds (the default) or fewer folds"
            )
        coef = model.coef_.astype(np.float64)
        if params["fit_intercept"]:
            coef = np.hstack([coef, model.intercept_.astype(np.float64)[:, None]])
        coefs[i] = coef
        scores[i] = scorer(model, X_test, y_test, **score_kw)
        n_iter[i] = model.n_iter_[0]
    return np.stack(coefs), scores, n_iter


class SoftmaxRegressionCV(SoftmaxRegression):
    r"""Softmax regression with ``C`` (and ``l1_ratio``) chosen by cross-validation.

    For each fold and each ``l1_ratio``, the models along ``Cs`` are fitted
    from the strongest penalty up, each warm-started from the previous one
    (see :func:`softmax.regularization_path`), and scored on the held-out
    fold.  The pair with the best mean score is refitted on all the data.
    The contract of scikit-learn's ``LogisticRegressionCV`` with
    ``use_legacy_attributes=False`` (its future default): ``C_`` and
    ``l1_ratio_`` are floats, ``scores_`` and ``coefs_paths_`` are arrays.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The grid of C, or its size (then ``np.logspace(-4, 4, Cs)``, as in
        scikit-learn; :func:`softmax.regularization_path` proposes a grid from
        ``C_min`` for sparse models).
    l1_ratios : array-like of float in [0, 1] or None, default=None
        The mixes to try (``penalty="elasticnet"`` or ``"group_elasticnet"``
        need them; with ``"l2"`` they select the elastic net, as in
        scikit-learn >= 1.8).  None: the penalty's own (0 for ``"l2"``, 1 for
        ``"l1"`` and ``"group_l1"``).
    cv : int, cross-validation generator or iterable, default=None
        scikit-learn's ``check_cv``: None is 5-fold stratified.
    scoring : str or callable, default=None
        A scikit-learn scorer; None is accuracy.  Weighted by the test fold's
        ``sample_weight`` when one is passed to ``fit``.
    penalty : {"l2", "l1", "elasticnet", "group_l1", "group_elasticnet", None}, default="l2"
        As in :class:`SoftmaxRegression`.
    fit_intercept, class_weight, solver, tol, max_iter, verbose, random_state
        As in :class:`SoftmaxRegression`.
    n_jobs : int or None, default=None
        Folds (times l1_ratios) fitted in parallel by joblib.
    refit : bool, default=True
        Refit at the best ``(C, l1_ratio)`` on all the data, starting from the
        folds' mean coefficients there.  Otherwise ``coef_`` is the mean of
        the folds' coefficients at each fold's best pair, and ``C_`` and
        ``l1_ratio_`` the means of those pairs (as in scikit-learn).

    Attributes
    ----------
    Cs_ : ndarray of shape (n_Cs,)
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
    C_ : float
        The chosen C.
    l1_ratio_ : float
        The chosen mix (0 for ridge, 1 for the pure L1 or group penalty).
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_Cs)
        Held-out scores.
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_Cs, n_rows, n_features + 1)
        Each fold's coefficients (the intercept last, when fitted); ``n_rows``
        is 1 for two classes, else ``n_classes``.
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_Cs)
    classes_, coef_, intercept_, n_features_in_, feature_names_in_
        As in :class:`SoftmaxRegression` (``n_iter_`` aside).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softmax import SoftmaxRegressionCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegressionCV(Cs=[0.1, 1.0, 10.0], penalty="l1").fit(X, y)
    >>> float(clf.C_)
    1.0
    """

    def __init__(
        self,
        *,
        Cs: int | Any = 10,
        l1_ratios: Any = None,
        cv: Any = None,
        scoring: Any = None,
        penalty: str | None = "l2",
        fit_intercept: bool = True,
        class_weight: Any = None,
        solver: str = "auto",
        tol: float = 1e-8,
        max_iter: int = 1000,
        n_jobs: int | None = None,
        refit: bool = True,
        verbose: int = 0,
        random_state: Any = None,
    ) -> None:
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.refit = refit
        self.verbose = verbose
        self.random_state = random_state

    def _grid(self) -> tuple[np.ndarray, list[float | None]]:
        if isinstance(self.Cs, Integral) and not isinstance(self.Cs, bool):
            if self.Cs < 1:
                raise ValueError(
                    f"Cs must be a positive int or a list of C > 0, got Cs={self.Cs!r}"
                )
            Cs = np.logspace(-4, 4, int(self.Cs))
        else:
            Cs = check_Cs(self.Cs)
        if self.l1_ratios is None:
            if self.penalty in ("elasticnet", "group_elasticnet"):
                raise ValueError(
                    f"penalty={self.penalty!r} needs l1_ratios, a list of values in [0, 1]; "
                    "got l1_ratios=None"
                )
            ratios: list[float | None] = [None]
        else:
            values = np.atleast_1d(np.asarray(self.l1_ratios, dtype=object))
            if values.ndim != 1 or values.shape[0] == 0:
                raise ValueError(
                    f"l1_ratios must be a non-empty list of values in [0, 1], "
                    f"got l1_ratios={self.l1_ratios!r}"
                )
            ratios = [check_l1_ratio(r, "l1_ratios") for r in values]
        for r in ratios:  # penalty / l1_ratio consistency, with SoftmaxRegression's errors
            choose_penalty(self.penalty, 1.0, r)
        return Cs, ratios

    # No callback, checkpoint or chunked sources: a CV fit is many fits on folds.
    def fit(  # type: ignore[override]
        self, X: Any, y: Any, sample_weight: Any = None
    ) -> SoftmaxRegressionCV:
        """Cross-validate the grid, then refit (see the class docstring).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        Cs, ratios = self._grid()
        self._check_params_without_C()
        y = check_labels(y)
        X_val, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            order="C",  # row blocks and the fused kernels; copied once if not
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
        check_finite_features(X_val, getattr(self, "feature_names_in_", None))
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y contains only one class ({classes.tolist()[0]!r}); a classifier "
                "needs samples of at least 2 classes"
            )
        sw = None if sample_weight is None else check_sample_weight(sample_weight, y.shape[0])
        folds = list(check_cv(self.cv, y, classifier=True).split(X_val, y))
        scorer = check_scoring(SoftmaxRegression(), scoring=self.scoring)
        class_weight = self.class_weight
        if isinstance(class_weight, str):
            # "balanced" from all the data, the same weights in every fold (as
            # LogisticRegressionCV does: the folds then minimise its objectives).
            _, labels = np.unique(y, return_inverse=True)
            totals = np.bincount(labels, weights=sw)
            check_balanced_weights(classes, totals)
            weights = compute_class_weight(class_weight, classes=classes, y=y, sample_weight=sw)
            class_weight = dict(zip(classes.tolist(), weights.tolist(), strict=True))
        base = {
            "penalty": self.penalty,
            "fit_intercept": self.fit_intercept,
            "class_weight": class_weight,
            "solver": self.solver,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "random_state": self.random_state,
        }
        jobs = [
            delayed(_fold_path)(
                X_val, y, sw, train, test, Cs, {**base, "l1_ratio": r}, scorer, classes.shape[0]
            )
            for train, test in folds
            for r in ratios
        ]
        out = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(jobs)
        n_folds, n_ratios, n_Cs = len(folds), len(ratios), Cs.shape[0]
        coefs = np.stack([o[0] for o in out])
        self.coefs_paths_ = coefs.reshape(n_folds, n_ratios, *coefs.shape[1:])
        self.scores_ = np.stack([o[1] for o in out]).reshape(n_folds, n_ratios, n_Cs)
        self.n_iter_ = np.stack([o[2] for o in out]).reshape(n_folds, n_ratios, n_Cs)
        self.Cs_ = Cs
        own = [self._own_l1_ratio(r) for r in ratios]
        self.l1_ratios_ = np.array(own, dtype=np.float64)
        self.classes_ = classes

        if self.refit:
            # As scikit-learn: the first maximum of the summed scores, C-major.
            total = self.scores_.sum(axis=0).T  # (n_Cs, n_ratios)
            i_C, i_r = np.unravel_index(int(np.argmax(total)), total.shape)
            self.C_, self.l1_ratio_ = float(Cs[i_C]), float(own[i_r])
            start = self.coefs_paths_[:, i_r, i_C].mean(axis=0)
            model = SoftmaxRegression(**base, l1_ratio=ratios[i_r], C=self.C_, warm_start=True)
            model.coef_ = np.asarray(start[:, : X_val.shape[1]])
            model.intercept_ = np.asarray(
                start[:, -1] if self.fit_intercept else np.zeros(start.shape[0])
            )
            model.fit(X_val, y, sample_weight=sw)
            coef, intercept = model.coef_, model.intercept_
            self.converged_ = model.converged_
            self.objective_history_ = model.objective_history_
            self.solver_ = model.solver_
        else:
            flat = self.scores_.transpose(0, 2, 1).reshape(n_folds, -1)  # C-major per fold
            best = [np.unravel_index(int(np.argmax(row)), (n_Cs, n_ratios)) for row in flat]
            w = np.mean([self.coefs_paths_[k, r, c] for k, (c, r) in enumerate(best)], axis=0)
            self.C_ = float(np.mean([Cs[c] for c, _ in best]))
            self.l1_ratio_ = float(np.mean([own[r] for _, r in best]))
            coef = w[:, : X_val.shape[1]]
            intercept = w[:, -1] if self.fit_intercept else np.zeros(w.shape[0])
        self.coef_ = np.ascontiguousarray(coef, dtype=X_val.dtype)
        self.intercept_ = np.asarray(intercept, dtype=X_val.dtype)
        return self

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """The ``scoring`` option on ``(X, y)`` (accuracy when it is None), as
        :class:`~sklearn.linear_model.LogisticRegressionCV` scores."""
        if self.scoring is None:
            return float(super().score(X, y, sample_weight=sample_weight))
        scorer = check_scoring(SoftmaxRegression(), scoring=self.scoring)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return float(scorer(self, X, y, **kwargs))

    def _own_l1_ratio(self, r: float | None) -> float:
        """The mix a fold's model used: the given one, or the penalty's own."""
        if r is not None:
            return r
        return 1.0 if self.penalty in ("l1", "group_l1") else 0.0

    def _check_params_without_C(self) -> None:
        """The parameters shared with SoftmaxRegression, checked before any fit."""
        probe = SoftmaxRegression(
            penalty=self.penalty,
            l1_ratio=None if self.penalty not in ("elasticnet", "group_elasticnet") else 0.5,
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            verbose=self.verbose,
        )
        probe._check_params()
        if not isinstance(self.refit, bool | np.bool_):
            raise ValueError(f"refit must be a bool, got refit={self.refit!r}")
