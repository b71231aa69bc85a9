"""What every linear estimator's ``fit`` shares: parameter checks, the choice of
solver, the warm start, and a solver run guarded against separation."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from softmax._kernels import (
    blas_for_kernels,
    fused_multinomial_csr,
    kernels_for_blas,
    threads_for,
)
from softmax.estimators._penalty_choice import PenaltyChoice, choose_penalty
from softmax.estimators._validation import check_finite_features, check_tol_max_iter
from softmax.objective import L2, Multinomial, NoPenalty, Objective
from softmax.objective._newton_model import newton_model_solver
from softmax.solvers import PROXIMAL, SOLVERS, SolverResult, get_solver

__all__ = [
    "DIVERGENCE_BOUND",
    "FAR_FROM_ZERO",
    "LinearPredictor",
    "SeparationWarning",
    "auto_solver",
    "centre_far_columns",
    "check_class_weight",
    "check_fit_params",
    "far_column_shift",
    "run_solver",
    "small_problem",
    "warm_start_point",
    "warn_fit_outcome",
]

# Standardised coefficients this large mean odds of e**1000 per standard
# deviation of a feature: the weights are running off to infinity.
DIVERGENCE_BOUND = 1e3


class SeparationWarning(ConvergenceWarning):
    """The unpenalised maximum-likelihood estimate does not exist (separable classes)."""


def small_problem(n_samples: int, n_params: int) -> bool:
    """Whether forming the full Hessian costs next to nothing (see :func:`auto_solver`)."""
    return n_params <= 200 and n_samples * n_params**2 <= 10_000_000


def preconditioner_sample(n_samples: int, n_params: int) -> int | None:
    """Rows of the subsample whose Hessian preconditions Newton-CG, or None when
    that does not pay.

    ``max(4096, 50 * n_params)`` rows estimate the Hessian well enough that
    preconditioned CG needs a few Hessian-vector products per Newton step; forming
    that Hessian costs about ``rows * n_params**2 / 2`` multiply-adds against
    ``4 * n_samples * n_params`` per product, so it is used while it costs at
    most about eight products, with at most 2000 parameters (Cholesky of the
    ``n_params x n_params`` matrix), and while the subsample is at most a
    quarter of the data.  Measured on W5 (500k x 54, 7 classes: 385
    parameters): 819 products in 13 Newton steps without it, 60 in 11 with it.
    """
    rows = max(4096, 50 * n_params)
    if n_params > 2000 or 4 * rows > n_samples or rows * n_params > 64 * n_samples:
        return None
    return rows


def cg_preconditioner(objective: Any, n_samples: int) -> dict[str, Any]:
    """Newton-CG's preconditioner for ``objective`` (its ``approx_hessian`` and
    ``approx_cost``): the Hessian of a subsample of rows (its weights
    renormalised) where :func:`preconditioner_sample` finds one cheap, else the
    whole data's while it costs at most 2e9 multiply-adds for at most 1 000
    parameters (about 30 ms), formed once CG needed as many products as it
    costs (:func:`hessian_work`), else the diagonal where
    :func:`diagonal_preconditions`; none otherwise.

    Measured on digits (1 797 x 64, 10 classes, unscaled): plain CG needed 762
    Hessian-vector products in 12 Newton steps (0.34 s); with the whole data's
    Hessian, 67 products and 2 Hessians (0.09-0.11 s).
    """
    if not hasattr(objective, "subsample"):
        return {}
    n_params = objective.n_params
    sample_rows = preconditioner_sample(n_samples, n_params)
    if sample_rows:
        return {"approx_hessian": objective.subsample(sample_rows).preconditioner}
    if n_params <= 1000 and n_samples * n_params**2 <= 2e9:
        product = 4.0 * n_samples * n_params
        work = hessian_work(objective.datafit, n_samples, n_params)
        return {"approx_hessian": objective.preconditioner, "approx_cost": work / product}
    if diagonal_preconditions(objective):
        # Formed once CG needed two products, and again after every step that
        # needed more than one (at every step: W4 the same, a test's data 101
        # products instead of 89).
        return {
            "approx_hessian": objective.diagonal_preconditioner,
            "approx_cost": 2.0,
            "approx_reuse": 1,
        }
    return {}


def diagonal_preconditions(objective: Any) -> bool:
    """Whether Newton-CG takes the Hessian's diagonal averaged over the classes
    (:meth:`Objective.diagonal_preconditioner`) as its preconditioner: a
    multinomial with an L2 penalty or none, on data in memory.  Measured on W4
    (tf-idf 100k x 50k, 20 classes, 1M parameters): 23 Hessian-vector products
    to the default tol instead of 48."""
    X = getattr(objective, "X", None)
    return (
        type(objective) is Objective
        and (isinstance(X, np.ndarray) or sp.issparse(X))
        and isinstance(objective.datafit, Multinomial)
        and isinstance(objective.penalty, L2 | NoPenalty)
    )


def hessian_work(datafit: Any, n_samples: int, n_params: int) -> float:
    """Multiply-adds of a full Hessian: a multinomial's ``K (K + 1) / 2`` distinct
    blocks of ``d (d + 1) / 2`` distinct entries per row (as the in-memory
    objective forms it from the rows' products), ``n p**2 / 2`` otherwise."""
    if isinstance(datafit, Multinomial):
        K = datafit.n_classes
        d = n_params / K
        return n_samples * K * (K + 1) / 2 * d * (d + 1) / 2
    return n_samples * n_params**2 / 2


def auto_solver(
    n_samples: int, n_params: int, smooth: bool = True, work_per_pass: float | None = None
) -> str:
    """Proximal Newton for a non-smooth penalty (the only kind of solver that
    handles one; it forms the Hessian when :func:`small_problem`).  Otherwise
    Newton-Cholesky for tiny problems; Newton-CG up to about 1 000 parameters,
    when a subsample preconditions it (:func:`preconditioner_sample`) or when
    L-BFGS's own work per iteration rivals a pass over the data; L-BFGS
    otherwise.

    Forming the Hessian costs about ``n_samples * n_params**2 / 2`` multiply-adds
    (BLAS at its best) per Newton step; a Hessian-vector product
    ``2 * n_samples * n_params``, and plain CG needs tens to hundreds of them
    per step on ill-conditioned data.  Measured on one thread of the 2-core
    machine: digits (1 797 x 64, 10 classes: 650 parameters, unscaled) takes
    0.6 s with Newton-Cholesky (11 Hessians) against 1.2 s with Newton-CG
    (1 151 products); W5 (500k x 54 x 7) 2.6 s per Hessian, where the
    preconditioned Newton-CG needs 60 products and 6 sub-sampled Hessians in
    all.  Since Newton-CG's line-search steps stop CG no tighter than the
    stopping rule needs, and the whole data's Hessian preconditions it once CG
    has spent what that costs (:func:`cg_preconditioner`), digits takes
    0.09-0.11 s with it against 0.3-0.6 s with Newton-Cholesky, and matches
    scikit-learn's tight optimum as closely (L-BFGS, 0.36-0.48 s, stops 10x
    further from it in the coefficients).  So:
    the full Hessian for tiny problems (:func:`small_problem`), Newton-CG up to
    1 000 parameters and 2e9 multiply-adds per Hessian.

    Without a preconditioner L-BFGS needs fewer passes over the data (W2,
    200k x 200 x 10: 53 evaluations against Newton-CG's 7 and 89 products), but
    SciPy's L-BFGS-B spends about ``200 * n_params`` operations of its own per
    iteration (65 ms at a million parameters): where that exceeds
    ``work_per_pass`` (multiply-adds of one pass, ``n_samples * n_params`` for
    dense data, stored values times coefficient rows for sparse data) Newton-CG
    wins (W4, sparse 100k x 50k x 20: 10.3 s against 16.8 s).
    """
    if not smooth:
        return "prox-newton"
    if small_problem(n_samples, n_params):
        return "newton-cholesky"
    if preconditioner_sample(n_samples, n_params) is not None or (
        n_params <= 1000 and n_samples * n_params**2 <= 2e9
    ):
        return "newton-cg"
    work = n_samples * n_params if work_per_pass is None else work_per_pass
    return "newton-cg" if 200 * n_params > work else "lbfgs"


def work_per_pass(objective: Any, n_samples: int) -> float:
    """Multiply-adds of one pass over the objective's data (see :func:`auto_solver`);
    data held elsewhere (chunks, Dask) counts as dense."""
    X: Any = getattr(objective, "X", None)
    if sp.issparse(X):
        return float(X.nnz) * objective.datafit.n_rows
    return float(n_samples) * objective.n_params


def check_fit_params(estimator: Any, *, nonsmooth: bool = True) -> tuple[PenaltyChoice, float, int]:
    """The penalty ``estimator`` asks for (``penalty``, ``C``, ``l1_ratio``), ``tol`` and
    ``max_iter``; checks ``solver`` and ``verbose`` too (ValueError naming the
    parameter).  ``nonsmooth=False``: the estimator has only smooth penalties."""
    choice = choose_penalty(estimator.penalty, estimator.C, getattr(estimator, "l1_ratio", None))
    tol, max_iter = check_tol_max_iter(estimator.tol, estimator.max_iter)
    if estimator.solver != "auto" and estimator.solver not in SOLVERS:
        get_solver(estimator.solver)  # raises with the list of known solvers
    if not choice.smooth:
        if not nonsmooth:
            raise ValueError(
                f"{type(estimator).__name__} has no penalty={estimator.penalty!r} with "
                f"l1_ratio={getattr(estimator, 'l1_ratio', None)!r}: use 'l2' or None"
            )
        if estimator.solver not in ("auto", *sorted(PROXIMAL)):
            raise ValueError(
                f"solver={estimator.solver!r} needs a smooth penalty; "
                f"penalty={estimator.penalty!r} with l1_ratio={estimator.l1_ratio!r} needs "
                f"one of {['auto', *sorted(PROXIMAL)]}"
            )
    if not isinstance(estimator.verbose, Integral | bool):
        raise ValueError(f"verbose must be an int, got verbose={estimator.verbose!r}")
    for flag in ("fit_intercept", "warm_start"):
        value = getattr(estimator, flag, False)
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{flag} must be True or False, got {flag}={value!r}")
    check_class_weight(getattr(estimator, "class_weight", None))
    return choice, tol, max_iter


def check_class_weight(class_weight: Any) -> None:
    """``class_weight`` is None, "balanced" or a dict of finite weights >= 0
    (ValueError naming it otherwise: a negative weight makes the objective
    unbounded below, a NaN or inf one makes it meaningless)."""
    if class_weight is None or (isinstance(class_weight, str) and class_weight == "balanced"):
        return
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"class_weight must be None, 'balanced' or a dict {{class: weight}}, "
            f"got class_weight={class_weight!r}"
        )
    for label, weight in class_weight.items():
        ok = isinstance(weight, Real) and not isinstance(weight, bool)
        if not (ok and math.isfinite(weight) and weight >= 0):
            raise ValueError(
                f"class_weight must map classes to finite weights >= 0, "
                f"got {weight!r} for class {label!r}"
            )


