"""SoftmaxRegression: multinomial logistic regression, a drop-in for LogisticRegression."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from softmax.backends._chunks import check_balanced_weights
from softmax.backends._dask import is_dask_collection
from softmax.backends._iterator import Chunks
from softmax.estimators._fitting import (
    LinearPredictor,
    SeparationWarning,
    centre_far_columns,
    check_fit_params,
    run_solver,
    warm_start_point,
    warn_fit_outcome,
)
from softmax.estimators._penalty_choice import PenaltyChoice, choose_penalty
from softmax.estimators._validation import (
    check_C,
    check_finite_features,
    check_labels,
    check_sample_weight,
)
from softmax.objective import (
    Binomial,
    Multinomial,
    Objective,
    ProxTerm,
    Standardization,
    initial_curvature,
    unpack,
)
from softmax.special import log_sigmoid, log_softmax, sigmoid, softmax

__all__ = ["SeparationWarning", "SoftmaxRegression"]


class SoftmaxRegression(LinearPredictor, ClassifierMixin, BaseEstimator):
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
        Weights multiplying the sample weights of each class.  ``"balanced"``
        gives class ``k`` the weight ``sum(s) / (n_classes * sum(s[y == k]))``
        with ``s`` the sample weights (``n_samples / (n_classes * n_k)``
        without them), as scikit-learn does; a class whose samples all weigh
        0 then raises a ValueError.
    solver : {"auto", "lbfgs", "newton-cg", "newton-cholesky", "prox-newton", "fista"}, \
            default="auto"
        ``"newton-cg"`` is a truncated Newton method (conjugate gradients on
        exact Hessian-vector products, a line search); ``"newton-cholesky"`` forms the full Hessian
        (only for few parameters); ``"lbfgs"`` is limited-memory BFGS.
        ``"prox-newton"`` (proximal Newton) and ``"fista"`` (accelerated
        proximal gradient) are the solvers for the non-smooth (L1 and group)
        penalties, whose zeros they make exact.  ``"auto"`` picks proximal
        Newton for those; otherwise Newton-Cholesky for tiny problems,
        Newton-CG up to about 1 000 parameters, where a subsample of rows
        preconditions it (many rows, few parameters) or where L-BFGS's own work
        per iteration rivals a pass over the data (sparse data with many
        features), L-BFGS elsewhere.
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
    solver_ : str
        The solver that ran (what ``solver="auto"`` chose).

    See Also
    --------
    summary, bse_, pvalues_, conf_int, cov_params, predict_proba_ci :
        Statistical inference for unpenalised fits (:mod:`softmax.inference`).
    partial_fit : Online multinomial updates (``penalty="l2"`` or None).
    SoftmaxRegressionCV : C (and ``l1_ratio``) chosen by cross-validation.
    softmax.regularization_path : Warm-started fits over a grid of C.
    MultiLabelLogisticRegression : Independent sigmoids for multi-label targets.

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
        return check_fit_params(self)

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    def fit(
        self,
        X: Any,
        y: Any = None,
        sample_weight: Any = None,
        *,
        callback: Any = None,
        checkpoint: Any = None,
        checkpoint_every: int = 10,
    ) -> SoftmaxRegression:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            float32 data is computed in float32 (objective accumulated in
            float64) and gives float32 coefficients.  Dense data that is not
            row-major (C-contiguous) is copied once, as scikit-learn does: the
            passes go by blocks of rows.  Also a Dask array or
            DataFrame (the fit runs on the Dask workers, ``docs/dask.md``) or
            a :class:`softmax.Chunks` source (out-of-core, ``y`` then None).
        y : array-like of shape (n_samples,)
            Class labels (integers, strings, booleans); a Dask array or Series
            with X's row chunks when X is a Dask collection.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights, not all zero.
        callback : callable, optional
            Called as ``callback(iteration, objective, grad_norm)`` after each
            solver iteration (numbered from 1), with the
            penalised mean loss (as in ``objective_history_``) and the max-norm
            of its gradient in the solver's (standardised) coordinates.  Its
            return value is ignored; it is how the command line shows progress.
        checkpoint : str or path, optional
            Make the fit resumable: the solver (a resumable L-BFGS) saves its
            state there atomically every ``checkpoint_every`` iterations and on
            an error; a fit started with an existing checkpoint continues from
            it and ends at the same coefficients as an uninterrupted fit.  A
            checkpoint from other data or parameters is refused (ValueError).
        checkpoint_every : int, default=10
            Iterations between saves.

        Returns
        -------
        self
        """
        # Chunked data (Dask, out-of-core): same objective, sums formed per chunk.
        # Resumable fits use the same route, with the data as a single chunk.
        chunked = is_dask_collection(X) or is_dask_collection(y) or isinstance(X, Chunks)
        if chunked or checkpoint is not None:
            from softmax.backends import fit_chunks

            return fit_chunks(
                self, X, y, sample_weight, checkpoint, checkpoint_every, callback=callback
            )
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                "(only a softmax.Chunks source carries its own labels)"
            )
        kind, tol, max_iter = self._check_params()
        y = check_labels(y)
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            order="C",  # row blocks and the fused kernels; copied once if not
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
                f"y contains only one class ({classes.tolist()[0]!r}); a classifier "
                "needs samples of at least 2 classes"
            )
        self.classes_ = classes
        if self.class_weight is not None:
            # "balanced" weighs the classes by their summed sample weights, as
            # scikit-learn does (>= 1.8): the minimiser of LogisticRegression's.
            if isinstance(self.class_weight, str):
                check_balanced_weights(classes, np.bincount(labels, weights=sw))
            cw = compute_class_weight(self.class_weight, classes=classes, y=y, sample_weight=sw)
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
            X,
            datafit.n_rows,
            self.fit_intercept,
            getattr(penalty, "alpha", 0.0),
            initial_curvature(np.bincount(labels, weights=sw, minlength=n_classes)),
        )
        X_fit, shift = centre_far_columns(X, scaling)
        if shift is not None:
            scaling = Standardization.from_data(
                X_fit,
                datafit.n_rows,
                self.fit_intercept,
                getattr(penalty, "alpha", 0.0),
                initial_curvature(np.bincount(labels, weights=sw, minlength=n_classes)),
            )
        objective = Objective(datafit, penalty, X_fit, labels, sw, scaling)
        prox = (
            None
            if nonsmooth is None
            else ProxTerm(nonsmooth, datafit.n_rows, n_features, self.fit_intercept, scaling)
        )

        result, solver_name, diverging = run_solver(
            objective,
            warm_start_point(self, objective, shift),
            n_samples=n_samples,
            kind=kind,
            solver=self.solver,
            nonsmooth=prox,
            tol=tol,
            max_iter=max_iter,
            verbose=self.verbose,
            name="SoftmaxRegression",
            callback=callback,
            dtype=datafit.compute_dtype(X) if isinstance(datafit, Multinomial) else X.dtype,
        )
        W, b = self._set_solution(objective, result, solver_name, kind, X.dtype, shift)
        self._inference_info_ = self._fit_information(kind, X, labels, sw, W, b, result)

        warn_fit_outcome(
            "SoftmaxRegression",
            result,
            solver_name,
            tol,
            max_iter,
            separated=kind.unpenalised
            and (
                diverging
                # The exact LP test of summary(), run at fit where it is affordable:
                # a tolerance met at finite coefficients does not mean the MLE exists.
                or self._inference_info_.separation is not None
                or self._separated(X, labels, result.x)
            ),
        )
        return self

    def _set_solution(
        self,
        objective: Any,
        result: Any,
        solver_name: str,
        kind: PenaltyChoice,
        dtype: Any,
        shift: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Set the fitted attributes from the solver's result (in memory and chunked
        fits alike); returns the original-scale ``(W, b)`` before the dtype cast
        (``shift``: the columns centred before the fit, :func:`centre_far_columns`)."""
        n_rows = objective.datafit.n_rows
        # The previous fit's inference belongs to its coefficients: only an
        # in-memory fit computes it again (after this call).
        self.__dict__.pop("_inference_info_", None)
        W, b = unpack(
            objective.to_original(result.x), n_rows, objective.n_features, self.fit_intercept
        )
        if shift is not None and b is not None:
            b = b - W @ shift
        if n_rows > 1:
            # Sum-to-zero: the multinomial likelihood is invariant to adding the
            # same vector to every class; this picks the unique representative
            # (the L2 minimiser satisfies it already, up to rounding).  An L1 or
            # group term is not invariant: its minimiser is unique as it is, and
            # centring would destroy its zeros.  The intercepts are unpenalised,
            # hence always free to centre.
            if kind.smooth:
                W = W - W.mean(axis=0)
            b = None if b is None else b - b.mean()
        self.coef_ = np.ascontiguousarray(W, dtype=dtype)
        self.intercept_ = np.zeros(n_rows, dtype=dtype) if b is None else b.astype(dtype)
        self.n_iter_ = np.array([result.n_iter], dtype=np.int32)
        self.objective_history_ = list(result.history)
        self.converged_ = bool(result.converged)
        self.solver_ = solver_name
        return W, b

    def _has_online_update(self) -> bool:
        # The online update is for the smooth model with one C: not for L1 or
        # group penalties (no online proximal step here), nor for the CV
        # estimator, which chooses C by refitting.
        return (
            "C" in self.get_params(deep=False)
            and self.penalty in ("l2", None)
            and not self.l1_ratio
        )

    @available_if(_has_online_update)
    def partial_fit(
        self,
        X: Any,
        y: Any,
        classes: Any = None,
        sample_weight: Any = None,
        *,
        total_weight: float | None = None,
    ) -> SoftmaxRegression:
        """One multinomial mini-batch step (AdaGrad, averaged iterates) on ``(X, y)``.

        Only for ``penalty="l2"`` (without an L1 part) or None.  Repeated passes
        over a data set converge towards the optimum of ``fit`` on it when
        ``total_weight`` is its total sample weight (its number of rows for unit
        weights); ``docs/dask.md`` states the step schedule.  After ``fit``, the
        online method starts from the fitted coefficients with a fresh AdaGrad
        state, whose first steps move every coefficient by up to 0.5: it trains
        online (from scratch or from a fit, over many batches); it does not nudge
        a converged fit by a small amount.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like, optional
            Every label the model will see; required on the first call.
        sample_weight : array-like of shape (n_samples,), optional
        total_weight : float, optional
            The total sample weight of the whole data set, which sets the L2
            strength ``1 / (C * total_weight)``; default: the weight seen so far.

        Returns
        -------
        self
        """
        from softmax.estimators._partial_fit import partial_fit

        return partial_fit(self, X, y, classes, sample_weight, total_weight)

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
    def _log_proba_encoded(self, X: Any) -> np.ndarray:
        z = self._logits(X)
        if self.coef_.shape[0] == 1:
            z = z[:, 0]
            return np.stack([log_sigmoid(-z), log_sigmoid(z)], axis=1)
        return log_softmax(z, axis=-1)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X @ coef_.T + intercept_``: shape (n_samples,) for two classes
        (the log-odds of ``classes_[1]``), else (n_samples, n_classes)."""
        if is_dask_collection(X):
            from softmax.backends._dask import predict_dask

            return predict_dask(self, "decision_function", X)
        z = self._logits(self._validate_predict_input(X))
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``softmax(decision_function(X))``; rows sum to 1."""
        if is_dask_collection(X):
            from softmax.backends._dask import predict_dask

            return predict_dask(self, "predict_proba", X)
        z = self._logits(self._validate_predict_input(X))
        if z.shape[1] == 1:
            return np.stack([sigmoid(-z[:, 0]), sigmoid(z[:, 0])], axis=1)
        return softmax(z, axis=-1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log-probabilities from a log-softmax of the logits: finite where
        ``log(predict_proba(X))`` would underflow to -inf.

        A float32 model's probability rounds to exactly 1 where the
        log-probability is above about -3e-8, a value float32 holds: there the
        result is 0, ``log(predict_proba(X))``, so that the two agree
        (scikit-learn's estimator checks compare them to 1e-9).
        """
        if is_dask_collection(X):
            from softmax.backends._dask import predict_dask

            return predict_dask(self, "predict_log_proba", X)
        X = self._validate_predict_input(X)
        log_p = self._log_proba_encoded(X)
        if log_p.dtype == np.float32:
            log_p[self.predict_proba(X) == 1.0] = 0.0
        return log_p

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class, ``classes_[argmax_k logits_k]``."""
        if is_dask_collection(X):
            from softmax.backends._dask import predict_dask

            return predict_dask(self, "predict", X)
        z = self._logits(self._validate_predict_input(X))
        idx = (z[:, 0] > 0).astype(np.intp) if z.shape[1] == 1 else np.argmax(z, axis=1)
        return self.classes_[idx]

    # ------------------------------------------------------------------ #
    # statistical inference: thin wrappers over softmax.inference
    # ------------------------------------------------------------------ #
    def _fit_information(
        self,
        kind: PenaltyChoice,
        X: Any,
        labels: np.ndarray,
        sw: np.ndarray,
        W: np.ndarray,
        b: np.ndarray | None,
        result: Any,
    ) -> Any:
        """What summary() needs from the training data (see softmax.inference)."""
        from softmax import inference

        names = inference.term_names(
            getattr(self, "feature_names_in_", None), X.shape[1], self.fit_intercept
        )
        reason = None
        if not kind.unpenalised:
            reason = (
                f"the model is penalised (penalty={self.penalty!r}, C={self.C!r}). A penalty "
                "shrinks the coefficients toward 0, so they are biased, and the inverse "
                "Hessian of the penalised objective is not their sampling covariance: Wald "
                "standard errors, z, p-values and intervals built from it would be invalid. "
                "Refit with penalty=None (or C=np.inf) for inference, or bootstrap the "
                "penalised fit (softmax.inference.bootstrap)"
            )
        elif self.class_weight is not None:
            reason = (
                f"class_weight={self.class_weight!r} turns the likelihood into a weighted "
                "pseudo-likelihood whose inverse Hessian is not a covariance matrix; refit "
                "with class_weight=None (sample weights are used as frequency weights)"
            )
        if reason is not None:
            return inference.unavailable(self.classes_, names, self.fit_intercept, reason)
        n_coef = W.size
        return inference.fit_information(
            X,
            labels,
            sw,
            W,
            b,
            self.classes_,
            getattr(self, "feature_names_in_", None),
            standardized_max=float(np.max(np.abs(result.x[:n_coef]), initial=0.0)),
            converged=bool(result.converged),
        )

    def _info(self) -> Any:
        check_is_fitted(self)
        info = getattr(self, "_inference_info_", None)
        if info is None:
            raise ValueError(
                "no inference for these coefficients: an in-memory fit computes it from the "
                "training data, and they come from a chunked, Dask or checkpointed fit, from "
                "partial_fit or from a model file; refit in memory (fit(X, y)) for summary(), "
                "standard errors and p-values"
            )
        info.check_available()
        return info

    def summary(self, *, reference: Any = None, alpha: float = 0.05) -> Any:
        """Coefficients relative to a reference class with standard errors, z,
        p-values and confidence intervals (statsmodels' ``MNLogit`` table).

        Only for ``penalty=None`` (or ``C=np.inf``) without ``class_weight``;
        sample weights count as frequency weights.  See :mod:`softmax.inference`.

        Parameters
        ----------
        reference : class label, optional
            The baseline class; default ``classes_[0]``.  Coefficients of class
            ``k`` are ``theta_k - theta_reference``: the change in
            ``log(P(k) / P(reference))``.
        alpha : float, default=0.05
            The printed intervals have level ``1 - alpha``.

        Returns
        -------
        softmax.inference.InferenceResult
            Prints as a table; ``.to_frame()``, ``.params``, ``.bse``,
            ``.pvalues``, ``.conf_int()``, ``.cov_params()``, ``.llf``, ``.aic``...

        Raises
        ------
        ValueError
            Under a penalty or class weights (with the reason), or for an
            unknown ``reference`` or ``alpha`` outside (0, 1).
        softmax.inference.SeparationError
            Quasi-complete separation (no finite estimate), naming the class
            and the features involved.
        softmax.inference.CollinearityError
            A singular information matrix, naming the dependent terms.
        """
        from softmax.inference import InferenceResult

        return InferenceResult(self._info(), reference, alpha)

    def cov_params(self, *, reference: Any = None) -> np.ndarray:
        """Covariance of the reference-class coefficients (``summary().cov_params()``)."""
        return self.summary(reference=reference).cov_params()

    def conf_int(self, alpha: float = 0.05, *, reference: Any = None) -> np.ndarray:
        """Wald intervals, shape ``(n_classes - 1, 1 + n_features, 2)`` (``summary().conf_int``)."""
        return self.summary(reference=reference, alpha=alpha).conf_int()

    def _statistic(self, name: str) -> Any:
        # Properties must raise AttributeError when unavailable: hasattr() and
        # scikit-learn's HTML repr (inspect.getmembers) rely on it.
        try:
            return getattr(self.summary(), name)
        except ValueError as exc:
            raise AttributeError(str(exc)) from exc

    def _fit_statistic(self, name: str) -> float:
        try:
            return float(getattr(self._info(), name))
        except ValueError as exc:
            raise AttributeError(str(exc)) from exc

    @property
    def bse_(self) -> np.ndarray:
        """Standard errors against ``classes_[0]``, shape ``(n_classes - 1, 1 + n_features)``."""
        return self._statistic("bse")

    @property
    def pvalues_(self) -> np.ndarray:
        """Two-sided Wald p-values against ``classes_[0]``, shaped like ``bse_``."""
        return self._statistic("pvalues")

    @property
    def llf_(self) -> float:
        """Log-likelihood of the unpenalised fit (frequency-weighted)."""
        return self._fit_statistic("llf")

    @property
    def aic_(self) -> float:
        """Akaike's criterion ``-2 llf + 2 (n_classes - 1)(1 + n_features)``."""
        return self._fit_statistic("aic")

    @property
    def bic_(self) -> float:
        """Schwarz's criterion ``-2 llf + log(nobs) (n_classes - 1)(1 + n_features)``."""
        return self._fit_statistic("bic")

    @property
    def prsquared_(self) -> float:
        """McFadden's pseudo-R², ``1 - llf / llnull`` (llnull: intercept-only model)."""
        return self._fit_statistic("prsquared")

    def predict_proba_ci(self, X: Any, *, alpha: float = 0.05) -> Any:
        """``predict_proba`` with delta-method confidence intervals per class.

        The interval is built on the log-odds scale ``log(p_k / (1 - p_k))``
        and mapped back, so it stays in [0, 1]; it is pointwise (per row and
        class) and does not depend on the reference class.  Same conditions
        as :meth:`summary`.

        Returns
        -------
        softmax.inference.ProbaInterval
            Named tuple ``(proba, lower, upper, se)`` of arrays of shape
            ``(n_samples, n_classes)``; ``se`` is on the log-odds scale.
        """
        from softmax.inference import check_alpha, proba_interval

        check_alpha(alpha)
        info = self._info()
        return proba_interval(info, self._validate_predict_input(X), alpha)
