"""Dask backend: the objective summed over the chunks of Dask arrays, on the workers.

How a fit runs (see ``docs/dask.md``):

* X (a row-chunked Dask array, dense or ``scipy.sparse`` chunks, or a Dask
  DataFrame) and y (Dask array or Series) are *persisted once*: built from
  their task graphs on the workers and kept there.  Nothing is gathered to the
  client and nothing is scattered, so a lost worker's chunks are recomputed
  from the graph.
* One pass (:func:`~softmax.backends._chunks.chunk_stats` per chunk, combined
  in a fixed tree) gives the classes, the column means and variances for the
  internal standardisation, and the checks; labels and weights are then
  encoded per chunk with the global classes and persisted.
* The solver runs on the client.  On a ``distributed.Client`` each evaluation
  is *one task per worker*, over the chunks that worker holds: it runs the
  in-memory block function on each chunk, keeps each chunk's probabilities in
  the worker process (for the Hessian-vector products at the same point) and
  returns the per-chunk (value, gradient) pairs, which the client adds in a
  fixed tree of ``FAN_IN`` (4) over the chunk indices — so the result depends
  on the chunking only, never on which worker holds what.  On Dask's local
  schedulers it is a delayed graph: one task per chunk, the same tree.

``dask.persist`` and ``dask.compute`` pick the scheduler for the data and the
one-off passes (statistics, encoding): the active ``Client``, if any, else the
local one.
"""

from __future__ import annotations

import copy
import math
import uuid
import warnings
from functools import partial
from typing import Any

import numpy as np

from softmax.backends._chunks import (
    ChunkStats,
    add_all,
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
    tree_reduce,
)
from softmax.backends._fit import fit_chunked

__all__ = ["DaskExecutor", "fit_dask", "is_dask_collection", "predict_dask"]

# Coefficient (and direction) vectors travel inside the per-worker tasks while
# all the copies together stay below this size; otherwise they are sent once.
INLINE_BYTES = 1 << 20
# Per-chunk results up to this much in total are added on the client; more, by
# tasks on the workers (in the same tree, so with the same result).
GATHER_BYTES = 1 << 28


def is_dask_collection(obj: Any) -> bool:
    """Whether ``obj`` is a Dask collection, without importing Dask."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(
        obj, "__dask_graph__"
    )


def _is_dataframe_like(obj: Any) -> bool:
    return hasattr(obj, "to_dask_array") and hasattr(obj, "npartitions")


def _to_array(obj: Any, name: str) -> tuple[Any, Any]:
    """A Dask array (known chunk sizes) from a Dask array, DataFrame or Series;
    also the column names of a DataFrame with string columns."""
    import dask.array as da

    names = None
    if _is_dataframe_like(obj):
        cols = getattr(obj, "columns", None)
        if cols is not None and len(cols) and all(isinstance(c, str) for c in cols):
            names = list(cols)
        # lengths=True counts the rows of each partition (one cheap pass).
        with warnings.catch_warnings():
            # String labels become object arrays, which is what we want.
            warnings.filterwarnings("ignore", "Dask currently has limited support", UserWarning)
            obj = obj.to_dask_array(lengths=True)
    if not isinstance(obj, da.Array):
        raise TypeError(f"{name} must be a Dask array, DataFrame or Series, got {type(obj)}")
    if any(math.isnan(c) for c in obj.chunks[0]):
        raise ValueError(
            f"{name} has unknown chunk sizes (nan) along the rows; call "
            f"{name}.compute_chunk_sizes() (or to_dask_array(lengths=True)) first"
        )
    return obj, names


def _prepare(X: Any, y: Any, sample_weight: Any) -> tuple[Any, Any, Any, Any]:
    """Dask arrays X (2-D, one column chunk), y (1-D) and sample_weight with X's row chunks."""
    import dask.array as da

    if not is_dask_collection(X):
        # y is the Dask one: split X like y (the data was in memory anyway).
        y_arr, _ = _to_array(y, "y")
        X = da.from_array(X, chunks=(y_arr.chunks[0], -1))
    X, names = _to_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got a Dask array of shape {X.shape}")
    if is_dask_collection(y):
        y, _ = _to_array(y, "y")
    else:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"y has shape {y.shape}, expected ({X.shape[0]},) to match X")
        y = da.from_array(y, chunks=(X.chunks[0],))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"y has shape {y.shape}: SoftmaxRegression is for exclusive classes (one label per row)"
        )
    if y.chunks[0] != X.chunks[0]:
        raise ValueError(
            f"X and y are split into different row chunks (X: {X.chunks[0]}, y: {y.chunks[0]}); "
            "rechunk one like the other, e.g. y = y.rechunk(X.chunks[0])"
        )
    if len(X.chunks[1]) > 1:
        # Each task needs whole rows: one chunk across the columns.
        X = X.rechunk({1: -1})
    if sample_weight is not None:
        if is_dask_collection(sample_weight):
            sample_weight, _ = _to_array(sample_weight, "sample_weight")
            if sample_weight.chunks[0] != X.chunks[0]:
                raise ValueError(
                    f"sample_weight is split into different row chunks than X "
                    f"({sample_weight.chunks[0]} vs {X.chunks[0]}); rechunk it like X"
                )
        else:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.ndim == 0:
                sw = np.full(X.shape[0], float(sw))
            if sw.shape != (X.shape[0],):
                raise ValueError(
                    f"sample_weight has shape {sw.shape}, expected ({X.shape[0]},) to match X"
                )
            sample_weight = da.from_array(sw, chunks=(X.chunks[0],))
    return X, y, sample_weight, names


