"""What every linear estimator's ``fit`` shares: parameter checks, the choice of
solver, the warm start, and a solver run guarded against separation."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from softmax.estimators._validation import check_C, check_tol_max_iter
from softmax.solvers import SOLVERS, SolverResult, get_solver

__all__ = [
    "DIVERGENCE_BOUND",
    "SeparationWarning",
    "auto_solver",
    "check_fit_params",
    "penalty_kind",
    "run_solver",
    "warm_start_point",
]

# Standardised coefficients this large mean odds of e**1000 per standard
# deviation of a feature: the weights are running off to infinity.
DIVERGENCE_BOUND = 1e3


class SeparationWarning(ConvergenceWarning):
    """The unpenalised maximum-likelihood estimate does not exist (separable classes)."""


def auto_solver(n_samples: int, n_params: int) -> str:
    """Newton-Cholesky while forming the full Hessian is negligible; trust-region
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
    if n_params <= 200 and n_samples * n_params**2 <= 10_000_000:
        return "newton-cholesky"
    return "newton-cg" if n_params <= 20_000 else "lbfgs"


def penalty_kind(penalty: Any, C: Any, l1_ratio: Any) -> str | None:
    """``"l2"`` or ``None``, reconciling ``penalty``, ``C`` and ``l1_ratio``."""
    C = check_C(C)
    if penalty not in ("l2", None):
        if penalty in ("l1", "elasticnet"):
            raise ValueError(f"penalty={penalty!r} is not available yet; use 'l2' or None")
        raise ValueError(f"penalty={penalty!r} is not one of 'l2' or None")
    if l1_ratio is not None:
        if not isinstance(l1_ratio, Real) or not 0 <= float(l1_ratio) <= 1:
            raise ValueError(f"l1_ratio must be in [0, 1], got l1_ratio={l1_ratio!r}")
        if float(l1_ratio) > 0 and penalty is not None and C != np.inf:
            raise ValueError(
                f"l1_ratio={l1_ratio!r} asks for an L1 term, which is not available "
                "yet; use l1_ratio=0 or None"
            )
    if penalty is None or C == np.inf:
        return None
    return "l2"


def check_fit_params(estimator: Any) -> tuple[str | None, float, int]:
    """The penalty kind, ``tol`` and ``max_iter`` of ``estimator``; checks ``solver`` and
    ``verbose`` too (ValueError naming the parameter)."""
    kind = penalty_kind(estimator.penalty, estimator.C, getattr(estimator, "l1_ratio", None))
    tol, max_iter = check_tol_max_iter(estimator.tol, estimator.max_iter)
    if estimator.solver != "auto" and estimator.solver not in SOLVERS:
        get_solver(estimator.solver)  # raises with the list of known solvers
    if not isinstance(estimator.verbose, Integral | bool):
        raise ValueError(f"verbose must be an int, got verbose={estimator.verbose!r}")
    return kind, tol, max_iter


def warm_start_point(estimator: Any, objective: Any) -> np.ndarray:
    """The solver's start: the previous fit's coefficients (standardised) when
    ``warm_start`` is set and the shapes allow, else zeros."""
    w0 = np.zeros(objective.n_params)
    if estimator.warm_start and hasattr(estimator, "coef_"):
        prev = np.concatenate(
            [
                np.ravel(estimator.coef_),
                np.ravel(estimator.intercept_) if estimator.fit_intercept else [],
            ]
        )
        if prev.shape == w0.shape:
            w0 = objective.from_original(prev.astype(np.float64))
    return w0


def run_solver(
    objective: Any,
    w0: np.ndarray,
    *,
    kind: str | None,
    solver: str,
    tol: float,
    max_iter: int,
    verbose: Any,
    name: str,
    callback: Callable[[int, float, float], Any] | None = None,
    dtype: Any = np.float64,
) -> tuple[SolverResult, str, bool]:
    """Minimise ``objective`` from ``w0``; returns ``(result, solver_name, diverging)``.

    ``solver="auto"`` picks by :func:`auto_solver`.  Without a penalty
    (``kind is None``) the run stops as soon as a standardised coefficient
    passes :data:`DIVERGENCE_BOUND` (weights running off to infinity:
    separation), and ``diverging`` says so.  ``verbose`` prints one line per
    iteration prefixed by ``[name]``; ``callback(iteration, objective, grad_norm)``
    is called after each iteration (its return value is ignored).  ``dtype`` is
    the data's: float32 data has its logits computed in float32, which bounds
    the accuracy of every evaluation (the solvers' ``precision``).
    """
    solver_name = (
        auto_solver(objective.X.shape[0], objective.n_params) if solver == "auto" else solver
    )
    diverging = [False]

    def guarded_value_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        # Without a penalty, weights running off to infinity mean separation.
        if kind is None and np.max(np.abs(w), initial=0.0) > DIVERGENCE_BOUND:
            diverging[0] = True
        return objective.value_and_grad(w)

    def guarded_callback(it: int, f: float, gnorm: float) -> bool:
        if verbose:
            print(f"[{name}] iter {it:4d}  objective {f:.12g}  |grad| {gnorm:.3e}")
        if callback is not None:
            callback(it, f, gnorm)
        return diverging[0]  # True stops the solver

    result = get_solver(solver_name)(
        guarded_value_and_grad,
        w0,
        hessp=objective.hessp,
        hessian=objective.hessian,
        tol=tol,
        max_iter=max_iter,
        callback=guarded_callback,
        precision=float(np.finfo(dtype).eps),
    )
    return result, solver_name, diverging[0]
