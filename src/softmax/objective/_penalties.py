"""Penalties on the coefficient matrix ``W`` (never on the intercept).

A penalty sees only ``W`` of shape ``(n_rows, n_features)`` (see
:mod:`softmax.objective._datafit` for the layout) and offers ``value``,
``grad`` and ``hessp`` (smooth penalties) or ``prox`` (non-smooth ones), so a
new penalty plugs in without touching the data-fit code.  Strengths are in the
units of the composite objective (``docs/math.md``): the L2 penalty of
scikit-learn's ``C`` is ``alpha = 1 / (C * sum(sample_weight))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["L2", "NoPenalty"]


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
