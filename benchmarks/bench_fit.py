"""Time to a given accuracy: SoftmaxRegression against scikit-learn and PyTorch L-BFGS.

Usage::

    python benchmarks/bench_fit.py [--workloads W1,W2] [--quick] [--budget SECONDS]
                                   [--threads N] [--write] [--json PATH]
    python benchmarks/bench_fit.py --from-json PATH [--write]   # re-render a saved run

Every tool minimises the same objective, scikit-learn's scale
``C * sum_i loss_i + 0.5 * ||W||^2`` (intercept unpenalised, ``C = 1``).
The objective each fit reached is computed here, in float64, by one
reference function (``reference_objective``, SciPy's ``logsumexp``) from
the tool's ``coef`` and ``intercept``; the best value any tool found is the
reference ``f*`` and a fit's gap is ``(f - f*) / |f*|``.

Time to a gap: each tool is run at a sequence of settings, every fit from
scratch (tolerances 1e-2 ... 1e-10 for ours and scikit-learn, ``max_iter``
4, 8, 16, ... for PyTorch's L-BFGS); the time to a gap is the wall time of the
fastest fit whose gap is at most the target.  The settings of one tool on one
workload share a budget of fit time (``--budget``); the sweep stops when it is
spent, and a target no fit reached reads "> budget", or "never (gap g)" when
the sweep ran out of settings or stalled (g: the tool's best gap).
"Default" is one fit at the library's defaults for that solver
(``LogisticRegression(C=1, solver=s)``: tol 1e-4, max_iter 100;
``SoftmaxRegression(C=1, solver=s)``: tol 1e-8), stopped after the budget
plus a grace period (a quarter of it, at least 10 s); it also counts towards
the time to a gap when it took at most the budget.  A fit that takes less than
``REPEAT_BELOW`` seconds is timed ``REPEATS`` times from scratch (each after the
memory reset) and counts with its shortest time: a single run of a 0.1 s fit
moved by 1.8x between runs on a shared machine.

The sweep and the default fit of each tool run in fresh processes
(multiprocessing, spawn) that load the data from ``.npy`` files, limit
BLAS/OpenMP and PyTorch to 2 threads (``--threads``) and warm up on a 2 000-row
subsample (imports, JIT caches).  Peak memory is the largest peak RSS during a
fit (``VmHWM`` of ``/proc/self/status``, reset before each fit by writing 5 to
``/proc/self/clear_refs``, after ``malloc_trim``; ``ru_maxrss`` where that is
unavailable) minus the RSS after loading and warming up: it counts the fit's
copies and temporaries, not the data set; the table shows the largest over the
tool's fits.  PyTorch gets its tensors (converted to its dtype) before the
clock starts.

Rows: "ours" is ``SoftmaxRegression(C=1)`` as it comes (its time-to-gap cells
are those of the solver ``solver="auto"`` picked); the other rows fix the
solver.  "Ours vs best peer" compares our fastest row with the fastest peer
row; its ratios are the peer's time divided by ours (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import dataclasses
import gc
import importlib.metadata
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, update_section
from _fit_workloads import C, Workload, select

THREADS = 2
TOLS = [10.0**-k for k in range(2, 11)]
TORCH_ITERS = [4 * 2**k for k in range(12)]  # 4 ... 8192
SWEEP_MAX_ITER = 10_000
WARMUP_ROWS = 2_000
NEWTON_CHOLESKY_MAX_PARAMS = 5_000
TARGETS = (1e-4, 1e-6)
REPEAT_BELOW, REPEATS = 1.0, 3  # fits shorter than 1 s: the best of 3
SECTION = "Fitting"


# --------------------------------------------------------------------------- #
# the shared reference objective
# --------------------------------------------------------------------------- #
def reference_objective(
    X: Any, y: np.ndarray, coef: np.ndarray, intercept: np.ndarray, C: float = C
) -> float:
    """``C * sum_i loss_i + 0.5 * ||coef||^2`` in float64, over blocks of rows.

    ``coef`` of shape (n_classes, n_features) is the multinomial model
    (``loss_i = logsumexp(z_i) - z_{i, y_i}``); shape (1, n_features) is the
    binary logistic model of ``y == 1``.  The intercept is not penalised.
    """
    W = np.asarray(coef, dtype=np.float64)
    b = np.asarray(intercept, dtype=np.float64)
    n_samples = X.shape[0]
    step = max(1, 2**19 // W.shape[0])  # logits blocks of at most 4 MiB
    total = 0.0
    for start in range(0, n_samples, step):
        Xb = X[start : start + step].astype(np.float64)
        Z = np.asarray(Xb @ W.T) + b
        yb = y[start : start + step]
        if W.shape[0] == 1:
            sign = np.where(yb == 1, 1.0, -1.0)
            total += float(np.logaddexp(0.0, -sign * Z[:, 0]).sum())
        else:
            total += float((logsumexp(Z, axis=1) - Z[np.arange(yb.shape[0]), yb]).sum())
    return C * total + 0.5 * float(np.sum(W * W))


# --------------------------------------------------------------------------- #
# tools
# --------------------------------------------------------------------------- #
Fit = Callable[[Any, np.ndarray, dict], tuple[np.ndarray, np.ndarray, int, str]]


@dataclasses.dataclass(frozen=True)
class Tool:
    """One row of a table: how to fit, at its default and along its sweep.

    ``fit(data, y, params)`` returns ``(coef, intercept, n_iter, note)``;
    ``prepare(X)`` turns the loaded data into what ``fit`` takes (outside the
    clock).  ``sweep`` lists the parameters of the time-to-gap fits in order
    of increasing accuracy; ``default`` the parameters of the default fit, or
    None when the tool has no default setting.  ``note`` starts the table's
    setting cell.
    """

    name: str
    note: str
    fit: Fit
    sweep: Sequence[dict]
    default: dict | None = None
    prepare: Callable[[Any], Any] = lambda X: X
    by_iterations: bool = False

    def describe(self, params: dict) -> str:
        """A short label of one setting."""
        return ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())


def _fmt(value: Any) -> str:
    """Tolerances as 1e-04, other values as they are."""
    return f"{value:.0e}" if isinstance(value, float) else str(value)


def fit_ours(X: Any, y: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, int, str]:
    """softmax.SoftmaxRegression(C=C, **params)."""
    try:
        from softmax import SoftmaxRegression
    except ImportError:  # not re-exported at the top level yet
        from softmax.estimators import SoftmaxRegression

    clf = SoftmaxRegression(C=C, **params).fit(X, y)
    return clf.coef_, clf.intercept_, int(clf.n_iter_[0]), f"solver_={clf.solver_!r}"


def fit_sklearn(X: Any, y: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, int, str]:
    """sklearn.linear_model.LogisticRegression(C=C, **params)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=C, random_state=0, **params).fit(X, y)
    return clf.coef_, clf.intercept_, int(np.max(clf.n_iter_)), ""


