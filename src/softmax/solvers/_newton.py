"""Newton's method with the full Hessian, solved by Cholesky (``newton-cholesky``).

For problems with few parameters, forming the ``n_params x n_params`` Hessian
once per iteration (a few GEMMs over the data) and factorising it is much
cheaper than the tens to hundreds of Hessian-vector products a truncated-CG
Newton step needs on weakly regularised data.  The stopping rule, history and
callback semantics are those of :mod:`softmax.solvers._scipy` (``_Monitor``).

The softmax Hessian is singular along the directions that add the same vector
to every class (always for the intercepts, for the coefficients too when
unpenalised).  The gradient is orthogonal to those directions, so the Newton
system is consistent; it is solved with a tiny ridge ``delta * I`` (relative to
the Hessian's mean diagonal), raised until Cholesky succeeds, with a
symmetric-eigendecomposition pseudo-inverse as the last resort.

Near the optimum the decrease a Newton step predicts, ``-g·d / 2``, falls below
what the objective's evaluations can resolve (``precision * |f|``); from there
on, steps only move in the rounding noise (with float32 data they can do so
for ever), so the run stops as a stall, which counts as converged when the
gradient is at the precision's square root (see ``_Monitor.result``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, eigh

from softmax.solvers._result import SolverResult
from softmax.solvers._scipy import EPS, Hessp, ValueAndGrad, _Monitor

__all__ = ["newton_cholesky"]

Hessian = Callable[[np.ndarray], np.ndarray]

# Armijo sufficient-decrease constant and the most step halvings per iteration.
_ARMIJO = 1e-4
_MAX_HALVINGS = 40
# The first ridge, relative to the mean of the Hessian's diagonal, and never
# below the evaluations' precision: the gradient is orthogonal to the Hessian's
# null space only up to rounding (float32 data: ~1e-7), and a smaller ridge
# would turn that rounding into a huge step along the null space.
_RIDGE = 1e-10


def _hessian_from_hessp(hessp: Hessp, x: np.ndarray) -> np.ndarray:
    """The Hessian column by column (one ``hessp`` per parameter), symmetrised."""
    eye = np.eye(x.shape[0])
    H = np.column_stack([np.asarray(hessp(x, e), dtype=np.float64) for e in eye])
    return 0.5 * (H + H.T)


def _newton_direction(H: np.ndarray, g: np.ndarray, precision: float = EPS) -> np.ndarray:
    """Solve ``H d = -g`` for a symmetric positive semi-definite ``H``."""
    n = g.shape[0]
    if n == 0:
        return np.zeros(0)
    diag = np.diag(H)
    scale = float(np.mean(np.abs(diag))) if np.all(np.isfinite(diag)) else 0.0
    if not np.isfinite(scale) or scale <= 0.0:
        scale = 1.0
    delta = max(_RIDGE, precision) * scale
    for _ in range(6):
        try:
            factor = cho_factor(H + delta * np.eye(n), lower=False, check_finite=True)
            return -cho_solve(factor, g, check_finite=False)
        except (LinAlgError, ValueError):
            delta *= 100.0
    # Last resort (indefinite or non-finite H): the pseudo-inverse on the
    # positive part of the spectrum; gradient descent if nothing is usable.
    try:
        vals, vecs = eigh(0.5 * (H + H.T))
    except (LinAlgError, ValueError):
        return -g
    keep = vals > EPS * n * max(float(np.max(np.abs(vals), initial=0.0)), 1e-300)
    if not np.any(keep):
        return -g
    return -(vecs[:, keep] @ ((vecs[:, keep].T @ g) / vals[keep]))


def newton_cholesky(
    value_and_grad: ValueAndGrad,
    x0: np.ndarray,
    *,
    hessp: Hessp | None = None,
    hessian: Hessian | None = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    callback: Any = None,
    precision: float = EPS,
) -> SolverResult:
    """Newton's method: full Hessian, Cholesky solve, Armijo backtracking.

    Needs ``hessian(x) -> H`` (``n_params x n_params``); without it the
    Hessian is formed from ``n_params`` calls of ``hessp``, which is only
    sensible for small problems.  Converges quadratically near the optimum.
    """
    if hessian is None and hessp is None:
        raise ValueError("newton_cholesky needs hessian (or hessp, to form it column by column)")
    mon = _Monitor(value_and_grad, tol, callback, precision)
    x = np.array(x0, dtype=np.float64)
    f, g = mon.evaluate(x)
    mon.history.append(f)
    n_iter, message, stalled = 0, "maximum number of iterations reached", False
    if mon.met(f, g):
        return mon.result(x, 0, "converged")
    try:
        while n_iter < max_iter:
            H = hessian(x) if hessian is not None else _hessian_from_hessp(hessp, x)  # type: ignore[misc]
            d = _newton_direction(np.asarray(H, dtype=np.float64), g, precision)
            slope = float(g @ d)
            if not np.isfinite(slope) or slope >= 0.0:
                d, slope = -g, -float(g @ g)
            elif -slope <= 2.0 * precision * abs(f):
                # The predicted decrease is below the objective's resolution.
                message, stalled = "Newton decrement below the evaluations' precision", True
                break
            gnorm = float(np.max(np.abs(g), initial=0.0))
            step, accepted = 1.0, False
            for _ in range(_MAX_HALVINGS):
                x_new = x + step * d
                f_new, g_new = mon.evaluate(x_new)
                if np.isfinite(f_new):
                    if f_new <= f + _ARMIJO * step * slope:
                        accepted = True
                        break
                    # At machine precision the decrease is lost in rounding:
                    # accept a step that does not raise f beyond rounding and
                    # reduces the gradient.
                    if f_new - f <= 4 * precision * abs(f) and (
                        float(np.max(np.abs(g_new), initial=0.0)) < gnorm
                    ):
                        accepted = True
                        break
                step *= 0.5
            if not accepted:
                message, stalled = "line search found no decrease (precision loss)", True
                break
            x, f, g = x_new, f_new, g_new
            n_iter += 1
            mon.on_iteration(x)
    except StopIteration:
        pass
    return mon.result(x, n_iter, message, stalled)
