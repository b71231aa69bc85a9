"""Proximal solvers for ``F(x) = f(x) + h(x)``: smooth ``f``, non-smooth ``h``.

They see only callables: ``value_and_grad(x) -> (f, g)`` and ``hessp(x, v)``
(or ``hessian(x)``) for ``f``, and ``nonsmooth``, an object with
``value(x)``, ``prox(x, step)`` and ``min_norm_subgradient(x, g)`` for ``h``
(:class:`softmax.objective.ProxTerm`); without it ``h = 0``.

Stopping rule: the one of :mod:`softmax.solvers._scipy` with the gradient
replaced by the least-norm subgradient ``r = g + dh(x)`` (the KKT residual,
zero exactly at a minimiser): ``max|r| <= tol * max(1, |F|)``.  For a smooth
problem it is the gradient rule itself.

* ``prox-newton``: proximal Newton (Lee, Sun and Saunders, 2014; the scheme
  of glmnet and newGLMNET): each outer step minimises the quadratic model
  ``g.d + d.H d / 2 + h(x + d)`` with the exact Hessian, inexactly, by FISTA
  with restart (one Hessian-vector product per inner step), then backtracks
  along ``d`` with Armijo's rule on ``F``.  The inner accuracy tightens with
  the outer residual, so the convergence is superlinear near the optimum; the
  iterates come out of a prox, so their zeros are exact.
* ``fista``: accelerated proximal gradient with backtracking on the Lipschitz
  constant and function-value restart (Beck and Teboulle, 2009; O'Donoghue and
  Candès, 2015): one gradient per step, for when Hessian products are
  unavailable or too costly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from softmax.solvers._result import SolverResult
from softmax.solvers._scipy import Hessp, ValueAndGrad

__all__ = ["fista", "prox_newton"]

_EPS = float(np.finfo(np.float64).eps)
_ARMIJO = 1e-4
_MAX_HALVINGS = 50
# Power-iteration steps for the largest eigenvalue of the Hessian: many on the
# first outer step, few afterwards (warm-started from the last eigenvector).
_POWER_FIRST, _POWER_NEXT = 20, 4
# Curvature along a conjugate-gradient direction, relative to the largest met,
# below which the direction is taken to lie in the operator's null space.
_NULL_CURVATURE = 1e-12
# Outer iterations in a row with a rounding-level decrease before giving up.
_STALL = 10


class _NoPenalty:
    """``h = 0``: the proximal solvers then minimise ``f`` alone."""

    def value(self, x: np.ndarray) -> float:
        return 0.0

    def prox(self, x: np.ndarray, step: float) -> np.ndarray:
        return np.asarray(x, dtype=np.float64)

    def min_norm_subgradient(self, x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.asarray(g, dtype=np.float64)

    def manifold(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, None]:
        # Smooth everywhere: the inner solve becomes Newton-CG on the whole space.
        return np.ones(x.shape[0], dtype=bool), np.zeros(x.shape[0]), None

    def project(self, x_ref: np.ndarray, x: np.ndarray) -> np.ndarray:
        return x


def _max_abs(v: np.ndarray) -> float:
    return float(np.max(np.abs(v), initial=0.0))


class _Run:
    """Outer-iteration bookkeeping shared by both solvers: history, rule, callback."""

    def __init__(
        self,
        tol: float,
        callback: Callable[[int, float, float], Any] | None,
        precision: float = _EPS,
    ) -> None:
        self.tol, self.callback, self.precision = tol, callback, precision
        self.history: list[float] = []

    def met(self, F: float, rnorm: float) -> bool:
        return rnorm <= self.tol * max(1.0, abs(F))

    def record(self, F: float, rnorm: float) -> bool:
        """Append ``F``; True when the callback asks to stop."""
        self.history.append(F)
        if self.callback is not None and len(self.history) > 1:
            return bool(self.callback(len(self.history) - 1, F, rnorm))
        return False

    def result(
        self, x: np.ndarray, F: float, rnorm: float, n_iter: int, message: str, stalled: bool
    ) -> SolverResult:
        at_precision = stalled and rnorm <= np.sqrt(self.precision) * max(1.0, abs(F))
        converged = self.met(F, rnorm) or at_precision
        return SolverResult(
            x=x,
            fun=F,
            grad_norm=rnorm,
            n_iter=n_iter,
            converged=converged,
            message="converged" if converged else message,
            history=self.history,
        )


def _largest_eigenvalue(
    matvec: Callable[[np.ndarray], np.ndarray], v: np.ndarray, n_steps: int
) -> tuple[float, np.ndarray]:
    """Power iteration on a positive semi-definite operator: ``(lambda_max, vector)``."""
    lam = 0.0
    for _ in range(n_steps):
        nv = float(np.linalg.norm(v))
        if nv == 0.0 or not np.isfinite(nv):
            break
        v = v / nv
        Hv = matvec(v)
        lam = float(v @ Hv)
        v = Hv
    nv = float(np.linalg.norm(v))
    return max(lam, 0.0), (v / nv if nv > 0 and np.isfinite(nv) else v)


def _cg(
    op: Callable[[np.ndarray], np.ndarray], b: np.ndarray, tol: float, max_iter: int
) -> np.ndarray:
    """Conjugate gradients for ``op(d) = b`` (``op`` positive semi-definite), from 0,
    until ``max|residual| <= tol``; stops at a direction of non-positive curvature,
    or of curvature lost in rounding next to the largest seen (the null space of
    a singular ``op``, along which an inconsistent ``b`` -- rounding, float32
    data -- would send ``d`` off to infinity)."""
    d = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(r @ r)
    largest = 0.0
    for _ in range(max_iter):
        if _max_abs(r) <= tol:
            break
        Ap = op(p)
        pAp = float(p @ Ap)
        curvature = pAp / float(p @ p)
        largest = max(largest, curvature)
        if not pAp > 0.0 or curvature <= _NULL_CURVATURE * largest:
            break
        a = rr / pAp
        d += a * p
        r -= a * Ap
        rr_new = float(r @ r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return d


def _solve_model(
    x: np.ndarray,
    g: np.ndarray,
    matvec: Callable[[np.ndarray], np.ndarray],
    h: Any,
    L: float,
    inner_tol: float,
    max_inner: int,
    rounds: int = 4,
    max_cg: int = 50,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Minimise ``q(z) = g.(z - x) + (z - x).H(z - x) / 2 + h(z)`` to ``inner_tol``.

    FISTA with restart finds the sparsity pattern; once it has been stable for
    a few steps, Newton steps on that pattern's manifold (where ``h`` is
    smooth: ``h.manifold``), solved by conjugate gradients, finish the job --
    first-order steps alone crawl on ill-conditioned models (weak penalties,
    nearly separable classes).  Returns ``(z, H (z - x), L, n_products)``.

    In FISTA, ``H (y - x)`` at the extrapolated point is a combination of the
    products at the last two iterates, so each step costs one product; that
    product also gives the exact curvature along the step (to backtrack on
    ``L`` when the power iteration underestimated it) and the model's value
    (for monotone restarts).  ``rounds`` of the two phases at most, and
    ``max_cg`` conjugate-gradient steps per manifold Newton step: more of both
    where products are cheap (a formed Hessian).
    """
    has_manifold = hasattr(h, "manifold")
    z, Hz = x, np.zeros_like(x)
    q_z = h.value(x)  # q(x) = h(x)
    n_products = 0

    def q_of(zz: np.ndarray, Hzz: np.ndarray) -> float:
        dz = zz - x
        return float(g @ dz) + 0.5 * float(dz @ Hzz) + h.value(zz)

    for _round in range(rounds):
        # -- FISTA until converged or the pattern settles -------------------- #
        y, Hy, theta = z, Hz, 1.0
        pattern = h.manifold(z)[0] if has_manifold else None
        stable = 0
        while n_products < max_inner:
            grad_y = g + Hy
            while True:
                z_new = h.prox(y - grad_y / L, 1.0 / L)
                Hz_new = matvec(z_new - x)
                n_products += 1
                step = z_new - y
                curvature = float(step @ (Hz_new - Hy))
                if curvature <= L * float(step @ step) * (1.0 + 1e-10) or L > 1e300:
                    break
                L *= 2.0
            q_new = q_of(z_new, Hz_new)
            if q_new > q_z and theta > 1.0:
                # Momentum overshot: restart from the last iterate.
                y, Hy, theta = z, Hz, 1.0
                continue
            residual = _max_abs(h.min_norm_subgradient(z_new, g + Hz_new))
            theta_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * theta * theta))
            beta = (theta - 1.0) / theta_new
            y = z_new + beta * (z_new - z)
            Hy = Hz_new + beta * (Hz_new - Hz)
            z, Hz, q_z, theta = z_new, Hz_new, min(q_new, q_z), theta_new
            if residual <= inner_tol:
                return z, Hz, L, n_products
            if pattern is not None:
                new_pattern = h.manifold(z)[0]
                stable = stable + 1 if np.array_equal(new_pattern, pattern) else 0
                pattern = new_pattern
                if stable >= 5:
                    break
        if not has_manifold or n_products >= max_inner:
            break
        # -- Newton on the manifold of the current pattern ------------------- #
        for _ in range(8):
            if n_products >= max_inner:
                break
            free, grad_h, hess_h = h.manifold(z)
            rq = np.where(free, g + Hz + grad_h, 0.0)
            if _max_abs(rq) <= 0.1 * inner_tol:
                break

            def op(v: np.ndarray, free: np.ndarray = free, hess_h: Any = hess_h) -> np.ndarray:
                v = np.where(free, v, 0.0)
                out = matvec(v)
                if hess_h is not None:
                    out = out + hess_h(v)
                return np.where(free, out, 0.0)

            # CG steps are Hessian products too: they share the inner budget.
            cg_iter = max(1, min(int(free.sum()), max_cg, max_inner - n_products))
            delta = _cg(op, -rq, 0.1 * min(inner_tol, _max_abs(rq)), cg_iter)
            n_products += cg_iter
            t, accepted = 1.0, False
            for _halving in range(10):
                # Entries that would cross zero stop at zero (an active-set step).
                z_new = h.project(z, z + t * delta)
                Hz_new = matvec(z_new - x)
                n_products += 1
                q_new = q_of(z_new, Hz_new)
                if q_new < q_z:
                    accepted = True
                    break
                t *= 0.5
            if not accepted:
                break
            z, Hz, q_z = z_new, Hz_new, q_new
        if _max_abs(h.min_norm_subgradient(z, g + Hz)) <= inner_tol:
            break
    return z, Hz, L, n_products


