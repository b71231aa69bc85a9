"""SoftmaxRegression: multinomial logistic regression, a drop-in for LogisticRegression."""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from softmax.estimators._penalty_choice import PenaltyChoice, choose_penalty
from softmax.estimators._validation import (
    check_C,
    check_finite_features,
    check_labels,
    check_sample_weight,
    check_tol_max_iter,
)
from softmax.objective import (
    Binomial,
    Multinomial,
    Objective,
    ProxTerm,
    Standardization,
    unpack,
)
from softmax.solvers import PROXIMAL, SOLVERS, get_solver
from softmax.special import log_sigmoid, log_softmax, sigmoid, softmax

__all__ = ["SeparationWarning", "SoftmaxRegression"]

# Standardised coefficients this large mean odds of e**1000 per standard
# deviation of a feature: the weights are running off to infinity.
_DIVERGENCE_BOUND = 1e3


class SeparationWarning(ConvergenceWarning):
    """The unpenalised maximum-likelihood estimate does not exist (separable classes)."""


def _small(n_samples: int, n_params: int) -> bool:
    """Whether forming the full Hessian costs next to nothing (see :func:`_auto_solver`)."""
    return n_params <= 200 and n_samples * n_params**2 <= 10_000_000


def _auto_solver(n_samples: int, n_params: int, smooth: bool = True) -> str:
    """Proximal Newton for a non-smooth penalty (the only kind of solver that
    handles one; it forms the Hessian when :func:`_small`).  Otherwise
    Newton-Cholesky while forming the full Hessian is negligible; trust-region
    Newton-CG while a Hessian-vector product is cheap enough that its quadratic
    convergence pays; L-BFGS for very many parameters.

    Forming the Hessian costs about ``n_samples * n_params**2 / 2`` multiply-adds
    per iteration against ``2 * n_samples * n_params`` (plus a fixed Python
    overhead) per Hessian-vector product.  Measured (2-core machine), the full
    Hessian wins only while it is tiny: iris (15 parameters) and 1000 x 10 x 3
    are faster with it, but 5000 x 20 x 5 (105 parameters), digits (650),
    200k x 54 x 7 (385) and 10k x 200 x 10 (2010) are 1.5-5x slower than
    Newton-CG, which needs few CG iterations per step there.
    """
    if not smooth:
        return "prox-newton"
    if _small(n_samples, n_params):
        return "newton-cholesky"
    return "newton-cg" if n_params <= 20_000 else "lbfgs"