def _active_client() -> Any:
    """The default ``distributed.Client``, or None (Dask's local schedulers)."""
    import dask

    if dask.config.get("scheduler", None) not in (None, "dask.distributed", "distributed"):
        return None  # the user chose a local scheduler explicitly
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


class DaskExecutor:
    """Chunk sums on Dask (see the module docstring).

    On a ``distributed.Client`` an evaluation is one task per *worker* over the
    chunks it holds (:meth:`_per_chunk`); on Dask's local schedulers it is a
    delayed graph with one task per chunk and a fixed addition tree."""

    def __init__(self, X: Any, y: Any, sample_weight: Any = None) -> None:
        import dask

        self.client = _active_client()
        X, y, sample_weight, self.feature_names = _prepare(X, y, sample_weight)
        parts = [X, y] if sample_weight is None else [X, y, sample_weight]
        # Persist once: the data lives on the workers from here on.
        parts = dask.persist(*parts)
        # Holding the persisted collections keeps their futures (and so the data
        # on the workers, and its lineage for recomputation) alive.
        self._persisted = parts
        self.X = parts[0]
        self.xs = list(parts[0].to_delayed().ravel())
        self.ys = list(parts[1].to_delayed().ravel())
        self.sws = list(parts[2].to_delayed().ravel()) if sample_weight is not None else None
        self.n_chunks = len(self.xs)
        self._dtype: Any = None
        self._placement: list[tuple[Any, list[int]]] | None = None
        # The workers cache probabilities under "<this fit>/<chunk key>": two fits
        # of the same data (same chunk keys) never share an entry.  The set is
        # shared with the subsample executors, so that close() forgets theirs too.
        self._fit_id = uuid.uuid4().hex
        self._cached_keys: set[str] = set()

    def stats(self) -> ChunkStats:
        import dask

        parts = [
            dask.delayed(chunk_stats, pure=True)(x, y, None if self.sws is None else self.sws[i], i)
            for i, (x, y) in enumerate(zip(self.xs, self.ys, strict=True))
        ]
        root = tree_reduce(parts, dask.delayed(combine_stats, pure=True))
        (stats,) = dask.compute(root)
        self._dtype = stats.dtype
        return stats

    def encode(
        self, classes: np.ndarray, class_weight: np.ndarray, binary: bool, shift: Any = None
    ) -> None:
        import dask

        enc = [
            dask.delayed(_encode_task, pure=True)(
                x,
                y,
                None if self.sws is None else self.sws[i],
                classes,
                class_weight,
                binary,
                self._dtype,
                shift,
            )
            for i, (x, y) in enumerate(zip(self.xs, self.ys, strict=True))
        ]
        # (X as float in the common dtype, labels, weights) per chunk, on the
        # workers: futures on a distributed.Client, persisted delayeds otherwise.
        if self.client is not None:
            self.chunks = self.client.compute(enc)
        else:
            self.chunks = list(dask.persist(*enc))

    # ------------------------------------------------------------------ #
    # distributed: one task per worker, per-chunk results summed in order
    # ------------------------------------------------------------------ #
    def _groups(self) -> list[tuple[Any, list[int]]]:
        """Chunk indices grouped by the worker holding them (asked once, then kept
        until a task runs elsewhere, e.g. after a worker was lost)."""
        if self._placement is None:
            from distributed import wait

            wait(self.chunks)  # a chunk still being computed has no holder yet
            who = self.client.who_has(self.chunks)
            groups: dict[Any, list[int]] = {}
            placement = []
            for i, f in enumerate(self.chunks):
                holders = sorted(who.get(f.key, ()))
                if holders:
                    groups.setdefault(holders[0], []).append(i)
                else:  # lost meanwhile: a task of its own, wherever Dask puts it
                    placement.append((None, [i]))
            self._placement = list(groups.items()) + placement
        return self._placement

    def _summed(self, fn: Any, result_bytes: int, *args: Any) -> Any:
        """The sum over chunks of ``fn``'s per-chunk results, where ``fn(*args, keys,
        *chunks)`` runs on each worker for the chunks it holds.

        One task per worker rather than per chunk: Dask's cost per task (about
        2 ms here, client and scheduler included) was most of an evaluation's
        time at 8 chunks.  The results stay per chunk and are added in the fixed
        tree over chunk indices, so the grouping cannot change a bit: on the
        client, or — when the chunks' results (``result_bytes`` each) would be
        more than :data:`GATHER_BYTES` there — by tasks on the workers."""
        groups = self._groups()
        keys = [f"{self._fit_id}/{c.key}" for c in self.chunks]
        self._cached_keys.update(keys)
        futures = [
            self.client.submit(
                fn,
                *args,
                [keys[i] for i in idx],
                *[self.chunks[i] for i in idx],
                pure=False,
                # A preference, not a restriction: a lost worker's group runs elsewhere.
                **({} if addr is None else {"workers": [addr], "allow_other_workers": True}),
            )
            for addr, idx in groups
        ]
        parts: list[Any] = [None] * self.n_chunks
        if self.n_chunks * result_bytes > GATHER_BYTES:
            for (_, idx), f in zip(groups, futures, strict=True):
                for j, i in enumerate(idx):
                    parts[i] = self.client.submit(_pick, f, j, pure=False)
            add = partial(self.client.submit, add_all, pure=False)
            return tree_reduce(parts, add).result()
        for (addr, idx), (ran_on, results) in zip(groups, self.client.gather(futures), strict=True):
            if ran_on != addr:
                self._placement = None  # the chunks moved: ask again next time
            for i, r in zip(idx, results, strict=True):
                parts[i] = r
        return tree_reduce(parts, add_all)

    def _send(self, a: np.ndarray) -> Any:
        """``a`` as an argument of the per-worker tasks: inside each task when the
        copies are small together, else sent once to one worker, from which the
        others fetch it (and then from each other): the client sends it once."""
        if a.nbytes * len(self._groups()) <= INLINE_BYTES:
            return a
        return self.client.scatter(a, hash=False)

    def value_and_grad(self, datafit: Any, w: np.ndarray) -> tuple[float, np.ndarray, Any]:
        import dask

        if self.client is not None:
            token = uuid.uuid4().hex
            w_arg = self._send(w)
            value, grad = self._summed(_vg_group, w.nbytes + 8, datafit, w_arg, token)
            return float(value), np.asarray(grad), (w_arg, token)
        w_task = dask.delayed(w, pure=True)
        evals = [dask.delayed(_vg_task, pure=True)(datafit, w_task, c) for c in self.chunks]
        evals = list(dask.persist(*evals))
        heads = [dask.delayed(_head, pure=True)(e) for e in evals]
        (value, grad) = dask.compute(tree_reduce(heads, dask.delayed(add_all, pure=True)))[0]
        return float(value), np.asarray(grad), evals

    def hessp(self, datafit: Any, w: np.ndarray, v: np.ndarray, cache: Any) -> np.ndarray:
        import dask

        if self.client is not None:
            return np.asarray(self._summed(_hessp_group, v.nbytes, datafit, self._send(v), *cache))
        v_task = dask.delayed(v, pure=True)
        parts = [
            dask.delayed(_hessp_task, pure=True)(datafit, v_task, c, e)
            for c, e in zip(self.chunks, cache, strict=True)
        ]
        return np.asarray(tree_reduce(parts, dask.delayed(add_all, pure=True)).compute())

    def hessian(self, datafit: Any, w: np.ndarray, cache: Any) -> np.ndarray:
        import dask

        if self.client is not None:
            n = w.shape[0]
            return np.asarray(self._summed(_hessian_group, 8 * n * n, datafit, n, *cache))
        parts = [
            dask.delayed(_hessian_task, pure=True)(datafit, c, e, w.shape[0])
            for c, e in zip(self.chunks, cache, strict=True)
        ]
        return np.asarray(tree_reduce(parts, dask.delayed(add_all, pure=True)).compute())

    def subsample(self, step: int) -> tuple[DaskExecutor, float]:
        """An executor over every ``step``-th row of each encoded chunk, kept on the
        workers (never pulled to the client), and its total sample weight."""
        import dask

        sub = copy.copy(self)
        sub._placement = None
        if self.client is not None:
            sub.chunks = [
                self.client.submit(_every_kth_task, c, step, pure=False) for c in self.chunks
            ]
            weights = self.client.gather(
                [self.client.submit(_weight_task, c, pure=False) for c in sub.chunks]
            )
            return sub, float(tree_reduce(weights, add_all))
        parts = [dask.delayed(_every_kth_task, pure=True)(c, step) for c in self.chunks]
        sub.chunks = list(dask.persist(*parts))
        weights = [dask.delayed(_weight_task, pure=True)(c) for c in sub.chunks]
        total = float(tree_reduce(weights, dask.delayed(add_all, pure=True)).compute())
        return sub, total

    def max_true_log_proba(self, est: Any) -> float:
        import dask

        if self.client is not None:
            return max(
                self.client.gather(
                    [self.client.submit(_max_log_p_task, est, c, pure=False) for c in self.chunks]
                )
            )
        parts = [dask.delayed(_max_log_p_task, pure=True)(est, c) for c in self.chunks]
        return float(tree_reduce(parts, dask.delayed(_max, pure=True)).compute())

    def close(self) -> None:
        """Drop the probabilities the workers cached for this fit's chunks."""
        if self.client is not None and self._cached_keys:
            keys = sorted(self._cached_keys)
            self._cached_keys.clear()
            self.client.run(_forget_probas, keys)


