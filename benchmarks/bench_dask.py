"""Dask path against the in-memory path: fit time, per-evaluation overhead, by chunk count.

For each workload (default W2 and W5 of ``_fit_workloads.py``) and chunk count,
on a ``LocalCluster`` of ``--workers`` single-threaded worker processes:

* the in-memory fit and the Dask fit (same solver, same result) and their ratio;
* one objective/gradient evaluation in memory and on Dask (best of several),
  and their difference: the per-evaluation overhead (graph building,
  scheduling, sending ``w``, the tree reduction, the round trip);
* the same Dask evaluation on a tiny data set with the same chunk count: the
  scheduler's fixed cost per evaluation, whatever the data.

The in-memory path runs with as many BLAS threads as there are workers, so
both use the same cores.  Run it on an idle machine (``--write`` updates the
"Dask" section of docs/benchmarks.md); ``--quick`` is a smoke test at tiny
sizes whose timings mean nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_time, limited_threads, markdown_table, update_section
from _fit_workloads import C, select


def _dask_arrays(client: Any, X: np.ndarray, y: np.ndarray, n_chunks: int) -> tuple[Any, Any]:
    """X and y as Dask arrays of ``n_chunks`` row chunks held by the workers.

    The benchmark's data is generated on the client, so it is scattered once
    here (a real deployment reads it on the workers, e.g. ``read_parquet``).
    """
    import dask.array as da

    bounds = np.linspace(0, X.shape[0], n_chunks + 1).astype(int)
    xs = client.scatter([X[a:b] for a, b in itertools.pairwise(bounds)])
    ys = client.scatter([y[a:b] for a, b in itertools.pairwise(bounds)])
    sizes = np.diff(bounds)
    Xd = da.concatenate(
        [
            da.from_delayed(f, shape=(int(n), X.shape[1]), dtype=X.dtype)
            for f, n in zip(xs, sizes, strict=True)
        ]
    )
    yd = da.concatenate(
        [da.from_delayed(f, shape=(int(n),), dtype=y.dtype) for f, n in zip(ys, sizes, strict=True)]
    )
    return Xd, yd


def _eval_time(executor: Any, datafit: Any, n_params: int, repeat: int) -> float:
    # A new point per call: an evaluation at the point of the previous one may be
    # served from a cache (the Hessian products reuse the last probabilities),
    # which once made the Dask column 25x "faster" than the in-memory one.
    rng = np.random.default_rng(0)
    return best_time(
        lambda: executor.value_and_grad(datafit, rng.normal(size=n_params) * 1e-3), repeat=repeat
    )


def bench_one(client: Any, name: str, X: Any, y: Any, chunks: list[int], args: Any) -> list:
    from softmax import SoftmaxRegression
    from softmax.backends._chunks import check_stats
    from softmax.backends._dask import DaskExecutor
    from softmax.objective import Multinomial, NoPenalty, Objective

    rows = []
    n_classes = int(np.max(y)) + 1
    datafit = Multinomial(n_classes)
    n_params = n_classes * (X.shape[1] + 1)
    with limited_threads(args.workers):
        t0 = time.perf_counter()
        ref = SoftmaxRegression(C=C, solver=args.solver, max_iter=args.max_iter).fit(X, y)
        t_mem = time.perf_counter() - t0
        mem_obj = Objective(datafit, NoPenalty(), X, y, np.ones(X.shape[0]))
        rng = np.random.default_rng(0)
        t_eval_mem = best_time(
            lambda: mem_obj.loss_and_grad_original(rng.normal(size=n_params) * 1e-3),
            repeat=args.repeat,
        )
    for n_chunks in chunks:
        Xd, yd = _dask_arrays(client, X, y, n_chunks)
        t0 = time.perf_counter()
        clf = SoftmaxRegression(C=C, solver=args.solver, max_iter=args.max_iter).fit(Xd, yd)
        t_dask = time.perf_counter() - t0
        ex = DaskExecutor(Xd, yd)
        check_stats(ex.stats())
        ex.encode(np.arange(n_classes), np.ones(n_classes), False)
        t_eval = _eval_time(ex, datafit, n_params, args.repeat)
        tiny = np.tile(X[: 4 * n_chunks], 1)
        Xt, yt = _dask_arrays(client, tiny, np.arange(tiny.shape[0]) % n_classes, n_chunks)
        ext = DaskExecutor(Xt, yt)
        ext.stats()
        ext.encode(np.arange(n_classes), np.ones(n_classes), False)
        t_fixed = _eval_time(ext, datafit, n_params, args.repeat)
        rows.append(
            {
                "workload": name,
                "chunks": n_chunks,
                "fit_memory_s": t_mem,
                "fit_dask_s": t_dask,
                "fit_ratio": t_dask / t_mem,
                "n_iter": int(clf.n_iter_[0]),
                "max_coef_diff": float(np.max(np.abs(clf.coef_ - ref.coef_))),
                "eval_memory_ms": 1e3 * t_eval_mem,
                "eval_dask_ms": 1e3 * t_eval,
                "overhead_ms": 1e3 * (t_eval - t_eval_mem),
                "overhead_pct": 100 * (t_eval - t_eval_mem) / t_eval_mem,
                "scheduler_ms": 1e3 * t_fixed,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workloads", default="W2,W5", help="comma-separated (default W2,W5)")
    parser.add_argument("--chunks", default="1,2,8,32", help="chunk counts (default 1,2,8,32)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--solver", default="auto", help="solver for both paths (default auto)")
    parser.add_argument("--max-iter", type=int, default=1000, help="solver iterations at most")
    parser.add_argument("--repeat", type=int, default=5, help="evaluations timed (best of)")
    parser.add_argument("--quick", action="store_true", help="tiny workloads (smoke test)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also save the records to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from distributed import Client, LocalCluster
    from sklearn.exceptions import ConvergenceWarning

    chunks = [int(c) for c in args.chunks.split(",")]
    if args.quick:
        args.repeat, args.max_iter = 1, 5
        # A smoke test stops the solvers early on purpose.
        warnings.simplefilter("ignore", ConvergenceWarning)
    rows: list[dict] = []
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        for wl in select(args.workloads):
            X, y = wl.make(args.quick)
            if args.quick:
                X, y = X[:1000], y[:1000]
            rows += bench_one(client, wl.name, X, y, chunks, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    table = markdown_table(
        [
            "workload",
            "chunks",
            "fit in memory (s)",
            "fit on Dask (s)",
            "ratio",
            "eval in memory (ms)",
            "eval on Dask (ms)",
            "overhead",
            "scheduler (ms)",
        ],
        [
            [
                r["workload"],
                r["chunks"],
                f"{r['fit_memory_s']:.2f}",
                f"{r['fit_dask_s']:.2f}",
                f"{r['fit_ratio']:.2f}",
                f"{r['eval_memory_ms']:.1f}",
                f"{r['eval_dask_ms']:.1f}",
                f"{r['overhead_pct']:.0f}%",
                f"{r['scheduler_ms']:.1f}",
            ]
            for r in rows
        ],
    )
    print(table)
    if args.write and not args.quick:
        body = (
            f"`benchmarks/bench_dask.py`: a LocalCluster of {args.workers} single-threaded "
            f"worker processes against the in-memory path with {args.workers} BLAS threads, "
            f"solver {args.solver}, C = {C}. *eval*: one objective + gradient evaluation; "
            "*overhead*: (Dask - memory) / memory; *scheduler*: a Dask evaluation on a tiny "
            "data set with the same chunks (the fixed cost per evaluation). See docs/dask.md.\n\n"
            + table
        )
        update_section("Dask", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