#: A dense column whose mean is more than this many times its scale (about its
#: standard deviation) is centred in a copy of ``X`` before the fit, when there is
#: an intercept: evaluated as ``x_ij w_j`` and undone by the intercept, its
#: offset cancels catastrophically (a constant column of 1e15 ended the fit at
#: the zero model; a timestamp in nanoseconds, 1.7e18 give or take 1e6, too).
FAR_FROM_ZERO = 1e4


def far_column_shift(scaling: Any) -> np.ndarray | None:
    """The shifts that centre the columns far from zero (see :data:`FAR_FROM_ZERO`):
    their means, 0 elsewhere; None when there are none or no intercept.  A model
    on the centred columns, ``(W, b)``, is ``(W, b - W @ shift)`` on the original ones."""
    if not scaling.fit_intercept:
        return None
    far = np.abs(scaling.mean) > FAR_FROM_ZERO * scaling.scale
    return np.where(far, scaling.mean, 0.0) if far.any() else None


def centre_far_columns(X: Any, scaling: Any) -> tuple[Any, np.ndarray | None]:
    """``(X with its far-from-zero columns centred, the shifts)`` for dense ``X``
    (:func:`far_column_shift`; a copy of ``X``), or ``(X, None)``."""
    shift = None if sp.issparse(X) else far_column_shift(scaling)
    if shift is None:
        return X, None
    # The shift as the data's dtype holds it: what is subtracted is what the
    # intercepts must add back (float32 rounds a mean of 1e9 by up to 32).
    shift = shift.astype(X.dtype).astype(np.float64)
    far = shift != 0
    centred = np.array(X, order="C")  # a copy
    centred[:, far] -= shift[far].astype(X.dtype)
    return centred, shift