def torch_prepare(dtype_name: str) -> Callable[[Any], Any]:
    """Convert X to a torch tensor of ``dtype_name`` (dense, or sparse CSR)."""

    def prepare(X: Any) -> Any:
        import torch

        dtype = getattr(torch, dtype_name)
        if sp.issparse(X):
            return torch.sparse_csr_tensor(
                torch.from_numpy(X.indptr.astype(np.int64)),
                torch.from_numpy(X.indices.astype(np.int64)),
                torch.from_numpy(X.data).to(dtype),
                size=X.shape,
            )
        return torch.from_numpy(np.ascontiguousarray(X)).to(dtype)

    return prepare


def fit_torch(X: Any, y: np.ndarray, params: dict) -> tuple[np.ndarray, np.ndarray, int, str]:
    """Full-batch torch.optim.LBFGS (strong Wolfe) on mean CE + ||W||^2 / (2 C N).

    That is the objective ``C * sum CE + 0.5 ||W||^2`` divided by ``C N``.
    The tolerances are set to 1e-15 so that ``max_iter`` decides when it stops
    (``max_eval`` stays at PyTorch's default, 1.25 ``max_iter``); ``history_size``
    is PyTorch's default, 100.
    """
    import torch
    import torch.nn.functional as F

    labels = torch.from_numpy(y)
    n_samples, n_features = X.shape
    n_classes = int(y.max()) + 1
    W = torch.zeros((n_classes, n_features), dtype=X.dtype, requires_grad=True)
    b = torch.zeros(n_classes, dtype=X.dtype, requires_grad=True)
    alpha = 0.5 / (C * n_samples)
    opt = torch.optim.LBFGS(
        [W, b],
        lr=1.0,
        max_iter=params["max_iter"],
        tolerance_grad=1e-15,
        tolerance_change=1e-15,
        history_size=100,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Any:
        opt.zero_grad()
        loss = F.cross_entropy(X @ W.T + b, labels) + alpha * (W * W).sum()
        loss.backward()
        return loss

    opt.step(closure)
    n_iter = int(opt.state[W].get("n_iter", 0))
    return W.detach().numpy(), b.detach().numpy(), n_iter, ""


def tol_sweep(extra: dict) -> list[dict]:
    """Tolerances 1e-2 ... 1e-10 with a large iteration cap."""
    return [{**extra, "tol": t, "max_iter": SWEEP_MAX_ITER} for t in TOLS]


def make_tools(info: dict) -> list[Tool]:
    """The tools that apply to a workload described by ``info``."""
    tools = [Tool("ours", "default: SoftmaxRegression(C=1)", fit_ours, [], {})]
    for solver in ("lbfgs", "newton-cg"):
        params = {"solver": solver}
        tools.append(Tool(f"ours {solver}", "", fit_ours, tol_sweep(params), params))
    solvers = ["lbfgs", "newton-cg"]
    if not info["sparse"] and info["n_classes"] * info["n_features"] <= NEWTON_CHOLESKY_MAX_PARAMS:
        solvers.append("newton-cholesky")
    if info["sparse"]:
        solvers.append("saga")
    for solver in solvers:
        params = {"solver": solver}
        note = "default: LogisticRegression(C=1)" if solver == "lbfgs" else ""
        tools.append(Tool(f"sklearn {solver}", note, fit_sklearn, tol_sweep(params), params))
    for dtype in ("float64", "float32"):
        sweep = [{"max_iter": k} for k in TORCH_ITERS]
        prepare = torch_prepare(dtype)
        name = f"torch L-BFGS {dtype}"
        tools.append(Tool(name, "", fit_torch, sweep, prepare=prepare, by_iterations=True))
    return tools


# --------------------------------------------------------------------------- #
# data hand-over and memory
# --------------------------------------------------------------------------- #
def save_data(X: Any, y: np.ndarray, folder: Path) -> dict:
    """Write X (dense, or CSR as three arrays) and y as .npy; return a description."""
    np.save(folder / "y.npy", y)
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        for part in ("data", "indices", "indptr"):
            np.save(folder / f"X_{part}.npy", getattr(X, part))
    else:
        np.save(folder / "X.npy", X)
    return {
        "folder": str(folder),
        "sparse": sp.issparse(X),
        "shape": list(X.shape),
        "n_features": X.shape[1],
        "n_classes": int(y.max()) + 1,
        "dtype": np.dtype(X.dtype).name,
    }


def load_data(info: dict) -> tuple[Any, np.ndarray]:
    """Read back what :func:`save_data` wrote (no temporaries beyond the arrays)."""
    folder = Path(info["folder"])
    y = np.load(folder / "y.npy")
    if info["sparse"]:
        parts = [np.load(folder / f"X_{p}.npy") for p in ("data", "indices", "indptr")]
        return sp.csr_matrix(tuple(parts), shape=tuple(info["shape"])), y
    return np.load(folder / "X.npy"), y


class PeakRSS:
    """Peak resident memory since the last :meth:`reset`, in bytes (Linux).

    :meth:`reset` first hands freed heap memory back to the OS
    (``malloc_trim``), so that memory an earlier fit freed but the allocator
    kept does not hide part of the next fit's peak.
    """

    def __init__(self) -> None:
        self.exact = self._clear()
        try:
            self._malloc_trim: Any = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
        except (OSError, AttributeError, TypeError):  # not glibc
            self._malloc_trim = None

    @staticmethod
    def _clear() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            return True
        except OSError:
            return False

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(field)

    def current(self) -> int:
        """RSS now (exact mode) or the peak so far (``ru_maxrss`` mode)."""
        if self.exact:
            return self._status("VmRSS")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def reset(self) -> None:
        gc.collect()
        if self._malloc_trim is not None:
            self._malloc_trim(0)
        if self.exact:
            self._clear()

    def peak(self) -> int:
        if self.exact:
            return self._status("VmHWM")
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------- #
# the child process: one tool on one workload
# --------------------------------------------------------------------------- #
def _limit_threads(tool: Tool, threads: int) -> Any:
    """Keep BLAS/OpenMP (and PyTorch) at ``threads`` threads; return the limiter."""
    from threadpoolctl import threadpool_limits

    if tool.name.startswith("torch"):
        import torch

        torch.set_num_threads(threads)
    return threadpool_limits(limits=threads)


def _quiet() -> None:
    """Silence the warnings peers give at loose settings or for beta features."""
    from sklearn.exceptions import ConvergenceWarning

    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.filterwarnings("ignore", message=".*line search")  # SciPy's, via scikit-learn
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)


