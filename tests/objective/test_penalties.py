"""Non-smooth penalties: values, exact proxes and KKT residuals against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from softmax.objective import L1, ElasticNet, GroupElasticNet, GroupL1, ProxTerm, Standardization


def _prox_reference(penalty, W, step):
    """argmin_U ||U - W||^2 / (2 step) + penalty(U) by Powell's derivative-free method."""

    def fun(u):
        U = u.reshape(W.shape)
        return float(np.sum((U - W) ** 2)) / (2 * step) + penalty.value(U)

    best = None
    for x0 in (W.ravel(), np.zeros(W.size)):
        res = minimize(fun, x0, method="Powell", options={"xtol": 1e-12, "ftol": 1e-15})
        if best is None or res.fun < best.fun:
            best = res
    return best.x.reshape(W.shape), best.fun, fun


PENALTIES = [
    L1(0.3),
    L1(0.3, weights=np.array([1.0, 0.5, 2.0, 0.1])),
    GroupL1(0.4),
    GroupL1(0.4, weights=np.array([1.0, 3.0, 0.5, 0.2])),
    ElasticNet(0.5, 0.7),
    GroupElasticNet(0.5, 0.3),
]


@pytest.mark.parametrize("penalty", PENALTIES, ids=lambda p: type(p).__name__)
def test_prox_is_the_minimiser(penalty, rng):
    W = rng.standard_normal((3, 4))
    W[:, 1] *= 0.05  # a column small enough to be zeroed
    step = 0.7
    U = penalty.prox(W, step)
    U_ref, f_ref, fun = _prox_reference(penalty, W, step)
    assert fun(U.ravel()) <= f_ref + 1e-10
    np.testing.assert_allclose(U, U_ref, atol=1e-5)


def test_values_match_the_formulas(rng):
    W = rng.standard_normal((3, 5))
    w = rng.uniform(0.5, 2, 5)
    assert L1(0.2, w).value(W) == pytest.approx(0.2 * np.sum(np.abs(W) * w))
    assert GroupL1(0.2, w).value(W) == pytest.approx(0.2 * np.sum(np.linalg.norm(W, axis=0) * w))
    assert ElasticNet(2.0, 0.25).value(W) == pytest.approx(
        2.0 * (0.25 * np.abs(W).sum() + 0.375 * np.sum(W**2))
    )
    assert GroupElasticNet(2.0, 0.25).value(W) == pytest.approx(
        2.0 * (0.25 * np.linalg.norm(W, axis=0).sum() + 0.375 * np.sum(W**2))
    )


def test_prox_zeros_are_exact():
    W = np.array([[0.1, -0.2, 3.0], [0.05, 0.0, -1.0]])
    assert np.count_nonzero(L1(0.5).prox(W, 1.0)) == 2
    U = GroupL1(0.5).prox(W, 1.0)
    assert np.all(U[:, :2] == 0.0) and np.all(U[:, 2] != 0.0)


def test_l1_min_norm_subgradient_against_a_scalar_search(rng):
    W = rng.standard_normal((2, 6))
    W[:, :3] = 0.0
    G = rng.standard_normal((2, 6))
    pen = L1(0.6)
    R = pen.min_norm_subgradient(W, G)
    for k in range(2):
        for j in range(6):
            if W[k, j] == 0:
                # min over s in [-1, 1] of |G + 0.6 s|
                ref = minimize_scalar(
                    lambda s, k=k, j=j: abs(G[k, j] + 0.6 * s), bounds=(-1, 1), method="bounded"
                ).fun
                assert abs(R[k, j]) == pytest.approx(ref, abs=1e-4)
            else:
                assert R[k, j] == pytest.approx(G[k, j] + 0.6 * np.sign(W[k, j]))


def test_group_min_norm_subgradient(rng):
    W = rng.standard_normal((3, 4))
    W[:, 0] = 0.0
    G = rng.standard_normal((3, 4))
    G[:, 1] *= 0.01  # a zero column's subgradient that fits inside the ball
    W[:, 1] = 0.0
    R = GroupL1(0.5).min_norm_subgradient(W, G)
    # zero columns: the distance of -G_j to the ball of radius 0.5
    for j in (0, 1):
        assert np.linalg.norm(R[:, j]) == pytest.approx(max(np.linalg.norm(G[:, j]) - 0.5, 0))
    for j in (2, 3):
        np.testing.assert_allclose(R[:, j], G[:, j] + 0.5 * W[:, j] / np.linalg.norm(W[:, j]))


@pytest.mark.parametrize("penalty", [L1(0.3), GroupL1(0.3)], ids=["l1", "group"])
def test_prox_term_in_standardised_coordinates(penalty, rng):
    """The weighted penalty on W~ equals the penalty on original-scale W; intercepts free."""
    X = rng.standard_normal((50, 4)) * np.array([0.1, 1.0, 10.0, 3.0]) + 2.0
    st = Standardization.from_data(X, 3, True)
    term = ProxTerm(penalty, 3, 4, True, st)
    x = rng.standard_normal(15)
    W_orig = st.forward(x)[:12].reshape(3, 4)
    assert term.value(x) == pytest.approx(penalty.value(W_orig))
    p = term.prox(x, 0.5)
    np.testing.assert_array_equal(p[12:], x[12:])
    g = rng.standard_normal(15)
    np.testing.assert_array_equal(term.min_norm_subgradient(x, g)[12:], g[12:])
