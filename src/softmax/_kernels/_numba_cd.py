"""Coordinate descent on the quadratic model of a proximal-Newton step, in numba
(imported lazily by :mod:`softmax._kernels`).

The model, at the current coefficients ``(W, b)`` with probabilities ``P``::

    q(W', b') = g . d + d . H d / 2 + sum_kj t_j |W'_kj|,    d = (W' - W, b' - b)

with ``H = sum_i s_i (D_i kron x_i x_i^T) + alpha I_W`` (``s`` the sample
weights divided by their sum, ``x_i`` the row extended by a 1 for the
intercept, ``alpha`` a ridge on ``W``), and ``D_i = diag(p_i) - p_i p_i^T``
(softmax, ``coupled``) or ``diag(p_i (1 - p_i))`` (independent sigmoids; the
binomial model is either, with one row).  This is glmnet's inner problem
(Friedman, Hastie and Tibshirani, 2010) and newGLMNET's (Yuan, Ho and Lin,
2012).

Cyclic coordinate descent minimises ``q`` exactly along one coordinate at a
time: with ``a`` the coordinate's diagonal entry of ``H`` and ``grad`` the
coordinate's entry of ``g + H d``, the new value is
``soft_threshold(w - grad / a, t / a)``.  The products ``H d`` are never
formed: the kernel keeps the change of the logits, ``A = X d_W^T + d_b``, and
for the softmax ``u_i = sum_k p_ik A_ki``, so that
``(H d)_kj = sum_i x_ij s_i p_ik (A_ki - u_i) + alpha d_kj`` costs one pass
over the stored values of column ``j`` (sparse data, CSC; its zeros stay
zeros, so the intercept ``b`` is the original one).

Memory order.  A column's pass reads ``p_ik``, ``A_ki``, ``u_i`` and ``s_i`` at
its rows, scattered over ``n``: on a tf-idf matrix (W4: 100 000 rows, 20
classes, frequent words with thousands of rows) nearly every read was a cache
miss.  ``P`` and ``A`` are held class by class (``(K, n)``), so that the rows
of a frequent column share cache lines, and a coordinate's diagonal entry is
computed when it first enters the active set (not for every class of its
column).  On W4's L1 fit the sweeps took 1.4 s, now 0.6 s, with the same
iterates to the last bit.  Sweeping one class's coordinates after the other
(a class's four vectors, 3 MB, then stay in cache) took 0.3 s, but it leaves
the classes of one feature, strongly coupled, far apart in the cycle: on small
problems the sweeps stalled above tight tolerances (16 outer steps instead of
7 at ``tol=1e-10``), so the sweeps keep the feature-major order.

The sweeps run over an active set (glmnet's scheme): the caller checks the
optimality of the other coordinates (those a bound cannot clear, by their
columns' products :func:`column_dots` or by one product ``X^T R``), adds those
that violate it, and sweeps again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

__all__ = ["cd_sweeps", "column_dots"]

_OPTS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_OPTS)
def _curvature(indptr, indices, data, j, PT, s, k, alpha):  # pragma: no cover - compiled
    """The diagonal entry of ``H`` for coordinate ``(k, j)``:
    ``sum_i x_ij^2 s_i p_ik (1 - p_ik) + alpha``."""
    acc = 0.0
    for q in range(indptr[j], indptr[j + 1]):
        i = indices[q]
        x = data[q]
        acc += x * x * s[i] * PT[k, i] * (1.0 - PT[k, i])
    return acc + alpha


@njit(**_OPTS)
def _column_dot(indptr, indices, data, j, PT, s, AT, u, k, coupled):  # pragma: no cover
    """``sum_i x_ij r_ik`` over the column's stored values, with the residual
    ``r_ik = s_i p_ik (A_ki - u_i)`` (softmax) or ``s_i p_ik (1 - p_ik) A_ki``."""
    acc = 0.0
    for q in range(indptr[j], indptr[j + 1]):
        i = indices[q]
        if coupled:
            acc += data[q] * (s[i] * PT[k, i] * (AT[k, i] - u[i]))
        else:
            acc += data[q] * (s[i] * PT[k, i] * (1.0 - PT[k, i]) * AT[k, i])
    return acc


@njit(**_OPTS)
def _move(indptr, indices, data, j, PT, AT, u, k, coupled, delta):  # pragma: no cover
    """``A[k] += delta * x_j`` (and ``u += delta * p_k * x_j`` for the softmax);
    ``j = -1``: the intercept's column of ones."""
    if j < 0:
        for i in range(AT.shape[1]):
            AT[k, i] += delta
            if coupled:
                u[i] += PT[k, i] * delta
        return
    for q in range(indptr[j], indptr[j + 1]):
        i = indices[q]
        step = delta * data[q]
        AT[k, i] += step
        if coupled:
            u[i] += PT[k, i] * step


