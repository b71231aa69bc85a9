"""Chunks of rows: the per-chunk block functions, one-pass statistics, fixed-order sums.

The in-memory path (:class:`softmax.objective.Objective`) sums the data fit over
row blocks of one array.  Here the rows arrive as *chunks* instead — the blocks
of a Dask array on workers (:mod:`softmax.backends._dask`) or the pieces a
:class:`~softmax.backends._iterator.Chunks` source reads one at a time
(out-of-core) — and an *executor* forms the sums
(:class:`~softmax.backends._dask.DaskExecutor`,
:class:`~softmax.backends._iterator.IteratorExecutor`); the fit that drives
them is :func:`softmax.backends._fit.fit_chunked`.  Every chunk goes through the very same data-fit
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

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax.backends._numpy import row_blocks

__all__ = [
    "ChunkStats",
    "add_all",
    "as_float_chunk",
    "check_balanced_weights",
    "check_stats",
    "chunk_hessian",
    "chunk_hessp",
    "chunk_stats",
    "chunk_value_and_grad",
    "class_weights",
    "combine_stats",
    "encode_chunk",
    "max_true_log_proba_chunk",
    "shifted_chunk",
    "tree_reduce",
]

# Partial sums are combined this many at a time (in index order) per tree level.
FAN_IN = 4


# ---------------------------------------------------------------------- #
# per-chunk functions (run on workers for Dask; must stay picklable)
# ---------------------------------------------------------------------- #
def as_float_chunk(X: Any) -> Any:
    """A chunk as float64/float32 ndarray or CSR (row slices of CSR are views).

    Dense chunks are made C-contiguous and aligned, copying only where they are
    not: arrays that reach a Dask worker through serialisation can sit at an
    odd offset in their buffer (unaligned), which the fused kernels decline —
    a chunk then took the NumPy path, 6x slower on W5 (226 ms against 38 ms)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        return X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X chunks must be 2-D, got a chunk of shape {X.shape}")
    X = X if X.dtype in (np.float32, np.float64) else X.astype(np.float64)
    return np.require(X, requirements=["C_CONTIGUOUS", "ALIGNED"])


def shifted_chunk(X: Any, shift: np.ndarray | None) -> Any:
    """``X - shift`` for a dense chunk (a copy), ``X`` itself without a shift: the
    columns far from zero that :func:`softmax.estimators._fitting.centre_far_columns`
    centres in memory, centred chunk by chunk (never for sparse data)."""
    if shift is None:
        return X
    return X - shift.astype(X.dtype)


def every_kth_row(chunk: tuple[Any, np.ndarray, np.ndarray], step: int) -> tuple[Any, Any, Any]:
    """Rows ``0, step, 2 step, ...`` of an encoded chunk ``(X, labels, sw)``, as
    contiguous copies (a systematic sample for Newton-CG's preconditioner)."""
    X, labels, sw = chunk
    X = sp.csr_matrix(X[::step]) if sp.issparse(X) else np.ascontiguousarray(X[::step])
    return X, np.ascontiguousarray(labels[::step]), np.ascontiguousarray(sw[::step])


def chunk_value_and_grad(
    datafit: Any,
    w: np.ndarray,
    X: Any,
    labels: np.ndarray,
    sw: np.ndarray,
    out: Sequence[np.ndarray] | None = None,
) -> tuple[float, np.ndarray, list[np.ndarray]]:
    """Loss sum, gradient sum and probabilities of one chunk, over its row blocks
    exactly as :class:`~softmax.objective.Objective` does for in-memory data;
    ``out``: a previous result's probabilities, reused as buffers where they fit."""
    n_params = w.shape[0]
    value, grad, probas = 0.0, np.zeros(n_params), []
    for j, rows in enumerate(row_blocks(X.shape[0], datafit.n_rows)):
        buf = out[j] if out is not None and j < len(out) else None
        v, g, p = datafit.value_and_grad(w, X[rows], labels[rows], sw[rows], out=buf)
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
    # SHA-256 of the chunks' contents (X, labels, weights), combined in chunk
    # order: a resumable fit's checkpoint belongs to these very data, not to
    # other data with the same statistics (the same X with labels moved about).
    digest: bytes = b""
    sparse: bool = False  # some chunk is sparse (its columns are not centred)

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
    h = hashlib.sha256()
    for part in (X.data, X.indices, X.indptr) if sp.issparse(X) else (X,):
        h.update(np.ascontiguousarray(part).data)
    h.update(repr(classes.tolist()).encode())
    h.update(np.ascontiguousarray(inverse.ravel(), dtype=np.int64).data)
    h.update(np.ascontiguousarray(sw_arr).data)
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
        digest=h.digest(),
        sparse=sp.issparse(X),
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
            with np.errstate(invalid="ignore", over="ignore"):  # non-finite X: refused later
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
            digest=hashlib.sha256(a.digest + b.digest).digest(),
            sparse=a.sparse or b.sparse,
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


def check_balanced_weights(classes: np.ndarray, class_totals: np.ndarray) -> None:
    """``class_weight="balanced"`` divides by each class's summed sample weight:
    a class whose samples all weigh 0 has no balanced weight (ValueError)."""
    empty = np.flatnonzero(class_totals <= 0)
    if empty.size:
        raise ValueError(
            f"class_weight='balanced' needs every class to carry some sample weight; "
            f"the samples of class {classes.tolist()[empty[0]]!r} all have sample_weight 0"
        )


def class_weights(class_weight: Any, stats: ChunkStats) -> np.ndarray:
    """Class weights from ``class_weight`` (None, "balanced" or dict) and the
    classes' summed sample weights (their counts without sample weights)."""
    classes = stats.classes
    if class_weight is None:
        return np.ones(classes.shape[0])
    if isinstance(class_weight, str) and class_weight == "balanced":
        # scikit-learn's rule (compute_class_weight with sample_weight, >= 1.8):
        # sum(s) / (n_classes * per-class sum of s); n / (n_classes * bincount(y))
        # without sample weights.
        check_balanced_weights(classes, stats.weights)
        return stats.weights.sum() / (classes.shape[0] * stats.weights)
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
            f"y contains only one class ({stats.classes.tolist()[0]!r}); a classifier "
            "needs samples of at least 2 classes"
        )


def max_true_log_proba_chunk(est: Any, X: Any, labels: np.ndarray) -> float:
    """The largest log-probability of a row's true class in one chunk (-inf if empty)."""
    if X.shape[0] == 0:
        return -np.inf
    log_p = est._log_proba_encoded(X)
    return float(np.max(log_p[np.arange(labels.shape[0]), labels]))
