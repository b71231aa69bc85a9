"""Solvers see only callables; every registered solver reaches the same optimum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

from softmax.objective import L2, Multinomial, Objective, Standardization
from softmax.solvers import SOLVERS, SolverResult, get_solver


def _rosen(w):
    return rosen(w), rosen_der(w)


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_minimises_rosenbrock(name):
    res = get_solver(name)(_rosen, np.full(6, -1.0), hessp=rosen_hess_prod, tol=1e-10)
    assert isinstance(res, SolverResult)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-6)
    assert res.history[0] == pytest.approx(rosen(np.full(6, -1.0)))
    assert res.history[-1] <= res.history[0]
    assert len(res.history) == res.n_iter + 1


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_max_iter_is_reported_as_not_converged(name):
    res = get_solver(name)(_rosen, np.full(6, -1.0), hessp=rosen_hess_prod, max_iter=3)
    assert not res.converged
    assert res.n_iter <= 3


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_callback_can_stop(name):
    seen = []

    def cb(it, f, gnorm):
        seen.append((it, f, gnorm))
        return it >= 2

    res = get_solver(name)(_rosen, np.full(4, -1.0), hessp=rosen_hess_prod, callback=cb)
    assert [s[0] for s in seen] == [1, 2]
    assert res.n_iter <= 3


def test_all_solvers_reach_the_same_optimum(rng):
    X = rng.standard_normal((300, 6)) * np.array([1e-3, 1, 10, 100, 1, 1]) + 5
    labels = rng.integers(0, 3, 300)
    sw = np.ones(300)
    obj = Objective(Multinomial(3), L2(0.01), X, labels, sw, Standardization.from_data(X, 3, True))
    # FISTA is first-order: on this deliberately ill-conditioned problem (unit
    # penalty strength against a feature of scale 1e-3) it needs ~1e5 steps.
    results = {
        name: solver(obj.value_and_grad, np.zeros(obj.n_params), hessp=obj.hessp, tol=1e-10)
        for name, solver in SOLVERS.items()
        if name != "fista"
    }
    ref = results["newton-cg"]
    for name, res in results.items():
        assert res.converged, name
        assert res.fun == pytest.approx(ref.fun, rel=1e-12)
        np.testing.assert_allclose(obj.to_original(res.x), obj.to_original(ref.x), rtol=1e-6)


def test_unknown_solver_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"solver='sag'.*lbfgs"):
        get_solver("sag")


def test_newton_cg_needs_hessp():
    with pytest.raises(ValueError, match="hessp"):
        get_solver("newton-cg")(_rosen, np.zeros(2))
