"""Fits over chunks of rows: the block functions, one-pass statistics, fixed-order sums.

The in-memory path (:class:`softmax.objective.Objective`) sums the data fit over
row blocks of one array.  Here the rows arrive as *chunks* instead — the blocks
of a Dask array on workers (:mod:`softmax.backends._dask`) or the pieces a
:class:`Chunks` source reads from disk one at a time (out-of-core) — and an
*executor* forms the sums.  Every chunk goes through the very same data-fit
code (:func:`chunk_value_and_grad` calls ``datafit.value_and_grad`` on the
chunk's row blocks), and partial sums are combined in a fixed order (a tree
over chunk indices), so a result never depends on scheduling.

Executors offer::

    stats()                         -> ChunkStats (one pass: classes, moments, checks)
    encode(classes, class_weight, binary)   labels and weights per chunk, once
    value_and_grad(datafit, w)      -> (loss sum, gradient sum, cache)
    hessp(datafit, w, v, cache)     -> Hessian-vector product sum
    hessian(datafit, w, cache)      -> Hessian sum
    max_true_log_proba(estimator)   -> float (the separation check)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax.backends._numpy import row_blocks
from softmax.objective import (
    L2,
    Binomial,
    Multinomial,
    NoPenalty,
    Objective,
    Standardization,
    unpack,
)

__all__ = [
    "ChunkStats",
    "ChunkedObjective",
    "Chunks",
    "chunk_hessian",
    "chunk_hessp",
    "chunk_stats",
    "chunk_value_and_grad",
    "combine_stats",
    "encode_chunk",
    "fit_chunked",
    "tree_reduce",
]

# Partial sums are combined this many at a time (in index order) per tree level.
FAN_IN = 4


# ---------------------------------------------------------------------- #
# per-chunk functions (run on workers for Dask; must stay picklable)
# ---------------------------------------------------------------------- #
def as_float_chunk(X: Any) -> Any:
    """A chunk as float64/float32 ndarray or CSR (row slices of CSR are views)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X chunks must be 2-D, got a chunk of shape {X.shape}")
    return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)


def chunk_value_and_grad(
    datafit: Any, w: np.ndarray, X: Any, labels: np.ndarray, sw: np.ndarray
) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Loss sum, gradient sum and probabilities of one chunk, over its row blocks
    exactly as :class:`~softmax.objective.Objective` does for in-memory data."""
    n_params = w.shape[0]
    value, grad, probas = 0.0, np.zeros(n_params), []
    for rows in row_blocks(X.shape[0], datafit.n_rows):
        v, g, p = datafit.value_and_grad(w, X[rows], labels[rows], sw[rows])
        value += v
        grad += g
        probas.append(p)
    return value, grad, probas


def chunk_hessp(
    datafit: Any, v: np.ndarray, X: Any, probas: Sequence[np.ndarray], sw: np.ndarray
) -> np.ndarray:
    """Sum of the Hessian-vector products of one chunk's row blocks."""
    out = np.zeros(v.shape[0])
    for rows, p in zip(row_blocks(X.shape[0], datafit.n_rows), probas, strict=True):
        out += datafit.hessp(v, X[rows], p, sw[rows])
    return out


def chunk_hessian(
    datafit: Any, X: Any, probas: Sequence[np.ndarray], sw: np.ndarray, n_params: int
) -> np.ndarray:
    """Sum of the Hessians of one chunk's row blocks."""
    H = np.zeros((n_params, n_params))
    for rows, p in zip(row_blocks(X.shape[0], datafit.n_rows), probas, strict=True):
        H += datafit.hessian(X[rows], p, sw[rows])
    return H


def add_all(*parts: Any) -> Any:
    """Sum in argument order; tuples are summed element-wise."""
    total = parts[0]
    for p in parts[1:]:
        if isinstance(p, tuple):
            total = tuple(a + b for a, b in zip(total, p, strict=True))
        else:
            total = total + p
    return total


