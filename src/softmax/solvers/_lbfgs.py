"""A resumable L-BFGS: every bit of its state can be saved and restored.

SciPy's L-BFGS-B keeps its state in Fortran work arrays; resuming a fit
needs a solver whose state is plain arrays.  This one is the textbook
method (Nocedal & Wright, Algorithm 7.4 and 7.5): the two-loop recursion with
the initial scaling ``s.y / y.y``, a backtracking Armijo line search (a pair
is kept only when its curvature ``s.y`` is positive, which keeps the inverse
Hessian approximation positive definite), and the stopping rule of
:mod:`softmax.solvers._scipy`.  Given the same state it takes the same steps,
so a fit resumed from a checkpoint ends at the same coefficients, bit for bit,
as an uninterrupted one.

The state is saved (``checkpoint.save(state)``) every ``checkpoint_every``
iterations and when an evaluation raises (a lost Dask cluster, Ctrl-C), then
the error propagates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from softmax.solvers._result import SolverResult

__all__ = ["LBFGSState", "lbfgs_resumable"]

_EPS = float(np.finfo(np.float64).eps)
_ARMIJO = 1e-4
_MAX_HALVINGS = 50


@dataclass
class LBFGSState:
    """Everything the solver needs to continue: the point, its value and gradient,
    the correction pairs (oldest first), the iteration count and the history."""

    x: np.ndarray
    f: float
    g: np.ndarray
    S: list[np.ndarray] = field(default_factory=list)
    Y: list[np.ndarray] = field(default_factory=list)
    n_iter: int = 0
    history: list[float] = field(default_factory=list)


def _direction(g: np.ndarray, S: list[np.ndarray], Y: list[np.ndarray]) -> np.ndarray:
    """``-H g`` by the two-loop recursion."""
    q = g.copy()
    alphas = []
    for s, y in zip(reversed(S), reversed(Y), strict=True):
        rho = 1.0 / float(y @ s)
        a = rho * float(s @ q)
        alphas.append((rho, a))
        q -= a * y
    if S:
        q *= float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
    for (s, y), (rho, a) in zip(zip(S, Y, strict=True), reversed(alphas), strict=True):
        b = rho * float(y @ q)
        q += (a - b) * s
    return -q


def lbfgs_resumable(
    value_and_grad: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    *,
    hessp: Any = None,
    hessian: Any = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    callback: Any = None,
    precision: float = _EPS,
    memory: int = 20,
    state: LBFGSState | None = None,
    checkpoint: Any = None,
    checkpoint_every: int = 10,
) -> SolverResult:
    """Minimise with L-BFGS from ``x0`` (or from ``state``, a restored checkpoint).

    ``checkpoint`` is an object with ``save(state)``; ``hessp`` and ``hessian``
    are accepted and ignored (the solvers' common signature).
    """

    def met(f: float, g: np.ndarray) -> bool:
        return float(np.max(np.abs(g), initial=0.0)) <= tol * max(1.0, abs(f))

    def save() -> None:
        if checkpoint is not None:
            checkpoint.save(st)

    if state is None:
        x = np.array(x0, dtype=np.float64)
        f, g = value_and_grad(x)
        st = LBFGSState(x=x, f=float(f), g=np.asarray(g, dtype=np.float64), history=[float(f)])
    else:
        st = state
    message, stalled, converged = "maximum number of iterations reached", False, met(st.f, st.g)
    try:
        while not converged and st.n_iter < max_iter:
            d = _direction(st.g, st.S, st.Y)
            slope = float(st.g @ d)
            if not np.isfinite(slope) or slope >= 0.0:
                st.S.clear()
                st.Y.clear()
                d, slope = -st.g, -float(st.g @ st.g)
            # The first step (no curvature yet) is scaled to move at most 1 per coordinate.
            step = 1.0 if st.S else min(1.0, 1.0 / max(float(np.max(np.abs(d))), 1e-300))
            accepted = False
            for _ in range(_MAX_HALVINGS):
                x_new = st.x + step * d
                f_new, g_new = value_and_grad(x_new)
                f_new = float(f_new)
                if np.isfinite(f_new) and f_new <= st.f + _ARMIJO * step * slope:
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                message, stalled = "line search found no decrease (precision loss)", True
                break
            g_new = np.asarray(g_new, dtype=np.float64)
            s, y = x_new - st.x, g_new - st.g
            if float(s @ y) > _EPS * float(np.linalg.norm(s) * np.linalg.norm(y)):
                st.S.append(s)
                st.Y.append(y)
                if len(st.S) > memory:
                    del st.S[0], st.Y[0]
            st.x, st.f, st.g = x_new, f_new, g_new
            st.n_iter += 1
            st.history.append(f_new)
            converged = met(st.f, st.g)
            gnorm = float(np.max(np.abs(st.g), initial=0.0))
            if checkpoint is not None and st.n_iter % checkpoint_every == 0:
                save()
            if callback is not None and callback(st.n_iter, st.f, gnorm):
                message = "stopped by the callback"
                break
    except BaseException:
        save()  # the last accepted iterate: a fit can resume from here
        raise
    save()
    gnorm = float(np.max(np.abs(st.g), initial=0.0))
    at_precision = stalled and gnorm <= np.sqrt(precision) * max(1.0, abs(st.f))
    converged = converged or at_precision
    return SolverResult(
        x=st.x.copy(),
        fun=st.f,
        grad_norm=gnorm,
        n_iter=st.n_iter,
        converged=converged,
        message="converged" if converged else message,
        history=list(st.history),
    )