@njit(**_OPTS)
def cd_sweeps(
    indptr, indices, data, PT, s, G, g_b, W0, W, b, AT, u, diag, diag_b,
    active, thresholds, alpha, fit_intercept, coupled, inv_scale, tol, max_sweeps,
):  # fmt: skip  # pragma: no cover - compiled
    """Sweeps over the active coordinates (and the intercepts) of the model of the
    module docstring until a sweep's largest ``|change| * curvature * inv_scale``
    (the size of the model's subgradient, coordinate by coordinate) is below
    ``tol``, or ``max_sweeps``.  Returns the number of sweeps.

    Parameters
    ----------
    indptr, indices, data : the CSC arrays of ``X``
    PT : (K, n) probabilities, class by class; s : (n,) weights over their sum
    G : (K, p), g_b : (K,) gradient of the smooth part at ``(W0, b0)``
    W0 : (K, p) the model's centre; W, b : the iterate, updated in place
    AT : (K, n) change of the logits, u : (n,) ``sum_k p_ik A_ki``, in place
    diag : (K, p) curvatures, NaN where not computed yet (filled in place);
        diag_b : (K,) the intercepts'
    active : (K, p) bool, the coordinates to sweep
    thresholds : (p,) the L1 strength of each column; alpha : ridge on ``W``
    fit_intercept, coupled : bool
    inv_scale : (p,) converts a coordinate's violation to the caller's units
    """
    K, p = W.shape
    n = PT.shape[1]
    columns = np.zeros(p, dtype=np.bool_)
    for j in range(p):
        for k in range(K):
            if active[k, j]:
                columns[j] = True
    n_sweeps = 0
    while n_sweeps < max_sweeps:
        n_sweeps += 1
        worst = 0.0
        for j in range(p):
            if not columns[j]:
                continue
            for k in range(K):
                if not active[k, j]:
                    continue
                if np.isnan(diag[k, j]):
                    diag[k, j] = _curvature(indptr, indices, data, j, PT, s, k, alpha)
                a = diag[k, j]
                if not a > 0.0:
                    continue
                w = W[k, j]
                dot = _column_dot(indptr, indices, data, j, PT, s, AT, u, k, coupled)
                grad = G[k, j] + dot + alpha * (w - W0[k, j])
                z = w - grad / a
                shrink = thresholds[j] / a
                new = z - shrink if z > shrink else (z + shrink if z < -shrink else 0.0)
                delta = new - w
                if delta != 0.0:
                    W[k, j] = new
                    _move(indptr, indices, data, j, PT, AT, u, k, coupled, delta)
                    viol = abs(delta) * a * inv_scale[j]
                    if viol > worst:
                        worst = viol
        if fit_intercept:
            for k in range(K):
                a = diag_b[k]
                if not a > 0.0:
                    continue
                total = 0.0
                for i in range(n):
                    if coupled:
                        total += s[i] * PT[k, i] * (AT[k, i] - u[i])
                    else:
                        total += s[i] * PT[k, i] * (1.0 - PT[k, i]) * AT[k, i]
                delta = -(g_b[k] + total) / a
                if delta != 0.0:
                    b[k] += delta
                    _move(indptr, indices, data, -1, PT, AT, u, k, coupled, delta)
                    viol = abs(delta) * a
                    if viol > worst:
                        worst = viol
        if worst <= tol:
            break
    return n_sweeps


@njit(parallel=True, **_OPTS)
def column_dots(indptr, indices, data, features, R, out):  # pragma: no cover - compiled
    """``out[f] = X[:, features[f]] @ R`` for the CSC arrays of ``X`` and ``R`` of
    shape (n, m), C-contiguous; one feature per task, in row order."""
    m = R.shape[1]
    for f in prange(features.shape[0]):
        j = features[f]
        o = out[f]
        for c in range(m):
            o[c] = 0.0
        for q in range(indptr[j], indptr[j + 1]):
            v = data[q]
            ri = R[indices[q]]
            for c in range(m):
                o[c] += v * ri[c]
