"""Out-of-core sources: a re-iterable of row chunks, and the executor that sums over it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from softmax.backends._chunks import (
    ChunkStats,
    as_float_chunk,
    chunk_hessian,
    chunk_hessp,
    chunk_stats,
    chunk_value_and_grad,
    combine_stats,
    encode_chunk,
    every_kth_row,
    max_true_log_proba_chunk,
    shifted_chunk,
)

__all__ = ["Chunks", "IteratorExecutor"]


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
            Feature columns (default: every other column but ``sample_weight``,
            in the first file's order).  Columns are matched by name in every
            file, whatever its own order; a file whose columns differ from the
            first file's is refused (ValueError naming it).
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

            first: list[str] | None = None
            for f in files:
                pf = pq.ParquetFile(f)
                names = pf.schema_arrow.names
                if target not in names:
                    raise ValueError(f"target={target!r} is not a column of {str(f)!r}: {names}")
                own = [c for c in names if c not in (target, sample_weight)]
                if features is not None:
                    cols = list(features)
                    lacking = [c for c in cols if c not in names]
                    if lacking:
                        raise ValueError(f"{str(f)!r} has no column(s) {lacking}: {names}")
                elif first is None:
                    cols = first = own
                else:
                    # By name, in the first file's order: a file that lists the
                    # same columns in another order must not mix up the features.
                    if set(own) != set(first):
                        raise ValueError(
                            f"{str(f)!r} has the columns {own}, the first file "
                            f"{str(files[0])!r} has {first}: every file needs the same "
                            "feature columns (or pass features=[...])"
                        )
                    cols = first
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
        self._encoded = False

    def stats(self) -> ChunkStats:
        out: ChunkStats | None = None
        for i, (X, y, sw) in enumerate(self.source):
            s = chunk_stats(X, y, sw, i)
            out = s if out is None else combine_stats(out, s)
        if out is None:
            raise ValueError("the chunk source yielded no chunks")
        self.dtype = out.dtype
        self._n_rows = out.n
        return out

    def encode(
        self, classes: np.ndarray, class_weight: np.ndarray, binary: bool, shift: Any = None
    ) -> None:
        self._encoding = (classes, class_weight, binary)
        self._shift = shift

    def _chunks(self) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
        if self._encoded:  # a subsample: its chunks are encoded already
            yield from self.source
            return
        assert self._encoding is not None
        rows = 0
        for X, y, sw in self.source:
            labels, s = encode_chunk(y, sw, *self._encoding)
            rows += labels.shape[0]
            X = as_float_chunk(X).astype(self.dtype, copy=False)
            yield shifted_chunk(X, self._shift), labels, s
        if rows != self._n_rows:
            # A one-use iterator (the first pass consumed it) or a source that
            # changed: the sums of this pass are not the data's.
            raise ValueError(
                f"the chunk source yielded {rows} rows on this pass and {self._n_rows} on the "
                "first: Chunks needs a factory that returns the same rows on every call (a "
                "new generator each time, not one iterator)"
            )

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

    def subsample(self, step: int) -> tuple[IteratorExecutor, float]:
        """An executor over every ``step``-th row of each chunk, read in one pass and
        kept in memory, and its total sample weight."""
        rows = [every_kth_row(chunk, step) for chunk in self._chunks()]
        sub = IteratorExecutor(Chunks(lambda: iter(rows)))
        sub.dtype = self.dtype
        sub._encoded = True
        return sub, float(sum(np.sum(sw, dtype=np.float64) for _, _, sw in rows))

    def max_true_log_proba(self, est: Any) -> float:
        return max(
            (max_true_log_proba_chunk(est, X, labels) for X, labels, _ in self._chunks()),
            default=-np.inf,
        )