def warm_start_point(estimator: Any, objective: Any, shift: Any = None) -> np.ndarray:
    """The solver's start: the previous fit's coefficients (standardised) when
    ``warm_start`` is set and the shapes allow, else zeros; ``shift``: the columns'
    shifts of :func:`centre_far_columns`, if any."""
    w0 = np.zeros(objective.n_params)
    if estimator.warm_start and hasattr(estimator, "coef_"):
        intercept = np.ravel(estimator.intercept_)
        if shift is not None:
            intercept = intercept + np.asarray(estimator.coef_, dtype=np.float64) @ shift
        prev = np.concatenate(
            [np.ravel(estimator.coef_), intercept if estimator.fit_intercept else []]
        )
        if prev.shape == w0.shape:
            w0 = objective.from_original(prev.astype(np.float64))
    return w0


def run_solver(
    objective: Any,
    w0: np.ndarray,
    *,
    n_samples: int,
    kind: PenaltyChoice,
    solver: str,
    tol: float,
    max_iter: int,
    verbose: Any,
    name: str,
    callback: Callable[[int, float, float], Any] | None = None,
    dtype: Any = np.float64,
    nonsmooth: Any = None,
    solver_impl: Callable[..., SolverResult] | None = None,
) -> tuple[SolverResult, str, bool]:
    """Minimise ``objective`` (plus ``nonsmooth``, a :class:`~softmax.objective.ProxTerm`,
    when the penalty has one) from ``w0``; returns ``(result, solver_name, diverging)``.

    ``solver="auto"`` picks by :func:`auto_solver`.  Without a penalty the run
    stops as soon as a standardised coefficient passes :data:`DIVERGENCE_BOUND`
    (weights running off to infinity: separation), and ``diverging`` says so.
    ``verbose`` prints one line per iteration prefixed by ``[name]``;
    ``callback(iteration, objective, grad_norm)`` is called after each iteration
    (its return value is ignored).  ``dtype`` is the one the evaluations are
    accurate to (the solvers' ``precision``): the data's where float32 data has
    its logits computed in float32, float64 where the fused pass computes them in
    float64 (``Multinomial.compute_dtype``).  ``solver_impl`` runs instead of the registry's
    ``solver`` (a resumable L-BFGS bound to its checkpoint).
    """
    solver_name = (
        auto_solver(
            n_samples, objective.n_params, nonsmooth is None, work_per_pass(objective, n_samples)
        )
        if solver == "auto"
        else solver
    )
    extra: dict[str, Any] = {"hessian": objective.hessian}
    if nonsmooth is not None:
        extra["nonsmooth"] = nonsmooth
        if solver_name == "prox-newton" and not small_problem(n_samples, objective.n_params):
            del extra["hessian"]  # Hessian-vector products beat forming the Hessian
        if solver_name == "prox-newton":
            # An inner solver that knows the data, where one applies.
            extra["model_solver"] = newton_model_solver(objective, nonsmooth)
    diverging = [False]
    done = [0]  # iterations of the float32 phase, to number the callback's calls on

    def guarded(obj: Any) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
        def value_and_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
            # Without a penalty, weights running off to infinity mean separation.
            if kind.unpenalised and np.max(np.abs(w), initial=0.0) > DIVERGENCE_BOUND:
                diverging[0] = True
            return obj.value_and_grad(w)

        return value_and_grad

    def solver_extra(obj: Any) -> dict[str, Any]:
        # Newton-CG's preconditioner is made from the objective each phase runs on.
        return extra | cg_preconditioner(obj, n_samples) if solver_name == "newton-cg" else extra

    def guarded_callback(it: int, f: float, gnorm: float) -> bool:
        it += done[0]
        if verbose:
            print(f"[{name}] iter {it:4d}  objective {f:.12g}  |grad| {gnorm:.3e}")
        if callback is not None:
            callback(it, f, gnorm)
        return diverging[0]  # True stops the solver

    impl = get_solver(solver_name) if solver_impl is None else solver_impl
    twin = float32_twin(objective, solver_name if solver_impl is None else None)
    first: SolverResult | None = None
    # L-BFGS asks for no Hessian products: its evaluations need not keep the
    # probabilities (n_samples x n_classes floats).
    products = solver_impl is None and solver_name != "lbfgs"
    keep = getattr(objective, "keep_probabilities", None)
    for obj in (objective, twin):
        if obj is not None and keep is not None:
            obj.keep_probabilities = products
    with threads_for(n_samples * objective.n_params), pass_threads(objective):
        if twin is not None:
            # The first iterations on the float32 copy (to FLOAT32_TOL_FACTOR x
            # tol); the float64 run below goes on from where it stopped.
            first = impl(
                guarded(twin),
                w0,
                hessp=twin.hessp,
                tol=tol * FLOAT32_TOL_FACTOR,
                max_iter=max_iter,
                callback=guarded_callback,
                precision=float32_precision(n_samples),
                **solver_extra(twin),
            )
            w0, done[0] = first.x, first.n_iter
        result = impl(
            guarded(objective),
            w0,
            hessp=objective.hessp,
            tol=tol,
            max_iter=max(max_iter - done[0], 0),
            callback=guarded_callback,
            precision=float(np.finfo(dtype).eps),
            **solver_extra(objective),
        )
    if keep is not None:
        objective.keep_probabilities = keep
    if first is not None and done[0]:
        result = dataclasses.replace(
            result, n_iter=result.n_iter + done[0], history=first.history + result.history[1:]
        )
    return result, solver_name, diverging[0]


