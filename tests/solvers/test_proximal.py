"""Proximal solvers: the lasso and group lasso on least squares, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Lasso, MultiTaskLasso

from softmax.objective import L1, GroupL1, ProxTerm
from softmax.solvers import PROXIMAL, get_solver


def _least_squares(A, B):
    """``||A W^T - B||^2 / (2 n)`` over W of shape (n_tasks, n_features), flattened."""
    n = A.shape[0]
    shape = (B.shape[1], A.shape[1])

    def value_and_grad(w):
        R = A @ w.reshape(shape).T - B
        return 0.5 * float(np.sum(R * R)) / n, (R.T @ A).ravel() / n

    def hessp(w, v):
        return ((A @ v.reshape(shape).T).T @ A).ravel() / n

    return value_and_grad, hessp, shape


@pytest.mark.parametrize("name", sorted(PROXIMAL))
def test_lasso_matches_sklearn(name, rng):
    A = rng.standard_normal((80, 12))
    b = A[:, :3] @ np.array([2.0, -1.0, 0.5]) + 0.1 * rng.standard_normal(80)
    vg, hp, _ = _least_squares(A, b[:, None])
    term = ProxTerm(L1(0.1), 1, 12, False)
    res = get_solver(name)(vg, np.zeros(12), hessp=hp, nonsmooth=term, tol=1e-10, max_iter=5000)
    assert res.converged, res.message
    ref = Lasso(alpha=0.1, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(A, b)
    np.testing.assert_allclose(res.x, ref.coef_, atol=1e-7)
    np.testing.assert_array_equal(res.x == 0, ref.coef_ == 0)
    assert res.fun == pytest.approx(vg(ref.coef_)[0] + 0.1 * np.abs(ref.coef_).sum(), rel=1e-10)


@pytest.mark.parametrize("name", sorted(PROXIMAL))
def test_group_lasso_matches_multitask_lasso(name, rng):
    # MultiTaskLasso's penalty is alpha * sum_j ||W[:, j]||_2: our group penalty.
    A = rng.standard_normal((60, 8))
    B = A[:, :2] @ rng.standard_normal((2, 3)) + 0.1 * rng.standard_normal((60, 3))
    vg, hp, shape = _least_squares(A, B)
    term = ProxTerm(GroupL1(0.2), 3, 8, False)
    res = get_solver(name)(vg, np.zeros(24), hessp=hp, nonsmooth=term, tol=1e-10, max_iter=5000)
    assert res.converged, res.message
    ref = MultiTaskLasso(alpha=0.2, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(A, B)
    W = res.x.reshape(shape)
    np.testing.assert_allclose(W, ref.coef_, atol=1e-7)
    np.testing.assert_array_equal(np.all(W == 0, axis=0), np.all(ref.coef_ == 0, axis=0))


def test_prox_newton_with_a_dense_hessian(rng):
    A = rng.standard_normal((50, 6))
    b = A @ rng.standard_normal(6)
    vg, hp, _ = _least_squares(A, b[:, None])
    term = ProxTerm(L1(0.05), 1, 6, False)
    H = A.T @ A / 50
    a = get_solver("prox-newton")(vg, np.zeros(6), hessian=lambda w: H, nonsmooth=term, tol=1e-12)
    b_ = get_solver("prox-newton")(vg, np.zeros(6), hessp=hp, nonsmooth=term, tol=1e-12)
    np.testing.assert_allclose(a.x, b_.x, atol=1e-10)
    assert a.converged and a.n_iter <= 10  # quadratic f: only the inner solves are inexact


@pytest.mark.parametrize("name", sorted(PROXIMAL))
def test_history_callback_and_max_iter(name, rng):
    A = rng.standard_normal((40, 5))
    vg, hp, _ = _least_squares(A, rng.standard_normal((40, 1)))
    term = ProxTerm(L1(0.01), 1, 5, False)
    seen = []
    res = get_solver(name)(
        vg,
        np.ones(5),
        hessp=hp,
        nonsmooth=term,
        callback=lambda it, f, r: seen.append(it) or it >= 2,
    )
    assert seen[:2] == [1, 2] and res.n_iter <= 2
    assert len(res.history) == res.n_iter + 1
    assert all(b <= a + 1e-12 for a, b in zip(res.history, res.history[1:], strict=False))
    capped = get_solver(name)(vg, np.ones(5), hessp=hp, nonsmooth=term, max_iter=1, tol=1e-15)
    assert not capped.converged and capped.n_iter == 1


def test_prox_newton_needs_second_order_information():
    with pytest.raises(ValueError, match="hessp"):
        get_solver("prox-newton")(lambda w: (0.0, w), np.zeros(2))
