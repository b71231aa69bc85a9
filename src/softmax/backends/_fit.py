"""The estimator's fit over chunks: the objective whose sums an executor forms,
the fit shared by the Dask and out-of-core paths, and resumable fits.

See :mod:`softmax.backends._chunks` for the executor interface.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from softmax.backends._chunks import ChunkStats, check_stats, class_weights
from softmax.objective import (
    Binomial,
    Multinomial,
    Objective,
    Standardization,
    initial_curvature,
)

__all__ = ["ChunkedObjective", "fit_chunked"]


# ---------------------------------------------------------------------- #
# the objective over chunks
# ---------------------------------------------------------------------- #
class ChunkedObjective(Objective):
    """:class:`~softmax.objective.Objective` whose sums over rows are formed by an executor.

    Only the three data sums differ from the in-memory objective; penalty,
    standardisation and caching are inherited.  ``Objective.__init__`` is not
    called: there is no in-memory ``X``.
    """

    def __init__(
        self,
        datafit: Any,
        penalty: Any,
        executor: Any,
        n_features: int,
        total_weight: float,
        standardization: Standardization | None = None,
        n_samples: int = 0,
    ) -> None:
        self.datafit, self.penalty = datafit, penalty
        self.executor = executor
        self.standardization = standardization
        self.n_features = n_features
        self.n_samples = n_samples
        self.total_weight = float(total_weight)
        self._cache_key: np.ndarray | None = None
        self._cache_proba: Any = None
        self.n_evaluations = 0
        self.n_hessp = 0

    def _sum_value_and_grad(
        self, w: np.ndarray, keep: bool = True
    ) -> tuple[float, np.ndarray, Any]:
        # The executors' caches are small handles (the probabilities stay with
        # the chunks), so they are kept whatever ``keep`` says.
        return self.executor.value_and_grad(self.datafit, w)

    def _sum_hessp(self, v: np.ndarray) -> np.ndarray:
        assert self._cache_key is not None
        return self.executor.hessp(self.datafit, self._cache_key, v, self._cache_proba)

    def _sum_hessian(self, columns: Any = None) -> np.ndarray:
        # Never called with columns: chunked data has no X to standardise first.
        assert self._cache_key is not None and columns is None
        return self.executor.hessian(self.datafit, self._cache_key, self._cache_proba)

    def subsample(self, n_rows: int, seed: int = 0) -> ChunkedObjective:
        """The same objective on about ``n_rows`` rows, for Newton-CG's preconditioner
        (as :meth:`Objective.subsample`): every ``k``-th row of each chunk (a
        systematic sample; ``seed`` is unused), held where the chunks are — on
        the workers for Dask, in memory for a chunk iterator (``n_rows`` rows at
        most, bounded by :func:`softmax.estimators._fitting.preconditioner_sample`)."""
        step = max(1, self.n_samples // max(1, n_rows))
        executor, total = self.executor.subsample(step)
        return ChunkedObjective(
            self.datafit,
            self.penalty,
            executor,
            self.n_features,
            total,
            self.standardization,
            -(-self.n_samples // step),
        )


# ---------------------------------------------------------------------- #
# the estimator's fit over chunks (shared by the Dask and iterator executors)
# ---------------------------------------------------------------------- #
def fit_chunked(
    est: Any,
    executor: Any,
    feature_names: Any = None,
    checkpoint: Any = None,
    checkpoint_every: int = 10,
    callback: Callable[[int, float, float], Any] | None = None,
) -> Any:
    """Fit ``est`` (a SoftmaxRegression) from an executor; mirrors its in-memory ``fit``.

    With ``checkpoint`` (a path) the solver is the resumable L-BFGS of
    :mod:`softmax.solvers._lbfgs`, whose state is saved there every
    ``checkpoint_every`` iterations and resumed from when the file exists.
    """

    from softmax.estimators._fitting import (
        far_column_shift,
        run_solver,
        warm_start_point,
        warn_fit_outcome,
    )
    from softmax.estimators._validation import check_C

    kind, tol, max_iter = est._check_params()
    if not kind.smooth:
        raise ValueError(
            f"chunked and Dask fits take penalty='l2' or None, got penalty={est.penalty!r} "
            f"with l1_ratio={est.l1_ratio!r}"
        )
    stats = executor.stats()
    check_stats(stats, feature_names)
    classes, n_classes = stats.classes, stats.classes.shape[0]
    cw = class_weights(est.class_weight, stats)
    total = float(np.dot(cw, stats.weights))
    if not total > 0:
        raise ValueError("sample_weight is zero for every sample; at least one must be positive")
    binary = n_classes == 2

    if feature_names is not None:
        est.feature_names_in_ = np.asarray(feature_names, dtype=object)
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.n_features_in_ = stats.n_features
    est.classes_ = classes
    n_features = stats.n_features
    datafit: Any = (
        Binomial(est.fit_intercept) if binary else Multinomial(n_classes, est.fit_intercept)
    )
    penalty, _ = kind.terms(1.0 / (check_C(est.C) * total))
    curvature = initial_curvature(cw * stats.weights)
    alpha = getattr(penalty, "alpha", 0.0)
    scaling = Standardization.from_moments(
        stats.mean, stats.var, datafit.n_rows, est.fit_intercept, alpha, curvature
    )
    # Columns far from zero against their spread are centred chunk by chunk, as
    # in memory (see centre_far_columns; never sparse chunks).
    shift = None if stats.sparse else far_column_shift(scaling)
    if shift is not None:
        shift = shift.astype(stats.dtype).astype(np.float64)  # as the chunks hold it
        scaling = Standardization.from_moments(
            stats.mean - shift, stats.var, datafit.n_rows, est.fit_intercept, alpha, curvature
        )
    executor.encode(classes, cw, binary, shift)
    objective = ChunkedObjective(datafit, penalty, executor, n_features, total, scaling, stats.n)

    impl, ckpt = None, None
    if checkpoint is not None:
        impl, ckpt = _resumable_solver(est, stats, objective.n_params, checkpoint, checkpoint_every)
    try:
        result, solver_name, diverging = run_solver(
            objective,
            warm_start_point(est, objective, shift),
            n_samples=stats.n,
            kind=kind,
            solver="lbfgs" if impl is not None else est.solver,
            tol=tol,
            max_iter=max_iter,
            verbose=est.verbose,
            name="SoftmaxRegression",
            callback=callback,
            dtype=stats.dtype,
            solver_impl=impl,
        )
    except Exception as exc:
        if ckpt is None:
            raise
        raise RuntimeError(
            f"the fit stopped at an error ({type(exc).__name__}: {exc}); its last solver state "
            f"is saved in {str(ckpt.path)!r}: call fit again with the same checkpoint to resume"
        ) from exc
    est._set_solution(objective, result, solver_name, kind, stats.dtype, shift)

    separated = False
    if kind.unpenalised and not diverging and np.max(np.abs(result.x), initial=0.0) >= 10.0:
        # The executor's chunks are centred: the model on them has b + W @ shift.
        on_chunks = est
        if shift is not None:
            on_chunks = copy.copy(est)
            on_chunks.intercept_ = (est.intercept_ + est.coef_ @ shift).astype(est.coef_.dtype)
        separated = executor.max_true_log_proba(on_chunks) > -1e-9
    warn_fit_outcome(
        "SoftmaxRegression",
        result,
        solver_name,
        tol,
        max_iter,
        separated=kind.unpenalised and (diverging or separated),
    )
    return est


def _resumable_solver(
    est: Any, stats: ChunkStats, n_params: int, path: Any, every: Any
) -> tuple[Callable[..., Any], Any]:
    """The resumable L-BFGS bound to the checkpoint at ``path`` (and its saved state)."""
    from numbers import Integral

    from softmax.estimators._checkpoint import Checkpoint, fingerprint
    from softmax.solvers._lbfgs import lbfgs_resumable

    if est.solver not in ("auto", "lbfgs"):
        raise ValueError(
            f"checkpoint needs the resumable L-BFGS; solver={est.solver!r} cannot be resumed "
            "(use solver='lbfgs' or 'auto')"
        )
    if isinstance(every, bool) or not isinstance(every, Integral) or every < 1:
        raise ValueError(f"checkpoint_every must be a positive integer, got {every!r}")
    ckpt = Checkpoint(path, fingerprint(est, stats))
    state = ckpt.load(n_params)

    def solver(value_and_grad: Any, x0: np.ndarray, **kw: Any) -> Any:
        return lbfgs_resumable(
            value_and_grad, x0, state=state, checkpoint=ckpt, checkpoint_every=int(every), **kw
        )

    return solver, ckpt