def _timed_fit(
    tool: Tool, data: Any, X: Any, y: np.ndarray, params: dict, mem: PeakRSS, base: int
) -> dict:
    """One fit from scratch (the best of :data:`REPEATS` when it is quick): wall
    time, peak memory (the largest of the repeats), then the reference objective."""
    mem.reset()
    t0 = time.perf_counter()
    coef, intercept, n_iter, note = tool.fit(data, y, params)
    seconds = time.perf_counter() - t0
    peak_mb = max(0, mem.peak() - base) / 2**20
    for _ in range(REPEATS - 1 if seconds < REPEAT_BELOW else 0):
        mem.reset()
        t0 = time.perf_counter()
        tool.fit(data, y, params)
        seconds = min(seconds, time.perf_counter() - t0)
        peak_mb = max(peak_mb, max(0, mem.peak() - base) / 2**20)
    objective = reference_objective(X, y, coef, intercept)
    return {
        "kind": "fit",
        "params": params,
        "label": tool.describe(params),
        "time": seconds,
        "objective": objective,
        "n_iter": n_iter,
        "peak_mb": peak_mb,
        "note": note,
    }


def _sweep(tool: Tool, fit_one: Callable[[dict], dict], budget: float, send: Callable) -> None:
    """Fit along ``tool.sweep`` until the budget of fit time is spent or the
    tool stalls (an iteration sweep whose objective stopped decreasing)."""
    spent, previous = 0.0, np.inf
    for params in tool.sweep:
        record = fit_one(params)
        spent += record["time"]
        send({**record, "phase": "sweep", "spent": spent})
        stalled = record["objective"] >= previous - 1e-12 * abs(previous)
        if tool.by_iterations and stalled:
            send({"kind": "done", "reason": "stalled"})
            return
        previous = min(previous, record["objective"])
        if spent >= budget:
            send({"kind": "done", "reason": "budget"})
            return
    send({"kind": "done", "reason": "complete"})


