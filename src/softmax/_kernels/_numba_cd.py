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
formed: the kernel keeps the change of the logits, ``A = X d_W^T + d_b``
(``A[i, k]``), and for the softmax ``u_i = p_i . A[:, i]``, so
that ``(H d)_kj = sum_i x_ij s_i p_ik (A_ki - u_i) + alpha d_kj`` costs one
pass over column ``j`` -- its stored values only, for CSC data.  Columns are
read as ``x_ij - c_j`` (``c`` = column means for dense data: centring keeps the
intercept from coupling every coordinate; 0 for sparse data, whose zeros
stay zeros).

The sweeps run over an active set (glmnet's scheme): the caller checks the
optimality of the other coordinates by one product ``X^T R`` (BLAS, or SciPy
for sparse data), adds those that violate it, and sweeps again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["cd_sweeps"]

_OPTS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_OPTS)
def _residual(P, A, u, s, i, k, coupled):  # pragma: no cover - compiled
    """``r_ik = s_i p_ik (A_ik - u_i)`` (softmax) or ``s_i p_ik (1 - p_ik) A_ik``."""
    if coupled:
        return s[i] * P[i, k] * (A[i, k] - u[i])
    return s[i] * P[i, k] * (1.0 - P[i, k]) * A[i, k]


@njit(**_OPTS)
def _column_dot(Xd, indptr, indices, data, sparse, j, c_j, P, s, A, u, k, coupled):
    # pragma: no cover - compiled
    """``sum_i (x_ij - c_j) r_ik`` (:func:`_residual`), over the column's stored
    values if sparse."""
    acc = 0.0
    if sparse:
        for q in range(indptr[j], indptr[j + 1]):
            i = indices[q]
            acc += data[q] * _residual(P, A, u, s, i, k, coupled)
    else:
        for i in range(P.shape[0]):
            acc += (Xd[i, j] - c_j) * _residual(P, A, u, s, i, k, coupled)
    return acc


@njit(**_OPTS)
def _move(Xd, indptr, indices, data, sparse, j, c_j, P, A, u, k, coupled, delta):
    # pragma: no cover - compiled
    """``A[:, k] += delta * x_j`` (and ``u += delta * p_k * x_j`` for the softmax);
    ``j = -1``: the intercept's column of ones."""
    if j < 0:
        lo, hi = 0, P.shape[0]
    else:
        lo, hi = (indptr[j], indptr[j + 1]) if sparse else (0, P.shape[0])
    for q in range(lo, hi):
        if j < 0:
            i, step = q, delta
        elif sparse:
            i, step = indices[q], delta * data[q]
        else:
            i, step = q, delta * (Xd[q, j] - c_j)
        A[i, k] += step
        if coupled:
            u[i] += P[i, k] * step


@njit(**_OPTS)
def _column_curvatures(Xd, indptr, indices, data, sparse, j, c_j, P, s, alpha, out):
    # pragma: no cover - compiled
    """Column ``j``'s diagonal entries of ``H``, one per class:
    ``sum_i (x_ij - c_j)^2 s_i p_ik (1 - p_ik) + alpha``."""
    K = P.shape[1]
    acc = np.zeros(K)
    lo, hi = (indptr[j], indptr[j + 1]) if sparse else (0, P.shape[0])
    for q in range(lo, hi):
        if sparse:
            i, x = indices[q], data[q]
        else:
            i, x = q, Xd[q, j] - c_j
        x2s = x * x * s[i]
        for k in range(K):
            acc[k] += x2s * P[i, k] * (1.0 - P[i, k])
    for k in range(K):
        out[k, j] = acc[k] + alpha


@njit(**_OPTS)
def cd_sweeps(
    Xd, indptr, indices, data, sparse, c, P, s, G, g_b, W0, W, b, A, u, diag, diag_b,
    active, thresholds, alpha, fit_intercept, coupled, inv_scale, tol, max_sweeps,
):  # fmt: skip  # pragma: no cover - compiled
    """Sweeps over the active coordinates (and the intercepts) of the model of the
    module docstring until a sweep's largest ``|change| * curvature * inv_scale``
    (the size of the model's subgradient, coordinate by coordinate) is below
    ``tol``, or ``max_sweeps``.  Returns the number of sweeps.

    Parameters
    ----------
    Xd : float array (n, p), Fortran order (dense data) or a dummy (sparse)
    indptr, indices, data : the CSC arrays (sparse data) or dummies
    sparse : bool
    c : (p,) column shifts (dense data)
    P : (n, K) probabilities; s : (n,) weights over their sum
    G : (K, p), g_b : (K,) gradient of the smooth part at ``(W0, b0)``
    W0 : (K, p) the model's centre; W, b : the iterate, updated in place
    A : (n, K), u : (n,) change of the logits and ``P . A`` row by row, in place
    diag : (K, p) curvatures, NaN where not computed yet (filled in place);
        diag_b : (K,) the intercepts'
    active : (K, p) bool, the coordinates to sweep
    thresholds : (p,) the L1 strength of each column; alpha : ridge on ``W``
    fit_intercept, coupled : bool
    inv_scale : (p,) converts a coordinate's violation to the caller's units
    """
    K, p = W.shape
    n = P.shape[0]
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
            c_j = 0.0 if sparse else c[j]
            if np.isnan(diag[0, j]):
                _column_curvatures(Xd, indptr, indices, data, sparse, j, c_j, P, s, alpha, diag)
            t_j = thresholds[j]
            for k in range(K):
                a = diag[k, j]
                if not active[k, j] or not a > 0.0:
                    continue
                w = W[k, j]
                dot = _column_dot(Xd, indptr, indices, data, sparse, j, c_j, P, s, A, u, k, coupled)
                grad = G[k, j] + dot + alpha * (w - W0[k, j])
                z = w - grad / a
                shrink = t_j / a
                new = z - shrink if z > shrink else (z + shrink if z < -shrink else 0.0)
                delta = new - w
                if delta != 0.0:
                    W[k, j] = new
                    _move(Xd, indptr, indices, data, sparse, j, c_j, P, A, u, k, coupled, delta)
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
                    total += _residual(P, A, u, s, i, k, coupled)
                delta = -(g_b[k] + total) / a
                if delta != 0.0:
                    b[k] += delta
                    _move(Xd, indptr, indices, data, sparse, -1, 0.0, P, A, u, k, coupled, delta)
                    viol = abs(delta) * a
                    if viol > worst:
                        worst = viol
        if worst <= tol:
            break
    return n_sweeps