# Task functions (module level so that workers can unpickle them).
def _encode_task(
    X: Any, y: Any, sw: Any, classes: Any, cw: Any, binary: bool, dtype: Any, shift: Any = None
):
    labels, s = encode_chunk(y, sw, classes, cw, binary)
    return shifted_chunk(as_float_chunk(X).astype(dtype, copy=False), shift), labels, s


# Worker side: the probabilities of the last evaluation of each chunk, by chunk
# key, with the evaluation's token.  Hessian products at that point reuse them;
# on a miss (another evaluation came between, or the worker is new after a
# failure) they are recomputed from ``w``, which every product task carries.
_LAST_PROBA: dict[str, tuple[str, Any]] = {}  # "<fit>/<chunk key>" -> (token, probas)


def _forget_probas(keys: list[str]) -> None:
    for key in keys:
        _LAST_PROBA.pop(key, None)


def _probas(datafit: Any, w: np.ndarray, token: str, key: str, chunk: tuple[Any, Any, Any]):
    hit = _LAST_PROBA.get(key)
    if hit is not None and hit[0] == token:
        return hit[1]
    X, labels, sw = chunk
    probas = chunk_value_and_grad(datafit, w, X, labels, sw)[2]
    _LAST_PROBA[key] = (token, probas)
    return probas


