r"""TemperatureScaling: one temperature T > 0 that calibrates a classifier's logits.

The fitted temperature minimises the (weighted) mean cross-entropy of held-out logits,

.. math::

    f(\beta) = \frac{1}{\sum_i w_i} \sum_i w_i \bigl(\operatorname{logsumexp}(\beta z_i)
               - \beta z_{i, y_i}\bigr), \qquad \beta = 1 / T,

which is convex in :math:`\beta` (a log-sum-exp of functions linear in :math:`\beta`) with

.. math::

    f'(\beta) = \overline{\mathbb E_{p_\beta}[z] - z_{y}}, \qquad
    f''(\beta) = \overline{\operatorname{Var}_{p_\beta}[z]} \ge 0,

where :math:`p_\beta = \operatorname{softmax}(\beta z_i)` and the bar is the weighted mean
over samples.  The 1-D problem is solved to machine precision: :math:`f'` is increasing,
so its root is bracketed and found by Brent's method in :math:`\log\beta` (plain Newton
in :math:`\beta` overshoots: :math:`f''` falls by orders of magnitude as :math:`\beta`
grows), then polished by one Newton step with the analytic :math:`f''`.
See ``docs/calibration.md``.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from scipy.special import log_softmax as scipy_log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from softmax.estimators._softmax_regression import SeparationWarning
from softmax.estimators._validation import check_sample_weight
from softmax.special import log_softmax, softmax

__all__ = ["TemperatureScaling"]

# Probabilities below this are floored before the log when a wrapped classifier has
# only predict_proba: log(0) = -inf would make every temperature give the same row.
_PROBA_FLOOR = 1e-12


def _to_numpy(a: Any, name: str) -> np.ndarray:
    """A float64 NumPy copy of an array from any library (torch tensors included)."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # torch: leave the autograd graph
        a = a.detach().cpu()
    try:
        arr = np.asarray(a)
    except Exception as exc:  # pragma: no cover - exotic array types
        raise ValueError(f"{name} could not be converted to a NumPy array: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _as_2d_logits(z: np.ndarray, name: str) -> np.ndarray:
    """(n, K) logits; a 1-D array is a binary log-odds t, i.e. the logits [0, t]."""
    if z.ndim == 1:
        z = np.stack([np.zeros_like(z), z], axis=1)
    if z.ndim != 2:
        raise ValueError(f"{name} must have shape (n_samples, n_classes), got shape {z.shape}")
    if z.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least 2 columns (classes), got shape {z.shape}; "
            "pass binary log-odds as a 1-D array"
        )
    if not np.isfinite(z).all():
        i = int(np.flatnonzero(~np.isfinite(z).all(axis=1))[0])
        raise ValueError(f"{name} must be finite; row {i} is {z[i].tolist()}")
    return z


def _derivatives(beta: float, z: np.ndarray, z_true: np.ndarray, w: np.ndarray):
    """``(f, f', f'')`` of the mean cross-entropy at inverse temperature ``beta``."""
    # scipy's log_softmax: this runs ~15 times per fit on the whole validation set, and
    # the array-API-generic softmax.special version costs ~10x more per call on NumPy.
    log_p = scipy_log_softmax(beta * z, axis=-1)
    p = np.exp(log_p)
    mean_z = np.einsum("ij,ij->i", p, z)
    centred = z - mean_z[:, None]
    var_z = np.einsum("ij,ij->i", p, centred * centred)
    # logsumexp(beta z) - beta z_y, from the log-softmax of the true class
    f = -np.take_along_axis(log_p, z_true[:, None], axis=1)[:, 0]
    zy = np.take_along_axis(z, z_true[:, None], axis=1)[:, 0]
    return float(w @ f), float(w @ (mean_z - zy)), float(w @ var_z)