def tree_reduce(items: Sequence[Any], combine: Callable[..., Any], fan_in: int = FAN_IN) -> Any:
    """Combine ``items`` in a fixed tree: groups of ``fan_in`` consecutive items, level by level.

    ``combine`` may build delayed tasks (Dask) or compute directly; either way
    the grouping depends only on ``len(items)``, never on timing.
    """
    level = list(items)
    if not level:
        raise ValueError("no chunks to reduce")
    while len(level) > 1:
        level = [
            combine(*level[i : i + fan_in]) if len(level[i : i + fan_in]) > 1 else level[i]
            for i in range(0, len(level), fan_in)
        ]
    return level[0]


@dataclass
class ChunkStats:
    """What one pass over the chunks learns: sizes, column moments, labels, checks.

    Moments are (count, mean, M2) combined with Chan et al.'s pairwise update,
    so the variance is as accurate as a two-pass one.
    """

    n: int
    n_features: int
    dtype: np.dtype
    mean: np.ndarray
    m2: np.ndarray
    classes: np.ndarray
    counts: np.ndarray  # rows per class
    weights: np.ndarray  # sample weight per class
    bad_feature: tuple[int, int, float] | None  # (row offset unknown: chunk, column, value)
    bad_weight: float | None

    @property
    def var(self) -> np.ndarray:
        return self.m2 / max(self.n, 1)


def _first_nonfinite(X: Any) -> tuple[int, float] | None:
    data = X.data if sp.issparse(X) else X
    if data.size == 0 or np.isfinite(data.sum(dtype=np.float64)):
        return None
    if sp.issparse(X):
        csc = X.tocsc()
        bad = np.flatnonzero(~np.isfinite(csc.data))
        if bad.size == 0:
            return None
        j = int(np.searchsorted(csc.indptr, bad[0], side="right") - 1)
        return j, float(csc.data[bad[0]])
    cols = np.flatnonzero(~np.isfinite(X).all(axis=0))
    if cols.size == 0:
        return None
    col = X[:, cols[0]]
    return int(cols[0]), float(col[~np.isfinite(col)][0])


