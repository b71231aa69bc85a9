"""How blocks of rows are produced; the in-memory NumPy path is the reference.

``_chunks`` (chunk sums, out-of-core sources) and ``_dask`` (Dask arrays on
workers) reuse the in-memory block functions; Dask is imported only when a
Dask collection is fitted.
"""

from __future__ import annotations

from typing import Any

from softmax.backends._numpy import row_blocks

__all__ = ["fit_chunks", "row_blocks"]


def fit_chunks(
    est: Any,
    X: Any,
    y: Any = None,
    sample_weight: Any = None,
    checkpoint: Any = None,
    checkpoint_every: int = 10,
    callback: Any = None,
) -> Any:
    """Fit ``est`` on chunked data — a :class:`~softmax.backends._chunks.Chunks` source
    (out-of-core) or Dask collections — or, for a resumable fit (``checkpoint``),
    on in-memory data as a single chunk."""
    from softmax.backends._dask import fit_dask, is_dask_collection
    from softmax.backends._fit import fit_chunked
    from softmax.backends._iterator import Chunks, IteratorExecutor

    ckpt = {"checkpoint": checkpoint, "checkpoint_every": checkpoint_every, "callback": callback}
    if isinstance(X, Chunks):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "with a Chunks source, labels and weights come from its chunks; pass y=None "
                "and sample_weight=None"
            )
        return fit_chunked(est, IteratorExecutor(X), **ckpt)
    if is_dask_collection(X) or is_dask_collection(y):
        return fit_dask(est, X, y, sample_weight, **ckpt)
    if y is None:
        raise ValueError(
            f"{type(est).__name__} requires y to be passed, but the target y is None "
            "(only a softmax.Chunks source carries its own labels)"
        )
    import numpy as np
    from sklearn.utils.validation import validate_data

    from softmax.estimators._validation import check_finite_features, check_labels

    X, y = validate_data(
        est,
        X,
        check_labels(y),
        accept_sparse=["csr", "csc"],
        dtype=[np.float64, np.float32],
        ensure_all_finite=False,
    )
    check_finite_features(X, getattr(est, "feature_names_in_", None))
    if hasattr(X, "tocsr"):
        X = X.tocsr()
    source = Chunks.from_arrays(X, y, sample_weight, chunk_rows=max(X.shape[0], 1))
    return fit_chunked(
        est, IteratorExecutor(source), getattr(est, "feature_names_in_", None), **ckpt
    )
