"""Cost of one loss + gradient evaluation and one Hessian-vector product, next to
the floor, and the passes over the data a default fit needs.

Usage::

    python benchmarks/bench_eval.py [--workloads W5,W2,W3-f64] [--threads 2] [--quick] [--write]

For each dense workload of ``_fit_workloads.py`` this times, in one process
with the same thread limit (threadpoolctl for BLAS, ``numba.set_num_threads``):

* ours: ``Objective.value_and_grad`` and ``Objective.hessp`` of the fit's own
  objective (the fused row pass where it applies);
* ours, NumPy reference: the same with the fused pass switched off (two GEMMs,
  ``log_softmax``);
* scikit-learn: ``LinearModelLoss(HalfMultinomialLoss).loss_gradient`` and the
  ``hessp`` of ``gradient_hessian_product``, as its lbfgs and newton-cg use them;
* the floor: one ``X @ v`` (BLAS GEMV: ``X`` read once from memory at the
  machine's bandwidth, nothing else); with more classes than the fused passes
  take (W3), the two GEMMs ``X W^T`` and ``R^T X``.

Then one default ``SoftmaxRegression(C=1)`` fit with the objective's
counters: evaluations, Hessian-vector products, Hessians (each about one pass
over its rows) and wall time.  Last (unless ``--no-scaling``), the time per
evaluation, ours and scikit-learn's, as the data grows: W5's rows resampled
to 50k ... 2M rows, and W4-like CSR matrices of 25k ... 200k rows, per row
and per stored value, as a table and a log-log plot (``docs/img/``).
``--write`` puts the tables in the "Evaluation cost" section of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DOCS, best_time, limited_threads, markdown_table, update_section
from _fit_workloads import WORKLOADS, select

SECTION = "Evaluation cost"
PLOT = DOCS.parent / "img" / "eval_scaling.png"


def _objective(X: np.ndarray, y: np.ndarray) -> Any:
    """The objective ``SoftmaxRegression(C=1)`` minimises on ``(X, y)``."""
    from softmax.objective import L2, Multinomial, Objective, Standardization

    classes, labels = np.unique(y, return_inverse=True)
    sw = np.ones(X.shape[0])
    alpha = 1.0 / sw.sum()
    scaling = Standardization.from_data(X, classes.size, True, alpha)
    return Objective(Multinomial(classes.size), L2(alpha), X, labels, sw, scaling)


def _floor(X: np.ndarray, n_classes: int, repeat: int) -> float:
    """The evaluation's floor: ``X`` read once (one ``X @ v``) where a fused pass
    applies; with more classes, the two GEMMs ``X W^T`` and ``R^T X``."""
    from softmax import _kernels

    if n_classes <= _kernels.MAX_FUSED_CLASSES:
        return best_time(lambda: X @ np.ones(X.shape[1]), repeat)
    rng = np.random.default_rng(0)
    Wt = rng.standard_normal((X.shape[1], n_classes))
    R = rng.standard_normal((X.shape[0], n_classes))
    return best_time(lambda: X @ Wt, repeat) + best_time(lambda: R.T @ X, repeat)


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
    from softmax.estimators._fitting import pass_threads
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
        row["floor"] = _floor(X, row["classes"], repeat)
        with pass_threads(obj):
            row["ours_vg"] = best_time(lambda: obj.loss_and_grad_original(w), repeat)
            row["ours_hp"] = best_time(lambda: obj.hessp(w, v), repeat)
        fused = datafit.fused_multinomial
        datafit.fused_multinomial = lambda X, k: None  # the NumPy reference
        try:
            with pass_threads(obj):
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


def _time_eval(X: Any, y: np.ndarray, threads: int, repeat: int) -> tuple[float, float]:
    """Our evaluation and scikit-learn's ``loss_gradient`` on ``(X, y)``, in seconds."""
    obj = _objective(X, y)
    w = np.random.default_rng(1).standard_normal(obj.n_params) * 1e-2
    sk_vg, _ = _sklearn(X, y, threads)
    with limited_threads(threads):
        return best_time(lambda: obj.loss_and_grad_original(w), repeat), best_time(sk_vg, repeat)


