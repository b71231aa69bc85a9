"""The product of a CSR matrix with a dense block of columns, on every thread
(numba; imported lazily by :mod:`softmax._kernels`).

SciPy's sparse products run on one thread; a fit on sparse data spends most of
its time in two of them per evaluation, ``X @ W.T`` (the logits) and
``X.T @ R`` (the gradient).  :func:`csr_matmat` computes the first row by row
in parallel, skipping the rows of ``B`` marked dead (the zero columns of a
sparse model's ``W``: an L1 fit's logits then cost a pass over the indices
and little else).  Measured on W4 (100k x 50k, 6.1M stored values, 20
classes), 2 threads: 150 ms with SciPy, 70 ms here, 20 ms for a model using
0.2 % of the features.  The second stays SciPy's: a parallel version (per-part
buffers of ``n_features x K``, added in order) was 0.9-1.2x its speed, bound
by the scattered writes.  Each row's sum runs in ``B``'s dtype, as SciPy's.

:func:`csr_multinomial_value_grad` and :func:`csr_multinomial_hessp` are the
fused row passes of the multinomial data fit on CSR data, the sparse twins of
:mod:`softmax._kernels._numba_linear` (same formulas, same blocks of rows dealt
to a fixed number of partial sums): one pass gathers the coefficient rows of a
row's stored features into its logits, turns them into its loss, probabilities
and residual ``r_i``, and scatters ``x_ij r_i`` into the gradient rows of the
same features while they are in cache.  The coefficients are held as
``(n_features, K)`` (a feature's K values side by side, one cache line or
three), and so are the partial gradients.  They run where the column-tiled
passes of ``_numba_csr_tiles.py`` (faster, but their tiles are built once per
objective) are not at hand: per-chunk evaluations of chunked and Dask fits.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from softmax._kernels._numba_linear import _softmax_block

__all__ = ["csr_matmat", "csr_multinomial_hessp", "csr_multinomial_value_grad"]

_OPTS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "nogil": True,
    "fastmath": {"reassoc", "contract"},
}


@njit(parallel=True, **_OPTS)
def csr_matmat(indptr, indices, data, B, live, out):  # pragma: no cover - compiled
    """``out = X @ B`` for CSR ``X`` and C-contiguous ``B`` of shape (n_features, K);
    rows ``j`` of ``B`` with ``live[j]`` False are taken as zero."""
    n, K = out.shape
    for i in prange(n):
        row = out[i]
        for k in range(K):
            row[k] = 0.0
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            if live[j]:
                v = data[q]
                bj = B[j]
                for k in range(K):
                    row[k] += v * bj[k]


@njit(**_OPTS)
def _block_logits(indptr, indices, data, i0, m, Bt, b, Z):  # pragma: no cover - compiled
    """``Z[r] = b + sum_q data[q] * Bt[indices[q]]`` over the stored values of row ``i0 + r``."""
    K = Bt.shape[1]
    for r in range(m):
        zr = Z[r]
        for k in range(K):
            zr[k] = b[k]
        for q in range(indptr[i0 + r], indptr[i0 + r + 1]):
            v = data[q]
            bj = Bt[indices[q]]
            for k in range(K):
                zr[k] += v * bj[k]


@njit(**_OPTS)
def _block_scatter(indptr, indices, data, i0, m, R, G, gb):  # pragma: no cover - compiled
    """``G[indices[q]] += data[q] * R[r]`` over the stored values of row ``i0 + r``;
    ``gb += R[r]``."""
    K = G.shape[1]
    for r in range(m):
        rr = R[r]
        for k in range(K):
            gb[k] += rr[k]
        for q in range(indptr[i0 + r], indptr[i0 + r + 1]):
            v = data[q]
            gj = G[indices[q]]
            for k in range(K):
                gj[k] += v * rr[k]


@njit(parallel=True, **_OPTS)
def csr_multinomial_value_grad(
    indptr, indices, data, labels, sw, Wt, b, block, n_parts, P
):  # pragma: no cover - compiled
    """Loss sum, gradient sums and probabilities of the multinomial data fit on
    the CSR matrix ``(indptr, indices, data)``.

    ``Wt`` is the coefficient matrix transposed, shape ``(n_features, K)``,
    float64 and C-contiguous; ``b`` the intercepts (zeros without).  Returns
    ``loss`` (n_parts,), ``G`` (n_parts, n_features, K) and ``gb`` (n_parts, K),
    partial sums over the blocks of rows each part took; ``P`` (n, K) receives
    the probabilities.
    """
    n = indptr.shape[0] - 1
    D, K = Wt.shape
    nblocks = (n + block - 1) // block
    loss = np.zeros(n_parts)
    G = np.zeros((n_parts, D, K))
    gb = np.zeros((n_parts, K))
    for part in prange(n_parts):
        Z = np.empty((block, K))
        E = np.empty((block, K))
        mx = np.empty(block)
        acc = 0.0
        for blk in range(part, nblocks, n_parts):
            i0 = blk * block
            m = min(n, i0 + block) - i0
            Zb = Z[:m]
            _block_logits(indptr, indices, data, i0, m, Wt, b, Zb)
            acc += _softmax_block(
                Zb, E[:m], mx, labels[i0 : i0 + m], sw[i0 : i0 + m], P[i0 : i0 + m]
            )
            _block_scatter(indptr, indices, data, i0, m, Zb, G[part], gb[part])
        loss[part] = acc
    return loss, G, gb


@njit(parallel=True, **_OPTS)
def csr_multinomial_hessp(
    indptr, indices, data, sw, P, Vt, vb, block, n_parts
):  # pragma: no cover - compiled
    """Partial sums of the Hessian-vector product along ``(V, vb)`` at
    probabilities ``P``, ``Vt = V.T`` of shape (n_features, K).

    Returns ``(HVt, hb)`` of shapes ``(n_parts, n_features, K)`` and ``(n_parts, K)``.
    """
    n = indptr.shape[0] - 1
    D, K = Vt.shape
    nblocks = (n + block - 1) // block
    H = np.zeros((n_parts, D, K))
    hb = np.zeros((n_parts, K))
    for part in prange(n_parts):
        A = np.empty((block, K))
        for blk in range(part, nblocks, n_parts):
            i0 = blk * block
            m = min(n, i0 + block) - i0
            Ab = A[:m]
            _block_logits(indptr, indices, data, i0, m, Vt, vb, Ab)
            for r in range(m):
                ar = Ab[r]
                pr = P[i0 + r]
                pa = 0.0
                for k in range(K):
                    pa += pr[k] * ar[k]
                w_r = sw[i0 + r]
                for k in range(K):
                    ar[k] = w_r * pr[k] * (ar[k] - pa)
            _block_scatter(indptr, indices, data, i0, m, Ab, H[part], hb[part])
    return H, hb