class SoftmaxRegression(ClassifierMixin, BaseEstimator):
    r"""Softmax (multinomial logistic) regression, solved to high accuracy.

    Models :math:`P(y = k \mid x) = \operatorname{softmax}(W x + b)_k` and
    minimises :math:`C \sum_i s_i \,(\operatorname{logsumexp}(z_i) - z_{i,y_i})
    + \tfrac12 \|W\|_F^2` (intercept unpenalised), where :math:`s_i` is the
    sample weight times the class weight — the same minimiser as
    :class:`sklearn.linear_model.LogisticRegression` for the same ``C``.  With
    two classes it is the logistic (sigmoid) model with a single coefficient
    row, as in scikit-learn.

    Parameters
    ----------
    penalty : {"l2", "l1", "elasticnet", "group_l1", "group_elasticnet", None}, \
            default="l2"
        The penalty :math:`\tfrac{1-\rho}{2}\|W\|_F^2 + \rho P(W)` with
        :math:`\rho` = ``l1_ratio``: ``"l1"`` is the lasso (:math:`P =
        \|W\|_1`, :math:`\rho = 1`), ``"elasticnet"`` mixes it with ridge;
        ``"group_l1"`` is the grouped lasso :math:`P = \sum_j \|W_{:,j}\|_2`,
        which keeps or drops each feature for all classes at once (glmnet's
        grouped multinomial lasso; with two classes, one coefficient per group:
        the lasso), and ``"group_elasticnet"`` mixes it with ridge.  With
        ``"l2"``, an ``l1_ratio`` in (0, 1] gives the elastic net, as in
        scikit-learn >= 1.8.  ``None`` (or ``C=np.inf``) fits the unpenalised
        maximum-likelihood model; the multinomial coefficients are then made
        unique by the sum-to-zero constraint :math:`\sum_k W_k = 0` (which the
        L2 solution satisfies by itself).  The same minimiser as
        ``LogisticRegression`` (``solver="saga"`` for the L1 terms) for the
        same ``C`` and ``l1_ratio``.
    C : float, default=1.0
        Inverse regularisation strength, > 0; ``np.inf`` means no penalty.
    l1_ratio : float in [0, 1] or None, default=None
        The mix :math:`\rho` of the L1 (or group) term; required by
        ``"elasticnet"`` and ``"group_elasticnet"``, None or 1 for ``"l1"``
        and ``"group_l1"``.
    fit_intercept : bool, default=True
        Add an (unpenalised) intercept per class.
    class_weight : dict, "balanced" or None, default=None
        Weights multiplying the sample weights of each class.
    solver : {"auto", "lbfgs", "newton-cg", "newton-cholesky", "prox-newton", "fista"}, \
            default="auto"
        ``"newton-cg"`` is a trust-region Newton method with exact
        Hessian-vector products; ``"newton-cholesky"`` forms the full Hessian
        (only for few parameters); ``"lbfgs"`` is limited-memory BFGS.
        ``"prox-newton"`` (proximal Newton) and ``"fista"`` (accelerated
        proximal gradient) are the solvers for the non-smooth (L1 and group)
        penalties, whose zeros they make exact.  ``"auto"`` picks proximal
        Newton for those; otherwise Newton-Cholesky for tiny problems,
        Newton-CG up to 20 000 parameters and L-BFGS beyond.
    tol : float, default=1e-8
        Stop when the max-norm of the gradient of the penalised *mean* loss
        (for the non-smooth penalties: of its least-norm subgradient, the KKT
        residual) is at most ``tol * max(1, objective)``.  The default lands within about
        1e-6 relative of the optimal objective.
    max_iter : int, default=1000
        Maximum number of solver iterations.
    warm_start : bool, default=False
        Start from the previous fit's coefficients when shapes allow.
    verbose : int, default=0
        Print the objective and gradient norm per iteration when > 0.
    random_state : None, int or RandomState, default=None
        Unused by the deterministic solvers; kept for scikit-learn compatibility.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) for two classes, else (n_classes, n_features)
        Coefficients on the original feature scale, in the dtype of X.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : ndarray of shape (1,)
        Solver iterations.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names (pandas).
    objective_history_ : list of float
        The penalised mean loss :math:`f = \frac{1}{S}\sum_i s_i \ell_i +
        \frac{1}{2CS}\|W\|^2` (:math:`S = \sum_i s_i`) at the start and after
        each iteration.
    converged_ : bool
        Whether the stopping rule was met.

    Notes
    -----
    Features are standardised internally (a change of variables, never a copy
    of X; sparse X stays sparse), which makes unscaled data converge as fast as
    scaled data; the objective and ``coef_`` stay on the original scale.
    ``docs/math.md`` derives the objective, its gradient and Hessian.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from softmax import SoftmaxRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxRegression(C=1.0).fit(X, y)
    >>> clf.predict_proba(X[:1]).round(3)
    array([[0.982, 0.018, 0.   ]])
    """

    def __init__(
        self,
        penalty: str | None = "l2",
        *,
        C: float = 1.0,
        l1_ratio: float | None = None,
        fit_intercept: bool = True,
        class_weight: Any = None,
        solver: str = "auto",
        tol: float = 1e-8,
        max_iter: int = 1000,
        warm_start: bool = False,
        verbose: int = 0,
        random_state: Any = None,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------------ #
    # parameters
    # ------------------------------------------------------------------ #
    def _penalty_kind(self) -> PenaltyChoice:
        """The penalty that ``penalty``, ``C`` and ``l1_ratio`` ask for."""
        return choose_penalty(self.penalty, self.C, self.l1_ratio)

    def _check_params(self) -> tuple[PenaltyChoice, float, int]:
        kind = self._penalty_kind()
        tol, max_iter = check_tol_max_iter(self.tol, self.max_iter)
        if self.solver != "auto" and self.solver not in SOLVERS:
            get_solver(self.solver)  # raises with the list of known solvers
        if not kind.smooth and self.solver not in ("auto", *sorted(PROXIMAL)):
            raise ValueError(
                f"solver={self.solver!r} needs a smooth penalty; penalty={self.penalty!r} with "
                f"l1_ratio={self.l1_ratio!r} needs one of {['auto', *sorted(PROXIMAL)]}"
            )
        if not isinstance(self.verbose, Integral | bool):
            raise ValueError(f"verbose must be an int, got verbose={self.verbose!r}")
        return kind, tol, max_iter

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SoftmaxRegression:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            float32 data is computed in float32 (objective accumulated in
            float64) and gives float32 coefficients.
        y : array-like of shape (n_samples,)
            Class labels (integers, strings, booleans).
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, not all zero.

        Returns
        -------
        self
        """
        kind, tol, max_iter = self._check_params()
        y = check_labels(y)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=1,
        )
        check_finite_features(X, getattr(self, "feature_names_in_", None))
        check_classification_targets(y)
        if sp.issparse(X):
            X = X.tocsr()  # row blocks of CSR are cheap views
        n_samples, n_features = X.shape
        sw = check_sample_weight(sample_weight, n_samples)

        classes, labels = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y contains only one class ({classes[0]!r}); a classifier needs samples of "
                "at least 2 classes"
            )
        self.classes_ = classes
        if self.class_weight is not None:
            cw = compute_class_weight(self.class_weight, classes=classes, y=y)
            sw = sw * cw[labels]
            if not sw.any():
                raise ValueError("class_weight and sample_weight leave every sample at weight 0")
        n_classes = classes.shape[0]
        datafit: Any = (
            Binomial(self.fit_intercept)
            if n_classes == 2
            else Multinomial(n_classes, self.fit_intercept)
        )
        if n_classes == 2:
            labels = (labels == 1).astype(np.intp)
        total = float(sw.sum())
        penalty, nonsmooth = kind.terms(1.0 / (check_C(self.C) * total))
        scaling = Standardization.from_data(
            X, datafit.n_rows, self.fit_intercept, getattr(penalty, "alpha", 0.0)
        )
        objective = Objective(datafit, penalty, X, labels, sw, scaling)
        extra: dict[str, Any] = {"hessian": objective.hessian}
        if nonsmooth is not None:
            extra["nonsmooth"] = ProxTerm(
                nonsmooth, datafit.n_rows, n_features, self.fit_intercept, scaling
            )

        w0 = np.zeros(objective.n_params)
        if self.warm_start and hasattr(self, "coef_"):
            prev = np.concatenate(
                [np.ravel(self.coef_), np.ravel(self.intercept_) if self.fit_intercept else []]
            )
            if prev.shape == w0.shape:
                w0 = objective.from_original(prev.astype(np.float64))

        solver_name = (
            _auto_solver(n_samples, objective.n_params, kind.smooth)
            if self.solver == "auto"
            else self.solver
        )
        if solver_name == "prox-newton" and not _small(n_samples, objective.n_params):
            del extra["hessian"]  # Hessian-vector products beat forming the Hessian
        solver = get_solver(solver_name)
        diverging = [False]

        def guarded_value_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
            # Without a penalty, weights running off to infinity mean separation.
            if kind.kind == "none" and np.max(np.abs(w), initial=0.0) > _DIVERGENCE_BOUND:
                diverging[0] = True
            return objective.value_and_grad(w)

        def guarded_callback(it: int, f: float, gnorm: float) -> bool:
            if self.verbose:
                print(f"[SoftmaxRegression] iter {it:4d}  objective {f:.12g}  |grad| {gnorm:.3e}")
            return diverging[0]  # True stops the solver

        result = solver(
            guarded_value_and_grad,
            w0,
            hessp=objective.hessp,
            **extra,
            tol=tol,
            max_iter=max_iter,
            callback=guarded_callback,
        )
        w = objective.to_original(result.x)
        W, b = unpack(w, datafit.n_rows, n_features, self.fit_intercept)
        if n_classes > 2:
            # Sum-to-zero: the multinomial likelihood is invariant to adding the
            # same vector to every class; this picks the unique representative
            # (the L2 minimiser satisfies it already, up to rounding).  An L1 or
            # group term is not invariant: its minimiser is unique as it is, and
            # centring would destroy its zeros.  The intercepts are unpenalised,
            # hence always free to centre.
            if kind.smooth:
                W = W - W.mean(axis=0)
            b = None if b is None else b - b.mean()
        self.coef_ = np.ascontiguousarray(W, dtype=X.dtype)
        self.intercept_ = (
            np.zeros(datafit.n_rows, dtype=X.dtype) if b is None else b.astype(X.dtype)
        )
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.objective_history_ = list(result.history)
        self.converged_ = bool(result.converged)
        self.solver_ = solver_name

        if kind.kind == "none" and (diverging[0] or self._separated(X, labels, result.x)):
            warnings.warn(
                "The classes are separable (or quasi-separable) by the features: the "
                "unpenalised maximum-likelihood coefficients do not exist (they grow without "
                "bound), so the fit stopped at large, finite coefficients. Use a penalty "
                "(penalty='l2' with a finite C) for a well-defined model.",
                SeparationWarning,
                stacklevel=2,
            )
        elif not result.converged:
            warnings.warn(
                f"SoftmaxRegression did not converge: solver {solver_name!r} stopped after "
                f"{result.n_iter} iterations ({result.message}) with gradient norm "
                f"{result.grad_norm:.3g} > tol={tol:g} x scale. Increase max_iter "
                f"(now {max_iter}), loosen tol, or strengthen the penalty (smaller C).",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _separated(self, X: Any, labels: np.ndarray, w_std: np.ndarray) -> bool:
        """Whether some rows are fitted with certainty by large coefficients."""
        if np.max(np.abs(w_std), initial=0.0) < 10.0:
            return False
        log_p = self._log_proba_encoded(X)
        true_log_p = log_p[np.arange(labels.shape[0]), labels]
        return bool(np.any(true_log_p > -1e-9))

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def _validate_predict_input(self, X: Any) -> Any:
        check_is_fitted(self)
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            reset=False,
        )
        check_finite_features(X, getattr(self, "feature_names_in_", None))
        return X

    def _logits(self, X: Any) -> np.ndarray:
        coef = self.coef_.astype(X.dtype, copy=False)
        return np.asarray(X @ coef.T) + self.intercept_.astype(X.dtype, copy=False)

    def _log_proba_encoded(self, X: Any) -> np.ndarray:
        z = self._logits(X)
        if self.coef_.shape[0] == 1:
            z = z[:, 0]
            return np.stack([log_sigmoid(-z), log_sigmoid(z)], axis=1)
        return log_softmax(z, axis=-1)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X @ coef_.T + intercept_``: shape (n_samples,) for two classes
        (the log-odds of ``classes_[1]``), else (n_samples, n_classes)."""
        z = self._logits(self._validate_predict_input(X))
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``softmax(decision_function(X))``; rows sum to 1."""
        z = self._logits(self._validate_predict_input(X))
        if z.shape[1] == 1:
            return np.stack([sigmoid(-z[:, 0]), sigmoid(z[:, 0])], axis=1)
        return softmax(z, axis=-1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log-probabilities from a log-softmax of the logits: finite where
        ``log(predict_proba(X))`` would underflow to -inf."""
        return self._log_proba_encoded(self._validate_predict_input(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class, ``classes_[argmax_k logits_k]``."""
        z = self._logits(self._validate_predict_input(X))
        idx = (z[:, 0] > 0).astype(np.intp) if z.shape[1] == 1 else np.argmax(z, axis=1)
        return self.classes_[idx]
