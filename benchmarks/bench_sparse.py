"""Sparse models: L1 fits and elastic-net paths, against scikit-learn's saga.

Usage::

    python benchmarks/bench_sparse.py [--quick] [--budget SECONDS] [--threads N]
                                      [--cv] [--parts l1,path] [--write]

Two parts, each on a workload of ``_fit_workloads.py``:

1. **L1 fit on W4** (sparse tf-idf, 20 classes) at ``C = 30 * C_min`` (a
   model with a few percent of the features; ``C_min`` is the largest C whose
   model is all zero, ``softmax.estimators._path.C_min``).  Every tool is run
   from scratch at a sequence of tolerances (ours: ``tol`` 1e-2 ... 1e-10;
   saga: ``tol`` 1e-2 ... 1e-8, ``max_iter`` 10 000) until its budget of fit
   time is spent (a fit that starts within the budget runs to its end).
   Each fit's objective, scikit-learn's ``C * sum_i loss_i + ||W||_1``, is
   computed here in float64 from its coefficients; the best over all fits is
   ``f*`` and a fit's gap is ``(f - f*) / |f*|``.  The time to a gap is the
   wall time of the fastest fit within it.  Ratio: saga's time / ours.
2. **Elastic-net path on W2** (``l1_ratio = 0.5``): 20 values of C from
   ``C_min`` to ``C_min / 1e3``.  Ours fits the whole path with warm starts
   (``softmax.regularization_path``, default tolerance); saga fits 5 of its
   points (every fourth, from scratch, scikit-learn's default ``tol = 1e-4``),
   and the table gives both times, and each saga point's gap to our objective
   there (negative: saga found a lower objective).  With ``--cv``, also
   ``SoftmaxRegressionCV`` on the 20 Cs against ``LogisticRegressionCV`` on
   the 5 (saga), both 3-fold.

Everything runs in this process with BLAS limited to ``--threads`` threads.
Run on an idle machine; ``--quick`` shrinks the workloads ~50x (smoke test).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import limited_threads, markdown_table, update_section
from _fit_workloads import WORKLOADS

SECTION = "Sparse models"
THREADS = 2
OUR_TOLS = [10.0**-k for k in range(2, 11)]
SAGA_TOLS = [10.0**-k for k in range(2, 9)]
TARGETS = (1e-2, 1e-4, 1e-6)
C_FACTOR = 30.0
PATH_RATIO, PATH_POINTS, PATH_EPS = 0.5, 20, 1e-3


def objective(X: Any, y: np.ndarray, W: np.ndarray, b: np.ndarray, C: float, r: float) -> float:
    """scikit-learn's ``C * sum_i loss_i + (1 - r)/2 ||W||^2 + r ||W||_1`` in float64."""
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    total = 0.0
    step = max(1, 2**19 // W.shape[0])
    for start in range(0, X.shape[0], step):
        Z = np.asarray(X[start : start + step].astype(np.float64) @ W.T) + b
        yb = y[start : start + step]
        if W.shape[0] == 1:
            total += float(np.logaddexp(0.0, -np.where(yb == 1, 1.0, -1.0) * Z[:, 0]).sum())
        else:
            total += float((logsumexp(Z, axis=1) - Z[np.arange(yb.shape[0]), yb]).sum())
    return C * total + 0.5 * (1 - r) * float(np.sum(W * W)) + r * float(np.abs(W).sum())


def _saga(C: float, r: float, tol: float, max_iter: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(solver="saga", C=C, l1_ratio=r, tol=tol, max_iter=max_iter)


def _timed(fit: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit()
    return model, time.perf_counter() - t0


def sweep(make: Any, tols: list[float], X: Any, y: np.ndarray, budget: float, C: float) -> list:
    """Fits at increasing accuracy until ``budget`` seconds are spent."""
    fits, spent = [], 0.0
    for tol in tols:
        if spent >= budget:
            break
        model, seconds = _timed(lambda tol=tol: make(tol).fit(X, y))
        spent += seconds
        f = objective(X, y, model.coef_, model.intercept_, C, 1.0)
        fits.append({"tol": tol, "seconds": seconds, "objective": f})
    return fits


def time_to(fits: list, best: float, target: float) -> float | None:
    ok = [f["seconds"] for f in fits if (f["objective"] - best) / abs(best) <= target]
    return min(ok) if ok else None


def l1_part(quick: bool, budget: float) -> str:
    from softmax import SoftmaxRegression
    from softmax.estimators._path import C_min

    X, y = WORKLOADS["W4"].make(quick)
    C = C_FACTOR * C_min(X, y, penalty="l1")
    ours = sweep(
        lambda tol: SoftmaxRegression(penalty="l1", C=C, tol=tol), OUR_TOLS, X, y, budget, C
    )
    saga = sweep(lambda tol: _saga(C, 1.0, tol, 10_000), SAGA_TOLS, X, y, budget, C)
    best = min(f["objective"] for f in ours + saga)
    rows = []
    cells = {}
    for name, fits in (("ours (prox-newton)", ours), ("sklearn saga", saga)):
        times = [time_to(fits, best, t) for t in TARGETS]
        cells[name] = times
        gap = min((f["objective"] - best) / abs(best) for f in fits)
        rows.append([name, *[f"{t:.2f}" if t is not None else "—" for t in times], f"{gap:.1e}"])
    ratios = [
        f"{s / o:.1f}×" if o and s else "—"
        for o, s in zip(cells["ours (prox-newton)"], cells["sklearn saga"], strict=True)
    ]
    rows.append(["saga ÷ ours", *ratios, ""])
    header = ["tool", *[f"s to gap {t:g}" for t in TARGETS], "best gap"]
    return (
        f"### L1 fit on W4 (X {X.shape[0]} x {X.shape[1]}, nnz {X.nnz}, C = {C:.4g})\n\n"
        f"f* = {best:.12g}.\n\n" + markdown_table(header, rows)
    )


def path_part(quick: bool, cv: bool) -> str:
    import softmax
    from softmax.estimators._path import C_min

    X, y = WORKLOADS["W2"].make(quick)
    c0 = C_min(X, y, penalty="elasticnet", l1_ratio=PATH_RATIO)
    grid = np.geomspace(c0, c0 / PATH_EPS, PATH_POINTS)
    path, t_ours = _timed(
        lambda: softmax.regularization_path(
            X, y, Cs=grid, penalty="elasticnet", l1_ratio=PATH_RATIO
        )
    )
    picks = list(range(0, PATH_POINTS, 4))
    rows, t_saga = [], 0.0
    for i in picks:
        C = float(path.Cs[i])
        model, seconds = _timed(lambda C=C: _saga(C, PATH_RATIO, 1e-4, 100).fit(X, y))
        t_saga += seconds
        f_saga = objective(X, y, model.coef_, model.intercept_, C, PATH_RATIO)
        f_ours = objective(X, y, path.coefs[i], path.intercepts[i], C, PATH_RATIO)
        rows.append(
            [
                f"{C:.4g}",
                str(int(path.n_nonzero[i])),
                f"{seconds:.2f}",
                f"{(f_saga - f_ours) / abs(f_ours):.1e}",
            ]
        )
    text = (
        f"### Elastic-net path on W2 (X {X.shape[0]} x {X.shape[1]}, l1_ratio {PATH_RATIO})\n\n"
        f"Ours, the whole path of {PATH_POINTS} C: **{t_ours:.2f} s** "
        f"({int(path.n_iter.sum())} Newton iterations). saga, {len(picks)} of its points "
        f"from scratch: **{t_saga:.2f} s** (ratio {t_saga / t_ours:.1f}×).\n\n"
        + markdown_table(["C", "features kept", "saga s", "saga gap to ours"], rows)
    )
    if cv:
        from sklearn.linear_model import LogisticRegressionCV

        ours_cv, t_cv = _timed(
            lambda: softmax.SoftmaxRegressionCV(
                Cs=grid, cv=3, penalty="elasticnet", l1_ratios=[PATH_RATIO]
            ).fit(X, y)
        )
        _, t_sk = _timed(
            lambda: LogisticRegressionCV(
                Cs=grid[picks], cv=3, solver="saga", l1_ratios=[PATH_RATIO], tol=1e-4
            ).fit(X, y)
        )
        text += (
            f"\n\nCross-validation (3 folds): SoftmaxRegressionCV on {PATH_POINTS} C "
            f"{t_cv:.2f} s (C_ = {ours_cv.C_:.4g}); LogisticRegressionCV (saga) on "
            f"{len(picks)} C {t_sk:.2f} s (ratio {t_sk / t_cv:.1f}×)."
        )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="workloads ~50x smaller")
    parser.add_argument(
        "--budget", type=float, help="seconds of fit time per tool (default 300; 5 with --quick)"
    )
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--cv", action="store_true", help="also time the cross-validation")
    parser.add_argument(
        "--parts", default="l1,path", help="comma-separated parts to run: l1, path (default both)"
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    parts_wanted = set(args.parts.split(","))
    budget = args.budget if args.budget is not None else (5.0 if args.quick else 300.0)
    with limited_threads(args.threads):
        parts = [
            f"Script: `benchmarks/bench_sparse.py`{' --quick' if args.quick else ''} "
            f"(budget {budget:g} s per tool, {args.threads} threads)."
        ]
        if "l1" in parts_wanted:
            parts.append(l1_part(args.quick, budget))
        if "path" in parts_wanted:
            parts.append(path_part(args.quick, args.cv))
    body = "\n\n".join(parts) + "\n"
    print(body)
    if args.write:
        update_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
