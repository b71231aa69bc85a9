"""Multi-label fitting: MultiLabelLogisticRegression against OneVsRest(LogisticRegression).

Usage::

    python benchmarks/bench_multilabel.py [--quick] [--budget SECONDS] [--threads N] [--write]

Data: a sparse tf-idf-like CSR matrix (Zipf-distributed word ids,
l2-normalised sublinear tf-idf rows) and 50 labels, each a noisy linear
function of the words with a prevalence between 1 % and 20 %, so that every
label is a realistic, imbalanced, non-separable binary problem.

Every tool minimises the same objective, scikit-learn's per-label objective
summed over labels, ``sum_l [C * sum_i BCE(z_il, y_il) + 0.5 * ||w_l||^2]``
(intercepts unpenalised, ``C = 1``).  The objective each fit reached is
computed here, in float64, by one reference function (``reference_objective``,
SciPy's ``log_expit``) from the tool's coefficients; the best value any fit
found is ``f*`` and a fit's gap is ``(f - f*) / |f*|``.  Time to a gap is the
wall time of the fastest fit whose gap is at most the target, over a sweep of
tolerances (1e-2 ... 1e-10) run from scratch until the tool's budget of fit
time is spent.  "Default" is one fit at each tool's defaults
(``MultiLabelLogisticRegression(C=1)``; ``OneVsRestClassifier(LogisticRegression(C=1))``),
with the per-label accuracy (1 - Hamming loss) and the subset accuracy of its
predictions on held-out rows.  BLAS threads are limited to ``--threads``
(threadpoolctl); scikit-learn's OneVsRest runs its labels one after another
(``n_jobs=None``).  Ratios are the peer's time divided by ours (> 1: ours is
faster).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import log_expit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import limited_threads, markdown_table, update_section

C = 1.0
N_LABELS = 50
TOLS = [10.0**-k for k in range(2, 11)]
TARGETS = (1e-4, 1e-6)
SECTION = "Multi-label fitting"


# --------------------------------------------------------------------------- #
# data
# --------------------------------------------------------------------------- #
def make_data(quick: bool, seed: int = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Sparse tf-idf-like X and a 0/1 label matrix of ``N_LABELS`` columns."""
    rng = np.random.default_rng(seed)
    n_samples, n_features, per_row = (600, 400, 20) if quick else (20_000, 20_000, 60)
    n_labels = N_LABELS
    # Zipf-distributed word ids: a few very common words, a long tail of rare ones.
    ranks = np.arange(1, n_features + 1)
    word_p = 1.0 / ranks**1.1
    word_p /= word_p.sum()
    lengths = rng.poisson(per_row, n_samples).clip(1)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = rng.choice(n_features, size=indptr[-1], p=word_p)
    counts = sp.csr_matrix((np.ones(indptr[-1]), indices, indptr), shape=(n_samples, n_features))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=n_features)
    idf = np.log((1 + n_samples) / (1 + df)) + 1
    X = counts.copy()
    X.data = (1 + np.log(X.data)) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.csr_matrix(sp.diags(1 / np.maximum(norms, 1e-12)) @ X)
    # Labels: sparse topic weights on words, a logistic link and prevalences of 1-20 %.
    topics = sp.random(
        n_features, n_labels, density=0.05, random_state=seed, data_rvs=rng.standard_normal
    )
    scores = np.asarray(X @ topics.toarray()) * 8.0
    prevalence = rng.uniform(0.01, 0.2, n_labels)
    offsets = np.array([np.quantile(scores[:, j], 1 - q) for j, q in enumerate(prevalence)])
    p = 1 / (1 + np.exp(-(scores - offsets) * 3.0))
    Y = (rng.random(p.shape) < p).astype(np.int64)
    # Every label needs both outcomes (a constant label is rejected, and meaningless).
    Y[0, :] = 1
    Y[1, :] = 0
    return X, Y


