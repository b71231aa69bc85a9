"""What every solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SolverResult"]


@dataclass
class SolverResult:
    """The outcome of a solver run.

    Attributes
    ----------
    x : ndarray
        The final point.
    fun : float
        The objective at ``x``.
    grad_norm : float
        Max-norm of the gradient at ``x``.
    n_iter : int
        Outer iterations taken.
    converged : bool
        Whether the stopping rule was met (rather than ``max_iter`` or a stall).
    message : str
        Why the solver stopped, in words.
    history : list of float
        The objective after each iteration (index 0: the starting point).
    """

    x: np.ndarray
    fun: float
    grad_norm: float
    n_iter: int
    converged: bool
    message: str
    history: list[float] = field(default_factory=list)
