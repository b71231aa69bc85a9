"""The inner solver of proximal Newton for lasso-type penalties: coordinate
descent on the quadratic model, over the data (glmnet's scheme).

:func:`softmax.solvers.prox_newton` minimises, at each outer step, the model
``g.d + d.H d / 2 + h(x + d)``.  Its generic inner solver (FISTA, then Newton
on the sparsity pattern) sees ``H`` only through Hessian-vector products:
tens of passes over the data per outer step.  For an L1 penalty (plain or the
L1 part of an elastic net) on the multinomial or binomial data fit, cyclic
coordinate descent minimises the same model exactly one coefficient at a time
for the cost of one pass over that coefficient's column, and after one sweep
over every coefficient only the nonzero ones (a few percent on sparse models)
are swept again (:mod:`softmax._kernels._numba_cd`).

Coordinates: the solver's ``x`` is in standardised coordinates
(:class:`~softmax.objective.Standardization`, ``W~ = W * scale``,
``b~ = b + W @ mean``).  Coordinate descent does not care for the scale (each
coordinate divides by its own curvature) nor reads the columns centred
(centring would fill them): it works with the original-scale ``W`` and
intercept ``b``.  The L1 thresholds are the original-scale ones
(``lam * weight_j``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax._kernels import coordinate_descent_kernels
from softmax.objective._datafit import Binomial, Multinomial, unpack
from softmax.objective._objective import Objective
from softmax.objective._penalties import L1, L2, NoPenalty

__all__ = ["coordinate_descent_solver"]

#: Sweeps over the active set per outer step, at most (an inexact model
#: minimiser still gives proximal Newton a descent direction).
MAX_SWEEPS = 500
#: Largest share of the stored values in the columns left to check exactly
#: (after the bound) for which their own products replace one pass over ``X``.
CHECK_SHARE = 0.25


def coordinate_descent_solver(
    objective: Any, nonsmooth: Any
) -> Callable[[np.ndarray, np.ndarray, float], np.ndarray] | None:
    """``solve(x, g, tol) -> z``, the minimiser of the proximal-Newton model at ``x``
    by coordinate descent, or None where it does not apply.

    It applies to the in-memory :class:`Objective` of a :class:`Multinomial` or
    :class:`Binomial` data fit, with an :class:`L2` (or no) smooth penalty and
    an :class:`L1` non-smooth one, when the numba kernels load.  ``g`` is the
    gradient of the smooth part at ``x`` (solver coordinates) and ``tol`` the
    inner tolerance on the model's least-norm subgradient.
    """
    if type(objective) is not Objective or nonsmooth is None or not sp.issparse(objective.X):
        return None
    datafit = objective.datafit
    if not isinstance(datafit, Multinomial | Binomial):
        return None
    if not isinstance(objective.penalty, L2 | NoPenalty):
        return None
    if not isinstance(nonsmooth.penalty, L1):
        return None
    kernels = coordinate_descent_kernels()
    if kernels is None:
        return None
    return _CoordinateDescent(objective, nonsmooth.penalty, kernels)


class _CoordinateDescent:
    """The data in column order, and the change of coordinates, prepared once."""

    def __init__(self, objective: Objective, penalty_std: L1, kernels: Any) -> None:
        self.objective, self.kernels = objective, kernels
        n_features = objective.n_features
        self.K = objective.datafit.n_rows
        self.coupled = isinstance(objective.datafit, Multinomial)
        self.fit_intercept = objective.fit_intercept
        std = objective.standardization
        self.mean = np.zeros(n_features) if std is None else std.mean
        self.scale = np.ones(n_features) if std is None else std.scale
        self.indptr, self.indices, self.data = objective.column_major()
        # The columns' Euclidean norms, for the bound of the optimality check.
        counts = np.diff(self.indptr)
        squares = np.zeros(n_features)
        filled = counts > 0
        if filled.any():
            sums = np.add.reduceat(self.data.astype(np.float64) ** 2, self.indptr[:-1][filled])
            squares[filled] = sums
        self.norms, self.counts = np.sqrt(squares), counts
        # The solver's penalty weighs W~ by 1 / scale: back to original-scale thresholds.
        self.thresholds = penalty_std.thresholds(n_features) * self.scale
        penalty = objective.penalty
        self.alpha = float(penalty.alpha) if isinstance(penalty, L2) else 0.0
        self.weights = objective.sample_weight.astype(np.float64) / objective.total_weight

    def _split(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        W, b = unpack(v, self.K, self.mean.shape[0], self.fit_intercept)
        return W, (np.zeros(self.K) if b is None else b)

    def __call__(self, x: np.ndarray, g: np.ndarray, tol: float) -> np.ndarray:
        Wt, bt = self._split(x)
        Gt, gt_b = self._split(g)
        # To the original coordinates: W = W~ / scale, b = b~ - W @ mean.
        W0 = np.ascontiguousarray(Wt / self.scale)
        b = bt - W0 @ self.mean
        G = np.ascontiguousarray(Gt * self.scale + np.outer(gt_b, self.mean))
        P = self.objective.probabilities(x)
        n, K = P.shape
        PT = np.ascontiguousarray(P.T)  # class by class: see the kernels' docstring
        W = W0.copy()
        AT, u = np.zeros((K, n)), np.zeros(n)
        diag = np.full(W.shape, np.nan)
        s = self.weights
        h = s[:, None] * P * (1.0 - P)
        diag_b = h.sum(axis=0)
        inv_scale = 1.0 / self.scale
        # Active set: the nonzero coefficients and those whose zero violates the
        # optimality condition |grad_kj| <= t_j of the model (at d = 0, grad = G).
        active = (W != 0) | ((np.abs(G - self.alpha * W0) - self.thresholds) * inv_scale > tol)
        sweeps_left = MAX_SWEEPS
        while sweeps_left > 0:
            sweeps_left -= self.kernels.cd_sweeps(
                self.indptr, self.indices, self.data, PT, s, G, gt_b, W0, W, b, AT, u,
                diag, diag_b, active, self.thresholds, self.alpha, self.fit_intercept,
                self.coupled, inv_scale, float(tol), sweeps_left,
            )  # fmt: skip
            # Check the coordinates left out (zero, and not swept: W0 is zero
            # there too), whose model gradient is G + x_j . R.
            if self.coupled:
                R = s[:, None] * P * (AT.T - u[:, None])
            else:
                R = h * AT.T
            new = self._violators(~active & (W == 0), G, R, inv_scale, tol)
            if new is None:
                break
            active |= new
        z_W = W * self.scale
        if not self.fit_intercept:
            return z_W.ravel()
        return np.concatenate([z_W.ravel(), b + W @ self.mean])

    def _violators(
        self, left_out: np.ndarray, G: np.ndarray, R: np.ndarray, inv_scale: np.ndarray, tol: float
    ) -> np.ndarray | None:
        """The coordinates of ``left_out`` (K, p) whose zero violates the model's
        optimality condition ``|G_kj + x_j . r_k| <= t_j`` by more than ``tol``
        (as a mask), or None where there are none.

        Cauchy-Schwarz, ``|x_j . r_k| <= ||x_j|| ||r_k||``, clears most of them
        without touching the data (on W4's L1 fit, all of them in the last
        steps); the features it leaves in doubt get their exact products from
        their own columns when those hold few of the stored values, otherwise
        from one pass over ``X`` (on W4 the check never added a coordinate, and
        that pass had been a sixth of the fit)."""
        slack = (np.abs(G) - self.thresholds) * inv_scale
        spread = np.outer(np.sqrt(np.einsum("ik,ik->k", R, R)), self.norms * inv_scale)
        doubtful = np.flatnonzero((left_out & (slack + spread > tol)).any(axis=0))
        if doubtful.size == 0:
            return None
        if self.counts[doubtful].sum() <= CHECK_SHARE * self.indptr[-1]:
            products = np.empty((doubtful.size, R.shape[1]))
            R = np.ascontiguousarray(R, dtype=np.float64)
            self.kernels.column_dots(self.indptr, self.indices, self.data, doubtful, R, products)
            products = products.T
        else:
            products = self.objective.transpose_product(R)[:, doubtful]
        grad = G[:, doubtful] + products
        violation = (np.abs(grad) - self.thresholds[doubtful]) * inv_scale[doubtful]
        new_doubtful = left_out[:, doubtful] & (violation > tol)
        if not new_doubtful.any():
            return None
        new = np.zeros_like(left_out)
        new[:, doubtful] = new_doubtful
        return new
