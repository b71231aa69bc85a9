"""How blocks of rows are produced; the in-memory NumPy path is the reference.

``_chunks`` (chunk sums, out-of-core sources) and ``_dask`` (Dask arrays on
workers) reuse the in-memory block functions; Dask is imported only when a
Dask collection is fitted.
"""

from __future__ import annotations

from typing import Any

from softmax.backends._numpy import row_blocks

__all__ = ["fit_chunks", "row_blocks"]


def fit_chunks(est: Any, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """Fit ``est`` on chunked data: a :class:`~softmax.backends._chunks.Chunks` source
    (out-of-core) or Dask collections."""
    from softmax.backends._chunks import Chunks, IteratorExecutor, fit_chunked

    if isinstance(X, Chunks):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "with a Chunks source, labels and weights come from its chunks; pass y=None "
                "and sample_weight=None"
            )
        return fit_chunked(est, IteratorExecutor(X))
    from softmax.backends._dask import fit_dask

    return fit_dask(est, X, y, sample_weight)
