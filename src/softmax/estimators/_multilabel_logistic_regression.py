"""MultiLabelLogisticRegression: one sigmoid per label, every label fitted in one problem."""

from __future__ import annotations

from collections.abc import Set
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from softmax.estimators._fitting import (
    LinearPredictor,
    auto_solver,
    centre_far_columns,
    check_fit_params,
    run_solver,
    warm_start_point,
    warn_fit_outcome,
)
from softmax.estimators._validation import (
    check_C,
    check_finite_features,
    check_sample_weight,
)
from softmax.objective import MultiLabel, Objective, Standardization, initial_curvature, unpack
from softmax.special import log_sigmoid, sigmoid

__all__ = ["MultiLabelLogisticRegression"]


def _is_label_sets(y: Any) -> bool:
    """Whether ``y`` is a sequence of label collections (sets, tuples, lists) rather
    than a matrix: any element is a set, or the rows have different lengths."""
    if sp.issparse(y) or (isinstance(y, np.ndarray) and y.dtype != object):
        return False
    if hasattr(y, "iloc") or hasattr(y, "to_numpy"):  # pandas DataFrame / Series
        return False
    try:
        rows = list(y)
    except TypeError:
        return False
    if not rows:
        return False
    if any(isinstance(r, Set) for r in rows):
        return True
    if all(isinstance(r, list | tuple | np.ndarray) for r in rows):
        lengths = {len(r) for r in rows}
        return len(lengths) > 1
    return False


def _indicator(y: Any) -> np.ndarray:
    """``y`` as a dense 0/1 ``(n_samples, n_labels)`` matrix; ValueError otherwise."""
    if sp.issparse(y):
        Y = y.toarray()
    else:
        Y = np.asarray(y)
    if Y.ndim != 2:
        kind = type_of_target(Y, input_name="y") if Y.ndim == 1 else "unknown"
        raise ValueError(
            f"y has shape {Y.shape} (a {kind!r} target): MultiLabelLogisticRegression needs "
            "a 0/1 indicator matrix of shape (n_samples, n_labels) or a list of label sets; "
            "for one label per row (exclusive classes) use SoftmaxRegression"
        )
    if Y.dtype.kind == "c":
        raise ValueError("Complex data not supported in y; it must be a 0/1 indicator matrix")
    if Y.dtype.kind not in "biuf":
        raise ValueError(
            f"Unknown label type: y of dtype {Y.dtype} is not a 0/1 indicator matrix; pass "
            "label sets as a list of sets, e.g. [{'a', 'b'}, {'c'}]"
        )
    bad = ~((Y == 0) | (Y == 1))  # NaN is bad too
    if bad.any():
        i, j = (int(a[0]) for a in np.nonzero(bad))
        finite = Y[np.isfinite(Y)] if Y.dtype.kind == "f" else Y
        kind = " (a continuous target)" if np.any(finite != np.round(finite)) else ""
        raise ValueError(
            f"y must be a 0/1 indicator matrix; y[{i}, {j}] = {Y[i, j]!r}{kind}. To pass "
            "label sets of equal length, use sets (e.g. [{1, 2}, {2, 3}]) rather than lists"
        )
    return Y


def _name(label: Any) -> Any:
    """A label as a Python scalar, so that messages read ``2``, not ``np.int64(2)``."""
    return label.item() if isinstance(label, np.generic) else label


