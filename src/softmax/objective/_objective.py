"""The composite objective a solver minimises.

``f(w) = (1 / S) * sum_i s_i * loss_i(w) + penalty(W)`` with ``S = sum_i s_i``
(sample weights times class weights).  Dividing by ``S`` keeps ``f`` of order
one whatever the data size, which makes the solvers' tolerances meaningful;
with the L2 strength ``alpha = 1 / (C * S)`` this has the same minimiser as
scikit-learn's ``C * sum_i s_i loss_i + 0.5 * ||W||^2``.

The sum runs over blocks of rows produced by the backend (the in-memory,
out-of-core and Dask paths differ only there); the data-fit code of
:mod:`softmax.objective._datafit` is the only place the math lives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax._kernels import blas_unlimited, csr_tiles
from softmax.backends import row_blocks
from softmax.objective._datafit import Multinomial, _transpose_product, unpack
from softmax.objective._penalties import L2, NoPenalty
from softmax.objective._standardize import Standardization

__all__ = ["Objective"]


class Objective:
    """``value_and_grad(w)`` and ``hessp(w, v)`` of the penalised mean loss.

    Parameters
    ----------
    datafit : Multinomial, Binomial or MultiLabel
        The data-fit term.
    penalty : object
        A smooth penalty of :mod:`softmax.objective._penalties`.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    labels : ndarray of int of shape (n_samples,), or of shape (n_samples, n_labels)
        Class labels; the 0/1 target matrix for :class:`MultiLabel`.
    sample_weight : ndarray of shape (n_samples,)
        Sample weights times class weights, not all zero.
    standardization : Standardization, optional
        When given, ``w`` is in standardised coordinates (see that class);
        otherwise in original ones.
    block_rows : int, optional
        Rows per block; bounds the temporaries to ``block_rows * n_rows``.
    """

    #: Whether evaluations keep the probabilities for Hessian products at the
    #: same point (``n_samples * n_rows`` floats).  Solvers that never ask for
    #: one (L-BFGS) set it to False: for W3 (50 000 rows, 1 000 classes) that
    #: is 400 MB, twice over while an evaluation replaced the previous ones.
    keep_probabilities: bool = True

    def __init__(
        self,
        datafit: Any,
        penalty: Any,
        X: Any,
        labels: np.ndarray,
        sample_weight: np.ndarray,
        standardization: Standardization | None = None,
        block_rows: int | None = None,
    ) -> None:
        self.datafit, self.penalty = datafit, penalty
        self.X, self.labels, self.sample_weight = X, labels, sample_weight
        self.standardization = standardization
        self.n_features = X.shape[1]
        self.total_weight = float(np.sum(sample_weight, dtype=np.float64))
        self.blocks = list(row_blocks(X.shape[0], self.datafit.n_rows, block_rows))
        self._cache_key: np.ndarray | None = None
        self._cache_proba: Any = []
        self._extras: list[dict[str, Any]] | None = None
        self._columns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.n_evaluations = 0
        self.n_hessp = 0

    @property
    def n_params(self) -> int:
        n_rows = self.datafit.n_rows
        return n_rows * self.n_features + (n_rows if self.fit_intercept else 0)

    @property
    def fit_intercept(self) -> bool:
        return bool(self.datafit.fit_intercept)

    def to_original(self, w: np.ndarray) -> np.ndarray:
        return w if self.standardization is None else self.standardization.forward(w)

    def from_original(self, w: np.ndarray) -> np.ndarray:
        return w if self.standardization is None else self.standardization.inverse(w)

    def _coef(self, w: np.ndarray) -> np.ndarray:
        return unpack(w, self.datafit.n_rows, self.n_features, self.fit_intercept)[0]

    def _penalty_grad(self, g: np.ndarray) -> np.ndarray:
        out = np.zeros(self.n_params)
        out[: g.size] = g.ravel()
        return out

    def _X(self, rows: slice) -> Any:
        """The rows of ``X`` in a block: ``X`` itself for a block of every row, a
        view for dense ``X`` and, for CSR, :func:`_csr_rows`."""
        X = self.X
        if rows.start == 0 and rows.stop == X.shape[0]:
            return X
        if getattr(X, "format", None) == "csr":
            return _csr_rows(X, rows.start, rows.stop)
        return X[rows]

    def _block_extras(self) -> list[dict[str, Any]]:
        """Per block, what the data fit takes besides the rows: CSR data cut into
        column tiles for the multinomial passes (:func:`softmax._kernels.csr_tiles`),
        made at the first evaluation and kept for the objective's lifetime."""
        if self._extras is None:
            self._extras = [{} for _ in self.blocks]
            if isinstance(self.datafit, Multinomial):
                for extra, rows in zip(self._extras, self.blocks, strict=True):
                    tiles = csr_tiles(self._X(rows), self.datafit.n_classes)
                    if tiles is not None:
                        extra["tiles"] = tiles
        return self._extras

    def column_major(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The CSC arrays ``(indptr, indices, data)`` of sparse ``X`` (indices
        as int64), sorted with duplicates summed; made at the first call and kept.

        Coordinate descent sweeps them (:mod:`softmax.objective._coordinate_descent`);
        once they exist, the multinomial evaluations of a one-block objective
        on tiled CSR data take the logits of sparse coefficients from their
        live columns (:func:`softmax._kernels._numba_csr_tiles.column_logits`)
        instead of a pass over every stored value.
        """
        if self._columns is None:
            Xc = sp.csc_matrix(self.X)
            if not Xc.has_canonical_format:
                # Sorted, one entry per (row, column): coordinate descent's
                # curvatures sum squares.  A copy: csc_matrix of a CSC matrix
                # shares the caller's arrays.
                Xc = Xc.copy()
                Xc.sum_duplicates()
            self._columns = (Xc.indptr.astype(np.int64), Xc.indices.astype(np.int64), Xc.data)
            extras = self._block_extras()
            if len(extras) == 1 and "tiles" in extras[0]:
                extras[0]["columns"] = self._columns
        return self._columns

    # The three sums over blocks of rows: the only place the data is touched.
    # The chunked and Dask objectives (softmax.backends) override these alone.
    def _sum_value_and_grad(
        self, w: np.ndarray, keep: bool = True
    ) -> tuple[float, np.ndarray, Any]:
        """Weighted loss sum, gradient sum and per-block cache (probabilities,
        when ``keep``) at ``w``."""
        value, grad = 0.0, np.zeros(self.n_params)
        probas = []
        for rows, extra in zip(self.blocks, self._block_extras(), strict=True):
            v, g, p = self.datafit.value_and_grad(
                w, self._X(rows), self.labels[rows], self.sample_weight[rows], **extra
            )
            value += v
            grad += g
            if keep:
                probas.append(p)
        return value, grad, probas

    def _sum_hessp(self, v: np.ndarray) -> np.ndarray:
        """Sum of the blocks' Hessian-vector products at the cached point."""
        out = np.zeros(self.n_params)
        for rows, proba, extra in zip(
            self.blocks, self._cache_proba, self._block_extras(), strict=True
        ):
            out += self.datafit.hessp(v, self._X(rows), proba, self.sample_weight[rows], **extra)
        return out

    def _sum_hessian(self, columns: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """Sum of the blocks' Hessians at the cached point (``columns``: see
        :meth:`Multinomial.hessian`), added in place to the first block's."""
        H = None
        for rows, proba in zip(self.blocks, self._cache_proba, strict=True):
            Hb = self.datafit.hessian(self._X(rows), proba, self.sample_weight[rows], columns)
            H = Hb if H is None else H.__iadd__(Hb)
        return np.zeros((self.n_params, self.n_params)) if H is None else H

    def transpose_product(self, R: np.ndarray) -> np.ndarray:
        """``R.T @ X``, shape ``(R.shape[1], n_features)``, for ``R`` of shape
        ``(n_samples, m)``, summed over the blocks: on CSR data cut into tiles
        (see :meth:`_block_extras`) by the multithreaded tiled scatter, otherwise
        by the data's own product (SciPy's, single-threaded, for sparse data)."""
        out = np.zeros((R.shape[1], self.n_features))
        for rows, extra in zip(self.blocks, self._block_extras(), strict=True):
            tiles = extra.get("tiles")
            if tiles is None:
                out += _transpose_product(self._X(rows), R[rows])
                continue
            impl, (ptr, col, val, starts) = tiles
            Gt = np.empty((self.n_features, R.shape[1]))
            block = np.ascontiguousarray(R[rows], dtype=np.float64)
            impl.tiled_scatter(ptr, col, val, starts, block, Gt)
            out += Gt.T
        return out

    def loss_and_grad_original(
        self, w: np.ndarray, keep: bool | None = None
    ) -> tuple[float, np.ndarray]:
        """Mean data-fit loss and its gradient at original-scale ``w`` (no penalty);
        the probabilities are cached if ``keep`` (default: :attr:`keep_probabilities`)."""
        keep = self.keep_probabilities if keep is None else keep
        # The previous point's probabilities go first: one set in memory at a time.
        self._cache_key, self._cache_proba = None, []
        value, grad, probas = self._sum_value_and_grad(w, keep)
        if keep:
            self._cache_key, self._cache_proba = w.copy(), probas
        self.n_evaluations += 1
        return value / self.total_weight, grad / self.total_weight

    def _evaluated_at(self, w_orig: np.ndarray) -> None:
        """Make the cache (probabilities per block) hold original-scale ``w_orig``."""
        if self._cache_key is None or not np.array_equal(self._cache_key, w_orig):
            self.loss_and_grad_original(w_orig, keep=True)

    def probabilities(self, w: np.ndarray) -> np.ndarray:
        """The data fit's probabilities at ``w`` (solver coordinates), all rows,
        float64, shape ``(n_samples, n_rows)``; from the cache when ``w`` was the
        last point evaluated."""
        self._evaluated_at(self.to_original(np.asarray(w, dtype=np.float64)))
        blocks = [np.asarray(p, dtype=np.float64) for p in self._cache_proba]
        P = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=0)
        return np.ascontiguousarray(P.reshape(P.shape[0], -1))

    def value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray]:
        """Objective value and gradient (SciPy's ``jac=True`` convention)."""
        w_orig = self.to_original(np.asarray(w, dtype=np.float64))
        value, grad = self.loss_and_grad_original(w_orig)
        W = self._coef(w_orig)
        value += self.penalty.value(W)
        grad += self._penalty_grad(self.penalty.grad(W))
        if self.standardization is not None:
            grad = self.standardization.adjoint(grad)
        return value, grad

    def hessp(self, w: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Exact Hessian-vector product at ``w`` along ``v``."""
        w_orig = self.to_original(np.asarray(w, dtype=np.float64))
        v_orig = self.to_original(np.asarray(v, dtype=np.float64))
        # forward() is linear in (W~, b~), so it maps directions as well as points.
        self._evaluated_at(w_orig)
        out = self._sum_hessp(v_orig) / self.total_weight
        out += self._penalty_grad(self.penalty.hessp(self._coef(w_orig), self._coef(v_orig)))
        self.n_hessp += 1
        if self.standardization is not None:
            out = self.standardization.adjoint(out)
        return out

    def hessian(self, w: np.ndarray) -> np.ndarray:
        """The full Hessian at ``w``, shape ``(n_params, n_params)``.

        The data fits' Hessians summed over blocks and divided by the total
        weight, plus the penalty's; with standardisation, ``T.T @ H @ T`` where
        ``T`` is the linear map :meth:`Standardization.forward`.  Memory is
        ``n_params ** 2`` floats: meant for problems with few parameters.
        """
        w_orig = self.to_original(np.asarray(w, dtype=np.float64))
        self._evaluated_at(w_orig)
        std = self.standardization
        if self._dense_smooth():
            # T.T @ H @ T is the Hessian in the standardised features X~
            # (X~ W~.T + b~ == X W.T + b): formed from X~, chunk by chunk, it
            # needs no transform (digits: 5 ms of a 20 ms Hessian), and it keeps
            # the digits the transform lost on badly scaled columns.
            # In place where it can be: on this kind of machine each fresh MB
            # costs about 1 ms of page faults (digits' Hessian is 3.4 MB).
            with blas_unlimited():
                H = self._sum_hessian(None if std is None else std.standardize)
            H /= self.total_weight
            n_coef = self.datafit.n_rows * self.n_features
            H[np.arange(n_coef), np.arange(n_coef)] += np.tile(
                self._penalty_curvature(), self.datafit.n_rows
            )
            return _symmetrize(H)
        with blas_unlimited():  # GEMMs: BLAS gets its threads back during a fit
            H = self._sum_hessian() / self.total_weight
        self._add_penalty_hessian(H, self._coef(w_orig))
        if std is not None:
            # T^T (H T) = ((H T)^T T)^T, each product O(n_params^2) by T's structure.
            H = self._right_multiply_by_forward(self._right_multiply_by_forward(H).T).T
        return _symmetrize(H)

    def hessian_diagonal(self, w: np.ndarray, average_classes: bool = False) -> np.ndarray:
        """The diagonal of :meth:`hessian` at ``w`` (multinomial data fit, L2 or no
        penalty), in one pass over the data.

        In standardised coordinates the entry of ``W~[k, j]`` is
        ``(H_WW - 2 mean_j H_Wb + mean_j**2 H_bb) / scale_j**2`` with
        the original-scale entries of :meth:`Multinomial.hessian_moments`.
        With ``average_classes``, each feature's entries (and the intercepts')
        are their mean over the classes: :meth:`diagonal_preconditioner`.
        """
        if not isinstance(self.datafit, Multinomial) or not isinstance(
            self.penalty, L2 | NoPenalty
        ):
            raise TypeError(
                "hessian_diagonal needs a multinomial data fit with an L2 penalty or none"
            )
        w_orig = self.to_original(np.asarray(w, dtype=np.float64))
        self._evaluated_at(w_orig)
        K, d = self.datafit.n_rows, self.n_features
        m = 1 if average_classes else K
        ww, wb, bb = np.zeros((m, d)), np.zeros((m, d)), np.zeros(m)
        for rows, proba, extra in zip(
            self.blocks, self._cache_proba, self._block_extras(), strict=True
        ):
            m2, m1, m0 = self.datafit.hessian_moments(
                self._X(rows), proba, self.sample_weight[rows], extra.get("tiles"), average_classes
            )
            ww += m2
            wb += m1
            bb += m0
        std = self.standardization
        if std is not None:
            # (Without an intercept the mean is 0.)
            ww = (ww - 2.0 * std.mean * wb + std.mean**2 * bb[:, None]) / std.scale**2
        ww = ww / self.total_weight + self._penalty_curvature()
        ww, bb = np.broadcast_to(ww, (K, d)), np.broadcast_to(bb, (K,))
        if not self.fit_intercept:
            return ww.ravel()
        return np.concatenate([ww.ravel(), bb / self.total_weight])

    def diagonal_preconditioner(self, w: np.ndarray) -> np.ndarray:
        """Newton-CG's preconditioner where the full Hessian is out of reach: the
        Hessian's diagonal averaged over the classes of each feature (and over
        the intercepts), a pass that scatters one value per stored value.

        The average keeps the shift directions (the same change for every
        class) among the preconditioned operator's eigenvectors, which the
        exact diagonal does not: on Zipf-distributed sparse columns with
        imbalanced classes (a test's data) the exact diagonal took 157 and 154
        Hessian-vector products where plain CG took 98 and 97, the average 89
        and 71; on W4 (tf-idf, 20 classes) 25 and 23 against 48.
        """
        return self.hessian_diagonal(w, average_classes=True)

    def preconditioner(self, w: np.ndarray) -> np.ndarray:
        """:meth:`hessian` at ``w`` with its null space closed: the multinomial's
        loss does not change when the same vector is added to every class's
        ``(W~, b~)`` (its intercepts' part always, the rest without a penalty),
        and there the Hessian adds its mean diagonal.

        Newton-CG factors this as its preconditioner: the gradient is orthogonal
        to those directions only up to rounding, and the exact Hessian (plus a
        tiny ridge) multiplied that rounding into steps of 1e4 along them, after
        which the line searches stalled (a test's unpenalised problem: 4 001
        products and no convergence).  On every other direction it is the
        Hessian.
        """
        H = self.hessian(w)
        if not isinstance(self.datafit, Multinomial) or H.shape[0] == 0:
            return H
        K, D = self.datafit.n_rows, self.n_features
        diag = np.abs(np.diag(H))
        lam = float(np.mean(diag)) if np.all(np.isfinite(diag)) else 1.0
        # lam * (ones(K, K) / K) on each set {k * D + j : k < K}: lam along the
        # normalised shift direction, 0 across it.
        if self.fit_intercept:
            b = K * D + np.arange(K)
            H[np.ix_(b, b)] += lam / K
        if isinstance(self.penalty, NoPenalty) and D:
            idx = np.arange(K)[:, None] * D + np.arange(D)[None, :]  # (class, feature)
            H[idx[:, None, :], idx[None, :, :]] += lam / K
        return H

    def _penalty_curvature(self) -> np.ndarray:
        """The L2 penalty's (or no penalty's) second derivative along each
        feature's coefficients in the solver's coordinates: ``(alpha / 2) |W|^2 =
        (alpha / 2) |W~ / scale|^2``, so ``alpha / scale**2``."""
        alpha = self.penalty.alpha if isinstance(self.penalty, L2) else 0.0
        std = self.standardization
        scale = np.ones(self.n_features) if std is None else std.scale
        return alpha / scale**2

    def _dense_smooth(self) -> bool:
        """Whether :meth:`hessian` forms the Hessian from the standardised features
        directly (``columns`` of :meth:`_sum_hessian`): dense data, an L2 penalty or none."""
        return isinstance(getattr(self, "X", None), np.ndarray) and isinstance(  # chunks: no X
            self.penalty, L2 | NoPenalty
        )

    def columns(self, features: np.ndarray) -> Objective:
        """The same objective on the columns ``features`` of ``X`` alone (a copy of
        them), in the matching coordinates.  Where every other column's
        coefficients are zero it is the full objective: same logits, and its
        gradient and Hessian are the full ones restricted to those parameters."""
        std = self.standardization
        return Objective(
            self.datafit,
            self.penalty,
            self.X[:, features],
            self.labels,
            self.sample_weight,
            None if std is None else std.columns(features),
        )

    def subsample(self, n_rows: int, seed: int = 0) -> Objective:
        """The same objective (penalty and coordinates) on ``n_rows`` rows drawn
        without replacement with a fixed seed, in their original order.

        Its loss is a weighted mean like the full one's, so its Hessian is an
        unbiased estimate of the full Hessian: Newton-CG factors it as a
        preconditioner (:func:`softmax.solvers.newton_cg`).
        """
        n_samples = self.X.shape[0]
        rows = np.sort(np.random.default_rng(seed).choice(n_samples, n_rows, replace=False))
        return Objective(
            self.datafit,
            self.penalty,
            self.X[rows],
            self.labels[rows],
            self.sample_weight[rows],
            self.standardization,
        )

    def _add_penalty_hessian(self, H: np.ndarray, W: np.ndarray) -> None:
        """Add the penalty's Hessian (on the ``W`` block only) to ``H`` in place."""
        n_coef = W.size
        if isinstance(self.penalty, NoPenalty):
            return
        if isinstance(self.penalty, L2):
            H[np.arange(n_coef), np.arange(n_coef)] += self.penalty.alpha
            return
        # Any other smooth penalty: its Hessian column by column.
        for j in range(n_coef):
            e = np.zeros(n_coef)
            e[j] = 1.0
            H[:n_coef, j] += np.ravel(self.penalty.hessp(W, e.reshape(W.shape)))

    def _right_multiply_by_forward(self, A: np.ndarray) -> np.ndarray:
        """``A @ T`` for the matrix ``T`` of :meth:`Standardization.forward`.

        ``W = W~ / scale`` and ``b = b~ - W @ mean``: the column of ``A @ T`` for
        ``W~[k, j]`` is ``(A[:, W[k, j]] - mean_j A[:, b_k]) / scale_j``; the
        intercept columns are unchanged.
        """
        st = self.standardization
        assert st is not None
        n_rows, n_features = self.datafit.n_rows, self.n_features
        n_coef = n_rows * n_features
        AW = A[:, :n_coef].reshape(A.shape[0], n_rows, n_features)
        if self.fit_intercept:
            AW = AW - A[:, n_coef:, None] * st.mean
        out = np.empty_like(A)
        out[:, :n_coef] = (AW / st.scale).reshape(A.shape[0], n_coef)
        out[:, n_coef:] = A[:, n_coef:]
        return out


def _csr_rows(X: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of the CSR matrix (or array) ``X`` on views of its arrays.

    ``X[start:stop]`` copies the block's values and indices, at every evaluation
    of every block (measured: a 200 000-row tf-idf objective in two blocks
    evaluated 1.8x slower than in one); SciPy's constructor copies too, so the
    arrays are attached to an empty matrix of the block's shape.
    """
    lo, hi = X.indptr[start], X.indptr[stop]
    out = type(X)((stop - start, X.shape[1]), dtype=X.dtype)
    out.data = X.data[lo:hi]
    out.indices = X.indices[lo:hi]
    out.indptr = X.indptr[start : stop + 1] - lo
    return out


def _symmetrize(H: np.ndarray) -> np.ndarray:
    """``(H + H.T) / 2`` in place, with one temporary (NumPy copies the
    overlapping ``H.T``): GEMMs leave rounding-level asymmetry."""
    H += H.T
    H *= 0.5
    return H
