"""Data-fit terms of linear probabilistic classifiers, over one block of rows.

Coefficient layout
------------------
This is the one place the layout is defined; everything else refers here.

A model has ``n_rows`` coefficient rows: ``n_classes`` for the multinomial
(softmax) model, 1 for the binomial (logistic) model, whose single row holds
the log-odds of the second class, as ``LogisticRegression.coef_`` does, and
``n_labels`` for the multi-label model (:mod:`softmax.objective._multilabel`),
one row of log-odds per label.  The
parameters form one flat float64 vector::

    w = concatenate([W.ravel(), b])       # W: (n_rows, n_features), C order
                                          # b: (n_rows,), present iff fit_intercept

so ``logits = X @ W.T + b`` has shape ``(n_samples, n_rows)``.

Each data fit returns *sums* over its rows, weighted by ``sample_weight``
(sample weights times class weights); the composite objective divides by the
total weight and adds the penalty.  Gradients and Hessian-vector products are
exact (``docs/math.md`` derives them):

* multinomial: ``grad_W = R.T @ X``, ``grad_b = R.sum(0)`` with
  ``R = s * (P - Y)``; for a direction ``(V, v_b)``, ``A = X @ V.T + v_b`` and
  ``H v = Q.T @ X`` with ``Q = s * P * (A - rowsum(P * A))``;
* binomial: ``r = s * (sigmoid(z) - y)``, Hessian weights ``s * p * (1 - p)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax._kernels import (
    FUSED_BLOCK_ROWS,
    FUSED_PARTS,
    csr_matmat,
    csr_parts,
    csr_row_parts,
    fused_multinomial,
    fused_multinomial_csr,
)
from softmax.losses import cross_entropy
from softmax.special import log_sigmoid, log_softmax, sigmoid, softmax

__all__ = ["Binomial", "Multinomial", "unpack"]


def unpack(w: np.ndarray, n_rows: int, n_features: int, fit_intercept: bool):
    """Views ``(W, b)`` of the flat parameter vector (``b`` is None without intercept)."""
    W = w[: n_rows * n_features].reshape(n_rows, n_features)
    b = w[n_rows * n_features :] if fit_intercept else None
    return W, b


def _pack(G: np.ndarray, g_b: np.ndarray | None) -> np.ndarray:
    flat = np.asarray(G, dtype=np.float64).ravel()
    if g_b is None:
        return flat
    return np.concatenate([flat, np.asarray(g_b, dtype=np.float64).ravel()])


def _linear(X: Any, W: np.ndarray, b: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    """``X @ W.T + b`` in the compute dtype (float32 data keeps float32 GEMMs).

    CSR data takes the multithreaded kernel of :mod:`softmax._kernels` (SciPy's
    product is single-threaded), which also skips the zero columns of ``W``."""
    Wt = W.T.astype(dtype, copy=False)
    out = csr_matmat(X, Wt)
    if out is None:
        out = np.asarray(X @ Wt)
    if b is not None:
        out += b.astype(dtype, copy=False)
    return out


def _transpose_product(X: Any, R: np.ndarray) -> np.ndarray:
    """``R.T @ X`` for dense or sparse ``X`` (sparse: computed as ``(X.T @ R).T``)."""
    if isinstance(X, np.ndarray):
        return R.T @ X
    return np.asarray((X.T @ R).T)


@dataclass(frozen=True)
class Multinomial:
    """Softmax + cross-entropy: ``sum_i s_i (logsumexp(z_i) - z_{i, y_i})``.

    ``labels`` are integers in ``[0, n_classes)``; see the module docstring for
    the coefficient layout (``n_rows = n_classes``).
    """

    n_classes: int
    fit_intercept: bool = True

    @property
    def n_rows(self) -> int:
        return self.n_classes

    def proba(self, X: Any, w: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities and probabilities of every class, shape (n_samples, n_classes)."""
        W, b = unpack(w, self.n_classes, X.shape[1], self.fit_intercept)
        log_proba = log_softmax(_linear(X, W, b, dtype), axis=-1)
        return log_proba, np.exp(log_proba)

    def value_and_grad(
        self,
        w: np.ndarray,
        X: Any,
        labels: np.ndarray,
        sample_weight: np.ndarray,
        tiles: Any = None,
        out: np.ndarray | None = None,
        columns: Any = None,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Weighted loss sum, its gradient (flat), and the probabilities (for hessp).

        ``out``, an ``(n, K)`` float64 C-contiguous array, receives the
        probabilities on the fused paths (which then return it) instead of a new
        array: the Dask workers reuse the previous evaluation's, since fresh
        pages cost them ~20 % of an evaluation (their allocator returns freed
        memory to the system at once).  Ignored elsewhere.

        Dense data with few classes takes the fused row pass of
        :mod:`softmax._kernels._numba_linear`, CSR data that of
        :mod:`softmax._kernels._numba_sparse`, or with ``tiles`` (from
        :func:`softmax._kernels.csr_tiles` on this ``X``) the tiled passes of
        :mod:`softmax._kernels._numba_csr_tiles` (float64 arithmetic), which
        take the logits of sparse coefficients from the live columns of
        ``columns`` (the CSC arrays of ``X``, :meth:`Objective.column_major`)
        when given; the NumPy code below is the reference they are tested against.
        """
        if tiles is not None:
            impl, data = tiles
            Wt, b = self._coef_and_intercept(w, X.shape[1], transpose=True)
            P = _proba_buffer(out, X.shape[0], self.n_classes)
            loss, Gt, g_b = impl.tiled_value_grad(
                data, _as_index(labels), _as_weight(sample_weight), Wt, b,
                FUSED_BLOCK_ROWS, csr_row_parts(), P, columns,
            )  # fmt: skip
            return loss, _pack(Gt.T, g_b if self.fit_intercept else None), P
        csr = fused_multinomial_csr(X)
        if csr is not None:
            Wt, b = self._coef_and_intercept(w, X.shape[1], transpose=True)
            P = _proba_buffer(out, X.shape[0], self.n_classes)
            loss, Gt, g_b = csr.csr_multinomial_value_grad(
                X.indptr, X.indices, X.data, _as_index(labels), _as_weight(sample_weight),
                Wt, b, FUSED_BLOCK_ROWS, csr_parts(X.shape[1], self.n_classes), P,
            )  # fmt: skip
            g_b = g_b.sum(axis=0) if self.fit_intercept else None
            return float(loss.sum()), _pack(Gt.sum(axis=0).T, g_b), P
        fused = fused_multinomial(X, self.n_classes)
        if fused is not None:
            W, b = self._coef_and_intercept(w, X.shape[1])
            P = _proba_buffer(out, X.shape[0], self.n_classes)
            loss, G, g_b = fused.multinomial_value_grad(
                X, _as_index(labels), _as_weight(sample_weight), W, b,
                FUSED_BLOCK_ROWS, FUSED_PARTS, P,
            )  # fmt: skip
            g_b = g_b.sum(axis=0) if self.fit_intercept else None
            return float(loss.sum()), _pack(G.sum(axis=0), g_b), P
        W, b = unpack(w, self.n_classes, X.shape[1], self.fit_intercept)
        Z = _linear(X, W, b, X.dtype)
        # -log p at the labels without the log-probabilities of every class, and
        # the probabilities straight from the logits: two row passes instead of
        # log_softmax, exp and a copy (W3, K = 1000: 211 ms -> 106 ms per 16k rows).
        nll = cross_entropy(Z, labels, reduction="none")
        # The objective is accumulated in float64 whatever the data dtype.
        value = float(np.dot(sample_weight, nll.astype(np.float64)))
        proba = softmax(Z, axis=-1)
        del Z
        sw = sample_weight.astype(proba.dtype, copy=False)
        R = proba * sw[:, None]
        R[np.arange(labels.shape[0]), labels] -= sw
        G = _transpose_product(X, R)
        g_b = R.sum(axis=0, dtype=np.float64) if self.fit_intercept else None
        return value, _pack(G, g_b), proba

    def hessp(
        self,
        v: np.ndarray,
        X: Any,
        proba: np.ndarray,
        sample_weight: np.ndarray,
        tiles: Any = None,
        columns: Any = None,
    ) -> np.ndarray:
        """Hessian-vector product at the point where ``proba`` was computed
        (``tiles``, ``columns``: see :meth:`value_and_grad`)."""
        kernels_apply = proba.dtype == np.float64 and proba.flags.c_contiguous
        if tiles is not None and kernels_apply:
            impl, data = tiles
            Vt, v_b = self._coef_and_intercept(v, X.shape[1], transpose=True)
            HVt, h_b = impl.tiled_hessp(
                data, _as_weight(sample_weight), proba, Vt, v_b, FUSED_BLOCK_ROWS,
                csr_row_parts(), columns,
            )  # fmt: skip
            return _pack(HVt.T, h_b if self.fit_intercept else None)
        csr = fused_multinomial_csr(X)
        if csr is not None and kernels_apply:
            Vt, v_b = self._coef_and_intercept(v, X.shape[1], transpose=True)
            HVt, h_b = csr.csr_multinomial_hessp(
                X.indptr, X.indices, X.data, _as_weight(sample_weight), proba, Vt, v_b,
                FUSED_BLOCK_ROWS, csr_parts(X.shape[1], self.n_classes),
            )  # fmt: skip
            return _pack(HVt.sum(axis=0).T, h_b.sum(axis=0) if self.fit_intercept else None)
        fused = fused_multinomial(X, self.n_classes)
        if fused is not None and kernels_apply:
            V, v_b = self._coef_and_intercept(v, X.shape[1])
            HV, h_b = fused.multinomial_hessp(
                X, _as_weight(sample_weight), proba, V, v_b, FUSED_BLOCK_ROWS, FUSED_PARTS
            )
            return _pack(HV.sum(axis=0), h_b.sum(axis=0) if self.fit_intercept else None)
        V, v_b = unpack(v, self.n_classes, X.shape[1], self.fit_intercept)
        A = _linear(X, V, v_b, proba.dtype)
        A *= proba
        # Q = s * (P*A - P * rowsum(P*A))
        Q = A - proba * A.sum(axis=1, keepdims=True)
        Q *= sample_weight[:, None].astype(Q.dtype, copy=False)
        HV = _transpose_product(X, Q)
        h_b = Q.sum(axis=0, dtype=np.float64) if self.fit_intercept else None
        return _pack(HV, h_b)

    def hessian_moments(
        self,
        X: Any,
        proba: np.ndarray,
        sample_weight: np.ndarray,
        tiles: Any = None,
        average_classes: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the Hessian's diagonal is made of: with ``c_ik = s_i p_ik (1 - p_ik)``,
        ``(sum_i c_ik x_ij**2, sum_i c_ik x_ij, sum_i c_ik)``, shapes ``(K, d)``,
        ``(K, d)`` and ``(K,)``: the diagonal entries of the coefficients, their
        intercept cross terms, and the intercepts' (see
        :meth:`softmax.objective.Objective.hessian_diagonal`).  With
        ``average_classes``, their means over the classes (one row: a pass that
        scatters one value per stored value instead of ``K``)."""
        P = np.asarray(proba, dtype=np.float64)
        C = np.asarray(sample_weight, dtype=np.float64)[:, None] * P * (1.0 - P)
        if average_classes:
            C = C.mean(axis=1, keepdims=True)
        m = C.shape[1]
        # (The tiles hold duplicate entries summed: (a + b)**2 != a**2 + b**2.)
        if tiles is not None:
            impl, (ptr, col, val, starts) = tiles
            G1t = np.empty((X.shape[1], m))
            G2t = np.empty_like(G1t)
            impl.tiled_scatter_moments(ptr, col, val, starts, C, G1t, G2t)
            return G2t.T, G1t.T, C.sum(axis=0)
        if isinstance(X, np.ndarray):
            # In X's dtype: float32 data is not copied to float64 (a preconditioner).
            Cx = C.astype(X.dtype, copy=False)
            first = np.asarray(Cx.T @ X, dtype=np.float64)
            second = np.zeros_like(first)
            for rows in _chunks(X.shape[0], X.shape[1]):
                second += Cx[rows].T @ (X[rows] * X[rows])
            return second, first, C.sum(axis=0)
        Xs = sp.csr_matrix(X, dtype=np.float64)
        first = np.asarray(Xs.T @ C).T
        second = np.asarray(Xs.multiply(Xs).T @ C).T
        return second, first, C.sum(axis=0)

    def fused(self, X: Any) -> bool:
        """Whether the fused numba passes (dense or CSR) evaluate this data fit on ``X``."""
        return fused_multinomial(X, self.n_classes) is not None or (
            fused_multinomial_csr(X) is not None
        )

    def compute_dtype(self, X: Any) -> np.dtype:
        """The dtype the evaluations on ``X`` are accurate to: float64 where the
        fused pass runs (float64 arithmetic for float32 data), ``X``'s otherwise."""
        return np.dtype(np.float64) if self.fused(X) else np.dtype(X.dtype)

    def _coef_and_intercept(
        self, w: np.ndarray, n_features: int, transpose: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Contiguous float64 ``(W, b)`` for the fused kernels (``b`` zeros without
        intercept); ``W.T`` (features by classes) for the CSR ones."""
        W, b = unpack(w, self.n_classes, n_features, self.fit_intercept)
        b = np.zeros(self.n_classes) if b is None else b
        W = W.T if transpose else W
        return np.ascontiguousarray(W, np.float64), np.ascontiguousarray(b, np.float64)

    def hessian(
        self,
        X: Any,
        proba: np.ndarray,
        sample_weight: np.ndarray,
        columns: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """The full Hessian of the weighted loss sum, shape ``(n_params, n_params)``.

        ``H = sum_i s_i (diag(p_i) - p_i p_i^T) kron x_i x_i^T`` with ``x_i``
        extended by a 1 for the intercept, in the flat layout of the module
        docstring; computed in float64 at the point where ``proba`` was.
        ``columns`` (dense ``X`` only) maps each chunk of rows of ``X`` to the
        features the Hessian is taken in (the standardised ones:
        :meth:`softmax.objective.Objective.hessian`).

        Dense data with at most :data:`_PRODUCT_COLUMNS` feature products per
        row (about 90 features): from each chunk's :func:`row_products`, a
        quarter of the multiply-adds of the GEMMs below
        (:func:`_hessian_from_products`).  Wider data, per chunk of rows: the rank-one parts
        ``sum_i s_i (p_i kron x_i)(p_i kron x_i)^T`` are one GEMM of the
        ``n x n_params`` matrix of rows ``sqrt(s_i) p_i kron x_i`` (already in
        the flat layout) with itself, and the ``K`` diagonal blocks
        ``sum_i s_i p_ik x_i x_i^T`` one more GEMM, ``K`` times smaller (digits,
        650 parameters: 41 ms -> 15 ms against a GEMM per class and a
        permutation of the result).
        """
        n_features = X.shape[1]
        K = self.n_classes
        n_coef = K * n_features
        n_params = n_coef + K * int(self.fit_intercept)
        P = np.asarray(proba, dtype=np.float64)
        s = np.asarray(sample_weight, dtype=np.float64)
        if not isinstance(X, np.ndarray):
            return self._sparse_hessian(X, P, s)
        d1 = n_features + int(self.fit_intercept)
        if d1 * (d1 + 1) // 2 <= _PRODUCT_COLUMNS:
            return _hessian_from_products(X, P, s, self.fit_intercept, columns)
        H = np.zeros((n_params, n_params))
        b = n_coef + np.arange(K) if self.fit_intercept else None  # the intercepts
        for rows in _chunks(X.shape[0], n_params):
            Xc = np.asarray(X[rows], dtype=np.float64)
            if columns is not None:
                Xc = columns(Xc)
            SP = s[rows, None] * P[rows]
            # Diagonal blocks: the rows s_i p_ik x_i of every class against x_i.
            SPX = (SP[:, :, None] * Xc[:, None, :]).reshape(Xc.shape[0], n_coef)
            diag = (SPX.T @ Xc).reshape(K, n_features, n_features)
            cross = SP.T @ Xc  # the intercept-coefficient entries sum_i s_i p_ik x_i
            for k in range(K):
                blk = slice(k * n_features, (k + 1) * n_features)
                H[blk, blk] += diag[k]
                if self.fit_intercept:
                    H[n_coef + k, blk] += cross[k]
                    H[blk, n_coef + k] += cross[k]
            if b is not None:
                H[b, b] += SP.sum(axis=0)
            # Rank-one parts: rows sqrt(s_i) p_i kron [x_i, 1] in the flat layout.
            RP = np.sqrt(s[rows])[:, None] * P[rows]
            M = np.empty((Xc.shape[0], n_params))
            M[:, :n_coef] = (RP[:, :, None] * Xc[:, None, :]).reshape(Xc.shape[0], n_coef)
            if b is not None:
                M[:, n_coef:] = RP
            H -= M.T @ M
        return H

    def _sparse_hessian(self, X: Any, P: np.ndarray, s: np.ndarray) -> np.ndarray:
        """:meth:`hessian` for sparse ``X``: a weighted Gram matrix per pair of classes."""
        n_features = X.shape[1]
        K, d1 = self.n_classes, n_features + int(self.fit_intercept)
        H = np.zeros((K * d1, K * d1))
        for k in range(K):
            for l in range(k, K):
                c = -s * P[:, k] * P[:, l]
                if k == l:
                    c += s * P[:, k]
                B = _gram(X, c, self.fit_intercept)
                H[k * d1 : (k + 1) * d1, l * d1 : (l + 1) * d1] = B
                H[l * d1 : (l + 1) * d1, k * d1 : (k + 1) * d1] = B.T
        return _flat_layout(H, K, n_features, self.fit_intercept)


def _as_index(labels: np.ndarray) -> np.ndarray:
    """Labels as one integer dtype, so that the kernels compile once."""
    return np.ascontiguousarray(labels, dtype=np.intp)


def _as_weight(sample_weight: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(sample_weight, dtype=np.float64)


def _proba_buffer(out: np.ndarray | None, n: int, k: int) -> np.ndarray:
    """``out`` if the kernels can write an ``(n, k)`` float64 result into it, else a new array."""
    if (
        isinstance(out, np.ndarray)
        and out.shape == (n, k)
        and out.dtype == np.float64
        and out.flags.c_contiguous
        and out.flags.writeable
    ):
        return out
    return np.empty((n, k))


@dataclass(frozen=True)
class Binomial:
    """Sigmoid + binary cross-entropy for two classes: ``-sum_i s_i log sigmoid(+-z_i)``.

    ``labels`` are 0/1 integers (1 is the second class); ``n_rows = 1``.
    """

    fit_intercept: bool = True

    @property
    def n_rows(self) -> int:
        return 1

    def value_and_grad(
        self,
        w: np.ndarray,
        X: Any,
        labels: np.ndarray,
        sample_weight: np.ndarray,
        out: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Weighted loss sum, its gradient (flat), and the probabilities (for hessp);
        ``out`` is accepted like :meth:`Multinomial.value_and_grad`'s and unused."""
        W, b = unpack(w, 1, X.shape[1], self.fit_intercept)
        z = _linear(X, W, b, X.dtype)[:, 0]
        sign = np.where(labels == 1, 1.0, -1.0).astype(z.dtype)
        value = -float(np.dot(sample_weight, log_sigmoid(sign * z).astype(np.float64)))
        p = sigmoid(z)
        r = (p - labels.astype(p.dtype)) * sample_weight.astype(p.dtype, copy=False)
        G = _transpose_product(X, r[:, None])
        g_b = np.array([r.sum(dtype=np.float64)]) if self.fit_intercept else None
        return value, _pack(G, g_b), p

    def hessp(
        self, v: np.ndarray, X: Any, proba: np.ndarray, sample_weight: np.ndarray
    ) -> np.ndarray:
        V, v_b = unpack(v, 1, X.shape[1], self.fit_intercept)
        a = _linear(X, V, v_b, proba.dtype)[:, 0]
        a *= proba * (1.0 - proba) * sample_weight.astype(proba.dtype, copy=False)
        HV = _transpose_product(X, a[:, None])
        h_b = np.array([a.sum(dtype=np.float64)]) if self.fit_intercept else None
        return _pack(HV, h_b)

    def hessian(
        self,
        X: Any,
        proba: np.ndarray,
        sample_weight: np.ndarray,
        columns: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """The full Hessian ``X^T diag(s p (1 - p)) X`` (intercept last), in float64
        (``columns``: see :meth:`Multinomial.hessian`)."""
        p = np.asarray(proba, dtype=np.float64)
        c = np.asarray(sample_weight, dtype=np.float64) * p * (1.0 - p)
        return _gram(X, c, self.fit_intercept, columns)


# Rows per chunk when forming Hessians of dense data: temporaries of at most
# 2**22 float64 (32 MB) whatever the block size.
_HESSIAN_CHUNK_ELEMENTS = 2**22
#: Most products of features per row for which :meth:`Multinomial.hessian` forms
#: dense data's Hessian from them (a chunk of :data:`_PRODUCT_BUFFER` floats or
#: :data:`_PRODUCT_ROWS` rows); past it, the rank-one GEMMs, whose fewer, larger
#: BLAS calls then win over the quarter of their multiply-adds.  Measured on
#: 200 000 rows of W2, 10 classes, 2 threads: 60 features 2.1 s against 2.6 s,
#: 88 about even (4.2 s), 116 8.3 s against 7.0 s.
_PRODUCT_COLUMNS = 2**12
_PRODUCT_ROWS = 128
_PRODUCT_BUFFER = 2**20  # floats: 8 MB


def _chunks(n_samples: int, width: int) -> list[slice]:
    step = max(1, _HESSIAN_CHUNK_ELEMENTS // max(width, 1))
    return [slice(i, min(i + step, n_samples)) for i in range(0, n_samples, step)]


def _augment(X: np.ndarray, fit_intercept: bool) -> np.ndarray:
    """``[X, 1]`` (or ``X``) in float64."""
    X = np.asarray(X, dtype=np.float64)
    if not fit_intercept:
        return X
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _flat_layout(H: np.ndarray, K: int, n_features: int, fit_intercept: bool) -> np.ndarray:
    """A Hessian in per-class blocks ``[W_k, b_k]`` rearranged to the flat layout
    ``[W.ravel(), b]`` (the same without intercepts)."""
    if not fit_intercept:
        return H
    d1 = n_features + 1
    perm = np.arange(K * d1).reshape(K, d1)
    perm[:, :n_features] = np.arange(K * n_features).reshape(K, n_features)
    perm[:, n_features] = K * n_features + np.arange(K)
    inverse = np.argsort(perm.ravel())
    return H[np.ix_(inverse, inverse)]


def row_products(X: np.ndarray, fit_intercept: bool, out: np.ndarray | None = None) -> np.ndarray:
    """The products ``x_ia x_ib`` (``a <= b``, row-major upper triangle) of each
    row of ``[X, 1]`` (or ``X``), one row of the result per product: shape
    ``(d1 (d1 + 1) / 2, n_samples)``, float64, written to ``out`` (a buffer with
    at least as many columns) when given.  Products in rows, samples in
    columns: each product is one contiguous multiply of two columns of ``X``
    (twice as fast as products in columns, whose rows are short)."""
    XT = _augment(X, fit_intercept).T.copy()
    d1, n = XT.shape
    width = d1 * (d1 + 1) // 2
    out = np.empty((width, n)) if out is None else out[:width, :n]
    start = 0
    for a in range(d1):  # the products of feature a with features a, a + 1, ...
        np.multiply(XT[a], XT[a:], out=out[start : start + d1 - a])
        start += d1 - a
    return out


def _hessian_from_products(
    X: np.ndarray,
    P: np.ndarray,
    s: np.ndarray,
    fit_intercept: bool,
    columns: Callable[[np.ndarray], np.ndarray] | None,
) -> np.ndarray:
    """The multinomial Hessian from the :func:`row_products` of chunks of rows.

    Its block for classes ``(k, l)`` is ``sum_i c_ikl x_i x_i^T`` with
    ``c_ikl = s_i (delta_kl p_ik - p_ik p_il)``: symmetric in ``(k, l)`` and
    symmetric itself, so the ``K (K + 1) / 2`` blocks' upper triangles are all
    it takes, and they are one GEMM of the coefficients ``c`` with the rows'
    products: ``n K (K + 1) d1 (d1 + 1) / 4`` multiply-adds, against
    ``n K**2 d1**2`` for the rank-one GEMM of :meth:`Multinomial.hessian`
    (digits, 650 parameters: 8 ms against 28 ms).  The products are made a
    chunk of rows at a time into one buffer of at most 8 MB (or 128 rows): the
    whole data's would take ``n d1**2 / 2`` floats (digits: 31 MB, whose first
    touch in a fresh process cost more than the GEMM), and any ``n`` works.  The
    blocks are then copied into the flat layout one slice at a time (a gather
    of the whole matrix through index arrays took 8x longer: 10 ms on digits).
    """
    n_features = X.shape[1]
    K = P.shape[1]
    d1 = n_features + int(fit_intercept)
    width = d1 * (d1 + 1) // 2
    k, l = np.triu_indices(K)
    BT = np.zeros((width, k.size))  # (upper triangle of a block, pair of classes)
    step = max(_PRODUCT_ROWS, _PRODUCT_BUFFER // width)
    buffer = np.empty((width, min(step, X.shape[0])))
    for lo in range(0, X.shape[0], step):
        rows = slice(lo, lo + step)
        Xc = X[rows] if columns is None else columns(X[rows])
        SP = s[rows, None] * P[rows]
        C = -SP[:, k] * P[rows][:, l]
        C[:, k == l] += SP
        BT += row_products(Xc, fit_intercept, buffer) @ C
    a, b = np.triu_indices(d1)
    tri = np.empty((d1, d1), dtype=np.intp)
    tri[a, b] = tri[b, a] = np.arange(a.size)
    blocks = BT.T[:, tri]  # (pair, d1, d1)
    # Each pair's block goes to classes (k, l) and, transposed (the same), (l, k);
    # in the flat layout a class's coefficients are one run, its intercept lies
    # after all coefficients.  A slice per part: 8x faster than gathering the
    # whole matrix through index arrays.
    d = n_features
    n_coef = K * d
    H = np.empty((n_coef + K * int(fit_intercept),) * 2)
    for blk, kk, ll in zip(blocks, k, l, strict=True):
        for r, c in {(kk, ll), (ll, kk)}:
            H[r * d : (r + 1) * d, c * d : (c + 1) * d] = blk[:d, :d]
            if fit_intercept:
                H[n_coef + r, c * d : (c + 1) * d] = blk[d, :d]
                H[r * d : (r + 1) * d, n_coef + c] = blk[:d, d]
                H[n_coef + r, n_coef + c] = blk[d, d]
    return H


def _gram(
    X: Any,
    c: np.ndarray,
    fit_intercept: bool,
    columns: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """``Xh.T @ diag(c) @ Xh`` with ``Xh = [X, 1]`` (or ``X``), dense or sparse ``X``;
    ``columns`` (dense only) maps each chunk of rows first (see :meth:`Multinomial.hessian`)."""
    if isinstance(X, np.ndarray):
        d1 = X.shape[1] + int(fit_intercept)
        out = np.zeros((d1, d1))
        for rows in _chunks(X.shape[0], d1):
            Xc = _augment(X[rows] if columns is None else columns(X[rows]), fit_intercept)
            out += (Xc * c[rows, None]).T @ Xc
        return out
    Xs = sp.csr_matrix(X, dtype=np.float64)
    G = np.asarray((Xs.T @ sp.csr_matrix(Xs.multiply(c[:, None]))).toarray())
    if not fit_intercept:
        return G
    v = np.asarray(Xs.T @ c).ravel()
    return np.block([[G, v[:, None]], [v[None, :], np.array([[c.sum()]])]])
