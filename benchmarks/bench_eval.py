"""Cost of one loss + gradient evaluation and one Hessian-vector product, next to
the floor, and the passes over the data a default fit needs.

Usage::

    python benchmarks/bench_eval.py [--workloads W5,W2] [--threads 2] [--quick] [--write]

For each dense workload of ``_fit_workloads.py`` this times, in one process
with the same thread limit (threadpoolctl for BLAS, ``numba.set_num_threads``):

* ours: ``Objective.value_and_grad`` and ``Objective.hessp`` of the fit's own
  objective (the fused row pass where it applies);
* ours, NumPy reference: the same with the fused pass switched off (two GEMMs,
  ``log_softmax``);
* scikit-learn: ``LinearModelLoss(HalfMultinomialLoss).loss_gradient`` and the
  ``hessp`` of ``gradient_hessian_product``, as its lbfgs and newton-cg use them;
* the floor: one ``X @ v`` (BLAS GEMV: ``X`` read once from memory at the
  machine's bandwidth, nothing else).

Then one default ``SoftmaxRegression(C=1)`` fit with the objective's
counters: evaluations, Hessian-vector products, Hessians (each about one pass
over its rows) and wall time.  ``--write`` puts the tables in the "Evaluation
cost" section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, limited_threads, markdown_table, update_section
from _fit_workloads import WORKLOADS, select

SECTION = "Evaluation cost"


def _objective(X: np.ndarray, y: np.ndarray) -> Any:
    """The objective ``SoftmaxRegression(C=1)`` minimises on ``(X, y)``."""
    from softmax.objective import L2, Multinomial, Objective, Standardization

    classes, labels = np.unique(y, return_inverse=True)
    sw = np.ones(X.shape[0])
    alpha = 1.0 / sw.sum()
    scaling = Standardization.from_data(X, classes.size, True, alpha)
    return Objective(Multinomial(classes.size), L2(alpha), X, labels, sw, scaling)


def _sklearn(X: np.ndarray, y: np.ndarray, threads: int) -> tuple[Any, Any]:
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    K = int(y.max()) + 1
    lml = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=K), fit_intercept=True)
    yf = y.astype(np.float64)
    coef = np.zeros((K, X.shape[1] + 1)).ravel(order="F")
    coef[:] = np.random.default_rng(0).standard_normal(coef.size) * 1e-3
    l2 = 1.0 / X.shape[0]

    def loss_grad() -> Any:
        return lml.loss_gradient(coef, X, yf, l2_reg_strength=l2, n_threads=threads)

    _, hessp = lml.gradient_hessian_product(coef, X, yf, l2_reg_strength=l2, n_threads=threads)
    v = np.ones_like(coef)
    return loss_grad, lambda: hessp(v)


def run_workload(name: str, quick: bool, threads: int, repeat: int, log: Any) -> dict[str, Any]:
    import numba

    import softmax.objective._datafit as datafit
    from softmax import SoftmaxRegression
    from softmax.objective import Objective

    X, y = WORKLOADS[name].make(quick)
    X = np.ascontiguousarray(X)
    log(f"{name}: X {X.shape}, {np.unique(y).size} classes")
    numba.set_num_threads(threads)
    obj = _objective(X, y)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(obj.n_params) * 1e-2
    v = rng.standard_normal(obj.n_params)
    row: dict[str, Any] = {"name": name, "shape": list(X.shape), "classes": int(y.max()) + 1}
    with limited_threads(threads):
        row["floor"] = best_time(lambda: X @ np.ones(X.shape[1]), repeat)
        row["ours_vg"] = best_time(lambda: obj.loss_and_grad_original(w), repeat)
        row["ours_hp"] = best_time(lambda: obj.hessp(w, v), repeat)
        fused = datafit.fused_multinomial
        datafit.fused_multinomial = lambda X, k: None  # the NumPy reference
        try:
            row["ref_vg"] = best_time(lambda: obj.loss_and_grad_original(w), repeat)
            row["ref_hp"] = best_time(lambda: obj.hessp(w, v), repeat)
        finally:
            datafit.fused_multinomial = fused
        sk_vg, sk_hp = _sklearn(X, y, threads)
        row["sk_vg"] = best_time(sk_vg, repeat)
        row["sk_hp"] = best_time(sk_hp, repeat)

        counts = {"value_and_grad": 0, "hessp": 0, "hessian": 0}
        originals = {k: getattr(Objective, k) for k in counts}

        def counting(key: str) -> Any:
            def wrapper(self: Any, *args: Any, **kw: Any) -> Any:
                counts[key] += 1
                return originals[key](self, *args, **kw)

            return wrapper

        for key in counts:
            setattr(Objective, key, counting(key))
        try:
            t0 = time.perf_counter()
            clf = SoftmaxRegression(C=1.0).fit(X, y)
            row["fit_time"] = time.perf_counter() - t0
        finally:
            for key, fn in originals.items():
                setattr(Objective, key, fn)
    row.update(solver=clf.solver_, n_iter=int(clf.n_iter_[0]), **counts)
    log(f"  {row}")
    return row


def report(rows: list[dict[str, Any]], threads: int) -> str:
    def ms(t: float) -> str:
        return f"{t * 1e3:.1f}"

    header = [
        "workload",
        "X",
        "floor ms",
        "ours ms",
        "÷ floor",
        "NumPy ref ms",
        "sklearn ms",
        "sklearn ÷ ours",
        "ours Hv ms",
        "sklearn Hv ms",
    ]
    table = [
        [
            r["name"],
            f"{r['shape'][0]:_} x {r['shape'][1]}, K={r['classes']}",
            ms(r["floor"]),
            ms(r["ours_vg"]),
            f"{r['ours_vg'] / r['floor']:.1f}×",
            ms(r["ref_vg"]),
            ms(r["sk_vg"]),
            f"{r['sk_vg'] / r['ours_vg']:.1f}×",
            ms(r["ours_hp"]),
            ms(r["sk_hp"]),
        ]
        for r in rows
    ]
    fits = [
        [
            r["name"],
            f"{r['solver']} ({r['n_iter']} iterations)",
            r["value_and_grad"],
            r["hessp"],
            r["hessian"],
            f"{r['fit_time']:.2f} s",
        ]
        for r in rows
    ]
    intro = (
        "Script: `benchmarks/bench_eval.py` "
        f"({threads} threads for BLAS and numba, minimum of several runs).\n\n"
        "One loss + gradient evaluation of the objective `SoftmaxRegression(C=1)` "
        "minimises (float64), against its floor — one `X @ v`, which reads X once "
        "at the machine's memory bandwidth and does nothing else — against the NumPy "
        "reference path (two GEMMs and `log_softmax`) and against scikit-learn's "
        "`LinearModelLoss.loss_gradient` (what its lbfgs calls). "
        "'Hv': one Hessian-vector product (scikit-learn's from `gradient_hessian_product`)."
    )
    fit_intro = (
        "Passes over the data of one default fit (`SoftmaxRegression(C=1)`, tol 1e-8): "
        "evaluations (loss + gradient; a sub-sampled preconditioner's evaluations "
        "included), Hessian-vector products, and Hessians formed (for Newton-CG's "
        "preconditioner: on a subsample of rows)."
    )
    return "\n\n".join(
        [
            intro,
            markdown_table(header, table),
            fit_intro,
            markdown_table(
                ["workload", "solver", "evaluations", "H·v", "Hessians", "fit time"], fits
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workloads", default="W5,W2", help="comma-separated dense workloads")
    parser.add_argument("--quick", action="store_true", help="small versions (smoke test)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    rows = [
        run_workload(w.name, args.quick, args.threads, args.repeat, log)
        for w in select(args.workloads)
    ]
    body = report(rows, args.threads)
    print(body)
    if args.write:
        update_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