def _warm_up(tool: Tool, X: Any, y: np.ndarray) -> None:
    """A 5-iteration fit on the first rows: imports, JIT and thread pools start here."""
    rows = slice(0, min(WARMUP_ROWS, X.shape[0]))
    params = {**(tool.sweep or [tool.default or {}])[0], "max_iter": 5}
    tool.fit(tool.prepare(X[rows]), y[rows], params)


def child_main(tool_name: str, phase: str, info: dict, budget: float, conn: Any) -> None:
    """Entry point of a spawned process: load, warm up, then run ``phase``
    ("sweep" or "default") of one tool, reporting each fit through ``conn``."""
    try:
        _quiet()
        tool = next(t for t in make_tools(info) if t.name == tool_name)
        limiter = _limit_threads(tool, info["threads"])
        X, y = load_data(info)
        data = tool.prepare(X)
        _warm_up(tool, X, y)
        mem = PeakRSS()
        mem.reset()
        base = mem.current()
        conn.send({"kind": "ready", "exact_memory": mem.exact})

        def fit_one(params: dict) -> dict:
            return _timed_fit(tool, data, X, y, params, mem, base)

        if phase == "default":
            conn.send({**fit_one(tool.default or {}), "phase": "default", "spent": 0.0})
            conn.send({"kind": "done", "reason": "complete"})
        else:
            _sweep(tool, fit_one, budget, conn.send)
        limiter.restore_original_limits()
    except Exception:  # reported to the parent, which keeps going
        conn.send({"kind": "error", "message": traceback.format_exc(limit=-3)})
    finally:
        conn.close()


