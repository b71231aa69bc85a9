"""L-BFGS on top of ``scipy.optimize``, and the stopping rule every solver shares.

Solvers see only callables: ``value_and_grad(w) -> (f, g)`` and
``hessp(w, v) -> H v`` (SciPy's conventions), never the data.

Stopping rule (shared): ``max|grad| <= tol * max(1, |f|)``, the gradient norm
relative to the objective's scale.  The objective is a weighted *mean* loss
(see :mod:`softmax.objective._objective`), so the default ``tol = 1e-8`` lands
within about 1e-6 relative of the optimal objective on realistic data, where
scikit-learn's ``tol = 1e-4`` stops 1e-4 to 1e-2 short.  A solver that can no
longer decrease the objective at machine precision while the gradient is below
``sqrt(precision) * max(1, |f|)`` also counts as converged: a tighter ``tol`` than
the arithmetic can resolve is not an error.  ``precision`` is the relative
accuracy of the objective's evaluations: float64's epsilon by default, float32's
when the estimator computes the logits of float32 data in float32 (their
gradient is then only good to about 1e-7 relative, whatever ``tol`` asks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import minimize

from softmax.solvers._result import SolverResult

__all__ = ["lbfgs"]

EPS = float(np.finfo(np.float64).eps)

ValueAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
Hessp = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Monitor:
    """Tracks the last evaluation, the objective history and the stopping rule."""

    def __init__(
        self,
        value_and_grad: ValueAndGrad,
        tol: float,
        callback: Callable[[int, float, float], bool | None] | None,
        precision: float = EPS,
    ) -> None:
        self._fg = value_and_grad
        self.tol = tol
        self.precision = precision
        self.callback = callback
        self.history: list[float] = []
        self.last: tuple[np.ndarray, float, np.ndarray] | None = None
        self.converged = False
        self.stopped_by_callback = False

    def __call__(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self._fg(w)
        self.last = (w.copy(), float(f), g)
        return f, g

    def value(self, w: np.ndarray) -> float:
        return self.evaluate(w)[0]

    def grad(self, w: np.ndarray) -> np.ndarray:
        return self.evaluate(w)[1]

    def evaluate(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        if self.last is not None and np.array_equal(self.last[0], w):
            return self.last[1], self.last[2]
        return self(w)

    def met(self, f: float, g: np.ndarray) -> bool:
        return float(np.max(np.abs(g), initial=0.0)) <= self.tol * max(1.0, abs(f))

    def on_iteration(self, w: np.ndarray) -> None:
        """SciPy callback: record, test the rule, stop early by raising StopIteration."""
        f, g = self.evaluate(w)
        self.history.append(f)
        gnorm = float(np.max(np.abs(g), initial=0.0))
        if self.callback is not None and self.callback(len(self.history) - 1, f, gnorm):
            self.stopped_by_callback = True
            raise StopIteration
        if self.met(f, g):
            self.converged = True
            raise StopIteration

    def result(
        self, x: np.ndarray, n_iter: int, message: str, stalled: bool = False
    ) -> SolverResult:
        f, g = self.evaluate(np.asarray(x, dtype=np.float64))
        gnorm = float(np.max(np.abs(g), initial=0.0))
        # A stall (no decrease left at the evaluations' precision) with a gradient
        # at the square root of that precision is as converged as the arithmetic allows.
        at_precision = stalled and gnorm <= np.sqrt(self.precision) * max(1.0, abs(f))
        converged = self.converged or self.met(f, g) or at_precision
        return SolverResult(
            x=np.asarray(x, dtype=np.float64),
            fun=f,
            grad_norm=gnorm,
            n_iter=n_iter,
            converged=converged,
            message="converged" if converged else message,
            history=self.history,
        )


def lbfgs(
    value_and_grad: ValueAndGrad,
    x0: np.ndarray,
    *,
    hessp: Hessp | None = None,
    hessian: Any = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    callback: Any = None,
    precision: float = EPS,
    memory: int = 20,
) -> SolverResult:
    """Limited-memory BFGS (SciPy's L-BFGS-B without bounds).

    ``hessp`` and ``hessian`` are accepted and ignored so every solver has one
    signature.
    """
    mon = _Monitor(value_and_grad, tol, callback, precision)
    f0, _ = mon.evaluate(np.asarray(x0, dtype=np.float64))
    mon.history.append(f0)
    res = minimize(
        mon,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=mon.on_iteration,
        # SciPy's own rules are set out of the way: ours (relative gradient
        # norm) is tested in the callback; L-BFGS-B then stops on its own only
        # when the line search can make no more progress (a stall).
        options={
            "maxiter": max_iter,
            "maxcor": memory,
            "gtol": 0.0,
            "ftol": 0.0,
            "maxfun": 10 * max_iter + 100,
            "maxls": 50,
        },
    )
    stalled = "REDUCTION OF F" in str(res.message) or "ABNORMAL" in str(res.message)
    return mon.result(res.x, int(res.nit), str(res.message), stalled)
