"""The proximal-Newton model solved on a working set of features with their Hessian
formed (``softmax.objective._working_set``): optimal for the full model (checked
with the full objective's own Hessian-vector products), equal to the generic
inner solver's, and fits equal to fits without it."""

from __future__ import annotations

import numpy as np
import pytest

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
    _working_set,
)
from softmax.objective._working_set import working_set_solver
from softmax.solvers._proximal import _largest_eigenvalue, _solve_model


def _dense_data(rng, n=400, p=30, k=4):
    X = rng.standard_normal((n, p)) * rng.uniform(0.1, 10.0, p) + rng.uniform(-3, 3, p)
    W = rng.standard_normal((k, p)) * (rng.uniform(size=(k, p)) < 0.2)
    Z = (X - X.mean(0)) / X.std(0) @ W.T
    y = np.argmax(Z + rng.gumbel(size=(n, k)), axis=1)
    return X, y


def _setup(rng, k, penalty_cls, *, intercept=True, alpha=0.0, lam=0.05):
    X, labels = _dense_data(rng, k=max(k, 2))
    if k == 1:
        labels = (labels == 1).astype(np.intp)
    datafit = Binomial(intercept) if k == 1 else Multinomial(k, intercept)
    sw = rng.uniform(0.2, 2.0, X.shape[0])
    scaling = Standardization.from_data(X, datafit.n_rows, intercept, alpha)
    objective = Objective(datafit, L2(alpha) if alpha else NoPenalty(), X, labels, sw, scaling)
    prox = ProxTerm(penalty_cls(lam), datafit.n_rows, X.shape[1], intercept, scaling)
    return objective, prox


@pytest.mark.parametrize(
    ("k", "penalty_cls", "intercept", "alpha"),
    [(4, L1, True, 0.0), (3, L1, True, 1e-2), (3, GroupL1, True, 0.0), (1, L1, False, 1e-2)],
)
def test_model_minimiser_is_optimal_for_the_full_model(rng, k, penalty_cls, intercept, alpha):
    objective, prox = _setup(rng, k, penalty_cls, intercept=intercept, alpha=alpha)
    solve = working_set_solver(objective, prox)
    x = prox.prox(rng.standard_normal(objective.n_params) * 0.2, 2.0)
    _, g = objective.value_and_grad(x)
    z = solve(x, g, 1e-11)
    assert z is not None

    def matvec(v):
        return objective.hessp(x, v)

    # Optimal for the full model, features outside the working set included.
    assert np.max(np.abs(prox.min_norm_subgradient(z, g + matvec(z - x)))) <= 1e-9
    n_coef = k * objective.n_features
    assert np.any(z[:n_coef] == 0) and np.any(z[:n_coef] != 0)
    lam, _ = _largest_eigenvalue(matvec, np.ones(objective.n_params), 50)
    z_ref, *_ = _solve_model(x, g, matvec, prox, 1.1 * lam, 1e-11, 20_000)

    def model(z):
        return g @ (z - x) + 0.5 * (z - x) @ matvec(z - x) + prox.value(z)

    assert model(z) == pytest.approx(model(z_ref), rel=1e-11, abs=1e-13)


def test_the_set_grows_when_the_features_left_out_violate(rng, monkeypatch):
    """Start from x = 0 with a tolerance that admits only the strongest features at
    first: the check on the others must bring the rest in."""
    objective, prox = _setup(rng, 3, L1, lam=0.01)
    rounds = []
    original = _working_set._WorkingSet._restricted

    def spy(self, features):
        rounds.append(features.shape[0])
        return original(self, features)

    monkeypatch.setattr(_working_set._WorkingSet, "_restricted", spy)
    x = np.zeros(objective.n_params)
    _, g = objective.value_and_grad(x)
    z = working_set_solver(objective, prox)(x, g, 1e-10)
    r = prox.min_norm_subgradient(z, g + objective.hessp(x, z - x))
    assert np.max(np.abs(r)) <= 1e-8
    assert rounds and rounds == sorted(rounds)


def test_too_large_a_set_is_left_to_the_generic_solver(rng, monkeypatch):
    objective, prox = _setup(rng, 4, L1, lam=1e-4)
    monkeypatch.setattr(_working_set, "MAX_PARAMS", 10)
    x = np.zeros(objective.n_params)
    _, g = objective.value_and_grad(x)
    assert working_set_solver(objective, prox)(x, g, 1e-8) is None


def test_a_large_set_is_formed_once_the_generic_solver_spent_more(rng, monkeypatch):
    """Past the fixed bounds the first step goes to the generic inner solver; once
    its Hessian-vector products cost more than the Hessian, the next step forms it
    (here the full model: most columns are in), and its minimiser is optimal."""
    objective, prox = _setup(rng, 4, L1, lam=0.01)
    x = np.zeros(objective.n_params)
    _, g = objective.value_and_grad(x)
    z_ref = working_set_solver(objective, prox)(x, g, 1e-10)
    assert 2 * np.count_nonzero(np.any(z_ref[: 4 * 30].reshape(4, 30), axis=0)) > 30
    monkeypatch.setattr(_working_set, "MAX_PARAMS", 10)
    copies = []
    original = Objective.columns
    monkeypatch.setattr(Objective, "columns", lambda self, f: copies.append(f) or original(self, f))
    solve = working_set_solver(objective, prox)
    assert solve(x, g, 1e-10) is None
    objective.n_hessp += 5  # what the generic inner solver spent: less than a Hessian
    assert solve(x, g, 1e-10) is None
    objective.n_hessp += 10_000
    z = solve(x, g, 1e-10)
    assert z is not None and not copies  # the full model: no copy of columns
    r = prox.min_norm_subgradient(z, g + objective.hessp(x, z - x))
    assert np.max(np.abs(r)) <= 1e-8

    def model(z):  # the minimiser is unique only up to a shift of a column's classes
        return g @ z + 0.5 * z @ objective.hessp(x, z) + prox.value(z)

    assert model(z) == pytest.approx(model(z_ref), rel=1e-11, abs=1e-13)
    monkeypatch.setattr(_working_set, "MAX_PARAMS_RENTED", 10)
    assert solve(x, g, 1e-10) is None  # beyond any bound


@pytest.mark.parametrize("penalty", ["l1", "elasticnet", "group_l1"])
def test_fit_equals_the_fit_with_the_generic_inner_solver(rng, monkeypatch, penalty):
    X, y = _dense_data(rng, n=500, p=25, k=3)
    kw = {"l1_ratio": 0.5} if penalty == "elasticnet" else {}
    fast = SoftmaxRegression(penalty=penalty, C=0.05, tol=1e-10, **kw).fit(X, y)
    with monkeypatch.context() as m:
        m.setattr(_fitting, "newton_model_solver", lambda objective, nonsmooth: None)
        ref = SoftmaxRegression(penalty=penalty, C=0.05, tol=1e-10, **kw).fit(X, y)
    assert fast.converged_ and ref.converged_
    np.testing.assert_allclose(fast.coef_, ref.coef_, atol=1e-7)
    np.testing.assert_array_equal(fast.coef_ == 0, ref.coef_ == 0)
    np.testing.assert_allclose(fast.predict_proba(X), ref.predict_proba(X), atol=1e-8)
    assert np.any(fast.coef_ == 0) and np.any(fast.coef_ != 0)