def prox_newton(
    value_and_grad: ValueAndGrad,
    x0: np.ndarray,
    *,
    hessp: Hessp | None = None,
    hessian: Callable[[np.ndarray], np.ndarray] | None = None,
    nonsmooth: Any = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    callback: Any = None,
    precision: float = _EPS,
    max_inner: int = 200,
    model_solver: Callable[[np.ndarray, np.ndarray, float], np.ndarray | None] | None = None,
) -> SolverResult:
    """Proximal Newton with an inner FISTA and an Armijo line search.

    Needs ``hessp`` or ``hessian`` (a dense matrix, used when given: the
    inner steps are then matrix-vector products that never touch the data).
    ``model_solver(x, g, tol)``, when given, minimises the model at ``x``
    instead of FISTA (to a least-norm model subgradient of about ``tol``), or
    returns None to leave that step to FISTA: an inner solver that knows the
    data fit (:mod:`softmax.objective._newton_model`).
    """
    if hessp is None and hessian is None:
        raise ValueError("prox_newton needs hessp (or hessian), the Hessian of the smooth part")
    h = _NoPenalty() if nonsmooth is None else nonsmooth
    run = _Run(tol, callback, precision)
    x = h.prox(np.array(x0, dtype=np.float64), 0.0)
    f, g = value_and_grad(x)
    F = float(f) + h.value(x)
    rnorm = _max_abs(h.min_norm_subgradient(x, g))
    run.record(F, rnorm)
    n_iter, message, stalled = 0, "maximum number of iterations reached", False
    eig = np.asarray(np.random.default_rng(0).standard_normal((x.shape[0],)))
    n_power = _POWER_FIRST
    flat = 0

    def lipschitz(x: np.ndarray, n_power: int) -> tuple[Callable[..., np.ndarray], float]:
        """The model's Hessian-vector product at ``x`` and a bound on its largest eigenvalue."""
        nonlocal eig
        if hessian is not None:
            H = np.asarray(hessian(x), dtype=np.float64)
            matvec: Callable[[np.ndarray], np.ndarray] = H.__matmul__
        else:

            def matvec(v: np.ndarray) -> np.ndarray:
                return np.asarray(hessp(x, v), dtype=np.float64)  # type: ignore[misc]

        lam_max, eig = _largest_eigenvalue(matvec, eig, n_power)
        return matvec, max(1.05 * lam_max, 1e-12 * max(1.0, _max_abs(g)))

    while not run.met(F, rnorm) and n_iter < max_iter:
        # Inexact Newton: the inner accuracy tightens with the outer residual
        # (forcing term min(0.1, sqrt(r))) down to well below the final target,
        # so that the last step lands far inside it, as an exact Newton step
        # would (the manifold steps make tight inner solves cheap).
        inner_tol = max(min(0.1, np.sqrt(rnorm)) * rnorm, 1e-4 * tol * max(1.0, abs(F)))
        L = None
        z = None if model_solver is None else model_solver(x, g, inner_tol)
        if z is None:
            matvec, L = lipschitz(x, n_power)
            n_power = _POWER_NEXT
            z, _, L, _ = _solve_model(x, g, matvec, h, L, inner_tol, max_inner)
        d = z - x
        h_x = h.value(x)
        delta = float(g @ d) + h.value(z) - h_x
        if not (np.isfinite(delta) and delta < 0.0):
            # The model found no decrease (rounding at the optimum, or a
            # non-convex f): fall back on a proximal-gradient step.
            if L is None:
                L = lipschitz(x, _POWER_FIRST)[1]
            z = h.prox(x - g / L, 1.0 / L)
            d = z - x
            delta = float(g @ d) + h.value(z) - h_x
        step, accepted = 1.0, False
        for _ in range(_MAX_HALVINGS):
            x_new = x + step * d if step < 1.0 else z
            f_new, g_new = value_and_grad(x_new)
            F_new = float(f_new) + h.value(x_new)
            if np.isfinite(F_new):
                if F_new <= F + _ARMIJO * step * delta:
                    accepted = True
                    break
                # At machine precision the decrease is lost in rounding: accept
                # a step that keeps F within rounding and lowers the residual.
                if F_new - F <= 4 * _EPS * abs(F):
                    r_new = _max_abs(h.min_norm_subgradient(x_new, g_new))
                    if r_new < rnorm:
                        accepted = True
                        break
            step *= 0.5
        if not accepted:
            message, stalled = "line search found no decrease (precision loss)", True
            break
        F_prev = F
        x, f, g, F = x_new, f_new, g_new, F_new
        rnorm = _max_abs(h.min_norm_subgradient(x, g))
        n_iter += 1
        if run.record(F, rnorm):
            message = "stopped by the callback"
            break
        if F_prev - F > 1e3 * _EPS * abs(F):
            flat = 0
        else:
            flat += 1
            if flat >= _STALL:
                # The objective has moved only by rounding for this many steps:
                # the noise of the data's precision (float32) dominates.
                message, stalled = f"no decrease in {_STALL} iterations (precision loss)", True
                break
    return run.result(x, F, rnorm, n_iter, message, stalled)