def reference_objective(X: Any, Y: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> float:
    """``sum_l [C sum_i BCE(z_il, y_il) + 0.5 ||w_l||^2]`` in float64."""
    W = np.asarray(coef, dtype=np.float64)
    Z = np.asarray(X.astype(np.float64) @ W.T) + np.asarray(intercept, dtype=np.float64)
    loss = -np.sum(Y * log_expit(Z) + (1 - Y) * log_expit(-Z))
    return C * float(loss) + 0.5 * float(np.sum(W * W))


# --------------------------------------------------------------------------- #
# tools
# --------------------------------------------------------------------------- #
Fit = Callable[[Any, np.ndarray, dict], tuple[np.ndarray, np.ndarray, Any]]


def fit_ours(X: Any, Y: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, Any]:
    from softmax import MultiLabelLogisticRegression

    clf = MultiLabelLogisticRegression(C=C, **params).fit(X, Y)
    return clf.coef_, clf.intercept_, clf


def fit_ovr(X: Any, Y: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(LogisticRegression(C=C, **params)).fit(X, Y)
    W = np.vstack([e.coef_ for e in clf.estimators_])
    b = np.concatenate([e.intercept_ for e in clf.estimators_])
    return W, b, clf


TOOLS: list[tuple[str, Fit, dict]] = [
    ("ours", fit_ours, {}),
    ("ours lbfgs", fit_ours, {"solver": "lbfgs"}),
    ("ours newton-cg", fit_ours, {"solver": "newton-cg"}),
    ("OvR lbfgs", fit_ovr, {"solver": "lbfgs"}),
    ("OvR newton-cg", fit_ovr, {"solver": "newton-cg"}),
    ("OvR liblinear", fit_ovr, {"solver": "liblinear"}),
]


def _timed(fit: Fit, X: Any, Y: np.ndarray, params: dict) -> tuple[float, float, Any]:
    t0 = time.perf_counter()
    coef, intercept, model = fit(X, Y, params)
    seconds = time.perf_counter() - t0
    return seconds, reference_objective(X, Y, coef, intercept), model


def run_tool(
    name: str, fit: Fit, base: dict, data: tuple, budget: float, log: Callable[[str], None]
) -> dict:
    """The tool's default fit (with accuracies on held-out rows), then its tol sweep."""
    X, Y, X_test, Y_test = data
    seconds, objective, model = _timed(fit, X, Y, base)
    pred = model.predict(X_test)
    pred = pred.toarray() if sp.issparse(pred) else np.asarray(pred)
    result = {
        "tool": name,
        "default": {
            "time": seconds,
            "objective": objective,
            "label_accuracy": float(np.mean(pred == Y_test)),
            "subset_accuracy": float(np.mean(np.all(pred == Y_test, axis=1))),
        },
        "sweep": [],
    }
    log(f"{name}: default {seconds:.3g} s")
    spent = 0.0
    for tol in TOLS:
        params = {**base, "tol": tol, "max_iter": 10_000}
        seconds, objective, _ = _timed(fit, X, Y, params)
        spent += seconds
        result["sweep"].append({"tol": tol, "time": seconds, "objective": objective})
        log(f"{name}: tol {tol:.0e} {seconds:.3g} s f={objective:.12g}")
        if spent >= budget:
            break
    return result


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def _fits(result: dict) -> list[dict]:
    return [result["default"], *result["sweep"]]


def time_to(result: dict, best: float, target: float) -> float | None:
    times = [f["time"] for f in _fits(result) if (f["objective"] - best) / abs(best) <= target]
    return min(times) if times else None


def report(results: list[dict], shape: tuple, budget: float, quick: bool) -> str:
    best = min(f["objective"] for r in results for f in _fits(r))
    header = [
        "tool",
        "default time",
        "default gap",
        "per-label accuracy",
        "subset accuracy",
        *(f"time to {t:.0e}" for t in TARGETS),
    ]
    rows = []
    for r in results:
        d = r["default"]
        times = [time_to(r, best, t) for t in TARGETS]
        rows.append(
            [
                r["tool"],
                f"{d['time']:.3g} s",
                f"{(d['objective'] - best) / abs(best):.1e}",
                f"{d['label_accuracy']:.4f}",
                f"{d['subset_accuracy']:.4f}",
                *(f"{t:.3g} s" if t is not None else f"> {budget:g} s" for t in times),
            ]
        )
    ours = [r for r in results if r["tool"].startswith("ours")]
    peers = [r for r in results if not r["tool"].startswith("ours")]
    parts = []
    for target in TARGETS:
        o = min((t for r in ours if (t := time_to(r, best, target)) is not None), default=None)
        p = min((t for r in peers if (t := time_to(r, best, target)) is not None), default=None)
        ratio = f"**{p / o:.2g}×**" if o and p else "–"
        parts.append(f"to {target:.0e}: fastest peer / fastest ours = {ratio}")
    d_o = next(r["default"] for r in results if r["tool"] == "ours")
    d_p = next(r["default"] for r in results if r["tool"] == "OvR lbfgs")
    parts.append(
        f"defaults: OvR(LogisticRegression()) / ours = **{d_p['time'] / d_o['time']:.2g}×** "
        f"in time, per-label accuracy {d_o['label_accuracy']:.4f} (ours) vs "
        f"{d_p['label_accuracy']:.4f}"
    )
    doc = __doc__ or ""
    return "\n\n".join(
        [
            f"Script: `benchmarks/bench_multilabel.py`{' --quick' if quick else ''} "
            f"(budget {budget:g} s of fit time per tool).",
            doc[doc.index("Data:") :].strip(),
            f"X {shape[0]} x {shape[1]} sparse, {N_LABELS} labels; f* = {best:.12g}.",
            markdown_table(header, rows),
            "**Ours vs best peer** — " + "; ".join(parts) + ".",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny data set (smoke test)")
    parser.add_argument("--budget", type=float, help="seconds of sweep fits per tool (60; 2)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    budget = args.budget if args.budget is not None else (2.0 if args.quick else 60.0)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    X_all, Y_all = make_data(args.quick)
    n_train = int(0.8 * X_all.shape[0])
    data = (X_all[:n_train], Y_all[:n_train], X_all[n_train:], Y_all[n_train:])
    with limited_threads(args.threads):
        fit_ours(data[0][:200], data[1][:200], {"max_iter": 2})  # imports and caches
        results = [run_tool(name, fit, base, data, budget, log) for name, fit, base in TOOLS]
    body = report(results, data[0].shape, budget, args.quick)
    print(body)
    if args.write:
        update_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