# --------------------------------------------------------------------------- #
# mixed precision: a float32 first phase for GEMM-bound fits
# --------------------------------------------------------------------------- #
#: Multiply-adds per pass (``n_samples * n_features * n_classes``) from which a
#: GEMM-bound fit runs its first phase on a float32 copy of ``X``: float32 GEMMs
#: run at twice float64's rate (measured 180 against 85 GFLOP/s on 2 cores), and
#: below this the copy and the second phase's first evaluation cost more than
#: the iterations save.
MIXED_PRECISION_WORK = 1e9
#: The float32 phase stops at this multiple of ``tol``.
FLOAT32_TOL_FACTOR = 100.0
#: Largest float32 copy of ``X`` made for it (bytes).
MIXED_PRECISION_MAX_BYTES = 2**30


def float32_twin(objective: Any, solver_name: str | None) -> Any:
    """The same objective on a float32 copy of ``X``, where a float32 first phase
    pays: dense float64 data whose passes BLAS's GEMMs carry (a multinomial with
    more classes than the fused passes take), L-BFGS or Newton-CG, at least
    :data:`MIXED_PRECISION_WORK` per pass; else None.

    Its evaluations keep the float64 ones' accuracy where the solver needs it
    (W3, 50 000 x 512, 1 000 classes, near the optimum: objective within 2.7e-10
    relative, gradient within 3.9e-10, 25 times below the default ``tol``'s
    threshold) at half the time (0.90 s against 1.84 s).  The solver runs on it to
    :data:`FLOAT32_TOL_FACTOR` times ``tol`` and the float64 run finishes: L-BFGS
    on the float32 copy all the way to ``tol`` spent many evaluations on line
    searches lost in its rounding (W3: 225 float32 evaluations, then 57 in
    float64; 342 s against 217 s).  Memory: half of ``X`` for the copy.
    """
    if solver_name not in ("lbfgs", "newton-cg") or type(objective) is not Objective:
        return None
    X, datafit = objective.X, objective.datafit
    if not isinstance(X, np.ndarray) or X.dtype != np.float64 or X.ndim != 2:
        return None
    if not isinstance(datafit, Multinomial) or datafit.fused(X):
        return None
    work = X.shape[0] * X.shape[1] * datafit.n_classes
    if work < MIXED_PRECISION_WORK or X.size * 4 > MIXED_PRECISION_MAX_BYTES:
        return None
    blocks = objective.blocks
    return Objective(
        datafit,
        objective.penalty,
        X.astype(np.float32),
        objective.labels,
        objective.sample_weight,
        objective.standardization,
        block_rows=None if len(blocks) == 1 else blocks[0].stop - blocks[0].start,
    )