# --------------------------------------------------------------------------- #
# the parent: run tools, collect records
# --------------------------------------------------------------------------- #
def run_tool(tool: Tool, info: dict, budget: float, log: Callable[[str], None]) -> dict:
    """The tool's sweep, then its default fit, each in a fresh spawned process."""
    result: dict = {
        "tool": tool.name,
        "note": tool.note,
        "default": None,
        "sweep": [],
        "first": _swept(tool.sweep[0]) if tool.sweep else None,
        "has_default": tool.default is not None,
    }
    result["end"], result["error"], result["sweep"] = (
        run_phase(tool, "sweep", info, budget, log) if tool.sweep else ("complete", None, [])
    )
    if tool.default is not None:
        _, default_error, fits = run_phase(tool, "default", info, budget, log)
        result["default"] = fits[0] if fits else None
        result["error"] = result["error"] or default_error
    return result


def run_phase(
    tool: Tool, phase: str, info: dict, budget: float, log: Callable[[str], None]
) -> tuple[str, str | None, list[dict]]:
    """Run one phase in a spawned process and collect its fits.

    The process is killed when a fit overruns what is left of the budget (by
    a grace period for loading and for computing the objective); returns
    ``(end, error, fits)`` with ``end`` one of "complete", "budget",
    "stalled" or "killed".
    """
    ctx = mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child_main, args=(tool.name, phase, info, budget, child_conn))
    proc.start()
    child_conn.close()
    end, error, fits = "killed", None, []
    grace = max(10.0, 0.25 * budget)
    timeout = 120.0 + budget  # imports, loading and warm-up first
    while True:
        if not parent_conn.poll(timeout):
            log(f"  {tool.name} {phase}: no result within {timeout:.0f} s, stopped")
            break
        try:
            msg = parent_conn.recv()
        except EOFError:
            error = "the process ended without a report"
            break
        if msg["kind"] == "error":
            error = msg["message"]
            log(f"  {tool.name} {phase}: error\n{error}")
            break
        if msg["kind"] == "done":
            end = msg["reason"]
            break
        if msg["kind"] == "fit":
            _log_fit(log, tool, msg)
            fits.append(msg)
        timeout = max(budget - (fits[-1]["spent"] if fits else 0.0), 0.0) + grace
    if proc.is_alive():
        proc.kill()
    proc.join()
    return end, error, fits


def _log_fit(log: Callable[[str], None], tool: Tool, msg: dict) -> None:
    log(
        f"  {tool.name:22s} {msg['phase']:7s} {msg['label']:34s} {msg['time']:9.3f} s  "
        f"f={msg['objective']:.12g}  n_iter={msg['n_iter']}  peak={msg['peak_mb']:.0f} MB "
        f"{msg['note']}"
    )


