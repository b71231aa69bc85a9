"""Coordinate descent on the proximal-Newton model (``softmax.objective._coordinate_descent``):
its result satisfies the model's optimality conditions, computed independently from the
data fit's Hessian-vector products, and equals the generic inner solver's."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import SoftmaxRegression
from softmax.estimators import _fitting
from softmax.objective import (
    L1,
    L2,
    Binomial,
    GroupL1,
    Multinomial,
    NoPenalty,
    Objective,
    ProxTerm,
    Standardization,
)
from softmax.objective._coordinate_descent import coordinate_descent_solver
from softmax.solvers._proximal import _largest_eigenvalue, _solve_model

pytest.importorskip("numba")


def _sparse_data(rng, n=300, p=40, k=4, density=0.15):
    X = sp.random(n, p, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = np.abs(X.data) * rng.uniform(0.1, 5.0, X.data.shape)  # unscaled columns
    W = rng.standard_normal((k, p)) * (rng.uniform(size=(k, p)) < 0.3) * 3
    y = np.argmax(np.asarray(X @ W.T) + rng.gumbel(size=(n, k)), axis=1)
    return X, y


def _setup(rng, k, *, intercept=True, alpha=0.0, weights=True, lam=0.02):
    X, labels = _sparse_data(rng, k=max(k, 2))
    if k == 1:
        labels = (labels == 1).astype(np.intp)
    datafit = Binomial(intercept) if k == 1 else Multinomial(k, intercept)
    sw = rng.uniform(0.2, 2.0, X.shape[0]) if weights else np.ones(X.shape[0])
    scaling = Standardization.from_data(X, datafit.n_rows, intercept, alpha)
    penalty = L2(alpha) if alpha else NoPenalty()
    objective = Objective(datafit, penalty, X, labels, sw, scaling)
    prox = ProxTerm(L1(lam), datafit.n_rows, X.shape[1], intercept, scaling)
    return objective, prox


def _point(rng, objective, prox):
    """A point with some zero coefficients, and the smooth part's gradient there."""
    x = rng.standard_normal(objective.n_params) * 0.3
    x = prox.prox(x, 5.0)
    _, g = objective.value_and_grad(x)
    return x, g


def _model_residual(objective, prox, x, g, z):
    """Least-norm subgradient of g.d + d.H d / 2 + h(x + d) at d = z - x, with H from
    the data fit's own Hessian-vector product (not the kernel's bookkeeping)."""
    model_grad = g + objective.hessp(x, z - x)
    return np.max(np.abs(prox.min_norm_subgradient(z, model_grad)))


@pytest.mark.parametrize(
    ("k", "intercept", "alpha"),
    [(4, True, 0.0), (4, True, 1e-2), (3, False, 0.0), (1, True, 0.0), (1, False, 1e-2)],
)
def test_model_minimiser_satisfies_the_model_optimality_conditions(rng, k, intercept, alpha):
    objective, prox = _setup(rng, k, intercept=intercept, alpha=alpha)
    solve = coordinate_descent_solver(objective, prox)
    assert solve is not None
    x, g = _point(rng, objective, prox)
    z = solve(x, g, 1e-12)
    assert _model_residual(objective, prox, x, g, z) <= 1e-10
    assert np.any(z[: k * objective.n_features] == 0)  # exact zeros, from the threshold

    # The generic inner solver (FISTA, then Newton on the pattern) finds the same minimum.
    def matvec(v):
        return objective.hessp(x, v)

    lam, _ = _largest_eigenvalue(matvec, np.ones(objective.n_params), 50)
    z_ref, *_ = _solve_model(x, g, matvec, prox, 1.1 * lam, 1e-12, 20_000)

    def model(z):
        return g @ (z - x) + 0.5 * (z - x) @ matvec(z - x) + prox.value(z)

    assert model(z) == pytest.approx(model(z_ref), rel=1e-12, abs=1e-14)
    # The minimiser itself is unique up to the softmax's redundancy: a shift of
    # every class's intercept, and (without the ridge, for an even number of
    # classes, where the median of a column is an interval) of a column of W.
    n_coef = objective.datafit.n_rows * objective.n_features
    if alpha > 0 or k % 2 == 1:
        np.testing.assert_allclose(z[:n_coef], z_ref[:n_coef], atol=1e-8)
    if intercept:
        b, b_ref = z[n_coef:], z_ref[n_coef:]
        if k > 1:
            b, b_ref = b - b.mean(), b_ref - b_ref.mean()
        if alpha > 0 or k % 2 == 1:
            np.testing.assert_allclose(b, b_ref, atol=1e-8)


def test_loose_tolerance_gives_a_descent_direction(rng):
    objective, prox = _setup(rng, 4)
    x, g = _point(rng, objective, prox)
    z = coordinate_descent_solver(objective, prox)(x, g, 1e-1)
    d = z - x
    # The model decreases: g.d + d.Hd/2 + h(z) < h(x).
    q = g @ d + 0.5 * d @ objective.hessp(x, d) + prox.value(z)
    assert q < prox.value(x)


def test_applies_to_sparse_lasso_type_problems_only(rng):
    objective, prox = _setup(rng, 3)
    assert coordinate_descent_solver(objective, prox) is not None
    assert coordinate_descent_solver(objective, None) is None
    group = ProxTerm(GroupL1(0.1), 3, objective.n_features, True, objective.standardization)
    assert coordinate_descent_solver(objective, group) is None
    dense = Objective(
        objective.datafit,
        objective.penalty,
        objective.X.toarray(),
        objective.labels,
        objective.sample_weight,
        objective.standardization,
    )
    assert coordinate_descent_solver(dense, prox) is None


