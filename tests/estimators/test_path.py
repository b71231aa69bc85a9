"""regularization_path: warm-started fits equal cold fits; C_min; early stop; bad grids."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.svm import l1_min_c

import softmax
from softmax import SoftmaxRegression, regularization_path
from softmax.estimators._path import C_min


def _wine(n=90):
    X, y = load_wine(return_X_y=True)
    idx = np.random.default_rng(0).choice(X.shape[0], n, replace=False)
    X, y = X[idx], y[idx]
    return (X - X.mean(0)) / X.std(0), y


@pytest.mark.parametrize(
    ("penalty", "l1_ratio"), [("l1", None), ("elasticnet", 0.5), ("group_l1", None)]
)
def test_path_equals_cold_fits(penalty, l1_ratio):
    X, y = _wine()
    path = regularization_path(X, y, Cs=6, penalty=penalty, l1_ratio=l1_ratio, eps=1e-2)
    assert np.all(np.diff(path.Cs) > 0)
    assert path.Cs[0] == pytest.approx(path.C_min, rel=1e-3) and path.Cs[0] < path.C_min
    assert path.n_nonzero[0] == 0 and path.n_nonzero[-1] > 0
    assert np.all(np.diff(path.deviance_ratio) >= -1e-12)
    for i, C in enumerate(path.Cs):
        cold = SoftmaxRegression(penalty=penalty, l1_ratio=l1_ratio, C=C).fit(X, y)
        np.testing.assert_allclose(path.coefs[i], cold.coef_, atol=1e-6)
        np.testing.assert_allclose(path.intercepts[i], cold.intercept_, atol=1e-6)
        assert path.objective[i] == pytest.approx(cold.objective_history_[-1], rel=1e-9)
        assert path.n_nonzero[i] == np.count_nonzero(np.any(cold.coef_ != 0, axis=0))


def test_c_min_is_the_edge_of_the_all_zero_model():
    X, y = _wine()
    for penalty in ("l1", "group_l1"):
        c = C_min(X, y, penalty=penalty)
        below = SoftmaxRegression(penalty=penalty, C=0.99 * c).fit(X, y)
        above = SoftmaxRegression(penalty=penalty, C=1.05 * c).fit(X, y)
        assert np.all(below.coef_ == 0) and np.any(above.coef_ != 0)
    assert C_min(X, y, penalty="l2") is None
    # l1_ratio scales it linearly
    assert C_min(X, y, penalty="elasticnet", l1_ratio=0.5) == pytest.approx(0.5 * C_min(X, y))


def test_c_min_of_the_binary_lasso_matches_sklearn():
    X, y = _wine()
    keep = y < 2
    # sklearn's l1_min_c is for the binary model with y in {-1, 1} and no intercept
    ours = C_min(X[keep], y[keep], penalty="l1", fit_intercept=False)
    assert ours == pytest.approx(l1_min_c(X[keep], y[keep], loss="log", fit_intercept=False))


def test_loss_plus_penalty_is_the_objective():
    X, y = _wine()
    path = regularization_path(X, y, Cs=[0.05, 0.5], penalty="l1")
    S = X.shape[0]
    for i, C in enumerate(path.Cs):
        pen = np.abs(path.coefs[i]).sum() / (C * S)
        assert path.loss[i] + pen == pytest.approx(path.objective[i], rel=1e-12)
    assert path.deviance_ratio[0] == pytest.approx(1 - path.loss[0] / path.null_loss)


def test_early_stop_and_ridge_grid():
    X, y = _wine()
    full = regularization_path(X, y, Cs=12, penalty="l1", eps=1e-4)
    early = regularization_path(X, y, Cs=12, penalty="l1", eps=1e-4, early_stop=True)
    assert len(early.Cs) < len(full.Cs)
    dev = early.deviance_ratio
    last = dev[-1] >= 0.999 or dev[-1] - dev[-2] < 1e-5 * dev[-1]
    assert last
    np.testing.assert_allclose(early.coefs, full.coefs[: len(early.Cs)], atol=1e-8)
    ridge = regularization_path(X, y, Cs=3, penalty="l2")
    np.testing.assert_allclose(ridge.Cs, [1e-4, 1.0, 1e4])
    assert ridge.C_min is None


def test_public_and_results_are_sorted():
    assert softmax.regularization_path is regularization_path
    X, y = _wine()
    path = regularization_path(X, y, Cs=[1.0, 0.1], penalty="l1")
    np.testing.assert_array_equal(path.Cs, [0.1, 1.0])
    assert path.coefs.shape == (2, 3, X.shape[1]) and path.n_iter.shape == (2,)
    assert path.converged.all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"Cs": []}, "non-empty"),
        ({"Cs": [0.1, -1.0]}, "values > 0"),
        ({"Cs": [0.0]}, "values > 0"),
        ({"Cs": 0}, "positive int"),
        ({"Cs": "ten"}, "non-empty"),
        ({"eps": 2.0}, "eps must be"),
        ({"penalty": "elasticnet", "l1_ratio": 2.0}, "l1_ratio must be in"),
    ],
)
def test_bad_input(kwargs, match):
    X, y = _wine(40)
    with pytest.raises(ValueError, match=match):
        regularization_path(X, y, **kwargs)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_X_is_named_like_the_estimators(value):
    X, y = _wine(40)
    X[3, 1] = value
    with pytest.raises(ValueError, match=r"Input X contains (NaN|inf) in column 1"):
        regularization_path(X, y, Cs=3)
    with pytest.raises(ValueError, match=r"Input X contains (NaN|inf) in column 1"):
        C_min(X, y, penalty="l1")