def run_scaling(quick: bool, threads: int, repeat: int, log: Any) -> list[dict[str, Any]]:
    """Time per evaluation as the data grows: W5's rows resampled to N rows, and
    W4-like tf-idf matrices of growing N (50 000 columns)."""
    import numba

    from _fit_workloads import make_tfidf

    numba.set_num_threads(threads)
    X5, y5 = WORKLOADS["W5"].make(quick)
    rng = np.random.default_rng(0)
    dense_sizes = (
        [5_000, 20_000, 80_000] if quick else [50_000, 200_000, 500_000, 1_000_000, 2_000_000]
    )
    out = []
    for n in dense_sizes:
        rows = rng.integers(0, X5.shape[0], n)
        X, y = np.ascontiguousarray(X5[rows]), y5[rows]
        ours, sk = _time_eval(X, y, threads, repeat)
        out.append({"kind": "W5-like dense", "n": n, "units": n, "ours": ours, "sklearn": sk})
        log(f"  scaling {out[-1]}")
    sparse_sizes = [2_000, 8_000] if quick else [25_000, 50_000, 100_000, 200_000]
    for n in sparse_sizes:
        X, y = make_tfidf(n, 5_000 if quick else 50_000)
        ours, sk = _time_eval(X, y, threads, repeat)
        out.append({"kind": "W4-like CSR", "n": n, "units": X.nnz, "ours": ours, "sklearn": sk})
        log(f"  scaling {out[-1]}")
    return out


def scaling_report(rows: list[dict[str, Any]], plot: Path | None) -> str:
    """Table (and, with ``plot``, a log-log figure) of time per evaluation against size."""
    table = [
        [
            r["kind"],
            f"{r['n']:_}",
            f"{r['units']:_}",
            f"{r['ours'] * 1e3:.1f}",
            f"{r['ours'] / r['units'] * 1e9:.1f}",
            f"{r['sklearn'] * 1e3:.1f}",
            f"{r['sklearn'] / r['units'] * 1e9:.1f}",
        ]
        for r in rows
    ]
    text = (
        "Time of one loss + gradient evaluation as the data grows (the same objective as "
        "above; W5's rows resampled to N rows; W4-like tf-idf matrices with 50 000 columns "
        "and ~83 nonzeros per row). 'per unit': per row (dense) or per stored value (CSR); "
        "flat columns mean linear cost.\n\n"
        + markdown_table(
            [
                "data",
                "rows",
                "rows or nnz",
                "ours ms",
                "ours ns/unit",
                "sklearn ms",
                "sklearn ns/unit",
            ],
            table,
        )
    )
    if plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for kind, marker in (("W5-like dense", "o"), ("W4-like CSR", "s")):
            sel = [r for r in rows if r["kind"] == kind]
            if not sel:
                continue
            units = [r["units"] for r in sel]
            ax.loglog(units, [r["ours"] * 1e3 for r in sel], marker + "-", label=f"ours, {kind}")
            ax.loglog(
                units, [r["sklearn"] * 1e3 for r in sel], marker + "--", label=f"sklearn, {kind}"
            )
        ax.set_xlabel("rows (dense) or stored values (CSR)")
        ax.set_ylabel("ms per loss + gradient")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(plot, dpi=100)
        plt.close(fig)
        text += f"\n\n![time per evaluation against size]({plot.relative_to(DOCS.parent)})"
    return text


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
        "minimises (float64), under a fit's thread settings, against its floor — one "
        "`X @ v`, which reads X once at the machine's memory bandwidth and does nothing "
        "else, or with more than 16 classes (no fused pass) the two GEMMs `X Wᵀ` and "
        "`Rᵀ X` — against the NumPy reference path (two GEMMs and the softmax kernels; "
        "the same as ours past 16 classes) and against scikit-learn's "
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
    parser.add_argument(
        "--workloads", default="W5,W2,W3-f64", help="comma-separated dense workloads"
    )
    parser.add_argument("--quick", action="store_true", help="small versions (smoke test)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--no-scaling", action="store_true", help="skip the growing-size table")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    rows = [
        run_workload(w.name, args.quick, args.threads, args.repeat, log)
        for w in select(args.workloads)
    ]
    body = report(rows, args.threads)
    if not args.no_scaling:
        scaling = run_scaling(args.quick, args.threads, args.repeat, log)
        body += "\n\n" + scaling_report(scaling, PLOT if args.write else None)
    print(body)
    if args.write:
        update_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
