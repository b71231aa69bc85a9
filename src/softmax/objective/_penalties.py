"""Penalties on the coefficient matrix ``W`` (never on the intercept).

A penalty sees only ``W`` of shape ``(n_rows, n_features)`` (see
:mod:`softmax.objective._datafit` for the layout) and offers ``value``,
``grad`` and ``hessp`` (smooth penalties) or ``prox`` (non-smooth ones), so a
new penalty plugs in without touching the data-fit code.  Strengths are in the
units of the composite objective (``docs/math.md``): scikit-learn's
``C * loss_sum + (1 - r)/2 ||W||^2 + r ||W||_1`` divided by ``C * S``
(``S = sum(sample_weight)``) gives the mean loss plus ``alpha = 1 / (C * S)``
times the same penalty, with the same minimiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "L1",
    "L2",
    "ElasticNet",
    "GroupElasticNet",
    "GroupL1",
    "NoPenalty",
    "group_soft_threshold",
    "soft_threshold",
]


@dataclass(frozen=True)
class NoPenalty:
    """No penalty (maximum likelihood)."""

    smooth = True

    def value(self, W: np.ndarray) -> float:
        return 0.0

    def grad(self, W: np.ndarray) -> np.ndarray:
        return np.zeros_like(W)

    def hessp(self, W: np.ndarray, V: np.ndarray) -> np.ndarray:
        return np.zeros_like(V)


@dataclass(frozen=True)
class L2:
    r"""Ridge penalty :math:`\frac{\alpha}{2}\|W\|_F^2`."""

    alpha: float
    smooth = True

    def value(self, W: np.ndarray) -> float:
        return 0.5 * self.alpha * float(np.vdot(W, W))

    def grad(self, W: np.ndarray) -> np.ndarray:
        return self.alpha * W

    def hessp(self, W: np.ndarray, V: np.ndarray) -> np.ndarray:
        return self.alpha * V

    def prox(self, W: np.ndarray, step: float) -> np.ndarray:
        return W / (1.0 + step * self.alpha)


# --------------------------------------------------------------------------- #
# Non-smooth penalties
#
# Each offers ``value(W)``, the exact proximal operator ``prox(W, step)`` =
# argmin_U ||U - W||^2 / (2 step) + penalty(U), and ``min_norm_subgradient(W, G)``:
# the element of least norm of ``G + d penalty(W)`` (``G`` the gradient of the
# smooth part), which is zero exactly at a minimiser (the KKT conditions) and
# is what the proximal solvers test against their tolerance.
#
# ``weights`` (one per feature, default 1) weigh the columns of ``W``: the
# change of variables of internal standardisation, ``W = W~ / scale``, turns
# ``lam * |W_kj|`` into ``(lam / scale_j) * |W~_kj|`` (and likewise for the
# group norms), so the solver works on a weighted penalty whose minimiser is
# the one on the original scale.
# --------------------------------------------------------------------------- #


def _column_weights(weights: np.ndarray | None, n_features: int) -> np.ndarray:
    return np.ones(n_features) if weights is None else np.asarray(weights, dtype=np.float64)


def soft_threshold(W: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """``sign(W) * max(|W| - threshold, 0)``: the prox of ``threshold * |.|``."""
    return np.sign(W) * np.maximum(np.abs(W) - threshold, 0.0)


def group_soft_threshold(W: np.ndarray, threshold: np.ndarray | float) -> np.ndarray:
    """``W[:, j] * max(1 - threshold_j / ||W[:, j]||, 0)``: the prox of ``threshold * ||.||_2``
    on every column (feature) of ``W``."""
    norms = np.sqrt(np.einsum("kj,kj->j", W, W))
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(norms > 0, np.maximum(1.0 - threshold / norms, 0.0), 0.0)
    return W * shrink


@dataclass(frozen=True)
class L1:
    r"""Lasso penalty :math:`\lambda \sum_{k,j} \omega_j |W_{kj}|` (``weights`` :math:`\omega`)."""

    lam: float
    weights: np.ndarray | None = None
    smooth = False

    def thresholds(self, n_features: int) -> np.ndarray:
        """``lam * weights_j``, the strength on each column."""
        return self.lam * _column_weights(self.weights, n_features)

    def _thresholds(self, W: np.ndarray) -> np.ndarray:
        return self.thresholds(W.shape[-1])

    def value(self, W: np.ndarray) -> float:
        return float(np.sum(np.abs(W) @ self._thresholds(W)))

    def prox(self, W: np.ndarray, step: float) -> np.ndarray:
        """Soft-thresholding by ``step * lam * weights_j``."""
        return soft_threshold(W, step * self._thresholds(W))

    def min_norm_subgradient(self, W: np.ndarray, G: np.ndarray) -> np.ndarray:
        """``G + t sign(W)`` where ``W != 0``; ``sign(G) max(|G| - t, 0)`` where ``W == 0``."""
        t = np.broadcast_to(self._thresholds(W), W.shape)
        return np.where(W != 0, G + t * np.sign(W), soft_threshold(G, t))

    def manifold(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        """Where the penalty is smooth near ``W`` (its nonzeros), its gradient
        there, and its Hessian-vector product there (None: zero)."""
        free = W != 0
        return free, np.where(free, self._thresholds(W) * np.sign(W), 0.0), None

    def project(self, W_ref: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Zero the entries of ``W`` whose sign left that of ``W_ref`` (its orthant)."""
        return np.where(np.sign(W) == np.sign(W_ref), W, 0.0)

    def with_weights(self, weights: np.ndarray) -> L1:
        return L1(self.lam, _column_weights(self.weights, weights.shape[0]) * weights)

    def restricted(self, features: np.ndarray) -> L1:
        """The penalty on the columns ``features`` alone."""
        return L1(self.lam, None if self.weights is None else self.weights[features])