def _pick(group_result: tuple[Any, list[Any]], j: int) -> Any:
    return group_result[1][j]


def _where() -> Any:
    from distributed import get_worker

    return get_worker().address


def _vg_group(datafit: Any, w: np.ndarray, token: str, keys: list[str], *chunks: Any):
    _worker_threads()
    out = []
    for key, (X, labels, sw) in zip(keys, chunks, strict=True):
        # The previous probabilities are overwritten: forget them first, so that
        # a failure half-way cannot leave them under their old token.
        previous = _LAST_PROBA.pop(key, None)
        value, grad, probas = chunk_value_and_grad(
            datafit, w, X, labels, sw, out=None if previous is None else previous[1]
        )
        _LAST_PROBA[key] = (token, probas)
        out.append((value, grad))
    return _where(), out


def _hessp_group(
    datafit: Any, v: np.ndarray, w: np.ndarray, token: str, keys: list[str], *chunks: Any
):
    _worker_threads()
    return _where(), [
        chunk_hessp(datafit, v, c[0], _probas(datafit, w, token, key, c), c[2])
        for key, c in zip(keys, chunks, strict=True)
    ]


def _hessian_group(
    datafit: Any, n_params: int, w: np.ndarray, token: str, keys: list[str], *chunks: Any
):
    _worker_threads()  # a miss recomputes the probabilities in the kernels
    return _where(), [
        chunk_hessian(datafit, c[0], _probas(datafit, w, token, key, c), c[2], n_params)
        for key, c in zip(keys, chunks, strict=True)
    ]


