"""newton-cg: SciPy's trust-region Newton-CG, and the line-search Newton-CG
preconditioned by an approximate (sub-sampled) Hessian."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

from softmax.estimators._fitting import cg_preconditioner, preconditioner_sample
from softmax.objective import L2, Multinomial, NoPenalty, Objective, Standardization
from softmax.solvers import SOLVERS, newton_cg, newton_cholesky
from softmax.solvers._newton import _pcg


def _rosen(w):
    return rosen(w), rosen_der(w)


def _ill_conditioned_objective(rng, penalty, n=6000, rare=True):
    # Unscaled and correlated columns, rare indicator columns, imbalanced classes:
    # plain CG needs many Hessian-vector products per Newton step here.  (Rare
    # indicators make the unpenalised problem quasi-separable: penalise them.)
    X = rng.standard_normal((n, 8)) * np.array([1e-3, 1, 10, 100, 1, 1, 1, 1]) + 5
    X[:, 7] = 0.01 * X[:, 3] + 0.1 * rng.standard_normal(n)
    if rare:
        X[:, 5] = rng.random(n) < 0.01
        X[:, 6] = rng.random(n) < 0.03
    labels = np.minimum(rng.geometric(0.5, n) - 1, 3)
    sw = rng.uniform(0.5, 2.0, n)
    scaling = Standardization.from_data(X, 4, True)
    return Objective(Multinomial(4), penalty, X, labels, sw, scaling)


def test_registered_under_scikit_learns_name():
    assert SOLVERS["newton-cg"] is newton_cg


def test_pcg_solves_a_positive_definite_system(rng):
    A = rng.standard_normal((30, 30))
    A = A @ A.T + 0.1 * np.eye(30)
    b = rng.standard_normal(30)
    exact = np.linalg.solve(A, b)
    x, _ = _pcg(lambda v: A @ v, b, lambda r: r.copy(), 1e-12)
    np.testing.assert_allclose(x, exact, rtol=1e-8)
    # With the exact inverse as preconditioner one step is enough.
    steps = []
    x, products = _pcg(
        lambda v: steps.append(1) or A @ v, b, lambda r: np.linalg.solve(A, r), 1e-10
    )
    np.testing.assert_allclose(x, exact, rtol=1e-8)
    assert len(steps) == products == 1


def test_preconditioned_minimises_rosenbrock():
    x0 = np.full(6, -1.0)
    res = newton_cg(_rosen, x0, hessp=rosen_hess_prod, approx_hessian=rosen_hess, tol=1e-12)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    assert all(b <= a for a, b in zip(res.history, res.history[1:], strict=False))


@pytest.mark.parametrize(("penalty", "rare"), [(L2(1e-4), True), (NoPenalty(), False)])
def test_subsample_preconditioner_reaches_the_same_optimum_with_fewer_products(rng, penalty, rare):
    obj = _ill_conditioned_objective(rng, penalty, rare=rare)
    x0 = np.zeros(obj.n_params)
    ref = newton_cholesky(obj.value_and_grad, x0, hessian=obj.hessian, tol=1e-10)
    plain_products = obj.n_hessp
    plain = newton_cg(obj.value_and_grad, x0, hessp=obj.hessp, tol=1e-10)
    plain_products = obj.n_hessp - plain_products
    before = obj.n_hessp
    res = newton_cg(
        obj.value_and_grad,
        x0,
        hessp=obj.hessp,
        approx_hessian=obj.subsample(600).preconditioner,
        tol=1e-10,
    )
    products = obj.n_hessp - before
    assert ref.converged and plain.converged and res.converged, res.message
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)
    assert res.fun == pytest.approx(plain.fun, rel=1e-12)
    # 19 against 54 (the NoPenalty case): the subsample leaves CG a few steps per Newton step.
    assert products < plain_products / 2.5, (products, plain_products)


@pytest.mark.parametrize("seed", range(6))
def test_unpenalised_preconditioned_steps_do_not_drift_along_the_null_space(seed):
    # With the exact sub-sampled Hessian (plus the tiny ridge) as preconditioner,
    # the rounding of the residual along the shift directions came back as steps
    # of 1e4 along them (seeds 1 and 5 here: 4 001 and 795 products, no
    # convergence); the preconditioner closes that null space.
    obj = _ill_conditioned_objective(np.random.default_rng(seed), NoPenalty(), rare=False)
    res = newton_cg(
        obj.value_and_grad,
        np.zeros(obj.n_params),
        hessp=obj.hessp,
        approx_hessian=obj.subsample(600).preconditioner,
        tol=1e-10,
    )
    assert res.converged, res.message
    assert obj.n_hessp < 40 and np.abs(res.x).max() < 10


def test_subsample_is_the_same_objective_on_fewer_rows(rng):
    obj = _ill_conditioned_objective(rng, L2(1e-3), n=500)
    sub = obj.subsample(100, seed=3)
    assert sub.X.shape == (100, 8) and sub.penalty is obj.penalty
    assert sub.standardization is obj.standardization
    rows = np.sort(np.random.default_rng(3).choice(500, 100, replace=False))
    np.testing.assert_array_equal(sub.X, obj.X[rows])
    w = rng.standard_normal(obj.n_params) * 0.1
    ref = Objective(
        obj.datafit, obj.penalty, obj.X[rows], obj.labels[rows], obj.sample_weight[rows],
        obj.standardization,
    )  # fmt: skip
    np.testing.assert_allclose(sub.hessian(w), ref.hessian(w), rtol=1e-12)


def test_preconditioner_sample_rule():
    # W5-like: 500k rows, 385 parameters -> a 19 250-row subsample.
    assert preconditioner_sample(500_000, 385) == 19_250
    # Too many parameters, or too little data for a subsample to be cheap: none.
    assert preconditioner_sample(200_000, 2010) is None
    assert preconditioner_sample(10_000, 50) is None


def test_cg_preconditioner_choice(rng):
    obj = _ill_conditioned_objective(rng, L2(1e-4), n=6000)  # 36 parameters
    # 6 000 rows are too few for a cheap subsample: the whole data's Hessian,
    # formed once CG spent what it costs.
    assert preconditioner_sample(6000, 36) is None
    pre = cg_preconditioner(obj, 6000)
    assert pre["approx_hessian"] == obj.preconditioner
    K, d = 4, 9
    work = 6000 * K * (K + 1) / 2 * d * (d + 1) / 2
    assert pre["approx_cost"] == pytest.approx(work / (4 * 6000 * 36))
    # Where a subsample is a small part of the data: its Hessian, from the first step.
    assert set(cg_preconditioner(obj, 2_000_000)) == {"approx_hessian"}


@pytest.mark.parametrize("cost", [0.0, 20.0, np.inf])
def test_preconditioner_waits_until_cg_spent_its_cost(rng, cost):
    obj = _ill_conditioned_objective(rng, L2(1e-4), rare=True)
    formed = []

    def approx(x):
        formed.append(obj.n_hessp)  # products spent before it is formed
        return obj.preconditioner(x)

    res = newton_cg(
        obj.value_and_grad, np.zeros(obj.n_params), hessp=obj.hessp,
        approx_hessian=approx, approx_cost=cost, tol=1e-10,
    )  # fmt: skip
    assert res.converged
    if cost == 0.0:
        assert formed[0] == 0  # at the first step
    elif np.isfinite(cost):
        assert formed and formed[0] >= cost  # never before CG spent its cost
    else:
        assert not formed


def test_forcing_is_eisenstat_walker_but_never_tighter_than_the_stopping_rule():
    from softmax.solvers._newton import _forcing

    g = np.array([3.0, 4.0])  # |g| = 5
    assert _forcing(1.0, g, 1e-8) == 0.5
    assert _forcing(1.0, g * 1e-4, 1e-8) == pytest.approx(np.sqrt(5e-4))
    # |g| = 5e-8, tol 1e-8: a residual of 0.02 already leaves a gradient of 1e-9.
    assert _forcing(1.0, g * 1e-8, 1e-8) == pytest.approx(0.02)
    assert _forcing(100.0, g * 1e-8, 1e-8) == 0.5  # the rule scales with |f|


def _wide_sparse_objective(rng, n=3000, d=400, k=6):
    # Tf-idf-like: columns of Zipf frequencies, imbalanced classes; over 1 000 parameters.
    freq = 0.3 / np.arange(1, d + 1) ** 0.8
    X = sp.csr_matrix((rng.random((n, d)) < freq) * rng.uniform(0.5, 2.0, (n, d)))
    W = rng.standard_normal((k, d)) * 2.0
    labels = np.argmax(X @ W.T + rng.gumbel(size=(n, k)) + np.log(np.arange(1, k + 1)), axis=1)
    sw = np.ones(n)
    scaling = Standardization.from_moments(
        np.asarray(X.mean(axis=0)).ravel(),
        np.asarray(X.multiply(X).mean(axis=0)).ravel() - np.asarray(X.mean(axis=0)).ravel() ** 2,
        k, True, l2_strength=1e-4,
    )  # fmt: skip
    return Objective(Multinomial(k), L2(1e-4), X, labels, sw, scaling)


def test_diagonal_preconditioner_where_the_hessian_is_out_of_reach(rng):
    obj = _wide_sparse_objective(rng)
    pre = cg_preconditioner(obj, obj.X.shape[0])
    assert pre["approx_hessian"] == obj.diagonal_preconditioner
    x0 = np.zeros(obj.n_params)
    plain = newton_cg(obj.value_and_grad, x0, hessp=obj.hessp, tol=1e-10)
    plain_products = obj.n_hessp
    res = newton_cg(obj.value_and_grad, x0, hessp=obj.hessp, tol=1e-10, **pre)
    products = obj.n_hessp - plain_products
    assert plain.converged and res.converged
    assert res.fun == pytest.approx(plain.fun, rel=1e-12)
    assert products < plain_products, (products, plain_products)


def test_diagonal_preconditioner_solves_by_division():
    from softmax.solvers._newton import _preconditioner_solver

    d = np.array([4.0, 2.0, 0.0, np.inf])
    solve = _preconditioner_solver(d)
    out = solve(np.ones(4))
    ridge = 1e-6 * np.mean([4.0, 2.0, 0.0, 0.0])
    np.testing.assert_allclose(out, 1.0 / (np.array([4.0, 2.0, 0.0, 0.0]) + ridge))


@pytest.mark.parametrize("shift", [0.0, 1e-3])
def test_matrix_preconditioner_solves_with_the_first_ridge_that_factors(rng, shift):
    """Positive definite: the ridge 1e-6 x mean diagonal; indefinite (smallest
    eigenvalue -shift): ridges 100x larger until Cholesky accepts, each tried on
    the matrix as given (a failed factorisation must not leave its traces)."""
    from softmax.solvers._newton import _preconditioner_solver

    A = rng.standard_normal((40, 40))
    H = A @ A.T
    H -= (np.linalg.eigvalsh(H).min() + shift) * np.eye(40)
    r = rng.standard_normal(40)
    given = H.copy()
    out = _preconditioner_solver(given)(r)
    np.testing.assert_array_equal(given, H)  # the caller's matrix is left alone
    ridge = 1e-6 * np.mean(np.abs(np.diag(H)))
    while np.linalg.eigvalsh(H + ridge * np.eye(40)).min() <= 0:
        ridge *= 100.0
    expected = np.linalg.solve(H + ridge * np.eye(40), r)
    np.testing.assert_allclose(out, expected, rtol=1e-6 if shift else 1e-9)