def _moments(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Column means and sums of squared deviations (M2) of one chunk, in float64."""
    n, d = X.shape
    if n == 0:
        return np.zeros(d), np.zeros(d)
    if sp.issparse(X):
        mean = np.asarray(X.mean(axis=0, dtype=np.float64)).ravel()
        sq = np.asarray(X.multiply(X).sum(axis=0, dtype=np.float64)).ravel()
        return mean, np.maximum(sq - n * mean**2, 0.0)
    mean = X.mean(axis=0, dtype=np.float64)
    return mean, ((X - mean) ** 2).sum(axis=0, dtype=np.float64)


def chunk_stats(X: Any, y: Any, sw: Any, chunk_index: int = 0) -> ChunkStats:
    """Statistics of one chunk (see :class:`ChunkStats`); ``sw`` may be None."""
    X = as_float_chunk(X)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            f"chunk {chunk_index}: y has shape {y.shape} but X has {X.shape[0]} rows; "
            "X and y must be split into the same row chunks"
        )
    n, d = X.shape
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite X is reported below
        mean, m2 = _moments(X)
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(f"y contains NaN (in chunk {chunk_index}); every row needs a class label")
    sw_arr = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    bad_w = ~np.isfinite(sw_arr) | (sw_arr < 0)
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    bad = _first_nonfinite(X)
    return ChunkStats(
        n=n,
        n_features=d,
        dtype=X.dtype,
        mean=mean,
        m2=m2,
        classes=classes,
        counts=counts.astype(np.int64),
        weights=np.bincount(inverse.ravel(), weights=sw_arr, minlength=classes.shape[0]),
        bad_feature=None if bad is None else (chunk_index, *bad),
        bad_weight=float(sw_arr[bad_w][0]) if bad_w.any() else None,
    )


def combine_stats(*parts: ChunkStats) -> ChunkStats:
    """Merge chunk statistics in argument order (moments by Chan's update)."""
    out = parts[0]
    for b in parts[1:]:
        a = out
        if a.n_features != b.n_features:
            raise ValueError(
                f"X chunks have {a.n_features} and {b.n_features} columns; all chunks need "
                "the same columns"
            )
        n = a.n + b.n
        if n == 0:
            mean, m2 = a.mean, a.m2
        else:
            delta = b.mean - a.mean
            mean = a.mean + delta * (b.n / n)
            m2 = a.m2 + b.m2 + delta**2 * (a.n * b.n / n)
        classes = np.union1d(a.classes, b.classes)
        counts = np.zeros(classes.shape[0], dtype=np.int64)
        weights = np.zeros(classes.shape[0])
        for s in (a, b):
            idx = np.searchsorted(classes, s.classes)
            counts[idx] += s.counts
            weights[idx] += s.weights
        out = ChunkStats(
            n=n,
            n_features=a.n_features,
            dtype=np.promote_types(a.dtype, b.dtype),
            mean=mean,
            m2=m2,
            classes=classes,
            counts=counts,
            weights=weights,
            bad_feature=a.bad_feature if a.bad_feature is not None else b.bad_feature,
            bad_weight=a.bad_weight if a.bad_weight is not None else b.bad_weight,
        )
    return out


def encode_chunk(
    y: Any, sw: Any, classes: np.ndarray, class_weight: np.ndarray, binary: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels in ``[0, n_classes)`` (0/1 when ``binary``) and sample weights
    times class weights, for one chunk, given the global ``classes``."""
    y = np.asarray(y)
    idx = np.searchsorted(classes, y)
    idx = np.minimum(idx, classes.shape[0] - 1)
    if y.shape[0] and not np.array_equal(classes[idx], y):
        bad = y[classes[idx] != y][0]
        raise ValueError(
            f"y contains the label {bad.tolist()!r}, which is not in classes {classes.tolist()!r}"
        )
    sw_arr = np.ones(y.shape[0]) if sw is None else np.asarray(sw, dtype=np.float64)
    sw_arr = sw_arr * class_weight[idx]
    labels = (idx == 1).astype(np.intp) if binary else idx.astype(np.intp)
    return labels, sw_arr


def class_weights(class_weight: Any, stats: ChunkStats) -> np.ndarray:
    """Class weights from ``class_weight`` (None, "balanced" or dict) and the class counts."""
    classes = stats.classes
    if class_weight is None:
        return np.ones(classes.shape[0])
    if isinstance(class_weight, str) and class_weight == "balanced":
        # scikit-learn's rule: n_samples / (n_classes * bincount(y)).
        return stats.n / (classes.shape[0] * stats.counts.astype(np.float64))
    from sklearn.utils.class_weight import compute_class_weight

    # For a dict, scikit-learn looks at the classes only.
    return compute_class_weight(class_weight, classes=classes, y=classes)


def check_stats(stats: ChunkStats, feature_names: Any = None) -> None:
    """The checks of the in-memory path, from the statistics of one pass."""
    if stats.n == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required.")
    if stats.bad_feature is not None:
        chunk, j, value = stats.bad_feature
        kind = "NaN" if np.isnan(value) else ("inf" if value > 0 else "-inf")
        name = f"column {j}" if feature_names is None else f"column {j} ({feature_names[j]!r})"
        raise ValueError(
            f"Input X contains {kind} in {name} (chunk {chunk}); impute or drop missing values "
            "first"
        )
    if stats.bad_weight is not None:
        raise ValueError(
            f"sample_weight must be finite and non-negative; found sample_weight = "
            f"{stats.bad_weight!r}"
        )
    if stats.classes.shape[0] < 2:
        raise ValueError(
            f"y contains only one class ({stats.classes[0]!r}); a classifier needs samples of "
            "at least 2 classes"
        )


# ---------------------------------------------------------------------- #
# the objective over chunks
# ---------------------------------------------------------------------- #
class ChunkedObjective(Objective):
    """:class:`~softmax.objective.Objective` whose sums over rows are formed by an executor.

    Only the three data sums differ from the in-memory objective; penalty,
    standardisation and caching are inherited.  ``Objective.__init__`` is not
    called: there is no in-memory ``X``.
    """

    def __init__(
        self,
        datafit: Any,
        penalty: Any,
        executor: Any,
        n_features: int,
        total_weight: float,
        standardization: Standardization | None = None,
    ) -> None:
        self.datafit, self.penalty = datafit, penalty
        self.executor = executor
        self.standardization = standardization
        self.n_features = n_features
        self.total_weight = float(total_weight)
        self._cache_key: np.ndarray | None = None
        self._cache_proba: Any = None
        self.n_evaluations = 0
        self.n_hessp = 0

    def _sum_value_and_grad(self, w: np.ndarray) -> tuple[float, np.ndarray, Any]:
        return self.executor.value_and_grad(self.datafit, w)

    def _sum_hessp(self, v: np.ndarray) -> np.ndarray:
        assert self._cache_key is not None
        return self.executor.hessp(self.datafit, self._cache_key, v, self._cache_proba)

    def _sum_hessian(self) -> np.ndarray:
        assert self._cache_key is not None
        return self.executor.hessian(self.datafit, self._cache_key, self._cache_proba)


# ---------------------------------------------------------------------- #
# the estimator's fit over chunks (shared by the Dask and iterator executors)
# ---------------------------------------------------------------------- #
def fit_chunked(
    est: Any,
    executor: Any,
    feature_names: Any = None,
    checkpoint: Any = None,
    checkpoint_every: int = 10,
) -> Any:
    """Fit ``est`` (a SoftmaxRegression) from an executor; mirrors its in-memory ``fit``.

    With ``checkpoint`` (a path) the solver is the resumable L-BFGS of
    :mod:`softmax.solvers._lbfgs`, whose state is saved there every
    ``checkpoint_every`` iterations and resumed from when the file exists.
    """
    from sklearn.exceptions import ConvergenceWarning

    from softmax.estimators._softmax_regression import (
        _DIVERGENCE_BOUND,
        SeparationWarning,
        _auto_solver,
    )
    from softmax.estimators._validation import check_C
    from softmax.solvers import get_solver

    kind, tol, max_iter = est._check_params()
    stats = executor.stats()
    check_stats(stats, feature_names)
    classes, n_classes = stats.classes, stats.classes.shape[0]
    cw = class_weights(est.class_weight, stats)
    total = float(np.dot(cw, stats.weights))
    if not total > 0:
        raise ValueError("sample_weight is zero for every sample; at least one must be positive")
    binary = n_classes == 2
    executor.encode(classes, cw, binary)

    if feature_names is not None:
        est.feature_names_in_ = np.asarray(feature_names, dtype=object)
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.n_features_in_ = stats.n_features
    est.classes_ = classes
    n_features = stats.n_features
    datafit: Any = (
        Binomial(est.fit_intercept) if binary else Multinomial(n_classes, est.fit_intercept)
    )
    penalty = NoPenalty() if kind is None else L2(alpha=1.0 / (check_C(est.C) * total))
    scaling = Standardization.from_moments(
        stats.mean, stats.var, datafit.n_rows, est.fit_intercept, getattr(penalty, "alpha", 0.0)
    )
    objective = ChunkedObjective(datafit, penalty, executor, n_features, total, scaling)

    w0 = np.zeros(objective.n_params)
    if est.warm_start and hasattr(est, "coef_"):
        prev = np.concatenate(
            [np.ravel(est.coef_), np.ravel(est.intercept_) if est.fit_intercept else []]
        )
        if prev.shape == w0.shape:
            w0 = objective.from_original(prev.astype(np.float64))
    solver_name = _auto_solver(stats.n, objective.n_params) if est.solver == "auto" else est.solver
    solver = get_solver(solver_name)
    ckpt = None
    if checkpoint is not None:
        solver_name, solver, ckpt = _resumable_solver(
            est, stats, objective.n_params, checkpoint, checkpoint_every
        )
    diverging = [False]

    def guarded_value_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        if kind is None and np.max(np.abs(w), initial=0.0) > _DIVERGENCE_BOUND:
            diverging[0] = True
        return objective.value_and_grad(w)

    def guarded_callback(it: int, f: float, gnorm: float) -> bool:
        if est.verbose:
            print(f"[SoftmaxRegression] iter {it:4d}  objective {f:.12g}  |grad| {gnorm:.3e}")
        return diverging[0]

    try:
        result = solver(
            guarded_value_and_grad,
            w0,
            hessp=objective.hessp,
            hessian=objective.hessian,
            tol=tol,
            max_iter=max_iter,
            callback=guarded_callback,
        )
    except Exception as exc:
        if ckpt is None:
            raise
        raise RuntimeError(
            f"the fit stopped at an error ({type(exc).__name__}: {exc}); its last solver state "
            f"is saved in {str(ckpt.path)!r}: call fit again with the same checkpoint to resume"
        ) from exc
    w = objective.to_original(result.x)
    W, b = unpack(w, datafit.n_rows, n_features, est.fit_intercept)
    if n_classes > 2:
        W = W - W.mean(axis=0)
        b = None if b is None else b - b.mean()
    dtype = stats.dtype
    est.coef_ = np.ascontiguousarray(W, dtype=dtype)
    est.intercept_ = np.zeros(datafit.n_rows, dtype=dtype) if b is None else b.astype(dtype)
    est.n_iter_ = np.array([result.n_iter], dtype=np.int32)
    est.objective_history_ = list(result.history)
    est.converged_ = bool(result.converged)
    est.solver_ = solver_name

    separated = False
    if kind is None and not diverging[0] and np.max(np.abs(result.x), initial=0.0) >= 10.0:
        separated = executor.max_true_log_proba(est) > -1e-9
    if kind is None and (diverging[0] or separated):
        warnings.warn(
            "The classes are separable (or quasi-separable) by the features: the "
            "unpenalised maximum-likelihood coefficients do not exist (they grow without "
            "bound), so the fit stopped at large, finite coefficients. Use a penalty "
            "(penalty='l2' with a finite C) for a well-defined model.",
            SeparationWarning,
            stacklevel=3,
        )
    elif not result.converged:
        warnings.warn(
            f"SoftmaxRegression did not converge: solver {solver_name!r} stopped after "
            f"{result.n_iter} iterations ({result.message}) with gradient norm "
            f"{result.grad_norm:.3g} > tol={tol:g} x scale. Increase max_iter "
            f"(now {max_iter}), loosen tol, or strengthen the penalty (smaller C).",
            ConvergenceWarning,
            stacklevel=3,
        )
    return est


def _resumable_solver(
    est: Any, stats: ChunkStats, n_params: int, path: Any, every: Any
) -> tuple[str, Callable[..., Any], Any]:
    """The resumable L-BFGS bound to the checkpoint at ``path`` (and its saved state)."""
    from numbers import Integral

    from softmax.estimators._checkpoint import Checkpoint, fingerprint
    from softmax.solvers._lbfgs import lbfgs_resumable

    if est.solver not in ("auto", "lbfgs"):
        raise ValueError(
            f"checkpoint needs the resumable L-BFGS; solver={est.solver!r} cannot be resumed "
            "(use solver='lbfgs' or 'auto')"
        )
    if isinstance(every, bool) or not isinstance(every, Integral) or every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}")
    ckpt = Checkpoint(path, fingerprint(est, stats))
    state = ckpt.load(n_params)

    def solver(value_and_grad: Any, x0: np.ndarray, **kw: Any) -> Any:
        return lbfgs_resumable(
            value_and_grad, x0, state=state, checkpoint=ckpt, checkpoint_every=int(every), **kw
        )

    return "lbfgs", solver, ckpt


def max_true_log_proba_chunk(est: Any, X: Any, labels: np.ndarray) -> float:
    """The largest log-probability of a row's true class in one chunk (-inf if empty)."""
    if X.shape[0] == 0:
        return -np.inf
    log_p = est._log_proba_encoded(X)
    return float(np.max(log_p[np.arange(labels.shape[0]), labels]))


# ---------------------------------------------------------------------- #
# out-of-core: a re-iterable source of chunks, read once per pass
# ---------------------------------------------------------------------- #
class Chunks:
    """A re-iterable source of row chunks for fits on data larger than memory.

    ``SoftmaxRegression().fit(Chunks(...))`` fits *exactly* the model that
    ``fit(X, y)`` would on the concatenated rows, reading the chunks once per
    pass (one pass per objective/gradient evaluation and per Hessian-vector
    product), so memory stays at one chunk plus the coefficients.

    Parameters
    ----------
    factory : callable
        Called once per pass, returns an iterable of ``(X, y)`` or
        ``(X, y, sample_weight)`` tuples (``X`` dense or sparse, 2-D), the
        same rows in the same order every time.

    See Also
    --------
    Chunks.from_arrays : chunks of arrays (e.g. ``numpy.memmap``) by row slices.
    Chunks.from_parquet : chunks of Parquet files, read by row groups.
    """

    def __init__(self, factory: Callable[[], Iterable[tuple[Any, ...]]]) -> None:
        if not callable(factory):
            raise TypeError(f"Chunks needs a callable returning an iterable, got {factory!r}")
        self.factory = factory

    def __iter__(self) -> Iterator[tuple[Any, Any, Any]]:
        for i, item in enumerate(self.factory()):
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise ValueError(
                    f"chunk {i} is {type(item).__name__}; expected a tuple (X, y) or "
                    "(X, y, sample_weight)"
                )
            X, y, sw = item if len(item) == 3 else (*item, None)
            yield X, y, sw

    @classmethod
    def from_arrays(
        cls, X: Any, y: Any, sample_weight: Any = None, *, chunk_rows: int = 65536
    ) -> Chunks:
        """Chunks of ``chunk_rows`` rows of ``X`` (ndarray, ``numpy.memmap``, CSR) and ``y``.

        Only one chunk is converted to float in memory at a time, so a memmap
        larger than memory can be fitted.
        """
        if not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        n = X.shape[0]
        if len(y) != n:
            raise ValueError(f"X has {n} rows but y has {len(y)}; they must match")

        def factory() -> Iterator[tuple[Any, ...]]:
            for start in range(0, n, chunk_rows):
                rows = slice(start, min(start + chunk_rows, n))
                sw = None if sample_weight is None else np.asarray(sample_weight[rows])
                Xc = X[rows] if sp.issparse(X) else np.asarray(X[rows])
                yield Xc, np.asarray(y[rows]), sw

        return cls(factory)

    @classmethod
    def from_parquet(
        cls,
        paths: Any,
        target: str,
        features: Sequence[str] | None = None,
        *,
        sample_weight: str | None = None,
    ) -> Chunks:
        """Chunks of Parquet files, one row group at a time (needs pyarrow).

        Parameters
        ----------
        paths : str, path or list of them
            Files, or a folder whose ``*.parquet`` files are read in sorted order.
        target : str
            The label column.
        features : list of str, optional
            Feature columns (default: every other column but ``sample_weight``).
        sample_weight : str, optional
            A column of sample weights.
        """
        import os
        from pathlib import Path

        if isinstance(paths, str | os.PathLike):
            p = Path(paths)
            files = sorted(p.glob("*.parquet")) if p.is_dir() else [p]
        else:
            files = [Path(f) for f in paths]
        if not files:
            raise ValueError(f"no Parquet files found at paths={paths!r}")

        def factory() -> Iterator[tuple[Any, ...]]:
            import pyarrow.parquet as pq

            for f in files:
                pf = pq.ParquetFile(f)
                names = pf.schema_arrow.names
                if target not in names:
                    raise ValueError(f"target={target!r} is not a column of {str(f)!r}: {names}")
                cols = (
                    list(features)
                    if features is not None
                    else [c for c in names if c not in (target, sample_weight)]
                )
                wanted = [*cols, target] + ([sample_weight] if sample_weight else [])
                for g in range(pf.num_row_groups):
                    table = pf.read_row_group(g, columns=wanted)
                    X = np.column_stack(
                        [table.column(c).to_numpy(zero_copy_only=False) for c in cols]
                    )
                    y = table.column(target).to_numpy(zero_copy_only=False)
                    sw = (
                        table.column(sample_weight).to_numpy(zero_copy_only=False)
                        if sample_weight
                        else None
                    )
                    yield X, y, sw

        return cls(factory)


class IteratorExecutor:
    """Sums over a :class:`Chunks` source, one chunk in memory at a time.

    Chunks are visited in their order and their partial sums added in that
    order.  Probabilities are not kept between passes (they are as large as
    the data's rows times classes), so a Hessian-vector product recomputes them
    chunk by chunk at the cached point.
    """

    def __init__(self, source: Chunks) -> None:
        self.source = source
        self._encoding: tuple[np.ndarray, np.ndarray, bool] | None = None

    def stats(self) -> ChunkStats:
        out: ChunkStats | None = None
        for i, (X, y, sw) in enumerate(self.source):
            s = chunk_stats(X, y, sw, i)
            out = s if out is None else combine_stats(out, s)
        if out is None:
            raise ValueError("the chunk source yielded no chunks")
        self.dtype = out.dtype
        return out

    def encode(self, classes: np.ndarray, class_weight: np.ndarray, binary: bool) -> None:
        self._encoding = (classes, class_weight, binary)

    def _chunks(self) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        assert self._encoding is not None
        for X, y, sw in self.source:
            labels, s = encode_chunk(y, sw, *self._encoding)
            yield as_float_chunk(X).astype(self.dtype, copy=False), labels, s

    def value_and_grad(self, datafit: Any, w: np.ndarray) -> tuple[float, np.ndarray, Any]:
        value, grad = 0.0, np.zeros(w.shape[0])
        for X, labels, sw in self._chunks():
            v, g, _ = chunk_value_and_grad(datafit, w, X, labels, sw)
            value += v
            grad += g
        return value, grad, None

    def hessp(self, datafit: Any, w: np.ndarray, v: np.ndarray, cache: Any) -> np.ndarray:
        out = np.zeros(v.shape[0])
        for X, labels, sw in self._chunks():
            _, _, probas = chunk_value_and_grad(datafit, w, X, labels, sw)
            out += chunk_hessp(datafit, v, X, probas, sw)
        return out

    def hessian(self, datafit: Any, w: np.ndarray, cache: Any) -> np.ndarray:
        H = np.zeros((w.shape[0], w.shape[0]))
        for X, labels, sw in self._chunks():
            _, _, probas = chunk_value_and_grad(datafit, w, X, labels, sw)
            H += chunk_hessian(datafit, X, probas, sw, w.shape[0])
        return H

    def max_true_log_proba(self, est: Any) -> float:
        return max(
            (max_true_log_proba_chunk(est, X, labels) for X, labels, _ in self._chunks()),
            default=-np.inf,
        )