@pytest.mark.parametrize(
    ("n_classes", "penalty"), [(4, "l1"), (3, "l1"), (2, "l1"), (4, "elasticnet")]
)
def test_fit_equals_the_fit_with_the_generic_inner_solver(rng, monkeypatch, n_classes, penalty):
    X, y = _sparse_data(rng, n=400, p=60, k=n_classes)
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    kw = {"l1_ratio": 0.5} if penalty == "elasticnet" else {}
    cd = SoftmaxRegression(penalty=penalty, C=0.5, tol=1e-10, **kw).fit(X, y, sample_weight=sw)
    with monkeypatch.context() as m:
        m.setattr(_fitting, "newton_model_solver", lambda objective, nonsmooth: None)
        ref = SoftmaxRegression(penalty=penalty, C=0.5, tol=1e-10, **kw)
        ref.fit(X, y, sample_weight=sw)
    assert cd.converged_ and ref.converged_
    # Pure L1 with an even number of classes has a set of minimisers (see above):
    # the fits agree on the probabilities, and on the coefficients where unique.
    np.testing.assert_allclose(cd.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    if penalty == "elasticnet" or n_classes % 2 == 1:
        np.testing.assert_allclose(cd.coef_, ref.coef_, atol=1e-7)
        np.testing.assert_array_equal(cd.coef_ == 0, ref.coef_ == 0)
    assert np.any(cd.coef_ == 0) and np.any(cd.coef_ != 0)


def test_duplicate_entries_count_as_their_sum(rng):
    objective, prox = _setup(rng, 4)
    x, g = _point(rng, objective, prox)
    z = coordinate_descent_solver(objective, prox)(x, g, 1e-12)
    # The same matrix with every stored value split in two entries of its column.
    X = objective.X.tocsc()
    half = X.data * rng.uniform(0.2, 0.8, X.data.shape)
    split = sp.csc_matrix(
        (np.column_stack([half, X.data - half]).ravel(), np.repeat(X.indices, 2), 2 * X.indptr),
        shape=X.shape,
    )
    assert not split.has_canonical_format and split.nnz == 2 * X.nnz
    twin = Objective(
        objective.datafit, objective.penalty, split, objective.labels,
        objective.sample_weight, objective.standardization,
    )  # fmt: skip
    z_split = coordinate_descent_solver(twin, prox)(x, g, 1e-12)
    np.testing.assert_allclose(z_split, z, rtol=1e-9, atol=1e-12)
    assert split.nnz == 2 * X.nnz  # the caller's matrix is left as it was


def test_shares_its_columns_with_the_tiled_evaluations(rng, monkeypatch):
    from softmax import _kernels

    monkeypatch.setattr(_kernels, "CSR_MIN_TILES", 2)
    monkeypatch.setattr(_kernels, "MIN_SIZE", 1)  # tiles for this small X
    objective, prox = _setup(rng, 4)
    assert "tiles" in objective._block_extras()[0]
    solve = coordinate_descent_solver(objective, prox)
    columns = objective.column_major()
    # One column-major copy: the sweeps' and, from now on, the evaluations'
    # (the logits of the sparse iterates from their live columns).
    assert solve.indptr is columns[0] and solve.data is columns[2]
    assert objective._block_extras()[0]["columns"] is columns
    np.testing.assert_array_equal(
        sp.csc_matrix((columns[2], columns[1], columns[0]), shape=objective.X.shape).toarray(),
        objective.X.toarray(),
    )


# The doubtful features by one pass over X / by their own columns.
@pytest.mark.parametrize("share", [0.0, 1.0])
@pytest.mark.parametrize("k", [4, 1])
def test_optimality_check_finds_the_violators_of_the_full_product(rng, monkeypatch, share, k):
    from softmax.objective import _coordinate_descent

    monkeypatch.setattr(_coordinate_descent, "CHECK_SHARE", share)
    objective, prox = _setup(rng, k)
    solve = coordinate_descent_solver(objective, prox)
    K, (n, p) = objective.datafit.n_rows, objective.X.shape
    inv_scale = 1.0 / solve.scale
    for spread in (1e-3, 1e-1):
        G = rng.standard_normal((K, p)) * 0.02
        R = rng.standard_normal((n, K)) * spread / n
        left_out = rng.uniform(size=(K, p)) < 0.7
        tol = 1e-3
        # The reference: every coordinate's exact model gradient, by SciPy.
        grad = G + np.asarray(objective.X.T @ R).T
        expected = left_out & ((np.abs(grad) - solve.thresholds) * inv_scale > tol)
        new = solve._violators(left_out, G, R, inv_scale, tol)
        if not expected.any():
            assert new is None
        else:
            np.testing.assert_array_equal(new, expected)
        assert spread < 1e-2 or expected.any()  # both outcomes are exercised


def test_optimality_check_clears_by_the_bound_without_the_data(rng, monkeypatch):
    objective, prox = _setup(rng, 3)
    solve = coordinate_descent_solver(objective, prox)
    monkeypatch.setattr(objective, "transpose_product", None)  # would raise if called
    monkeypatch.setattr(solve, "kernels", None)
    K, (n, p) = objective.datafit.n_rows, objective.X.shape
    G = np.zeros((K, p))
    R = rng.standard_normal((n, K)) * 1e-9
    assert solve._violators(np.ones((K, p), bool), G, R, 1.0 / solve.scale, 1e-3) is None