def run_workload(
    workload: Workload, quick: bool, budget: float, threads: int, log: Callable
) -> dict:
    """Generate the data once, run every tool on it, return all records."""
    t0 = time.perf_counter()
    X, y = workload.make(quick)
    log(
        f"{workload.name}: {workload.description}; X {X.shape} {X.dtype}"
        f"{' CSR' if sp.issparse(X) else ''}, made in {time.perf_counter() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory(prefix="bench_fit_") as tmp:
        info = {**save_data(X, y, Path(tmp)), "threads": threads}
        del X, y
        results = [run_tool(tool, info, budget, log) for tool in make_tools(info)]
    return {
        "workload": workload.name,
        "description": workload.description,
        "shape": info["shape"],
        "results": results,
    }


# --------------------------------------------------------------------------- #
# summaries and tables
# --------------------------------------------------------------------------- #
def _fits(result: dict) -> list[dict]:
    return ([result["default"]] if result["default"] else []) + result["sweep"]


def best_objective(run: dict) -> float:
    """The smallest objective any fit of any tool reached."""
    values = [f["objective"] for r in run["results"] for f in _fits(r)]
    return min(values) if values else float("nan")


def gap(objective: float, best: float) -> float:
    return max(0.0, (objective - best) / abs(best))


def time_to(result: dict, best: float, target: float, budget: float) -> float | None:
    """Wall time of the fastest fit (within budget) whose gap is at most ``target``;
    None for a tool without a sweep (its default fit is another row's)."""
    if result["first"] is None:
        return None
    times = [
        f["time"]
        for f in _fits(result)
        if gap(f["objective"], best) <= target and f["time"] <= budget
    ]
    return min(times) if times else None


def _gap_cell(g: float) -> str:
    return "0 (f*)" if g == 0 else f"{g:.1e}"


def _megabytes(mb: float) -> str:
    return f"{mb:.1f}" if mb < 10 else f"{mb:.0f}"


def _seconds(t: float) -> str:
    return f"{t:.3g} s"


def _time_cell(result: dict, best: float, target: float, budget: float) -> str:
    t = time_to(result, best, target, budget)
    if t is not None:
        return _seconds(t)
    if result["error"]:
        return "error"
    fits = _fits(result)
    if result["first"] is None:
        return "–"
    if result["end"] in ("budget", "killed") or not fits:
        return f"> {budget:g} s"
    return f"never (gap {min(gap(f['objective'], best) for f in fits):.0e})"


def _swept(params: dict) -> str:
    """The swept parameter of one setting, e.g. "tol 1e-04" or "max_iter 64"."""
    key = "tol" if "tol" in params else "max_iter"
    return f"{key} {_fmt(params[key])}"


def _setting_cell(result: dict) -> str:
    """The tool's note, then the range of settings its sweep actually ran."""
    parts = [result["note"]] if result["note"] else []
    if result["tool"] == "ours" and result["default"]:
        parts[-1] += f" → {result['default']['note']}"
    sweep = result["sweep"]
    if sweep:
        first, last = _swept(sweep[0]["params"]), _swept(sweep[-1]["params"])
        span = first if first == last else f"{first}…{last.split()[-1]}"
        stop = {"budget": " (budget)", "killed": " (budget)", "stalled": " (stalled)"}
        parts.append(span + stop.get(result["end"], ""))
    elif result["error"]:
        parts.append("error (see the log)")
    elif result["first"] and result["end"] == "killed":
        parts.append(f"{result['first']}: over budget")
    return "; ".join(parts)


def _default_cells(result: dict, best: float, budget: float) -> tuple[str, str]:
    """Time and gap of the default fit: "–" without one, "> budget" when killed."""
    fit = result["default"]
    if fit:
        return _seconds(fit["time"]), _gap_cell(gap(fit["objective"], best))
    if not result["has_default"]:
        return "–", "–"
    return ("error", "–") if result["error"] else (f"> {budget:g} s", "–")


def table_rows(run: dict, budget: float) -> list[list[str]]:
    """One row per tool: setting, time to each target, default time and gap, peak MB."""
    best = best_objective(run)
    rows = []
    for r in run["results"]:
        default_time, default_gap = _default_cells(r, best, budget)
        peaks = [f["peak_mb"] for f in _fits(r)]
        rows.append(
            [
                r["tool"],
                _setting_cell(r),
                *(_time_cell(r, best, t, budget) for t in TARGETS),
                default_time,
                default_gap,
                _megabytes(max(peaks)) if peaks else "–",
            ]
        )
    return rows


def ratio_line(run: dict, budget: float) -> str:
    """Ours against the best peer: time to each target, default fit, peak memory."""
    best = best_objective(run)
    ours = [r for r in run["results"] if r["tool"].startswith("ours")]
    peers = [r for r in run["results"] if not r["tool"].startswith("ours")]
    parts = []
    for target in TARGETS:
        o = _fastest(ours, best, target, budget)
        p = _fastest(peers, best, target, budget)
        parts.append(f"to {target:.0e}: " + _compare(o, p))
    o_def = next((r["default"] for r in ours if r["tool"] == "ours"), None)
    p_def = next((r["default"] for r in peers if r["tool"] == "sklearn lbfgs"), None)
    if o_def and p_def:
        parts.append(f"defaults: ours {_at(o_def, best)} vs scikit-learn {_at(p_def, best)}")
    o_mem = _least_memory(ours)
    p_mem = _least_memory(peers)
    if o_mem and p_mem:
        parts.append(
            f"least peak memory: {o_mem[0]} {_megabytes(o_mem[1])} MB vs "
            f"{p_mem[0]} {_megabytes(p_mem[1])} MB"
        )
    return "**Ours vs best peer** — " + "; ".join(parts) + "."


def _at(fit: dict, best: float) -> str:
    """A fit's time and gap, e.g. "0.2 s (gap 3.1e-05)"."""
    g = gap(fit["objective"], best)
    return f"{_seconds(fit['time'])} " + ("(at f*)" if g == 0 else f"(gap {g:.1e})")


def _fastest(
    results: list[dict], best: float, target: float, budget: float
) -> tuple[str, float] | None:
    found = [(r["tool"], t) for r in results if (t := time_to(r, best, target, budget)) is not None]
    return min(found, key=lambda x: x[1]) if found else None


def _compare(ours: tuple[str, float] | None, peer: tuple[str, float] | None) -> str:
    if ours is None and peer is None:
        return "neither reached it"
    if ours is None:
        return f"ours did not reach it, {peer[0]} {_seconds(peer[1])}"
    if peer is None:
        return f"{ours[0]} {_seconds(ours[1])}, no peer reached it"
    return (
        f"{ours[0]} {_seconds(ours[1])} vs {peer[0]} {_seconds(peer[1])} "
        f"= **{peer[1] / ours[1]:.2g}×**"
    )


def _least_memory(results: list[dict]) -> tuple[str, float] | None:
    found = [(r["tool"], max(f["peak_mb"] for f in _fits(r))) for r in results if _fits(r)]
    return min(found, key=lambda x: x[1]) if found else None


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
def machine_info(threads: int) -> str:
    """CPU, cores, memory, library versions and BLAS, in one paragraph."""
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS for threadpoolctl)
    import sklearn
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):
        mem_gb = float("nan")
    blas = sorted(
        {
            f"{i['internal_api']} {i.get('version') or ''} ({i.get('threading_layer', '?')}, "
            f"{i.get('architecture', '?')})"
            for i in threadpool_info()
            if i["user_api"] == "blas"
        }
    )
    versions = [f"{name} {_version(name)}" for name in ("softmax", "numpy", "scipy", "torch")]
    versions.insert(3, f"scikit-learn {sklearn.__version__}")
    env = [
        f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
    ]
    return (
        f"Machine: {cpu}, {os.cpu_count()} CPUs, {mem_gb:.0f} GiB; Python "
        f"{platform.python_version()}; {', '.join(versions)}; BLAS: {'; '.join(blas)}"
        f"{'; ' + ', '.join(env) if env else ''}. Threads per tool: {threads} "
        f"(threadpoolctl, torch.set_num_threads). Load average at start: "
        f"{os.getloadavg()[0]:.2f}."
    )


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def report(runs: list[dict], budget: float, quick: bool, machine: str) -> str:
    """The markdown body of the "Fitting" section."""
    header = [
        "tool",
        "setting",
        *(f"time to {t:.0e}" for t in TARGETS),
        "default time",
        "default gap",
        "peak MB",
    ]
    doc = __doc__ or ""
    method = doc[doc.index("Every tool") :].strip()
    parts = [
        f"Script: `benchmarks/bench_fit.py`{' --quick' if quick else ''} "
        f"(budget {budget:g} s of fit time per tool per workload).",
        method,
        machine,
    ]
    for run in runs:
        best = best_objective(run)
        winner = min(
            ((r["tool"], f["objective"]) for r in run["results"] for f in _fits(r)),
            key=lambda x: x[1],
            default=("–", best),
        )
        parts.append(f"### {run['workload']}: {run['description']}")
        found = f"f* = {best:.12g} (found by {winner[0]})" if winner[0] != "–" else "no fit ended"
        parts.append(f"X {' x '.join(map(str, run['shape']))}; {found}.")
        parts.append(markdown_table(header, table_rows(run, budget)))
        parts.append(ratio_line(run, budget))
    return "\n\n".join(parts) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workloads", help="comma-separated, e.g. W1,W3 (default: all)")
    parser.add_argument("--quick", action="store_true", help="workloads ~50x smaller (smoke test)")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds of fit time per tool per workload (default 120; 2 with --quick)",
    )
    parser.add_argument(
        "--threads", type=int, default=THREADS, help=f"threads per tool (default {THREADS})"
    )
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also save every fit record to this file")
    parser.add_argument(
        "--from-json", type=Path, help="re-render the tables of a saved --json run; fit nothing"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
    else:
        budget = args.budget if args.budget is not None else (2.0 if args.quick else 120.0)
        workloads = select(args.workloads)
        machine = machine_info(args.threads)
        log(machine)
        runs = [run_workload(w, args.quick, budget, args.threads, log) for w in workloads]
        saved = {"machine": machine, "budget": budget, "quick": args.quick, "runs": runs}
        if args.json:
            args.json.write_text(json.dumps(saved, indent=1))
    body = report(saved["runs"], saved["budget"], saved["quick"], saved["machine"])
    print(body)
    if args.write:
        update_section(SECTION, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
