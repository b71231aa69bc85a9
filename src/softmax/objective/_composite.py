"""The non-smooth part of a composite objective, in the solver's coordinates.

A proximal solver minimises ``F(x) = f(x) + h(x)``: ``f`` is the smooth
:class:`~softmax.objective.Objective` (data fit plus any ridge part) and ``h``
a non-smooth penalty on the coefficient block ``W`` of ``x`` (the layout of
:mod:`softmax.objective._datafit`); the intercepts are never penalised.  With
internal standardisation ``x`` holds ``W~ = W * scale``, and the penalty on the
original-scale ``W`` is a penalty on ``W~`` with column weights ``1 / scale``
(:meth:`L1.with_weights`): still separable, its prox still exact, and the
minimiser is the original-scale one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softmax.objective._standardize import Standardization

__all__ = ["ProxTerm"]


class ProxTerm:
    """``value(x)``, ``prox(x, step)`` and ``min_norm_subgradient(x, g)`` of ``h``.

    Parameters
    ----------
    penalty : L1 or GroupL1
        The non-smooth penalty on original-scale ``W``.
    n_rows, n_features : int
        The shape of ``W``.
    fit_intercept : bool
        Whether ``x`` ends with ``n_rows`` (unpenalised) intercepts.
    standardization : Standardization, optional
        The change of variables the solver works in, if any.
    """

    def __init__(
        self,
        penalty: Any,
        n_rows: int,
        n_features: int,
        fit_intercept: bool,
        standardization: Standardization | None = None,
    ) -> None:
        self.original_penalty = penalty
        if standardization is not None:
            penalty = penalty.with_weights(1.0 / standardization.scale)
        self.penalty = penalty
        self.shape = (n_rows, n_features)
        self.n_coef = n_rows * n_features

    def _W(self, x: np.ndarray) -> np.ndarray:
        return x[: self.n_coef].reshape(self.shape)

    def value(self, x: np.ndarray) -> float:
        """``h(x)``."""
        return self.penalty.value(self._W(x))

    def prox(self, x: np.ndarray, step: float) -> np.ndarray:
        """``argmin_u ||u - x||^2 / (2 step) + h(u)``; intercepts pass unchanged."""
        out = np.array(x, dtype=np.float64)
        out[: self.n_coef] = self.penalty.prox(self._W(x), step).ravel()
        return out

    def manifold(
        self, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray] | None]:
        """``(free, grad, hessp)``: the coordinates near which ``h`` is smooth
        (nonzero coefficients or groups, and the intercepts), the gradient of
        ``h`` there (zero elsewhere) and its Hessian-vector product (None when
        ``h`` is piecewise linear).  Lets a solver take Newton steps on the
        manifold of the current sparsity pattern."""
        free_W, grad_W, hess_W = self.penalty.manifold(self._W(x))
        free = np.ones(x.shape[0], dtype=bool)
        free[: self.n_coef] = np.ravel(free_W)
        grad = np.zeros(x.shape[0])
        grad[: self.n_coef] = np.ravel(grad_W)
        if hess_W is None:
            return free, grad, None

        def hessp(v: np.ndarray) -> np.ndarray:
            out = np.zeros(v.shape[0])
            out[: self.n_coef] = np.ravel(hess_W(v[: self.n_coef].reshape(self.shape)))
            return out

        return free, grad, hessp

    def project(self, x_ref: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``x`` with the coefficients that left ``x_ref``'s sparsity manifold set
        to zero (a sign change, or a group turned around): keeps Newton steps
        on the manifold where they were computed."""
        out = np.array(x, dtype=np.float64)
        out[: self.n_coef] = self.penalty.project(self._W(x_ref), self._W(x)).ravel()
        return out

    def min_norm_subgradient(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The least-norm element of ``g + dh(x)``: zero iff ``x`` minimises ``f + h``
        (``g`` the gradient of ``f`` at ``x``)."""
        out = np.array(g, dtype=np.float64)
        G = out[: self.n_coef].reshape(self.shape)
        out[: self.n_coef] = self.penalty.min_norm_subgradient(self._W(x), G).ravel()
        return out
