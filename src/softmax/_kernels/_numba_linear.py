"""Fused row passes of the dense multinomial data fit, in numba (imported lazily
by :mod:`softmax._kernels`).

The reference is :class:`softmax.objective._datafit.Multinomial` (NumPy: a
GEMM for the logits, ``log_softmax``, a second GEMM for the gradient).  Here one
pass over a block of rows computes, while the block is in cache,

* the logits ``z_i = W x_i + b`` (in float64 whatever the data dtype),
* the row's log-sum-exp, its loss ``s_i (lse_i - z_{i, y_i})`` and its
  probabilities ``p_i`` (kept for the Hessian-vector products),
* the gradient contribution ``r_i x_i^T`` with ``r_i = s_i (p_i - e_{y_i})``;

and one pass computes the Hessian-vector product ``q_i x_i^T`` with
``a_i = V x_i + v_b`` and ``q_i = s_i p_i * (a_i - p_i . a_i)``.  The formulas
are those of ``docs/math.md`` (section on the softmax-regression gradient).

Determinism: the rows are cut into fixed blocks and the blocks dealt to a
fixed number of partial sums (``n_parts``, not the thread count), which are
added in order at the end, so the result does not depend on how many threads
ran.  The dot products are compiled with reassociation allowed (so that they
vectorise): they agree with the NumPy reference to rounding, not bitwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from softmax._kernels._numba import _exp

__all__ = ["multinomial_hessp", "multinomial_value_grad"]

# Reassociation and contraction only: no "nnan"/"ninf", the data may hold
# anything finite and the logits may be huge.
_FAST = {"reassoc", "contract"}
_OPTS: dict[str, Any] = {"cache": True, "error_model": "numpy", "nogil": True, "fastmath": _FAST}


@njit(**_OPTS)
def _logits(Xb, W, b, Z):  # pragma: no cover - compiled
    """``Z[i] = W @ Xb[i] + b`` for the rows of one block."""
    K, D = W.shape
    for i in range(Xb.shape[0]):
        xi = Xb[i]
        zi = Z[i]
        for k in range(K):
            wk = W[k]
            acc = 0.0
            for d in range(D):
                acc += xi[d] * wk[d]
            zi[k] = acc + b[k]


@njit(**_OPTS)
def _add_outer(Xb, R, G):  # pragma: no cover - compiled
    """``G += R.T @ Xb`` (rank-one updates, vectorised over the features)."""
    K, D = G.shape
    for i in range(Xb.shape[0]):
        xi = Xb[i]
        ri = R[i]
        for k in range(K):
            rk = ri[k]
            gk = G[k]
            # No test for rk == 0: a branch here stops the vectorisation (2x slower).
            for d in range(D):
                gk[d] += rk * xi[d]


@njit(**_OPTS)
def _softmax_block(Z, E, mx, y, sw, P):  # pragma: no cover - compiled
    """Turn the logits ``Z`` of a block into ``R = s * (P - Y)`` in place; write
    ``P``; return the block's loss sum.  ``E`` and ``mx`` are scratch buffers.

    The exponentials run as one flat, vectorised loop over the block (the
    row max spread into ``E`` first): rows of a few classes are too short to
    vectorise one at a time.
    """
    m, K = Z.shape
    loss = 0.0
    for i in range(m):
        zi = Z[i]
        r = zi[0]
        for k in range(1, K):
            r = max(r, zi[k])
        mx[i] = r
        # loss_i = logsumexp(z_i) - z_iy = log(sum_k exp(z_ik - mx)) + mx - z_iy
        loss += sw[i] * (r - zi[y[i]])
        ei = E[i]
        for k in range(K):
            ei[k] = r
    Zf = Z.reshape(m * K)
    Ef = E.reshape(m * K)
    for j in range(m * K):
        Ef[j] = _exp(Zf[j] - Ef[j])
    for i in range(m):
        ei = E[i]
        s = 0.0
        for k in range(K):
            s += ei[k]
        loss += sw[i] * np.log(s)
        mx[i] = 1.0 / s
    for i in range(m):
        ei = E[i]
        zi = Z[i]
        pi = P[i]
        inv = mx[i]
        w_i = sw[i]
        for k in range(K):
            p = ei[k] * inv
            pi[k] = p
            zi[k] = w_i * p
        zi[y[i]] -= w_i
    return loss


@njit(parallel=True, **_OPTS)
def multinomial_value_grad(X, labels, sw, W, b, block, n_parts, P):  # pragma: no cover
    """Loss sum, gradient sums and probabilities of the multinomial data fit.

    Parameters
    ----------
    X : (n, D) float32/float64, C-contiguous
    labels : (n,) integer, in ``[0, K)``
    sw : (n,) float64 sample weights
    W : (K, D) float64; b : (K,) float64 (zeros without intercept)
    block : rows per block; n_parts : number of partial sums
    P : (n, K) float64 output, the probabilities

    Returns
    -------
    loss : (n_parts,) partial loss sums
    G : (n_parts, K, D) partial gradient sums for ``W``
    gb : (n_parts, K) partial gradient sums for ``b``
    """
    n, D = X.shape
    K = W.shape[0]
    nblocks = (n + block - 1) // block
    loss = np.zeros(n_parts)
    G = np.zeros((n_parts, K, D))
    gb = np.zeros((n_parts, K))
    for part in prange(n_parts):
        Z = np.empty((block, K))
        E = np.empty((block, K))
        mx = np.empty(block)
        Gp = G[part]
        gbp = gb[part]
        acc = 0.0
        for blk in range(part, nblocks, n_parts):
            i0 = blk * block
            m = min(n, i0 + block) - i0
            Xb = X[i0 : i0 + m]
            Zb = Z[:m]
            _logits(Xb, W, b, Zb)
            acc += _softmax_block(
                Zb, E[:m], mx, labels[i0 : i0 + m], sw[i0 : i0 + m], P[i0 : i0 + m]
            )
            for i in range(m):
                zi = Zb[i]
                for k in range(K):
                    gbp[k] += zi[k]
            _add_outer(Xb, Zb, Gp)
        loss[part] = acc
    return loss, G, gb


@njit(parallel=True, **_OPTS)
def multinomial_hessp(X, sw, P, V, vb, block, n_parts):  # pragma: no cover - compiled
    """Partial sums of the Hessian-vector product along ``(V, vb)`` at probabilities ``P``.

    Returns ``(HV, hb)`` of shapes ``(n_parts, K, D)`` and ``(n_parts, K)``.
    """
    n, D = X.shape
    K = V.shape[0]
    nblocks = (n + block - 1) // block
    H = np.zeros((n_parts, K, D))
    hb = np.zeros((n_parts, K))
    for part in prange(n_parts):
        A = np.empty((block, K))
        Hp = H[part]
        hbp = hb[part]
        for blk in range(part, nblocks, n_parts):
            i0 = blk * block
            m = min(n, i0 + block) - i0
            Xb = X[i0 : i0 + m]
            Ab = A[:m]
            _logits(Xb, V, vb, Ab)
            for i in range(m):
                ai = Ab[i]
                pi = P[i0 + i]
                pa = 0.0
                for k in range(K):
                    pa += pi[k] * ai[k]
                w_i = sw[i0 + i]
                for k in range(K):
                    q = w_i * pi[k] * (ai[k] - pa)
                    ai[k] = q
                    hbp[k] += q
            _add_outer(Xb, Ab, Hp)
    return H, hb
