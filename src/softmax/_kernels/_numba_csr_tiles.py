"""The multinomial data fit on CSR data cut into column tiles (numba; imported
lazily by :mod:`softmax._kernels`).

A row pass over CSR data gathers, for every stored value ``x_ij``, the
coefficient row ``W[:, j]`` (the logits) and scatters into the gradient row
``G[:, j]``.  On text-like data most of those rows are rare features spread over
a coefficient matrix far larger than the core's cache, so each access waits on
the shared cache: on W4 (100k x 50k, 6.1M stored values, 20 classes) the
logits took 90-100 ms on 2 threads where the same work on a cache-resident
matrix takes 27 ms.  Cutting the columns into tiles whose coefficient rows fit
in the core's cache (:func:`build_tiles`, once per fit: a copy of the stored
values grouped by tile, then by row) turns the random accesses into cache hits
and the per-row logits into a sequential stream:

* logits: each thread owns a range of rows and adds the tiles' contributions
  one tile after the other (:func:`tiled_logits`);
* gradient: each thread owns whole tiles and runs down every row's residual
  (:func:`tiled_scatter`): no partial gradients to zero and add, and every
  gradient value is a sum in row order, whatever the thread count.

When the coefficients are sparse (an L1 fit's: a few dozen of 50 000 features
on W4) and the caller holds ``X`` by columns as well, the logits come from the
live columns alone (:func:`column_logits`): on W4, 8 ms instead of 50-60 ms.

The rows' softmax in between is :func:`softmax._kernels._numba_linear._softmax_block`
over fixed blocks of rows.  Results therefore do not depend on the number of
threads.  Tiles hold at most :data:`softmax._kernels.CSR_TILE_BYTES` of
coefficients and at most a share of the stored values, so that the frequent
features (which Zipf's law puts in few columns) are spread over several tiles
and the threads' work is balanced.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from softmax._kernels._numba_linear import _softmax_block

__all__ = [
    "build_tiles",
    "column_logits",
    "has_duplicates",
    "tile_bounds",
    "tiled_hessp",
    "tiled_logits",
    "tiled_scatter",
    "tiled_scatter_moments",
    "tiled_value_grad",
]

_OPTS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "nogil": True,
    "fastmath": {"reassoc", "contract"},
}


@njit(**_OPTS)
def tile_bounds(indices, n_features, max_width, max_nnz):  # pragma: no cover - compiled
    """Column bounds ``starts`` (n_tiles + 1) of tiles at most ``max_width``
    columns wide holding at most ``max_nnz`` stored values (one column may
    exceed it alone)."""
    counts = np.zeros(n_features, np.int64)
    for q in range(indices.shape[0]):
        counts[indices[q]] += 1
    starts = [0]
    width, nnz = 0, 0
    for j in range(n_features):
        if width > 0 and (width == max_width or nnz + counts[j] > max_nnz):
            starts.append(j)
            width, nnz = 0, 0
        width += 1
        nnz += counts[j]
    starts.append(n_features)
    return np.array(starts, dtype=np.int64)


@njit(**_OPTS)
def has_duplicates(indptr, indices, n_features):  # pragma: no cover - compiled
    """Whether some row stores two values in one column (one pass, any order)."""
    last_row = np.full(n_features, -1, np.int64)
    for i in range(indptr.shape[0] - 1):
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            if last_row[j] == i:
                return True
            last_row[j] = i
    return False


@njit(parallel=True, **_OPTS)
def build_tiles(indptr, indices, data, starts):  # pragma: no cover - compiled
    """The stored values grouped by tile, then by row: ``ptr[t, i]:ptr[t, i + 1]``
    are row ``i``'s values in tile ``t``, with column ``starts[t] + col[q]``.
    The counting and the filling go over the rows in parallel (each row writes
    its own slots); the offsets are one running sum."""
    n = indptr.shape[0] - 1
    n_tiles = starts.shape[0] - 1
    n_features = starts[n_tiles]
    tile_of = np.empty(n_features, np.int64)
    for t in range(n_tiles):
        for j in range(starts[t], starts[t + 1]):
            tile_of[j] = t
    ptr = np.zeros((n_tiles, n + 1), np.int64)
    for i in prange(n):
        for q in range(indptr[i], indptr[i + 1]):
            ptr[tile_of[indices[q]], i + 1] += 1
    offset = 0
    for t in range(n_tiles):
        ptr[t, 0] += offset
        for i in range(n):
            ptr[t, i + 1] += ptr[t, i]
        offset = ptr[t, n]
    fill = ptr[:, :n].copy()
    col = np.empty(indices.shape[0], np.int32)
    val = np.empty(data.shape[0], data.dtype)
    for i in prange(n):
        for q in range(indptr[i], indptr[i + 1]):
            j = indices[q]
            t = tile_of[j]
            p = fill[t, i]
            col[p] = j - starts[t]
            val[p] = data[q]
            fill[t, i] = p + 1
    return ptr, col, val


@njit(parallel=True, **_OPTS)
def tiled_logits(ptr, col, val, starts, Bt, b, Z, n_parts):  # pragma: no cover - compiled
    """``Z = X @ Bt + b``; ``Bt`` of shape (n_features, K), C-contiguous."""
    n = ptr.shape[1] - 1
    K = Bt.shape[1]
    for part in prange(n_parts):
        i0 = part * n // n_parts
        i1 = (part + 1) * n // n_parts
        for i in range(i0, i1):
            zi = Z[i]
            for k in range(K):
                zi[k] = b[k]
        for t in range(starts.shape[0] - 1):
            Bt_t = Bt[starts[t] : starts[t + 1]]
            pt = ptr[t]
            for i in range(i0, i1):
                zi = Z[i]
                for q in range(pt[i], pt[i + 1]):
                    v = val[q]
                    bj = Bt_t[col[q]]
                    for k in range(K):
                        zi[k] += v * bj[k]


@njit(parallel=True, **_OPTS)
def _fill_rows(Z, b):  # pragma: no cover - compiled
    """Every row of ``Z`` set to ``b``."""
    for i in prange(Z.shape[0]):
        zi = Z[i]
        for k in range(b.shape[0]):
            zi[k] = b[k]


@njit(**_OPTS)
def column_logits(indptr, indices, data, live, Bt, b, Z):  # pragma: no cover - compiled
    """``Z = X @ Bt + b`` from the CSC arrays of ``X``, over the columns ``live``
    (ascending) alone: the other rows of ``Bt`` must be zero.  Each row's sum
    runs over its columns in ascending order, as :func:`tiled_logits` does on
    canonical CSR data (there it adds the dead columns' exact zeros too)."""
    _fill_rows(Z, b)
    K = Bt.shape[1]
    for j in live:
        bj = Bt[j]
        for q in range(indptr[j], indptr[j + 1]):
            v = data[q]
            zi = Z[indices[q]]
            for k in range(K):
                zi[k] += v * bj[k]


@njit(parallel=True, **_OPTS)
def tiled_scatter(ptr, col, val, starts, R, Gt):  # pragma: no cover - compiled
    """``Gt = X.T @ R`` (shape (n_features, K)), tile by tile."""
    n = ptr.shape[1] - 1
    K = Gt.shape[1]
    for t in prange(starts.shape[0] - 1):
        G_t = Gt[starts[t] : starts[t + 1]]
        for r in range(G_t.shape[0]):
            for k in range(K):
                G_t[r, k] = 0.0
        pt = ptr[t]
        for i in range(n):
            lo, hi = pt[i], pt[i + 1]
            if lo == hi:
                continue
            ri = R[i]
            for q in range(lo, hi):
                v = val[q]
                gj = G_t[col[q]]
                for k in range(K):
                    gj[k] += v * ri[k]


@njit(parallel=True, **_OPTS)
def tiled_scatter_moments(ptr, col, val, starts, C, G1t, G2t):  # pragma: no cover - compiled
    """``G1t = X.T @ C`` and ``G2t = (X * X).T @ C`` in one pass, tile by tile
    (the Hessian's diagonal: :meth:`softmax.objective.Multinomial.hessian_moments`)."""
    n = ptr.shape[1] - 1
    K = G1t.shape[1]
    for t in prange(starts.shape[0] - 1):
        G1 = G1t[starts[t] : starts[t + 1]]
        G2 = G2t[starts[t] : starts[t + 1]]
        for r in range(G1.shape[0]):
            for k in range(K):
                G1[r, k] = 0.0
                G2[r, k] = 0.0
        pt = ptr[t]
        for i in range(n):
            lo, hi = pt[i], pt[i + 1]
            if lo == hi:
                continue
            ci = C[i]
            for q in range(lo, hi):
                v = val[q]
                g1 = G1[col[q]]
                g2 = G2[col[q]]
                for k in range(K):
                    vc = v * ci[k]
                    g1[k] += vc
                    g2[k] += v * vc


@njit(parallel=True, **_OPTS)
def _softmax_rows(Z, labels, sw, block, P, loss, gb):  # pragma: no cover - compiled
    """Blocks of rows of logits ``Z`` -> residuals ``s (P - Y)`` in place, ``P``,
    each block's loss in ``loss[blk]`` and residual sum in ``gb[blk]``."""
    n, K = Z.shape
    for blk in prange(loss.shape[0]):
        i0 = blk * block
        m = min(n, i0 + block) - i0
        E = np.empty((m, K))
        mx = np.empty(m)
        Zb = Z[i0 : i0 + m]
        loss[blk] = _softmax_block(Zb, E, mx, labels[i0 : i0 + m], sw[i0 : i0 + m], P[i0 : i0 + m])
        g = gb[blk]
        for r in range(m):
            for k in range(K):
                g[k] += Zb[r, k]


@njit(parallel=True, **_OPTS)
def _hessp_rows(A, P, sw, block, hb):  # pragma: no cover - compiled
    """Blocks of rows of ``A = X V.T + v_b`` -> ``Q = s P (A - rowsum(P A))`` in
    place, each block's sum of ``Q`` in ``hb[blk]``."""
    n, K = A.shape
    for blk in prange(hb.shape[0]):
        i0 = blk * block
        h = hb[blk]
        for i in range(i0, min(n, i0 + block)):
            ai = A[i]
            pi = P[i]
            pa = 0.0
            for k in range(K):
                pa += pi[k] * ai[k]
            w_i = sw[i]
            for k in range(K):
                q = w_i * pi[k] * (ai[k] - pa)
                ai[k] = q
                h[k] += q


#: Largest share of the stored values in the live columns for which
#: :func:`column_logits` replaces :func:`tiled_logits` (a random access per
#: value either way, but the tiled pass also streams every value and every
#: tile's logits).
LIVE_SHARE = 0.25


def _logits(tiles, columns, Bt, b, Z, n_parts):
    """``Z = X @ Bt + b``: from the live columns of ``columns`` (the CSC arrays of
    ``X``, or None) where they hold few of the stored values, else tiled."""
    if columns is not None:
        indptr, indices, data = columns
        live = np.flatnonzero(Bt.any(axis=1))
        if (indptr[live + 1] - indptr[live]).sum() <= LIVE_SHARE * indptr[-1]:
            column_logits(indptr, indices, data, live, Bt, b, Z)
            return
    ptr, col, val, starts = tiles
    tiled_logits(ptr, col, val, starts, Bt, b, Z, n_parts)


def tiled_value_grad(tiles, labels, sw, Wt, b, block, n_parts, P, columns=None):
    """Loss sum, gradient ``Gt`` (n_features, K), intercept gradient and
    probabilities ``P`` (written) of the multinomial data fit; ``columns``: see
    :func:`_logits`."""
    ptr, col, val, starts = tiles
    n, K = P.shape
    Z = np.empty((n, K))
    _logits(tiles, columns, Wt, b, Z, n_parts)
    nblocks = (n + block - 1) // block
    loss = np.zeros(nblocks)
    gb = np.zeros((nblocks, K))
    _softmax_rows(Z, labels, sw, block, P, loss, gb)
    Gt = np.empty_like(Wt)
    tiled_scatter(ptr, col, val, starts, Z, Gt)
    return float(loss.sum()), Gt, gb.sum(axis=0)


def tiled_hessp(tiles, sw, P, Vt, vb, block, n_parts, columns=None):
    """Hessian-vector product ``(HVt, hb)`` along ``(V, vb)`` at probabilities ``P``;
    ``columns``: see :func:`_logits`."""
    ptr, col, val, starts = tiles
    n, K = P.shape
    A = np.empty((n, K))
    _logits(tiles, columns, Vt, vb, A, n_parts)
    hb = np.zeros(((n + block - 1) // block, K))
    _hessp_rows(A, P, sw, block, hb)
    HVt = np.empty_like(Vt)
    tiled_scatter(ptr, col, val, starts, A, HVt)
    return HVt, hb.sum(axis=0)