def fista(
    value_and_grad: ValueAndGrad,
    x0: np.ndarray,
    *,
    hessp: Hessp | None = None,
    hessian: Any = None,
    nonsmooth: Any = None,
    tol: float = 1e-8,
    max_iter: int = 1000,
    callback: Any = None,
    precision: float = _EPS,
) -> SolverResult:
    """Accelerated proximal gradient with backtracking and restart.

    ``hessp`` and ``hessian`` are accepted and ignored so every solver has one
    signature.  Each iteration evaluates ``value_and_grad`` once, plus once per
    backtracking step.
    """
    h = _NoPenalty() if nonsmooth is None else nonsmooth
    run = _Run(tol, callback, precision)
    x = h.prox(np.array(x0, dtype=np.float64), 0.0)
    f, g = value_and_grad(x)
    f = float(f)
    F = f + h.value(x)
    rnorm = _max_abs(h.min_norm_subgradient(x, g))
    run.record(F, rnorm)
    y, f_y, g_y = x, f, g
    theta, L = 1.0, max(1.0, _max_abs(g))
    n_iter, message, stalled = 0, "maximum number of iterations reached", False
    while not run.met(F, rnorm) and n_iter < max_iter:
        for _ in range(_MAX_HALVINGS + 50):
            z = h.prox(y - g_y / L, 1.0 / L)
            step = z - y
            f_z, g_z = value_and_grad(z)
            f_z = float(f_z)
            bound = f_y + float(g_y @ step) + 0.5 * L * float(step @ step)
            if np.isfinite(f_z) and f_z <= bound + 4 * _EPS * abs(f_y):
                break
            L *= 2.0
        else:
            message, stalled = "no step size gives a decrease (precision loss)", True
            break
        F_z = f_z + h.value(z)
        if F_z > F and theta > 1.0:
            # Restart: drop the momentum and step again from the last iterate.
            y, f_y, g_y, theta = x, f, g, 1.0
            continue
        if F_z > F + 4 * _EPS * abs(F) and float(step @ step) == 0.0:
            message, stalled = "no step size gives a decrease (precision loss)", True
            break
        theta_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * theta * theta))
        beta = (theta - 1.0) / theta_new
        x_prev = x
        x, f, g, F = z, f_z, g_z, F_z
        y = x + beta * (x - x_prev)
        if beta > 0.0:
            f_y, g_y = value_and_grad(y)
            f_y = float(f_y)
        else:
            f_y, g_y = f, g
        theta = theta_new
        L *= 0.9  # let the step grow again where the curvature is lower
        rnorm = _max_abs(h.min_norm_subgradient(x, g))
        n_iter += 1
        if run.record(F, rnorm):
            message = "stopped by the callback"
            break
    return run.result(x, F, rnorm, n_iter, message, stalled)
