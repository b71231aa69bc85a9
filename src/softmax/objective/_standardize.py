"""Internal standardisation as a linear change of variables (preconditioning).

The solver works on ``w~`` in the coordinates of the standardised features
``X~ = (X - mean) / scale`` but ``X~`` is never formed whole (only chunk by
chunk, for the full Hessian of dense data): with
``W = W~ / scale`` and ``b = b~ - W @ mean``, ``X~ W~.T + b~ == X W.T + b``,
so every evaluation uses the original ``X`` (dense or sparse, never densified)
and the original-scale coefficients.  Gradients and Hessian-vector products
map back with the adjoint of that linear map.  The objective (penalty
included) is the original one: only the solver's geometry changes, which is
what makes unscaled features converge like scaled ones.  Without an intercept
there is nothing to absorb the centring, so ``mean`` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax.objective._datafit import unpack

__all__ = ["Standardization", "initial_curvature"]

# The largest second derivative of the binary logistic loss, p (1 - p) <= 1/4.
_MAX_CURVATURE = 0.25
# Floor of :func:`initial_curvature` (a class of vanishing weight).
_MIN_CURVATURE = 1e-6


def initial_curvature(class_weights: np.ndarray) -> float:
    """The loss's curvature per coefficient at the start of a fit, averaged over
    the coefficient rows, from the total sample weight of each class.

    With the intercepts at the class log-priors every row predicts the priors
    ``pi``, and the Hessian's diagonal is ``var_j`` times ``(1 - sum_k pi_k**2) / K``
    (multinomial: ``K >= 3`` rows of ``pi_k (1 - pi_k)``) or ``pi_1 (1 - pi_1)``
    (binomial: two classes, one row).  This is the ``curvature``
    :meth:`Standardization.from_data` balances the penalty against: 1/4 (the
    bound) overstates it ``K / (1 - 1/K) / 4`` times for ``K`` balanced classes
    (5x for 20), which leaves frequent features' coefficients that much stiffer
    than rare ones'.  Measured on W4 (tf-idf, 20 classes): Newton-CG needed 33
    Hessian-vector products instead of 89, L-BFGS 28 iterations instead of 64.
    """
    weights = np.asarray(class_weights, dtype=np.float64)
    pi = weights / max(float(weights.sum()), np.finfo(np.float64).tiny)
    if pi.shape[0] == 2:
        h = float(pi[1] * (1.0 - pi[1]))
    else:
        h = float(1.0 - np.sum(pi**2)) / max(1, pi.shape[0])
    return min(_MAX_CURVATURE, max(_MIN_CURVATURE, h))


@dataclass(frozen=True)
class Standardization:
    """The map ``w~ -> w`` (see the module docstring) for one coefficient layout."""

    mean: np.ndarray
    scale: np.ndarray
    n_rows: int
    fit_intercept: bool

    @classmethod
    def from_data(
        cls,
        X: Any,
        n_rows: int,
        fit_intercept: bool,
        l2_strength: float = 0.0,
        curvature: float = _MAX_CURVATURE,
    ) -> Standardization:
        """Column means and scales of ``X`` (constant columns get scale 1).

        The scale is ``sqrt(var_j + l2_strength / h)`` with ``h = curvature``
        (default 1/4, the largest curvature of the logistic loss; the estimators
        pass :func:`initial_curvature`): it equalises the diagonal of the
        penalised Hessian, ``h var_j + l2_strength``, across features.  Plain
        standardisation (``l2_strength = 0``) would blow up rare features (most
        columns of sparse text data), whose tiny variance then meets the
        penalty's full curvature and makes the problem worse conditioned than
        no scaling at all.
        """
        if sp.issparse(X):
            # Column sums of the values and of their squares in float64 (SciPy
            # sums float32 data in float32), on X's own structure.
            X = sp.csr_matrix(X)
            if not X.has_canonical_format:  # squares of summed duplicates
                X = X.copy()
                X.sum_duplicates()
            values = X.data.astype(np.float64, copy=False)
            n = max(1, X.shape[0])

            def column_mean(v: np.ndarray) -> np.ndarray:
                M = sp.csr_matrix((v, X.indices, X.indptr), shape=X.shape)
                return np.asarray(M.sum(axis=0), dtype=np.float64).ravel() / n

            with np.errstate(over="ignore"):  # refused in from_moments, by column
                mean, sq = column_mean(values), column_mean(values * values)
                var = np.maximum(sq - mean**2, 0.0)
        else:
            mean = X.mean(axis=0, dtype=np.float64)
            # Two-pass variance by blocks of rows: X.var would hold a temporary
            # as large as X (the largest allocation of a whole fit).
            step = max(1, 2**20 // max(1, X.shape[1]))
            var = np.zeros(X.shape[1])
            with np.errstate(over="ignore"):  # refused in from_moments, by column
                for start in range(0, X.shape[0], step):
                    var += np.square(X[start : start + step] - mean).sum(axis=0)
            var /= max(1, X.shape[0])
        return cls.from_moments(mean, var, n_rows, fit_intercept, l2_strength, curvature)

    @classmethod
    def from_moments(
        cls,
        mean: np.ndarray,
        var: np.ndarray,
        n_rows: int,
        fit_intercept: bool,
        l2_strength: float = 0.0,
        curvature: float = _MAX_CURVATURE,
    ) -> Standardization:
        """As :meth:`from_data`, from column means and (population) variances
        computed elsewhere (by passes over chunks, or by Dask)."""
        mean = np.asarray(mean, dtype=np.float64)
        var = np.asarray(var, dtype=np.float64)
        overflow = np.flatnonzero(~np.isfinite(var))
        if overflow.size:
            # Values near sqrt(max float) and beyond: their squares, the
            # Hessian's entries, are inf; the column would be silently ignored.
            raise ValueError(
                f"Input X column {int(overflow[0])} holds values too large for a fit in "
                "float64 (their squares overflow: |x| beyond about 1e154); rescale it"
            )
        if not fit_intercept:
            # No intercept to absorb a shift: scale around 0 instead of the mean.
            var = var + mean**2
            mean = np.zeros_like(mean)
        scale = np.sqrt(var + l2_strength / curvature)
        tiny = np.finfo(np.float64).tiny ** 0.5
        scale = np.where(scale > tiny * np.maximum(1.0, np.abs(mean)), scale, 1.0)
        return cls(mean=mean, scale=scale, n_rows=n_rows, fit_intercept=fit_intercept)

    def columns(self, features: np.ndarray) -> Standardization:
        """The map for the columns ``features`` of ``X`` alone."""
        return Standardization(
            mean=self.mean[features],
            scale=self.scale[features],
            n_rows=self.n_rows,
            fit_intercept=self.fit_intercept,
        )

    def _split(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return unpack(w, self.n_rows, self.mean.shape[0], self.fit_intercept)

    def forward(self, wt: np.ndarray) -> np.ndarray:
        """Original-scale parameters ``w`` from standardised ``w~``."""
        Wt, bt = self._split(wt)
        W = Wt / self.scale
        if bt is None:
            return W.ravel()
        return np.concatenate([W.ravel(), bt - W @ self.mean])

    def adjoint(self, g: np.ndarray) -> np.ndarray:
        """Map a gradient (or Hessian-vector product) back to standardised coordinates."""
        G, g_b = self._split(g)
        if g_b is None:
            return (G / self.scale).ravel()
        Gt = (G - np.outer(g_b, self.mean)) / self.scale
        return np.concatenate([Gt.ravel(), g_b])

    def standardize(self, X: np.ndarray) -> np.ndarray:
        """``X~ = (X - mean) / scale`` for dense rows ``X`` (forming the Hessian
        of small problems; evaluations never do)."""
        return (X - self.mean) / self.scale

    def inverse(self, w: np.ndarray) -> np.ndarray:
        """Standardised ``w~`` from original-scale ``w`` (for warm starts)."""
        W, b = self._split(w)
        Wt = W * self.scale
        if b is None:
            return Wt.ravel()
        return np.concatenate([Wt.ravel(), b + W @ self.mean])