@dataclass(frozen=True)
class GroupL1:
    r"""Grouped lasso across classes :math:`\lambda \sum_j \omega_j \|W_{:,j}\|_2`.

    A feature's coefficients for all classes form one group, so a feature is
    kept or dropped for every class at once (glmnet's
    ``type.multinomial = "grouped"``).  With a single coefficient row (the
    binomial model) every group has one element and this is :class:`L1`.
    """

    lam: float
    weights: np.ndarray | None = None
    smooth = False

    def _thresholds(self, W: np.ndarray) -> np.ndarray:
        return self.lam * _column_weights(self.weights, W.shape[-1])

    def value(self, W: np.ndarray) -> float:
        return float(np.sqrt(np.einsum("kj,kj->j", W, W)) @ self._thresholds(W))

    def prox(self, W: np.ndarray, step: float) -> np.ndarray:
        """Group soft-thresholding of every column by ``step * lam * weights_j``."""
        return group_soft_threshold(W, step * self._thresholds(W))

    def min_norm_subgradient(self, W: np.ndarray, G: np.ndarray) -> np.ndarray:
        """``G_j + t_j W_j / ||W_j||`` for a nonzero column; ``G_j max(1 - t_j/||G_j||, 0)``
        for a zero column."""
        t = self._thresholds(W)
        norms = np.sqrt(np.einsum("kj,kj->j", W, W))
        with np.errstate(divide="ignore", invalid="ignore"):
            active = G + W * np.where(norms > 0, t / norms, 0.0)
        return np.where(norms > 0, active, group_soft_threshold(G, t))

    def manifold(self, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """The nonzero columns, where the penalty is smooth; its gradient
        ``t_j W_j / ||W_j||`` and Hessian-vector product
        ``t_j (V_j - u_j u_j.V_j) / ||W_j||`` (``u_j = W_j / ||W_j||``) there."""
        t = self._thresholds(W)
        norms = np.sqrt(np.einsum("kj,kj->j", W, W))
        nz = norms > 0
        free = np.broadcast_to(nz, W.shape)
        inv = np.where(nz, t / np.where(nz, norms, 1.0), 0.0)
        U = W / np.where(nz, norms, 1.0)

        def hessp(V: np.ndarray) -> np.ndarray:
            return inv * (V - U * np.einsum("kj,kj->j", U, V))

        return free, W * inv, hessp

    def project(self, W_ref: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Zero the columns of ``W`` that were zero in ``W_ref`` or turned against it."""
        keep = np.einsum("kj,kj->j", W_ref, W) > 0
        return W * keep

    def with_weights(self, weights: np.ndarray) -> GroupL1:
        return GroupL1(self.lam, _column_weights(self.weights, weights.shape[0]) * weights)

    def restricted(self, features: np.ndarray) -> GroupL1:
        """The penalty on the columns ``features`` alone."""
        return GroupL1(self.lam, None if self.weights is None else self.weights[features])


@dataclass(frozen=True)
class _MixedWithRidge:
    """``alpha * (rho * P(W) + (1 - rho)/2 ||W||^2)`` for a non-smooth ``P`` (``_sparse``).

    The solvers treat the ridge part as smooth (it joins the data fit, Hessian
    included) and ``P`` through its prox: :meth:`split`.
    """

    alpha: float
    l1_ratio: float
    smooth = False
    _sparse: ClassVar[Any]

    def split(self) -> tuple[L2, Any]:
        """The smooth ridge part and the non-smooth part."""
        return L2(self.alpha * (1.0 - self.l1_ratio)), self._sparse(self.alpha * self.l1_ratio)

    def value(self, W: np.ndarray) -> float:
        ridge, sparse = self.split()
        return ridge.value(W) + sparse.value(W)

    def prox(self, W: np.ndarray, step: float) -> np.ndarray:
        """``prox_P(W, step alpha rho) / (1 + step alpha (1 - rho))`` (exact)."""
        ridge, sparse = self.split()
        return sparse.prox(W, step) / (1.0 + step * ridge.alpha)

    def min_norm_subgradient(self, W: np.ndarray, G: np.ndarray) -> np.ndarray:
        ridge, sparse = self.split()
        return sparse.min_norm_subgradient(W, G + ridge.grad(W))


@dataclass(frozen=True)
class ElasticNet(_MixedWithRidge):
    r"""scikit-learn's elastic net, :math:`\alpha\,(\rho \|W\|_1 + \frac{1-\rho}{2}\|W\|_F^2)`
    with ``alpha`` :math:`= \alpha` and ``l1_ratio`` :math:`= \rho`."""

    _sparse = L1


@dataclass(frozen=True)
class GroupElasticNet(_MixedWithRidge):
    r""":math:`\alpha\,(\rho \sum_j \|W_{:,j}\|_2 + \frac{1-\rho}{2}\|W\|_F^2)`: the
    grouped lasso mixed with ridge, as :class:`ElasticNet` mixes the lasso."""

    _sparse = GroupL1