class TemperatureScaling(ClassifierMixin, BaseEstimator):
    r"""Temperature scaling: calibrated probabilities :math:`\operatorname{softmax}(z / T)`.

    Fits the single temperature :math:`T > 0` minimising the mean cross-entropy
    :math:`\frac1N\sum_i[\operatorname{logsumexp}(z_i/T) - z_{i,y_i}/T]` of held-out
    logits (Guo et al., 2017).  Dividing by :math:`T` keeps the predicted class (the
    argmax) and changes only the confidence: :math:`T > 1` softens over-confident
    probabilities, :math:`T < 1` sharpens under-confident ones.  The problem is convex
    in :math:`\beta = 1/T` and is solved to machine precision (Brent's method on the
    analytic derivative, see the module docstring).

    Parameters
    ----------
    estimator : fitted classifier or None, default=None
        ``None``: ``fit(logits, y)`` and ``predict_proba(logits)`` take logits of shape
        (n_samples, n_classes) directly — from any model, as a NumPy array, a PyTorch
        tensor or anything NumPy can convert; a 1-D array holds binary log-odds
        :math:`t` (logits :math:`[0, t]`).  A fitted classifier: ``fit(X_val, y_val)``
        calibrates its ``decision_function`` (1-D binary output :math:`t` becomes
        :math:`[0, t]`), else its ``predict_log_proba``, else ``log(predict_proba)``
        (floored at 1e-12); it is used as is, never refitted.
    classes : array-like of shape (n_classes,), default=None
        Only for ``estimator=None``: the class of each logit column.  Default: the sorted
        unique labels of ``y`` when there are ``n_classes`` of them, otherwise (integer
        labels in ``[0, n_classes)``) the column indices ``0 .. n_classes - 1``, as in
        PyTorch's cross-entropy.  With an estimator, its ``classes_`` are used.
    temperature_bounds : (float, float), default=(1e-4, 1e4)
        The temperature is searched in this interval.  When the optimum lies at or beyond
        a bound — logits that rank every sample's true class first (separable: the loss
        keeps falling as T → 0), or logits no better than uniform (T → ∞) — the bound is
        returned with a warning that says which.
    max_iter : int, default=100
        Maximum number of iterations of the 1-D root finder (Brent's method on
        :math:`f'` in :math:`\log\beta`, then one Newton polish step); about 10-20 are typical.

    Attributes
    ----------
    temperature_ : float
        The fitted temperature T.
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of the logit columns.
    n_iter_ : int
        Number of iterations the 1-D solver took.
    loss_ : float
        Weighted mean cross-entropy of the fitting data at ``temperature_``.
    n_features_in_ : int
        Only for ``estimator=None``: the number of logit columns (``n_classes``).

    Notes
    -----
    Compared with scikit-learn's ``CalibratedClassifierCV(method="temperature")`` (which
    this matches on the same logits): scikit-learn turns a binary decision function
    :math:`t` into the logits :math:`[-t, t]`, so its inverse temperature is half of
    ``1 / temperature_`` here, with identical probabilities; it searches
    :math:`\log\beta \in [-10, 10]` with Brent's method, this solves :math:`f'(\beta)=0`
    to machine precision.

    Examples
    --------
    >>> import numpy as np
    >>> import softmax
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(20_000, 3)) * 3  # logits of an over-confident model:
    >>> p = softmax.softmax(z / 2)  # the true class probabilities are softmax(z / 2)
    >>> y = (p.cumsum(axis=1) < rng.random((20_000, 1))).sum(axis=1)
    >>> ts = softmax.TemperatureScaling().fit(z, y)
    >>> round(ts.temperature_, 1)
    2.0
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        classes: Any = None,
        temperature_bounds: tuple[float, float] = (1e-4, 1e4),
        max_iter: int = 100,
    ) -> None:
        self.estimator = estimator
        self.classes = classes
        self.temperature_bounds = temperature_bounds
        self.max_iter = max_iter

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------------ #
    # logits
    # ------------------------------------------------------------------ #
    def _raw_logits(self, X: Any) -> np.ndarray:
        """The logits before scaling, in the source's own shape (1-D for binary log-odds)."""
        if self.estimator is None:
            return _to_numpy(X, "logits")
        est = self.estimator
        if hasattr(est, "decision_function"):
            return _to_numpy(est.decision_function(X), "estimator.decision_function(X)")
        if hasattr(est, "predict_log_proba"):
            z = _to_numpy(est.predict_log_proba(X), "estimator.predict_log_proba(X)")
            # -inf log-probabilities: the same floor as for predict_proba below.
            return np.maximum(z, np.log(_PROBA_FLOOR))
        if hasattr(est, "predict_proba"):
            p = _to_numpy(est.predict_proba(X), "estimator.predict_proba(X)")
            return np.log(np.maximum(p, _PROBA_FLOOR))
        raise ValueError(
            f"estimator {type(est).__name__} has none of decision_function, "
            "predict_log_proba, predict_proba; it cannot be calibrated"
        )

    def _logits_name(self) -> str:
        return "logits" if self.estimator is None else "the estimator's logits"

    def _check_width(self, z: np.ndarray) -> np.ndarray:
        """``z`` (2-D) if it has one column per class, else ValueError."""
        if z.shape[1] != len(self.classes_):
            raise ValueError(
                f"{self._logits_name()} have {z.shape[1]} columns but the model was fitted "
                f"with {len(self.classes_)} classes"
            )
        return z

    def _logits_2d(self, X: Any) -> np.ndarray:
        return self._check_width(_as_2d_logits(self._raw_logits(X), self._logits_name()))

    def _check_params(self) -> tuple[float, float, int]:
        b = self.temperature_bounds
        try:
            t_lo, t_hi = (float(v) for v in b)
        except (TypeError, ValueError):
            raise ValueError(
                f"temperature_bounds must be a pair (low, high) of numbers, got {b!r}"
            ) from None
        if not (0 < t_lo < t_hi < np.inf):
            raise ValueError(f"temperature_bounds must satisfy 0 < low < high < inf, got {b!r}")
        mi = self.max_iter
        if isinstance(mi, bool) or not isinstance(mi, numbers.Integral) or mi < 1:
            raise ValueError(f"max_iter must be an integer >= 1, got max_iter={mi!r}")
        return t_lo, t_hi, int(mi)

    def _resolve_classes(self, y: np.ndarray, n_classes: int) -> np.ndarray:
        if self.estimator is not None:
            check_is_fitted(self.estimator)
            return np.asarray(self.estimator.classes_)
        if self.classes is not None:
            classes = np.asarray(self.classes)
            if classes.ndim != 1 or classes.shape[0] != n_classes:
                raise ValueError(
                    f"classes must list one label per logit column ({n_classes}), "
                    f"got shape {classes.shape}"
                )
            if np.unique(classes).shape[0] != n_classes:
                raise ValueError(f"classes must be unique, got {classes.tolist()}")
            return classes
        unique = np.unique(y)
        if unique.shape[0] == n_classes:
            return unique
        if y.dtype.kind in "iu" and unique[0] >= 0 and unique[-1] < n_classes:
            return np.arange(n_classes)
        raise ValueError(
            f"y has {unique.shape[0]} distinct labels {unique[:10].tolist()} for "
            f"{n_classes} logit columns; pass classes= to name the class of each column"
        )

    # ------------------------------------------------------------------ #
    # fit
    # ------------------------------------------------------------------ #
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TemperatureScaling:
        """Fit the temperature on held-out data.

        Parameters
        ----------
        X : array-like
            ``estimator=None``: logits of shape (n_samples, n_classes) (or 1-D binary
            log-odds), from any array library.  Otherwise the validation features for
            the wrapped estimator.
        y : array-like of shape (n_samples,)
            True labels, among ``classes_``.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the samples in the mean cross-entropy.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Non-finite or badly shaped logits, labels outside the classes, bad weights
            or parameters.

        Warns
        -----
        SeparationWarning
            The logits rank every true class first: the loss decreases towards T = 0,
            and the lower bound of ``temperature_bounds`` is returned.
        sklearn.exceptions.ConvergenceWarning
            The optimum is at the upper bound (logits no better than uniform), or the
            solver did not reach machine precision in ``max_iter`` iterations.
        UserWarning
            Every row of logits is constant: the temperature has no effect; T = 1.
        """
        t_lo, t_hi, max_iter = self._check_params()
        if self.estimator is not None and self.classes is not None:
            raise ValueError(
                "classes is only for estimator=None (logits from elsewhere); with an "
                "estimator the classes are its classes_, got classes="
                f"{np.asarray(self.classes).tolist()!r}"
            )
        y_arr = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y)
        if y_arr.ndim == 2 and y_arr.shape[1] == 1:
            y_arr = y_arr.ravel()
        if y_arr.ndim != 1:
            raise ValueError(f"y must be 1-D class labels, got shape {y_arr.shape}")
        if y_arr.dtype.kind == "f" and np.isnan(y_arr).any():
            raise ValueError("y contains NaN; every sample needs a class label")

        name = "logits" if self.estimator is None else "the estimator's logits"
        z = _as_2d_logits(self._raw_logits(X), name)
        n_samples, n_classes = z.shape
        if y_arr.shape[0] != n_samples:
            raise ValueError(
                f"y has {y_arr.shape[0]} labels but {name} have {n_samples} rows; they must match"
            )
        self.classes_ = self._resolve_classes(y_arr, n_classes)
        if self.classes_.shape[0] != n_classes:
            raise ValueError(
                f"{name} have {n_classes} columns but the estimator has "
                f"{self.classes_.shape[0]} classes"
            )
        if self.estimator is None:
            self.n_features_in_ = n_classes
        y_idx = self._encode(y_arr)
        w = check_sample_weight(sample_weight, n_samples)
        w = w / w.sum()

        self.temperature_, self.n_iter_ = self._solve(z, y_idx, w, t_lo, t_hi, max_iter)
        self.loss_ = _derivatives(1.0 / self.temperature_, z, y_idx, w)[0]
        return self

    def _encode(self, y: np.ndarray) -> np.ndarray:
        classes = self.classes_
        order = np.argsort(classes, kind="stable")
        sorted_classes = classes[order]
        try:
            pos = np.clip(np.searchsorted(sorted_classes, y), 0, len(classes) - 1)
        except TypeError as exc:
            raise ValueError(
                f"y ({y.dtype}) is not comparable with classes_ {classes.tolist()}"
            ) from exc
        bad = sorted_classes[pos] != y
        if bad.any():
            raise ValueError(
                f"y contains labels {np.unique(y[bad])[:10].tolist()} that are not among "
                f"the classes {classes.tolist()}"
            )
        return order[pos].astype(np.intp)

    def _solve(
        self, z: np.ndarray, y: np.ndarray, w: np.ndarray, t_lo: float, t_hi: float, max_iter: int
    ) -> tuple[float, int]:
        """``(T, iterations)``: the root of f'(β) in [1/t_hi, 1/t_lo] (Brent, then Newton)."""
        if np.all(z.max(axis=1) == z.min(axis=1)):
            warnings.warn(
                "every row of logits is constant: all temperatures give the uniform "
                "distribution; temperature_ is set to 1",
                UserWarning,
                stacklevel=3,
            )
            return 1.0, 0
        b_lo, b_hi = 1.0 / t_hi, 1.0 / t_lo
        _, g_lo, _ = _derivatives(b_lo, z, y, w)
        if g_lo >= 0:
            warnings.warn(
                f"the logits are no better than uniform guessing (the loss decreases as "
                f"T grows); temperature_ is clamped at the upper bound {t_hi:g}",
                ConvergenceWarning,
                stacklevel=3,
            )
            return t_hi, 0
        _, g_hi, _ = _derivatives(b_hi, z, y, w)
        if g_hi <= 0:
            zy = np.take_along_axis(z, y[:, None], axis=1)[:, 0]
            separable = bool(np.all((zy >= z.max(axis=1)) | (w == 0)))
            reason = (
                "every sample's true class has the largest logit (separable), so the "
                "loss keeps falling as T -> 0"
                if separable
                else f"the optimal temperature is below {t_lo:g}"
            )
            warnings.warn(
                f"{reason}; temperature_ is clamped at the lower bound {t_lo:g}",
                SeparationWarning,
                stacklevel=3,
            )
            return t_lo, 0
        # f' is increasing (f convex) and changes sign in the bracket.  Brent's method
        # finds its root in u = log β (the bracket spans decades, and the sign change
        # is sharpest on a log scale) to a relative accuracy of 4 machine epsilons.
        from scipy.optimize import brentq

        def grad_in_log_beta(u: float) -> float:
            return _derivatives(float(np.exp(u)), z, y, w)[1]

        u, info = brentq(
            grad_in_log_beta,
            np.log(b_lo),
            np.log(b_hi),
            xtol=1e-15,
            rtol=4 * np.finfo(float).eps,
            maxiter=max_iter,
            full_output=True,
            disp=False,
        )
        beta = float(np.exp(u))
        if not info.converged:
            warnings.warn(
                f"temperature scaling did not reach machine precision in max_iter={max_iter} "
                f"iterations ({info.flag}); increase max_iter",
                ConvergenceWarning,
                stacklevel=3,
            )
        else:
            # One Newton step in β with the analytic f'' polishes the last bits that a
            # root bracketed in log β leaves (kept only if it reduces |f'|).
            _, g, h = _derivatives(beta, z, y, w)
            if h > 0 and g != 0:
                cand = beta - g / h
                if b_lo <= cand <= b_hi and abs(_derivatives(cand, z, y, w)[1]) < abs(g):
                    beta = cand
        return 1.0 / beta, int(info.iterations)

    # ------------------------------------------------------------------ #
    # predict
    # ------------------------------------------------------------------ #
    def decision_function(self, X: Any) -> np.ndarray:
        """Scaled logits ``z / temperature_``, in the source's shape (1-D for binary log-odds)."""
        check_is_fitted(self)
        z = self._raw_logits(X)
        self._check_width(_as_2d_logits(z, self._logits_name()))
        return z / self.temperature_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(z / temperature_)``, shape (n_samples, n_classes)."""
        check_is_fitted(self)
        return softmax(self._logits_2d(X) / self.temperature_, axis=-1)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log_softmax(z / temperature_)``: finite where ``log(predict_proba)`` underflows."""
        check_is_fitted(self)
        return log_softmax(self._logits_2d(X) / self.temperature_, axis=-1)

    def predict(self, X: Any) -> np.ndarray:
        """``classes_[argmax_k z_k]`` — the same as the uncalibrated prediction."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self._logits_2d(X), axis=1)]