def _worker_threads() -> None:
    """Give the numba kernels of this task as many threads as the Dask worker has.

    numba starts as many threads as the machine has cores in every worker process
    (Dask's nanny sets ``OMP_NUM_THREADS=1``, which numba does not read), so two
    single-threaded workers on two cores ran four kernel threads.  The setting is
    per thread, so it holds for this task's thread alone."""
    try:
        from distributed import get_worker

        n_threads = int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return  # not on a distributed worker (the local schedulers)
    from softmax._kernels import set_kernel_threads

    set_kernel_threads(n_threads)


def _vg_task(datafit: Any, w: np.ndarray, chunk: tuple[Any, Any, Any]):
    _worker_threads()
    X, labels, sw = chunk
    return chunk_value_and_grad(datafit, w, X, labels, sw)


def _head(result: tuple[float, np.ndarray, Any]) -> tuple[float, np.ndarray]:
    return result[0], result[1]


def _hessp_task(datafit: Any, v: np.ndarray, chunk: tuple[Any, Any, Any], ev: Any):
    _worker_threads()
    X, _, sw = chunk
    return chunk_hessp(datafit, v, X, ev[2], sw)


def _hessian_task(datafit: Any, chunk: tuple[Any, Any, Any], ev: Any, n_params: int):
    X, _, sw = chunk
    return chunk_hessian(datafit, X, ev[2], sw, n_params)


def _every_kth_task(chunk: tuple[Any, Any, Any], step: int) -> tuple[Any, Any, Any]:
    return every_kth_row(chunk, step)


def _weight_task(chunk: tuple[Any, Any, Any]) -> float:
    return float(np.sum(chunk[2], dtype=np.float64))


def _max_log_p_task(est: Any, chunk: tuple[Any, Any, Any]) -> float:
    X, labels, _ = chunk
    return max_true_log_proba_chunk(est, X, labels)


def _max(*xs: float) -> float:
    return max(xs)


def fit_dask(est: Any, X: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> Any:
    """``est.fit(X, y, sample_weight)`` for Dask input (see the module docstring);
    ``kwargs`` go to :func:`~softmax.backends._fit.fit_chunked`."""
    executor = DaskExecutor(X, y, sample_weight)
    try:
        return fit_chunked(est, executor, executor.feature_names, **kwargs)
    finally:
        executor.close()


# ---------------------------------------------------------------------- #
# prediction: lazy, block by block, through the in-memory methods
# ---------------------------------------------------------------------- #
def _predict_block(est: Any, method: str, block: Any) -> np.ndarray:
    return getattr(est, method)(block)


def predict_dask(est: Any, method: str, X: Any) -> Any:
    """``est.<method>(X)`` for a Dask array or DataFrame, as a lazy Dask array."""
    import dask.array as da
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    n_out = len(est.classes_)
    one_column = method == "predict" or (method == "decision_function" and n_out == 2)
    dtype = est.classes_.dtype if method == "predict" else est.coef_.dtype
    fn = partial(_predict_block, est, method)
    if _is_dataframe_like(X):
        import dask

        # The pandas partitions go to the in-memory method as they are, so the
        # feature names are checked as they would be for a pandas DataFrame.
        shape = (math.nan,) if one_column else (math.nan, n_out)
        parts = [
            da.from_delayed(dask.delayed(fn)(p), shape=shape, dtype=dtype) for p in X.to_delayed()
        ]
        return da.concatenate(parts, axis=0)
    if not isinstance(X, da.Array) or X.ndim != 2:
        raise ValueError(f"X must be a 2-D Dask array or a Dask DataFrame, got {X!r}")
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(est).__name__} is expecting "
            f"{est.n_features_in_} features as input."
        )
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if one_column:
        return X.map_blocks(fn, dtype=dtype, drop_axis=1, meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(
        fn, dtype=dtype, chunks=(X.chunks[0], (n_out,)), meta=np.empty((0, 0), dtype=dtype)
    )
