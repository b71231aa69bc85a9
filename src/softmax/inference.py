r"""Statistical inference for unpenalised softmax regression.

What statsmodels' ``MNLogit`` / ``Logit`` and R's ``nnet::multinom`` report:
standard errors, z statistics, two-sided p-values, Wald confidence intervals,
the covariance matrix, log-likelihoods, AIC, BIC, McFadden's pseudo-R² and the
likelihood-ratio test, plus delta-method intervals on predicted probabilities.

Parametrisation
---------------
``SoftmaxRegression`` stores the multinomial coefficients with the sum-to-zero
constraint; statistics tools report them *relative to a reference class*
``r`` (the first class by default): for every class ``k != r``,
``beta_k = theta_k - theta_r`` where ``theta_k = [b_k, W_k]`` holds the
intercept first (named ``"const"``, as statsmodels' ``add_constant`` does) and
then the coefficients of the features.  ``beta_k`` is the change in the
log-odds ``log(P(k) / P(r))``.  Arrays of parameters have shape
``(n_classes - 1, n_params_per_class)``, one row per non-reference class (the
rows of ``coef_``, whose binary case is also a single row); the covariance
matrix is ordered class by class (row-major over that array), which is
statsmodels' order.

Weights
-------
Sample weights are *frequency weights*: a row of weight 2 counts as two
identical rows (the log-likelihood is ``sum_i s_i log p_{i, y_i}`` and the
number of observations ``sum_i s_i``).  Class weights change the likelihood
into a pseudo-likelihood whose inverse Hessian is not a covariance, so
inference refuses them.

Cost
----
``SoftmaxRegression.fit`` with ``penalty=None`` forms the information matrix
once (the cost of one Newton-Cholesky step, ``n_samples * n_params**2 / 2``
multiply-adds, skipped beyond 4096 parameters) and checks for separation by
linear programming when the problem is small or the fit looks separated;
``summary()`` then needs no data.  The estimator keeps that matrix
(``(n_classes * (1 + n_features))**2`` floats).  Penalised fits compute nothing;
:func:`bootstrap` resamples and refits them instead.

``docs/math.md`` (section 13) derives the observed information, the
reference-class transformation, the separation test and the delta method.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from softmax.objective import Multinomial
from softmax.special import log_softmax

__all__ = [
    "BootstrapResult",
    "CollinearityError",
    "InferenceResult",
    "ProbaInterval",
    "SeparationError",
    "bootstrap",
]

# Problems larger than this (parameters in the full parametrisation, and
# multiply-adds to form the Hessian) skip the fit-time information matrix: a
# dense covariance of that size is neither cheap nor what such models are for.
_MAX_PARAMS = 4096
_MAX_HESSIAN_WORK = 5e10
# The exact linear-programming tests for separation (see _separation_direction)
# always run while their dense constraint matrices have at most _LP_ALWAYS
# elements (milliseconds); up to _MAX_LP_ELEMENTS only when the fit looks
# separated: not converged, a standardised coefficient beyond
# _SEPARATION_SCREEN (odds ratio e**5 per standard deviation), or a training row
# fitted with probability above 1 - _CERTAIN (which separated rows reach once
# the solver's gradient test is met, unless they are very many).
_LP_ALWAYS = 2e4
_MAX_LP_ELEMENTS = 2e7
_SEPARATION_SCREEN = 5.0
_CERTAIN = 1e-4
# Eigenvalues of the Jacobi-scaled information (unit diagonal) below this are
# treated as exactly singular (collinear features).
_SINGULAR_RTOL = 1e-10


class SeparationError(ValueError):
    """The maximum-likelihood estimate does not exist (quasi-complete separation)."""


class CollinearityError(ValueError):
    """The information matrix is singular: some features are linearly dependent."""


class ProbaInterval(NamedTuple):
    """Predicted probabilities with pointwise delta-method confidence intervals.

    All arrays have shape ``(n_samples, n_classes)``; ``se`` is the standard
    error of the log-odds ``log(p_k / (1 - p_k))``, on which scale the interval
    is symmetric.
    """

    proba: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    se: np.ndarray


@dataclass(frozen=True)
class FitInformation:
    """What inference needs from the training data, computed once at fit time.

    ``theta`` is ``(n_classes, n_terms)`` in the sum-to-zero parametrisation
    with the intercept in column 0 (when fitted); ``information`` is the
    observed information (minus the Hessian of the log-likelihood) with
    respect to ``theta.ravel()``, singular along the class-shift directions.
    ``separation`` is a direction along which the log-likelihood increases
    without bound (``(n_classes, n_terms)``, defined up to adding the same row
    to every class) or None; ``unavailable`` is the reason inference is
    refused, or None.
    """

    classes: np.ndarray
    term_names: tuple[str, ...]
    fit_intercept: bool
    theta: np.ndarray | None = None
    information: np.ndarray | None = None
    llf: float = np.nan
    llnull: float = np.nan
    nobs: float = np.nan
    converged: bool = True
    separation: np.ndarray | None = None
    separated_rows: np.ndarray | None = None
    separation_per_class: bool = False
    unavailable: str | None = None
    # The column offsets the information was computed around (None: none), see
    # fit_information; the covariance is mapped back to the columns as given.
    shift: np.ndarray | None = None
    # Covariance matrices by reference index, computed on first use.
    cache: dict[int, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def check_available(self) -> None:
        """Raise ValueError with the reason when inference is refused."""
        if self.unavailable is not None:
            raise ValueError(f"Statistical inference is not available: {self.unavailable}.")

    @property
    def n_params(self) -> int:
        """Free parameters, ``(n_classes - 1) * n_terms``."""
        return (len(self.classes) - 1) * len(self.term_names)

    @property
    def df_model(self) -> int:
        """Slope parameters, ``(n_classes - 1) * n_features`` (statsmodels' ``df_model``)."""
        return (len(self.classes) - 1) * (len(self.term_names) - int(self.fit_intercept))

    @property
    def aic(self) -> float:
        return -2.0 * self.llf + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.llf + float(np.log(self.nobs)) * self.n_params

    @property
    def prsquared(self) -> float:
        return 1.0 - self.llf / self.llnull


def term_names(feature_names: Any, n_features: int, fit_intercept: bool) -> tuple[str, ...]:
    """``("const", x1, ...)``: the feature names, or statsmodels' ``x1 .. xD``."""
    if feature_names is None:
        names = [f"x{j + 1}" for j in range(n_features)]
    else:
        names = [str(n) for n in feature_names]
    return (("const",) if fit_intercept else ()) + tuple(names)


def unavailable(
    classes: np.ndarray, names: tuple[str, ...], fit_intercept: bool, reason: str
) -> FitInformation:
    """A :class:`FitInformation` that refuses inference for ``reason``."""
    return FitInformation(classes, names, fit_intercept, unavailable=reason)


def _design(X: Any, fit_intercept: bool) -> np.ndarray:
    """``[1, X]`` (or ``X``) as dense float64."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
    Xd = Xd.astype(np.float64, copy=False)
    if not fit_intercept:
        return Xd
    return np.hstack([np.ones((Xd.shape[0], 1)), Xd])


def fit_information(
    X: Any,
    labels: np.ndarray,
    sample_weight: np.ndarray,
    W: np.ndarray,
    b: np.ndarray | None,
    classes: np.ndarray,
    feature_names: Any = None,
    *,
    standardized_max: float = np.inf,
    converged: bool = True,
) -> FitInformation:
    r"""Observed information, log-likelihoods and a separation check of a fit.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    labels : ndarray of int of shape (n_samples,)
        Class indices in ``[0, n_classes)``.
    sample_weight : ndarray of shape (n_samples,)
        Frequency weights.
    W, b : ndarray
        The fitted coefficients in float64, layout of
        :mod:`softmax.objective._datafit`: ``(n_classes, n_features)`` or, for
        two classes, the single row of log-odds of the second class.
    classes : ndarray of shape (n_classes,)
    feature_names : sequence of str, optional
    standardized_max : float
        The largest coefficient in standardised units, one of the signs of
        separation that make larger problems run the exact LP test.
    converged : bool
        Whether the solver met its stopping rule.

    Returns
    -------
    FitInformation
    """
    n_samples, n_features = X.shape
    n_classes = classes.shape[0]
    fit_intercept = b is not None
    names = term_names(feature_names, n_features, fit_intercept)
    n_terms = len(names)
    n_full = n_classes * n_terms
    if n_full > _MAX_PARAMS or n_samples * n_full**2 / 2 > _MAX_HESSIAN_WORK:
        return unavailable(
            classes,
            names,
            fit_intercept,
            f"the model has {n_full} parameters and {n_samples} samples: the dense "
            f"{n_full} x {n_full} information matrix is not formed for problems this large "
            f"(at most {_MAX_PARAMS} parameters and {_MAX_HESSIAN_WORK:.0e} multiply-adds)",
        )
    W = np.asarray(W, dtype=np.float64)
    b = None if b is None else np.asarray(b, dtype=np.float64)
    if W.shape[0] == 1 and n_classes == 2:
        # The binomial row is the log-odds of class 1 against class 0: in the
        # multinomial layout, class 0 gets zeros (any shift is equivalent).
        W = np.vstack([np.zeros_like(W), W])
        b = None if b is None else np.array([0.0, b[0]])
    # Sum-to-zero representative (the information does not depend on it).
    W = W - W.mean(axis=0)
    b = None if b is None else b - b.mean()
    datafit = Multinomial(n_classes, fit_intercept)
    w = np.concatenate([W.ravel(), [] if b is None else b])
    sw = np.asarray(sample_weight, dtype=np.float64)
    log_proba, proba = datafit.proba(X, w, np.dtype(np.float64))
    rows = np.arange(n_samples)
    llf = float(sw @ log_proba[rows, labels])
    # Intercept-only MLE: p_k = S_k / S, so llnull = sum_k S_k log(S_k / S).
    class_totals = np.bincount(labels, weights=sw, minlength=n_classes)
    total = class_totals.sum()
    pos = class_totals > 0
    llnull = float(class_totals[pos] @ np.log(class_totals[pos] / total))

    # Hessian of the negative log-likelihood in the flat layout [W.ravel(), b],
    # permuted to class-major blocks [b_k, W_k] (intercept first, as printed).
    # Columns far from 0 against their spread are centred for it: 1e6 + N(0, 1)
    # is nearly the intercept's column, and the information matrix then looked
    # singular (the covariance is mapped back, see InferenceResult).
    shift = _offsets(X) if fit_intercept else None
    H = datafit.hessian(X if shift is None else X - shift, proba, sw)
    perm = np.empty((n_classes, n_terms), dtype=np.intp)
    offset = int(fit_intercept)
    perm[:, offset:] = np.arange(n_classes * n_features).reshape(n_classes, n_features)
    if fit_intercept:
        perm[:, 0] = n_classes * n_features + np.arange(n_classes)
    order = perm.ravel()
    information = H[np.ix_(order, order)]
    theta = np.empty((n_classes, n_terms))
    theta[:, offset:] = W
    if fit_intercept:
        theta[:, 0] = b

    separation = separated = None
    per_class = False
    suspicious = (
        not converged
        or standardized_max > _SEPARATION_SCREEN
        or bool(np.any(log_proba[rows, labels] > np.log1p(-_CERTAIN)))
    )
    budget = _MAX_LP_ELEMENTS if suspicious else _LP_ALWAYS
    separation, separated, per_class = _separation_direction(
        X, labels, sw, n_classes, fit_intercept, budget
    )
    return FitInformation(
        classes=classes,
        term_names=names,
        fit_intercept=fit_intercept,
        theta=theta,
        information=0.5 * (information + information.T),
        llf=llf,
        llnull=llnull,
        nobs=float(total),
        converged=converged,
        separation=separation,
        separated_rows=separated,
        separation_per_class=per_class,
        shift=shift,
    )


#: A dense column whose mean is more than this many times its standard deviation
#: is centred for the information matrix (see fit_information).
_OFFSET_RATIO = 10.0


def _offsets(X: Any) -> np.ndarray | None:
    """The means of the dense columns far from 0 against their spread (0 for the
    others), or None when there are none (or ``X`` is sparse)."""
    if sp.issparse(X):
        return None
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    far = np.abs(mean) > _OFFSET_RATIO * X.std(axis=0)
    return np.where(far, mean, 0.0) if far.any() else None


def _separation_direction(
    X: Any,
    labels: np.ndarray,
    sw: np.ndarray,
    n_classes: int,
    fit_intercept: bool,
    budget: float = _MAX_LP_ELEMENTS,
) -> tuple[np.ndarray | None, np.ndarray | None, bool]:
    r"""A direction of (quasi-)complete separation, by linear programming, or None.

    The maximum-likelihood estimate fails to exist iff some ``D != 0`` (one
    row per class, modulo adding the same row to all) has
    ``(D_{y_i} - D_k) . x_i >= 0`` for every row and every ``k != y_i``
    (Albert & Anderson 1984): moving along ``D`` never lowers any row's
    likelihood.  We maximise the sum of those margins over the box
    ``|D| <= 1``; with a full-rank design the optimum is 0 exactly when no such
    direction exists.  First for each class alone (``D`` zero but in row
    ``k``: class ``k`` against the rest, the common and most readable case;
    the sum of such directions is again one), then, if none, jointly with row
    0 fixed at 0.  A search runs only while its dense constraint matrix has at
    most ``budget`` elements.  Columns are scaled to max-abs 1 (which keeps
    each entry's support; all-zero columns are left out) for a
    well-conditioned LP.  Returns the direction on the original scale, the
    indices of rows fitted with certainty along it, and whether it came from
    the per-class search.
    """
    keep = np.flatnonzero(sw > 0)
    K = n_classes
    n, p = keep.size, X.shape[1] + int(fit_intercept)
    if n * p * K > budget:
        return None, None, False
    Xt = _design(X[keep] if sp.issparse(X) else np.asarray(X)[keep], fit_intercept)
    y = labels[keep]
    col_max = np.max(np.abs(Xt), axis=0)
    # All-zero columns get scale 0: their entries of an LP solution are arbitrary.
    inv_scale = np.divide(1.0, col_max, out=np.zeros(p), where=col_max > 0)
    Xs = Xt * inv_scale

    direction = np.zeros((K, p))
    certain = np.zeros(n, dtype=bool)
    # With two classes, class 0 against the rest is class 1's problem reversed.
    for k in range(1 if K == 2 else 0, K):
        own = y == k
        A = np.where(own, 1.0, -1.0)[:, None] * Xs  # margins of class k vs the rest
        found = _max_margin(A)
        # Keep directions that make some row of class k certain; the others only
        # restate another class's separation (e.g. "not class 2" for a dummy of class 2).
        if found is not None and (found[1] & own).any():
            direction[k] = found[0] * inv_scale
            certain |= found[1]
    if direction.any():
        return direction, keep[certain], True
    if n * (K - 1) ** 2 * p > budget:
        return None, None, False

    # Joint search: one constraint per (row i, other class k), row 0 of D fixed at 0.
    A = np.zeros((n * (K - 1), (K - 1) * p))
    idx = np.arange(n)
    for shift in range(1, K):
        other = (y + shift) % K
        block = A[(shift - 1) * n : shift * n].reshape(n, K - 1, p)
        has_own, has_other = y > 0, other > 0
        block[idx[has_own], y[has_own] - 1] += Xs[has_own]
        block[idx[has_other], other[has_other] - 1] -= Xs[has_other]
    found = _max_margin(A)
    if found is None:
        return None, None, False
    direction[1:] = found[0].reshape(K - 1, p) * inv_scale
    return direction, keep[np.unique(np.flatnonzero(found[1]) % n)], False


def _max_margin(A: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``d`` in the box ``|d| <= 1`` maximising ``sum(A d)`` subject to ``A d >= 0``.

    Returns ``(d, A d > 0)`` when the optimum is positive (confirmed on the
    direction with its tiny entries cleaned), else None.
    """
    from scipy.optimize import linprog

    res = linprog(
        -A.sum(axis=0), A_ub=-A, b_ub=np.zeros(A.shape[0]), bounds=(-1, 1), method="highs"
    )
    if res.status != 0 or res.x is None:
        return None
    d = np.where(np.abs(res.x) > 1e-7, res.x, 0.0)
    margins = A @ d
    if not d.any() or margins.min() < -1e-9 or margins.max() <= 1e-6:
        return None
    return d, margins > 1e-6


class InferenceResult:
    r"""Wald inference in the reference-class parametrisation, like statsmodels' results.

    Built by :meth:`softmax.SoftmaxRegression.summary`; printing it shows a
    statsmodels-style table, :meth:`to_frame` gives a DataFrame.  Arrays of
    parameters have shape ``(n_classes - 1, n_terms)`` (one row per class in
    :attr:`equations`, columns :attr:`term_names`, ``"const"`` first).

    Attributes
    ----------
    params : ndarray
        :math:`\beta_k = \theta_k - \theta_r`, the log-odds against the reference.
    bse, zvalues, pvalues : ndarray
        Standard errors :math:`\sqrt{\operatorname{diag}\Sigma}`, :math:`z =
        \beta / \mathrm{se}`, two-sided normal p-values (``tvalues`` is an alias
        of ``zvalues``, statsmodels' name).
    llf, llnull, llr, llr_pvalue : float
        Log-likelihood, that of the intercept-only model, the likelihood-ratio
        statistic :math:`2(\ell - \ell_0)` and its :math:`\chi^2_{\text{df\_model}}`
        p-value.
    aic, bic, prsquared : float
        :math:`-2\ell + 2k`, :math:`-2\ell + k \log n` (:math:`k` = ``n_params``,
        :math:`n` = ``nobs``), McFadden's :math:`1 - \ell / \ell_0`.
    nobs : float
        Sum of the (frequency) weights.
    n_params, df_model, df_resid : int or float
        :math:`(K - 1) p`; the slopes :math:`(K - 1) D`; ``nobs - n_params``.
    alpha : float
        The level of the intervals in the printed table.
    """

    def __init__(self, info: FitInformation, reference: Any = None, alpha: float = 0.05) -> None:
        check_alpha(alpha)
        info.check_available()
        assert info.theta is not None and info.information is not None
        classes = info.classes
        r = reference_index(classes, reference)
        self.classes = classes
        self.reference = classes[r]
        self.reference_index = r
        self.equations = np.delete(classes, r)
        self.term_names = info.term_names
        self.alpha = alpha
        self.converged = info.converged
        K = info.theta.shape[0]
        self.params = np.delete(info.theta - info.theta[r], r, axis=0)
        if info.separation is not None:
            raise SeparationError(self._separation_message(info, r))
        if r not in info.cache:
            cov = _covariance(reference_information(info.information, K, r), self._param_labels())
            if info.shift is not None:
                # Centred columns x - shift: the intercepts there are b + W @ shift,
                # so b = b_c - W @ shift, a linear map A of each equation's terms.
                block = np.eye(len(self.term_names))
                block[0, 1:] = -info.shift
                A = np.kron(np.eye(K - 1), block)
                cov = A @ cov @ A.T
            info.cache[r] = cov
        self._cov = info.cache[r]
        self.llf, self.llnull, self.nobs = info.llf, info.llnull, info.nobs
        self.n_params, self.df_model = info.n_params, info.df_model
        self.df_resid = self.nobs - self.n_params
        self.aic, self.bic, self.prsquared = info.aic, info.bic, info.prsquared

    # --- the statistics ------------------------------------------------ #
    def cov_params(self) -> np.ndarray:
        """Covariance of ``params.ravel()``: the inverse observed information."""
        return self._cov.copy()

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(np.diag(self._cov)).reshape(self.params.shape)

    @property
    def zvalues(self) -> np.ndarray:
        return self.params / self.bse

    tvalues = zvalues

    @property
    def pvalues(self) -> np.ndarray:
        from scipy.stats import norm

        return 2.0 * norm.sf(np.abs(self.zvalues))

    def conf_int(self, alpha: float | None = None) -> np.ndarray:
        r"""Wald intervals :math:`\beta \pm z_{1-\alpha/2}\,\mathrm{se}`, shape
        ``(n_classes - 1, n_terms, 2)`` (lower, upper), as statsmodels' MNLogit."""
        from scipy.stats import norm

        q = norm.isf(check_alpha(self.alpha if alpha is None else alpha) / 2)
        se = self.bse
        return np.stack([self.params - q * se, self.params + q * se], axis=-1)

    @property
    def llr(self) -> float:
        return 2.0 * (self.llf - self.llnull)

    @property
    def llr_pvalue(self) -> float:
        from scipy.stats import chi2

        return float(chi2.sf(self.llr, self.df_model))

    # --- presentation ---------------------------------------------------- #
    def _param_labels(self) -> list[tuple[str, str]]:
        return [(str(k), t) for k in self.equations for t in self.term_names]

    def _columns(self, alpha: float) -> tuple[list[str], np.ndarray]:
        ci = self.conf_int(alpha)
        cols = ["coef", "std err", "z", "P>|z|", f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"]
        values = np.stack(
            [self.params, self.bse, self.zvalues, self.pvalues, ci[..., 0], ci[..., 1]], axis=-1
        )
        return cols, values

    def _header(self) -> list[tuple[str, str]]:
        return [
            ("Model:", "SoftmaxRegression"),
            ("Method:", "MLE"),
            ("Reference class:", str(self.reference)),
            ("No. Observations:", f"{self.nobs:g}"),
            ("Df Model:", f"{self.df_model:d}"),
            ("Df Residuals:", f"{self.df_resid:g}"),
            ("Converged:", str(self.converged)),
            ("Covariance Type:", "nonrobust"),
            ("Pseudo R-squ.:", f"{self.prsquared:.4f}"),
            ("Log-Likelihood:", f"{self.llf:.6g}"),
            ("LL-Null:", f"{self.llnull:.6g}"),
            ("LLR p-value:", f"{self.llr_pvalue:.4g}"),
            ("AIC:", f"{self.aic:.6g}"),
            ("BIC:", f"{self.bic:.6g}"),
        ]

    def as_text(self, alpha: float | None = None) -> str:
        """The statsmodels-style summary table as plain text."""
        alpha = self.alpha if alpha is None else alpha
        cols, values = self._columns(alpha)
        head = self._header()
        half = (len(head) + 1) // 2
        cells = [f"{k:<18}{v:>21}" for k, v in head]
        lines = ["   ".join(cells[i::half][:2]).rstrip() for i in range(half)]
        titles = [f"y={eq} vs {self.reference}" for eq in self.equations]
        name_width = max(16, *(len(t) + 1 for t in [*self.term_names, *titles]))
        width = max(81, name_width + 11 * len(cols))
        out = ["Softmax Regression Results".center(width).rstrip(), "=" * width, *lines]
        for k, title in enumerate(titles):
            out.append("=" * width)
            out.append(f"{title:<{name_width}}" + "".join(f"{c:>11}" for c in cols))
            out.append("-" * width)
            for j, term in enumerate(self.term_names):
                v = values[k, j]
                row = [f"{v[0]:.4f}", f"{v[1]:.4f}", f"{v[2]:.3f}", f"{v[3]:.3f}"]
                row += [f"{v[4]:.3f}", f"{v[5]:.3f}"]
                out.append(f"{term:<{name_width}}" + "".join(f"{c:>11}" for c in row))
        out.append("=" * width)
        return "\n".join(out)

    def __str__(self) -> str:
        return self.as_text()

    def __repr__(self) -> str:
        return (
            f"<InferenceResult: {len(self.equations)} equation(s) vs reference "
            f"{self.reference!r}, {len(self.term_names)} terms, llf={self.llf:.6g}>"
        )

    def _repr_html_(self) -> str:
        cols, values = self._columns(self.alpha)
        esc = html.escape
        head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in self._header())
        body = []
        for k, eq in enumerate(self.equations):
            label = esc(f"y={eq} vs {self.reference}")
            body.append(
                f"<tr><th>{label}</th>" + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr>"
            )
            for j, term in enumerate(self.term_names):
                cells = "".join(f"<td>{x:.4g}</td>" for x in values[k, j])
                body.append(f"<tr><th>{esc(term)}</th>{cells}</tr>")
        return (
            "<div><p><b>Softmax Regression Results</b></p>"
            f"<table>{head}</table><table>{''.join(body)}</table></div>"
        )

    def to_frame(self, alpha: float | None = None) -> Any:
        """A pandas DataFrame, one row per (class, term), statsmodels' column names."""
        import pandas as pd

        cols, values = self._columns(self.alpha if alpha is None else alpha)
        index = pd.MultiIndex.from_tuples(self._param_labels(), names=["class", "term"])
        return pd.DataFrame(values.reshape(-1, len(cols)), index=index, columns=cols)

    def _separation_message(self, info: FitInformation, r: int) -> str:
        assert info.separation is not None
        names = self.term_names

        def terms(v: np.ndarray, most: int = 8) -> str:
            big = np.flatnonzero(np.abs(v) > 1e-6 * np.abs(v).max())
            # The largest entries of the direction first (original order among them).
            shown = np.sort(big[np.argsort(-np.abs(v[big]), kind="stable")[:most]])
            text = ", ".join(f"{names[j]!r} ({'+' if v[j] > 0 else '-'})" for j in shown)
            return text + (f" and {big.size - most} more" if big.size > most else "")

        if info.separation_per_class:
            parts = [
                f"class {str(self.classes[k])!r} is separated from the other classes by "
                f"the terms {terms(v)}"
                for k, v in enumerate(info.separation)
                if v.any()
            ]
            where = "; ".join(parts[:4]) + (
                f"; and {len(parts) - 4} more classes" if len(parts) > 4 else ""
            )
        else:
            d = np.delete(info.separation - info.separation[r], r, axis=0)
            where = (
                f"relative to the reference class {str(self.reference)!r}, the "
                "log-likelihood keeps increasing along "
                + "; ".join(
                    f"class {str(self.equations[k])!r} terms {terms(v)}"
                    for k, v in enumerate(d)
                    if v.any()
                )
            )
        rows = np.asarray(info.separated_rows)
        shown = ", ".join(str(i) for i in rows[:5]) + (", ..." if rows.size > 5 else "")
        return (
            "quasi-complete separation: the maximum-likelihood estimate does not exist "
            "(the coefficients grow without bound), so Wald standard errors, p-values and "
            f"intervals are undefined: {where}. {rows.size} training row(s) are predicted "
            f"with certainty along that direction (rows {shown}). Remove or merge the "
            "separating feature or class, or fit with a penalty (penalty='l2') and use a "
            "bootstrap for uncertainty"
        )


def reference_index(classes: np.ndarray, reference: Any) -> int:
    """Index of ``reference`` in ``classes`` (0 for None), else ValueError naming it."""
    if reference is None:
        return 0
    matches = np.flatnonzero(classes == reference)
    if matches.size != 1:
        raise ValueError(f"reference={reference!r} is not one of the classes {classes.tolist()!r}")
    return int(matches[0])


def check_alpha(alpha: Any) -> float:
    """``alpha`` in (0, 1), else ValueError naming it."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.floating):
        raise ValueError(f"alpha must be a float in (0, 1), got alpha={alpha!r}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got alpha={alpha!r}")
    return float(alpha)


def reference_information(information: np.ndarray, n_classes: int, r: int) -> np.ndarray:
    r"""The observed information in the reference-class parametrisation.

    The logits are :math:`z_k = \theta_k \cdot \tilde x` and depend on
    :math:`\theta` only through differences (shift invariance), so with
    :math:`\beta_k = \theta_k - \theta_r` (:math:`k \ne r`) the log-likelihood
    is :math:`\ell(\theta) = \ell(E\beta)`, where :math:`E` inserts a zero block
    at class :math:`r`.  The chain rule gives :math:`I_\beta = E^\top I_\theta E`,
    evaluated at :math:`E\beta` — and :math:`I_\theta` takes the same value at
    :math:`\theta` and at :math:`E\beta = \theta - \mathbf 1 \otimes \theta_r`
    (same probabilities), so the sum-to-zero fit's information serves.
    :math:`E^\top I E` is :math:`I` with the rows and columns of block
    :math:`r` deleted: that deletion is the whole transformation.
    """
    p = information.shape[0] // n_classes
    keep = np.delete(np.arange(n_classes * p).reshape(n_classes, p), r, axis=0).ravel()
    return information[np.ix_(keep, keep)]


def _covariance(information: np.ndarray, labels: list[tuple[str, str]]) -> np.ndarray:
    """Inverse of the information, with a named error when it is singular.

    Jacobi scaling (unit diagonal) first, so the singularity test does not
    depend on the units of the features; then an eigendecomposition, which
    both inverts and, for a singular matrix, gives the null direction whose
    large entries are the linearly dependent terms.
    """
    from scipy.linalg import eigh

    diag = np.diag(information).copy()
    zero = np.flatnonzero(diag <= 0)
    if zero.size:
        named = ", ".join(f"class {c!r} term {t!r}" for c, t in (labels[i] for i in zero[:5]))
        raise CollinearityError(
            f"the information matrix is singular: {named} never varies where it matters "
            "(an all-zero feature, or one that is constant within the rows of the class); "
            "drop it"
        )
    d = np.sqrt(diag)
    scaled = information / np.outer(d, d)
    lam, V = eigh(scaled)
    if lam[0] <= _SINGULAR_RTOL * lam[-1]:
        v = V[:, 0]
        big = np.flatnonzero(np.abs(v) > 0.05 * np.abs(v).max())
        terms = sorted({labels[i][1] for i in big}, key=[t for _, t in labels].index)
        raise CollinearityError(
            "the information matrix is singular (smallest scaled eigenvalue "
            f"{lam[0]:.2e}): the terms {terms!r} are linearly dependent (collinear "
            "features, a feature constant like the intercept, or fewer observations than "
            "parameters), so their coefficients are not identified; drop one of them"
        )
    return (V / lam) @ V.T / np.outer(d, d)


def proba_interval(
    info: FitInformation, X: Any, alpha: float = 0.05, reference: Any = None
) -> ProbaInterval:
    r"""Delta-method intervals on the predicted probabilities, on the log-odds scale.

    For each class the log-odds :math:`\eta_k = \log\frac{p_k}{1 - p_k} = z_k -
    \operatorname{lse}_{m \ne k} z_m` has gradient :math:`\partial\eta_k/\partial
    z = e_k - q^{(k)}` (:math:`q^{(k)}` the softmax over the other classes) and
    :math:`\partial z_l / \partial \beta_l = \tilde x` for :math:`l \ne r`; its
    variance is :math:`g^\top \Sigma g`.  The interval
    :math:`\sigma(\eta_k \pm z_{1-\alpha/2}\,\mathrm{se})` stays in [0, 1];
    it does not depend on the reference class.
    """
    result = InferenceResult(info, reference, alpha)
    from scipy.stats import norm

    assert info.theta is not None
    K, p = info.theta.shape
    r = result.reference_index
    Xt = _design(X, info.fit_intercept)
    n = Xt.shape[0]
    z = Xt @ info.theta.T
    log_p = log_softmax(z, axis=-1)
    proba = np.exp(log_p)
    # T[i, l, m] = x_i^T Sigma_{lm} x_i over the non-reference blocks l, m.
    Sigma = result.cov_params().reshape(K - 1, p, K - 1, p)
    T = np.empty((n, K - 1, K - 1))
    for l in range(K - 1):
        U = (Xt @ Sigma[l].reshape(p, (K - 1) * p)).reshape(n, K - 1, p)
        T[:, l, :] = np.einsum("imd,id->im", U, Xt)
    eta = np.empty((n, K))
    var = np.empty((n, K))
    for k in range(K):
        others = np.arange(K) != k
        log_q = log_softmax(z[:, others], axis=-1)
        eta[:, k] = z[:, k] - (z[:, others] - log_q)[:, 0]  # z_k - lse_{m != k} z_m
        g = np.zeros((n, K))
        g[:, k] = 1.0
        g[:, others] -= np.exp(log_q)
        g = np.delete(g, r, axis=1)  # the reference logit has no parameters
        var[:, k] = np.einsum("il,ilm,im->i", g, T, g)
    se = np.sqrt(np.maximum(var, 0.0))
    q = norm.isf(alpha / 2)
    from scipy.special import expit

    return ProbaInterval(proba, expit(eta - q * se), expit(eta + q * se), se)


class BootstrapResult(NamedTuple):
    """Bootstrap distribution of the reference-class coefficients.

    ``params`` is the estimate on the full data, ``replicates`` the
    ``(n_resamples, n_classes - 1, n_terms)`` refits, ``bse`` their standard
    deviation, ``conf_int`` the percentile intervals ``(n_classes - 1, n_terms,
    2)``, ``n_not_converged`` the refits that warned (non-convergence or
    separation: their coefficients are kept, and they widen the intervals).
    """

    params: np.ndarray
    replicates: np.ndarray
    bse: np.ndarray
    conf_int: np.ndarray
    n_not_converged: int


def reference_params(estimator: Any, reference_index: int = 0) -> np.ndarray:
    """``theta_k - theta_r`` (``(n_classes - 1, n_terms)``, intercept first) of a
    fitted linear classifier with ``coef_`` and ``intercept_``."""
    W = np.asarray(estimator.coef_, dtype=np.float64)
    b = np.broadcast_to(np.asarray(estimator.intercept_, dtype=np.float64), (W.shape[0],))
    theta = np.column_stack([b, W]) if getattr(estimator, "fit_intercept", True) else W
    if theta.shape[0] == 1:  # binary: the row is the log-odds of class 1 against class 0
        theta = np.vstack([np.zeros_like(theta), theta])
    return np.delete(theta - theta[reference_index], reference_index, axis=0)


def bootstrap(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    sample_weight: Any = None,
    n_resamples: int = 200,
    alpha: float = 0.05,
    reference: Any = None,
    random_state: Any = None,
) -> BootstrapResult:
    r"""Nonparametric bootstrap of the reference-class coefficients.

    Valid where the Wald intervals of :meth:`SoftmaxRegression.summary` are
    not — penalised fits in particular (it then measures the variability of
    the *shrunk* estimator around its own mean, not around the truth).  Rows
    are resampled with replacement; a resample that misses a class is drawn
    again (resampling within classes instead would freeze the class
    proportions and understate the intercepts' variance).  Intervals are the
    ``alpha/2`` and ``1 - alpha/2`` percentiles.

    Parameters
    ----------
    estimator : classifier with ``coef_`` and ``intercept_``
        Cloned (unfitted copy) for every resample, e.g. ``SoftmaxRegression(C=1.0)``
        or scikit-learn's ``LogisticRegression``.
    X, y, sample_weight : array-like
        The training data (dense or sparse X).
    n_resamples : int, default=200
    alpha : float, default=0.05
    reference : class label, optional
        The baseline class (default: the first).
    random_state : None, int or numpy Generator

    Returns
    -------
    BootstrapResult
    """
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    check_alpha(alpha)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(f"n_resamples must be an int >= 2, got n_resamples={n_resamples!r}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be an int >= 2, got n_resamples={n_resamples!r}")
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    r = reference_index(classes, reference)
    rng = np.random.default_rng(random_state)
    X = X.tocsr() if sp.issparse(X) else X
    fit_kw = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)}
    full = clone(estimator).fit(X, y, **fit_kw)
    n, n_classes = codes.shape[0], classes.shape[0]
    replicates, failed = [], 0
    for _ in range(n_resamples):
        for _attempt in range(100):
            rows = rng.integers(0, n, size=n)
            if np.unique(codes[rows]).size == n_classes:
                break
        else:
            raise ValueError(
                "bootstrap resamples keep missing a class: some class has too few rows "
                f"(class counts {np.bincount(codes).tolist()})"
            )
        Xb = (
            X[rows]
            if sp.issparse(X)
            else (X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows])
        )
        kw = {k: v[rows] for k, v in fit_kw.items()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fitted = clone(estimator).fit(Xb, y[rows], **kw)
        failed += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        replicates.append(reference_params(fitted, r))
    reps = np.asarray(replicates)
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2], axis=0)
    return BootstrapResult(
        params=reference_params(full, r),
        replicates=reps,
        bse=reps.std(axis=0, ddof=1),
        conf_int=np.stack([lo, hi], axis=-1),
        n_not_converged=int(failed),
    )
