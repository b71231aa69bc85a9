"""newton-cholesky: full-Hessian Newton with a Cholesky solve and Armijo backtracking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import rosen, rosen_der, rosen_hess, rosen_hess_prod

from softmax.objective import L2, Multinomial, NoPenalty, Objective, Standardization
from softmax.solvers import SOLVERS, SolverResult, get_solver, newton_cg, newton_cholesky


def _rosen(w):
    return rosen(w), rosen_der(w)


def _softmax_objective(rng, penalty):
    X = rng.standard_normal((300, 6)) * np.array([1e-3, 1, 10, 100, 1, 1]) + 5
    labels = rng.integers(0, 3, 300)
    sw = rng.uniform(0.5, 2.0, 300)
    scaling = Standardization.from_data(X, 3, True)
    return Objective(Multinomial(3), penalty, X, labels, sw, scaling)


def test_registered_under_scikit_learns_name():
    assert get_solver("newton-cholesky") is newton_cholesky
    assert SOLVERS["newton-cholesky"] is newton_cholesky


def test_minimises_rosenbrock_with_its_explicit_hessian():
    x0 = np.full(6, -1.0)
    res = newton_cholesky(_rosen, x0, hessian=rosen_hess, tol=1e-12)
    assert isinstance(res, SolverResult)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    assert res.history[0] == pytest.approx(rosen(x0))
    assert len(res.history) == res.n_iter + 1
    assert all(b <= a for a, b in zip(res.history, res.history[1:], strict=False))


def test_forms_the_hessian_from_hessp_when_not_given():
    res = newton_cholesky(_rosen, np.full(4, -1.0), hessp=rosen_hess_prod, tol=1e-12)
    assert res.converged, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)


def test_needs_hessian_or_hessp():
    with pytest.raises(ValueError, match="hessian"):
        newton_cholesky(_rosen, np.zeros(2))


def test_starting_at_the_optimum_takes_no_iteration():
    res = newton_cholesky(_rosen, np.ones(3), hessian=rosen_hess)
    assert res.converged and res.n_iter == 0 and res.history == [0.0]


def test_callback_can_stop():
    seen = []

    def cb(it, f, gnorm):
        seen.append(it)
        return it >= 2

    res = newton_cholesky(_rosen, np.full(4, -1.0), hessian=rosen_hess, callback=cb)
    assert seen == [1, 2]
    assert res.n_iter == 2


def test_same_optimum_as_newton_cg_on_softmax_regression(rng):
    obj = _softmax_objective(rng, L2(0.01))
    x0 = np.zeros(obj.n_params)
    ref = newton_cg(obj.value_and_grad, x0, hessp=obj.hessp, tol=1e-10)
    res = newton_cholesky(obj.value_and_grad, x0, hessian=obj.hessian, tol=1e-10)
    assert ref.converged and res.converged, res.message
    assert res.fun == pytest.approx(ref.fun, rel=1e-12)
    np.testing.assert_allclose(obj.to_original(res.x), obj.to_original(ref.x), rtol=1e-6)
    # Quadratic convergence: a handful of Newton steps.
    assert res.n_iter <= 15


def test_singular_hessian_of_the_unpenalised_multinomial_converges(rng):
    # Without a penalty the Hessian is singular along "add the same vector to
    # every class" (coefficients and intercepts): Cholesky alone would fail.
    obj = _softmax_objective(rng, NoPenalty())
    x0 = np.zeros(obj.n_params)
    H = obj.hessian(x0)
    assert np.linalg.eigvalsh(H).min() < 1e-12 * np.abs(H).max()
    res = newton_cholesky(obj.value_and_grad, x0, hessian=obj.hessian, tol=1e-10)
    assert res.converged, res.message
    assert np.all(np.isfinite(res.x))
    ref = newton_cg(obj.value_and_grad, x0, hessp=obj.hessp, tol=1e-10)
    assert res.fun == pytest.approx(ref.fun, rel=1e-10)
    # Same model up to the common shift of every class (the null space).
    W, W_ref = (obj.to_original(r.x)[: 3 * 6].reshape(3, 6) for r in (res, ref))
    np.testing.assert_allclose(W - W.mean(0), W_ref - W_ref.mean(0), rtol=1e-5, atol=1e-8)


def test_singular_hessian_with_l2_penalty_and_intercepts(rng):
    # With L2 only the intercepts' common shift is a null direction.
    obj = _softmax_objective(rng, L2(1e-3))
    res = newton_cholesky(
        obj.value_and_grad, np.zeros(obj.n_params), hessian=obj.hessian, tol=1e-10
    )
    assert res.converged, res.message


def test_max_iter_is_reported_as_not_converged():
    res = newton_cholesky(_rosen, np.full(6, -1.0), hessian=rosen_hess, max_iter=2)
    assert not res.converged
    assert res.n_iter <= 2


def test_takes_the_step_the_objective_cannot_resolve_when_the_gradient_can():
    # f = 1 + |x|^2 / 2 at x = 1e-8: the Newton step predicts a decrease of 1e-16,
    # below f's rounding, yet the gradient (1e-8) is far above tol and the step
    # is exact: it is taken instead of stopping as a stall.
    res = newton_cholesky(
        lambda x: (1.0 + 0.5 * float(x @ x), x.copy()),
        np.full(2, 1e-8),
        hessian=lambda x: np.eye(2),
        tol=1e-12,
    )
    assert res.converged and res.grad_norm <= 1e-12
    assert np.abs(res.x).max() < 1e-15


def test_a_step_in_the_rounding_noise_ends_as_a_stall():
    # A gradient that the step does not shrink (noise): no endless blind steps.
    calls = []

    def noisy(x):
        calls.append(1)
        return 1.0, np.full(2, 1e-9)

    res = newton_cholesky(noisy, np.zeros(2), hessian=lambda x: np.eye(2), tol=1e-12)
    assert res.n_iter == 0 and len(calls) <= 3
    assert res.converged  # the gradient is at the square root of the precision