def float32_precision(n_samples: int) -> float:
    """The relative precision of an objective summed (in float64) over ``n_samples``
    rows whose losses carry float32 rounding errors of random sign:
    ``eps32 / sqrt(n)`` (W3: 5.3e-10, measured 2.7e-10)."""
    eps32, eps64 = (float(np.finfo(t).eps) for t in (np.float32, np.float64))
    return max(eps32 / math.sqrt(max(float(n_samples), 1.0)), eps64)


@contextlib.contextmanager
def pass_threads(objective: Any) -> Iterator[None]:
    """The thread settings for the passes over ``objective``'s data: BLAS on one
    thread where the numba kernels carry them (:func:`_kernel_passes`), the
    kernels on one thread where BLAS's GEMMs do (other dense data)."""
    in_kernels = _kernel_passes(objective)
    in_blas = not in_kernels and isinstance(getattr(objective, "X", None), np.ndarray)
    with blas_for_kernels(in_kernels), kernels_for_blas(in_blas):
        yield


def _kernel_passes(objective: Any) -> bool:
    """Whether the numba kernels, not BLAS, carry the passes over ``objective``'s
    data: CSR data (every data fit's logits: :func:`softmax._kernels.csr_matmat`),
    or data the multinomial's fused passes take."""
    X = getattr(objective, "X", None)
    if X is None:
        return False  # chunks and Dask: the passes run elsewhere
    if fused_multinomial_csr(X) is not None:  # the sparse kernels load and take X
        return True
    datafit = objective.datafit
    return isinstance(datafit, Multinomial) and datafit.fused(X)