def _names(labels: np.ndarray, limit: int = 5) -> str:
    """The first ``limit`` labels, comma-separated, and how many more."""
    shown = ", ".join(repr(_name(c)) for c in labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


class MultiLabelLogisticRegression(LinearPredictor, ClassifierMixin, BaseEstimator):
    r"""Multi-label logistic regression: an independent sigmoid per label, fitted jointly.

    Models :math:`P(y_l = 1 \mid x) = \sigma(W_l x + b_l)` for each label
    :math:`l` and minimises :math:`C \sum_i s_i \sum_l \mathrm{BCE}(z_{il},
    y_{il}; \mathrm{pw}_l) + \tfrac12 \|W\|_F^2` (intercepts unpenalised), the
    sum over labels of the objectives scikit-learn's ``LogisticRegression``
    minimises for each label alone: the same coefficients as
    ``OneVsRestClassifier(LogisticRegression(C=C))``, but every label is
    fitted at once, one pair of matrix products per iteration.  Rows may carry
    any number of labels (none, one or several); the probabilities of a row do
    not sum to 1.  The coefficient layout is that of
    :mod:`softmax.objective._multilabel`.

    Parameters
    ----------
    penalty : {"l2", None}, default="l2"
        ``None`` (or ``C=np.inf``) fits the unpenalised maximum-likelihood
        model (warns ``SeparationWarning`` when a label is separable).
    C : float, default=1.0
        Inverse regularisation strength, > 0; ``np.inf`` means no penalty.
    fit_intercept : bool, default=True
        Add an (unpenalised) intercept per label.
    pos_weight : float, array-like of shape (n_labels,), "balanced" or None, default=None
        Weight of the positive examples of each label (PyTorch's
        ``BCEWithLogitsLoss(pos_weight=...)``; the same as scikit-learn's
        ``class_weight={0: 1, 1: pos_weight}`` for that label).
        ``"balanced"`` uses, per label, the weighted count of negatives over
        the weighted count of positives.  Values must be finite and > 0.
    threshold : float or array-like of shape (n_labels,), default=0.5
        :meth:`predict` sets a label where its probability exceeds this (per
        label when an array).
    solver : {"auto", "lbfgs", "newton-cg", "newton-cholesky"}, default="auto"
        As in :class:`~softmax.SoftmaxRegression`, except that ``"auto"``
        never picks L-BFGS: it takes Newton-Cholesky for tiny problems and
        Newton-CG otherwise, however many parameters.  The
        Hessian is block diagonal (one logistic problem per label), which keeps
        the CG steps short; measured on 5000 x 20000 sparse tf-idf rows with
        50 labels (1M parameters) at the default ``tol``, Newton-CG took about
        half the time of L-BFGS (``benchmarks/bench_multilabel.py`` has both).
    tol : float, default=1e-8
        Stop when the max-norm of the gradient of the penalised *mean* loss
        (summed over labels) is at most ``tol * max(1, objective)``.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    warm_start : bool, default=False
        Start from the previous fit's coefficients when shapes allow.
    verbose : int, default=0
        Print the objective and gradient norm per iteration when > 0.

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        The label names: those of the label sets, sorted
        (``MultiLabelBinarizer``'s ``classes_``), the column names of a
        DataFrame, or ``0 .. n_labels - 1`` for an indicator matrix.
    coef_ : ndarray of shape (n_labels, n_features)
        The log-odds coefficients of each label, in the dtype of X.
    intercept_ : ndarray of shape (n_labels,)
    pos_weight_ : ndarray of shape (n_labels,)
        The positive weights used (1 where none was given).
    n_iter_ : ndarray of shape (1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names (pandas).
    objective_history_ : list of float
        The penalised mean loss :math:`\frac{1}{S}\sum_i s_i \sum_l \ell_{il}
        + \frac{1}{2CS}\|W\|^2` at the start and after each iteration.
    converged_ : bool
    solver_ : str
        The solver used (what ``"auto"`` picked).

    Notes
    -----
    ``y`` is a 0/1 indicator matrix (dense, sparse or a DataFrame) or a list
    of label collections; label collections of equal length must be sets
    (lists of equal length read as indicator rows).  A label that is always
    or never present in the (positively weighted) training rows raises
    ValueError: its maximum-likelihood intercept is infinite and there is
    nothing to learn; drop the column first.  Features are standardised
    internally as in :class:`~softmax.SoftmaxRegression`.
    ``docs/math.md`` derives the loss, gradient and Hessian-vector product.

    Examples
    --------
    >>> from softmax import MultiLabelLogisticRegression
    >>> X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.5, 0.2]]
    >>> y = [{"sports"}, {"news"}, {"news", "sports"}, set(), {"news"}]
    >>> clf = MultiLabelLogisticRegression(C=10.0).fit(X, y)
    >>> clf.classes_
    array(['news', 'sports'], dtype=object)
    >>> clf.predict([[1.0, 1.0]])
    array([[1, 1]])
    >>> clf.predict_labels([[1.0, 1.0], [0.0, 0.0]])
    [('news', 'sports'), ()]
    """

    def __init__(
        self,
        penalty: str | None = "l2",
        *,
        C: float = 1.0,
        fit_intercept: bool = True,
        pos_weight: Any = None,
        threshold: Any = 0.5,
        solver: str = "auto",
        tol: float = 1e-8,
        max_iter: int = 1000,
        warm_start: bool = False,
        verbose: int = 0,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.pos_weight = pos_weight
        self.threshold = threshold
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        # 1-D targets (exclusive classes, binary or not) are refused, pointing to
        # SoftmaxRegression: each column of y is one binary problem.
        tags.classifier_tags.multi_class = False
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    def _targets(self, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """The indicator matrix and the label names."""
        if _is_label_sets(y):
            from sklearn.preprocessing import MultiLabelBinarizer

            mlb = MultiLabelBinarizer()
            Y = mlb.fit_transform(y)
            return Y, mlb.classes_
        Y = _indicator(y)
        columns = getattr(y, "columns", None)  # a DataFrame names its labels
        if columns is not None and len(columns) == Y.shape[1]:
            return Y, np.asarray(columns)
        return Y, np.arange(Y.shape[1])

    def _pos_weight(self, Y: np.ndarray, sw: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``pos_weight`` as a ``(n_labels,)`` float64 array (ValueError naming it)."""
        n_labels = Y.shape[1]
        pw = self.pos_weight
        if pw is None:
            return np.ones(n_labels)
        if isinstance(pw, str):
            if pw != "balanced":
                raise ValueError(
                    f"pos_weight must be a number, an array of shape ({n_labels},), "
                    f"'balanced' or None, got pos_weight={pw!r}"
                )
            pos = sw @ Y
            return (sw.sum() - pos) / pos  # labels are never constant here: pos > 0
        out = np.asarray(pw, dtype=np.float64) if not isinstance(pw, bool) else None
        if out is None or out.ndim > 1 or (out.ndim == 1 and out.shape[0] != n_labels):
            raise ValueError(
                f"pos_weight must be a number or an array of shape ({n_labels},) (one per "
                f"label), got pos_weight={pw!r}"
            )
        out = np.broadcast_to(out, (n_labels,)).copy()
        bad = ~(np.isfinite(out) & (out > 0))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"pos_weight must be finite and > 0; pos_weight[{j}] = {out[j]!r} "
                f"(label {_name(classes[j])!r})"
            )
        return out

    @staticmethod
    def _check_not_constant(Y: np.ndarray, sw: np.ndarray, classes: np.ndarray) -> None:
        rows = sw > 0
        pos = Y[rows].sum(axis=0)
        n = int(rows.sum())
        constant = np.flatnonzero((pos == 0) | (pos == n))
        if constant.size:
            j = int(constant[0])
            state = "absent from" if pos[j] == 0 else "present in"
            raise ValueError(
                f"label {_name(classes[j])!r} (column {j} of y) is {state} every training "
                f"sample (with positive weight), so it has one class only: a logistic model needs "
                "both outcomes. "
                f"Constant labels: {_names(classes[constant])}; drop them "
                "(they are constant predictions)"
            )

    def _solver(self, n_samples: int, n_params: int) -> str:
        """The solver to run: ``"auto"`` resolved as the ``solver`` parameter says."""
        if self.solver != "auto":
            return str(self.solver)
        picked = auto_solver(n_samples, n_params)
        return picked if picked == "newton-cholesky" else "newton-cg"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MultiLabelLogisticRegression:
        """Fit every label's logistic model in one problem.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            float32 data is computed in float32 (objective accumulated in
            float64) and gives float32 coefficients.
        y : {array-like, sparse matrix} of shape (n_samples, n_labels), or list of label sets
            0/1 indicator matrix, or one collection of labels per row
            (``MultiLabelBinarizer`` semantics; sets when of equal length).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, not all zero.

        Returns
        -------
        self
        """
        kind, tol, max_iter = check_fit_params(self, nonsmooth=False)
        if y is None:
            raise ValueError(
                "MultiLabelLogisticRegression requires y to be passed, but the target y is None"
            )
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            order="C",  # row blocks and the fused kernels; copied once if not
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
        check_finite_features(X, getattr(self, "feature_names_in_", None))
        if sp.issparse(X):
            X = X.tocsr()  # row blocks of CSR are cheap views
        n_samples, n_features = X.shape
        Y, classes = self._targets(y)
        if Y.shape[0] != n_samples:
            raise ValueError(
                f"y has {Y.shape[0]} rows but X has {n_samples}: one row of labels per sample"
            )
        if Y.shape[1] == 0:
            raise ValueError("y has no labels (0 columns); a classifier needs at least one")
        sw = check_sample_weight(sample_weight, n_samples)
        # Checked before any attribute is set: a failed fit leaves no half-fitted model.
        self._check_not_constant(Y, sw, classes)
        pw = self._pos_weight(Y, sw, classes)
        self._thresholds(self.threshold, Y.shape[1])  # a bad threshold fails the fit, not predict
        self.classes_ = classes
        self.pos_weight_ = pw
        n_labels = Y.shape[1]

        datafit = MultiLabel(n_labels, self.fit_intercept, None if np.all(pw == 1) else pw)
        total = float(sw.sum())
        penalty, _ = kind.terms(1.0 / (check_C(self.C) * total))
        positive = sw @ Y  # each label's weight of positives
        curvature = np.mean([initial_curvature(np.array([total - p, p])) for p in positive])
        scaling = Standardization.from_data(
            X, n_labels, self.fit_intercept, getattr(penalty, "alpha", 0.0), float(curvature)
        )
        # Columns far from zero against their spread: centred for the fit (see
        # centre_far_columns), the intercepts mapped back below.
        X_fit, shift = centre_far_columns(X, scaling)
        if shift is not None:
            scaling = Standardization.from_data(
                X_fit, n_labels, self.fit_intercept, getattr(penalty, "alpha", 0.0),
                float(curvature),
            )  # fmt: skip
        targets = np.ascontiguousarray(Y, dtype=X.dtype)
        objective = Objective(datafit, penalty, X_fit, targets, sw, scaling)
        result, solver_name, diverging = run_solver(
            objective,
            warm_start_point(self, objective, shift),
            n_samples=n_samples,
            kind=kind,
            solver=self._solver(n_samples, objective.n_params),
            tol=tol,
            max_iter=max_iter,
            verbose=self.verbose,
            name="MultiLabelLogisticRegression",
            dtype=X.dtype,
        )
        W, b = unpack(objective.to_original(result.x), n_labels, n_features, self.fit_intercept)
        if shift is not None and b is not None:
            b = b - W @ shift
        self.coef_ = np.ascontiguousarray(W, dtype=X.dtype)
        self.intercept_ = np.zeros(n_labels, dtype=X.dtype) if b is None else b.astype(X.dtype)
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.objective_history_ = list(result.history)
        self.converged_ = bool(result.converged)
        self.solver_ = solver_name

        separated = (
            self._separated_labels(X, Y, result.x) if kind.unpenalised else np.zeros(0, np.intp)
        )
        which = f" ({_names(self.classes_[separated])})" if len(separated) else ""
        warn_fit_outcome(
            "MultiLabelLogisticRegression",
            result,
            solver_name,
            tol,
            max_iter,
            separated=kind.unpenalised and (diverging or len(separated) > 0),
            separated_what=f"Some labels{which} are",
        )
        return self

    def _separated_labels(self, X: Any, Y: np.ndarray, w_std: np.ndarray) -> np.ndarray:
        """Labels some of whose rows are fitted with certainty by large coefficients."""
        if np.max(np.abs(w_std), initial=0.0) < 10.0:
            return np.zeros(0, dtype=np.intp)
        u = (2.0 * Y - 1.0) * self._logits(X)
        return np.flatnonzero(np.any(log_sigmoid(u) > -1e-9, axis=0))

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def _thresholds(self, threshold: Any, n_labels: int | None = None) -> np.ndarray:
        """``threshold`` as logits, shape (n_labels,) (ValueError naming it);
        ``n_labels`` defaults to the fitted model's."""
        n_labels = self.coef_.shape[0] if n_labels is None else n_labels
        t = threshold
        arr = None
        if not isinstance(t, bool | str):
            try:
                arr = np.asarray(t, dtype=np.float64)
            except (TypeError, ValueError):
                arr = None
        if arr is None or arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n_labels):
            raise ValueError(
                f"threshold must be a probability or an array of {n_labels} (one per label), "
                f"got threshold={t!r}"
            )
        arr = np.broadcast_to(arr, (n_labels,))
        bad = ~((arr >= 0) & (arr <= 1))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(f"threshold must be in [0, 1]; threshold[{j}] = {arr[j].item()!r}")
        # p > t  <=>  z > logit(t): compared on the logits, without rounding in sigmoid.
        return logit(arr)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X @ coef_.T + intercept_``, shape (n_samples, n_labels): the log-odds
        of each label."""
        return self._logits(self._validate_predict_input(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Independent probabilities ``sigmoid(decision_function(X))``, shape
        (n_samples, n_labels); rows do not sum to 1."""
        return sigmoid(self._logits(self._validate_predict_input(X)))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log_sigmoid(decision_function(X))``: finite where ``log(predict_proba(X))``
        would underflow to -inf."""
        return log_sigmoid(self._logits(self._validate_predict_input(X)))

    def predict(self, X: Any, threshold: Any = None) -> np.ndarray:
        """The indicator matrix ``predict_proba(X) > threshold``, shape (n_samples, n_labels).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        threshold : float or array-like of shape (n_labels,), optional
            Defaults to ``self.threshold`` (0.5 unless set).

        Returns
        -------
        ndarray of int of shape (n_samples, n_labels)
            Column ``l`` is label ``classes_[l]``.
        """
        check_is_fitted(self, "coef_")
        cut = self._thresholds(self.threshold if threshold is None else threshold)
        z = self._logits(self._validate_predict_input(X))
        return (z > cut.astype(z.dtype)).astype(np.int64)

    def predict_labels(self, X: Any, threshold: Any = None) -> list[tuple[Any, ...]]:
        """The predicted label sets, one tuple of ``classes_`` per row (sorted), the
        inverse of ``MultiLabelBinarizer``; see :meth:`predict` for ``threshold``."""
        Y = self.predict(X, threshold)
        return [tuple(self.classes_[np.flatnonzero(row)].tolist()) for row in Y]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Subset accuracy (every label of a row right), as scikit-learn's multi-label
        classifiers score; ``y`` as in :meth:`fit`, with the labels of ``classes_``."""
        from sklearn.metrics import accuracy_score

        if _is_label_sets(y):
            from sklearn.preprocessing import MultiLabelBinarizer

            Y = MultiLabelBinarizer(classes=list(self.classes_)).fit_transform(y)
        else:
            Y = _indicator(y)
        return float(accuracy_score(Y, self.predict(X), sample_weight=sample_weight))