def warn_fit_outcome(
    name: str,
    result: SolverResult,
    solver_name: str,
    tol: float,
    max_iter: int,
    *,
    separated: bool,
    separated_what: str = "The classes are",
    stacklevel: int = 3,
) -> None:
    """The one warning a finished fit may deserve: :class:`SeparationWarning` when
    the unpenalised estimate does not exist (``separated``), else a
    ``ConvergenceWarning`` when the solver stopped short of ``tol``."""
    if separated:
        warnings.warn(
            f"{separated_what} separable (or quasi-separable) by the features: the "
            "unpenalised maximum-likelihood coefficients do not exist (they grow without "
            "bound), so the fit stopped at large, finite coefficients. Use a penalty "
            "(penalty='l2' with a finite C) for a well-defined model.",
            SeparationWarning,
            stacklevel=stacklevel,
        )
    elif not result.converged:
        warnings.warn(
            f"{name} did not converge: solver {solver_name!r} stopped after "
            f"{result.n_iter} iterations ({result.message}) with gradient norm "
            f"{result.grad_norm:.3g} > tol={tol:g} x scale. Increase max_iter "
            f"(now {max_iter}), loosen tol, or strengthen the penalty (smaller C).",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )


class LinearPredictor:
    """Prediction input checks and the logits ``X @ coef_.T + intercept_`` shared by
    the linear estimators (the fitted attributes come from their ``fit``)."""

    coef_: np.ndarray
    intercept_: np.ndarray

    def _validate_predict_input(self, X: Any) -> Any:
        check_is_fitted(self, "coef_")
        X = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            reset=False,
        )
        check_finite_features(X, getattr(self, "feature_names_in_", None))
        return X

    def _logits(self, X: Any) -> np.ndarray:
        coef = self.coef_.astype(X.dtype, copy=False)
        return np.asarray(X @ coef.T) + self.intercept_.astype(X.dtype, copy=False)
