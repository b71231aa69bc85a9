"""SoftmaxRegression with L1, elastic-net and group penalties: saga parity and KKT."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from softmax import SoftmaxRegression


def _standardised(name, n=None, seed=0):
    X, y = {"iris": load_iris, "wine": load_wine}[name](return_X_y=True)
    if n is not None:
        idx = np.random.default_rng(seed).choice(X.shape[0], n, replace=False)
        X, y = X[idx], y[idx]
    return (X - X.mean(0)) / X.std(0), y


def _binary():
    X, y = _standardised("wine")
    keep = y < 2
    return X[keep], y[keep]


def _sk_objective(X, y, W, b, C, l1_ratio, group=False, sw=None):
    """scikit-learn's objective C * sum s_i loss_i + (1-r)/2 ||W||^2 + r P(W), from scratch."""
    sw = np.ones(X.shape[0]) if sw is None else sw
    classes = np.unique(y)
    Z = X @ W.T + b
    if W.shape[0] == 1:
        t = np.where(y == classes[1], 1.0, -1.0)
        loss = np.logaddexp(0.0, -t * Z[:, 0])
    else:
        Z = Z - Z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(Z).sum(axis=1))
        loss = lse - Z[np.arange(len(y)), np.searchsorted(classes, y)]
    P = np.linalg.norm(W, axis=0).sum() if group else np.abs(W).sum()
    return C * float(sw @ loss) + 0.5 * (1 - l1_ratio) * float(np.sum(W * W)) + l1_ratio * P


def _gradient(X, y, W, b, sw):
    """Gradient of sum_i s_i loss_i w.r.t. (W, b), written out independently."""
    classes = np.unique(y)
    if W.shape[0] == 1:
        r = expit(X @ W[0] + b[0]) - (y == classes[1])
        R = (sw * r)[:, None]
    else:
        P = softmax(X @ W.T + b, axis=1)
        Y = (y[:, None] == classes).astype(float)
        R = sw[:, None] * (P - Y)
    return R.T @ X, R.sum(axis=0)


def _check_kkt(model, X, y, l1_ratio, group=False, sw=None, atol=1e-6):
    """The optimality conditions on original-scale coefficients, scikit-learn's scaling:
    G = C grad_W loss_sum + (1 - r) W; elementwise |G| <= r where W == 0 and
    G = -r sign(W) elsewhere; for groups ||G_j|| <= r or G_j = -r W_j / ||W_j||."""
    sw = np.ones(X.shape[0]) if sw is None else sw
    W = model.coef_.astype(np.float64)
    b = model.intercept_.astype(np.float64)
    G, g_b = _gradient(np.asarray(X, dtype=np.float64), y, W, b, sw)
    G = model.C * G + (1 - l1_ratio) * W
    scale = model.C * sw.sum()  # our tolerance is relative to the mean loss
    assert np.max(np.abs(g_b)) <= atol * scale
    if group:
        norms = np.linalg.norm(W, axis=0)
        for j in range(W.shape[1]):
            if norms[j] == 0:
                assert np.linalg.norm(G[:, j]) <= l1_ratio + atol * scale
            else:
                np.testing.assert_allclose(
                    G[:, j], -l1_ratio * W[:, j] / norms[j], atol=atol * scale
                )
    else:
        zero = W == 0
        assert np.all(np.abs(G[zero]) <= l1_ratio + atol * scale)
        np.testing.assert_allclose(G[~zero], -l1_ratio * np.sign(W[~zero]), atol=atol * scale)


def _saga(X, y, C, l1_ratio, sw=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's slow-convergence and deprecation warnings
        return LogisticRegression(
            solver="saga", C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=20_000, random_state=0
        ).fit(X, y, sample_weight=sw)  # seeded: saga visits the rows in a random order


@pytest.mark.parametrize(
    ("data", "C", "l1_ratio"),
    [("iris", 0.1, 1.0), ("iris", 1.0, 0.5), ("wine", 0.1, 1.0), ("binary", 0.05, 1.0)],
)
def test_parity_with_saga(data, C, l1_ratio):
    X, y = _binary() if data == "binary" else _standardised(data)
    penalty = "l1" if l1_ratio == 1.0 else "elasticnet"
    ours = SoftmaxRegression(penalty=penalty, C=C, l1_ratio=l1_ratio).fit(X, y)
    ref = _saga(X, y, C, l1_ratio)
    f_ours = _sk_objective(X, y, ours.coef_, ours.intercept_, C, l1_ratio)
    f_ref = _sk_objective(X, y, ref.coef_, ref.intercept_, C, l1_ratio)
    assert f_ours <= f_ref * (1 + 1e-12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    # Same zero pattern away from ties (saga's zeros are exact too, via its prox).
    clear = (np.abs(ref.coef_) > 1e-5) | (ref.coef_ == 0)
    np.testing.assert_array_equal((ours.coef_ == 0)[clear], (ref.coef_ == 0)[clear])
    assert np.any(ours.coef_ == 0)
    _check_kkt(ours, X, y, l1_ratio)


@pytest.mark.parametrize(
    ("data", "C", "l1_ratio"), [("iris", 1.0, 0.5), ("wine", 0.1, 1.0), ("binary", 0.05, 1.0)]
)
def test_parity_with_saga_on_sparse_data(data, C, l1_ratio):
    """Sparse input takes coordinate descent for the Newton model (its own kernel)."""
    X, y = _binary() if data == "binary" else _standardised(data)
    X = np.where(np.abs(X) < 0.5, 0.0, X)  # a sparse matrix with real zeros
    penalty = "l1" if l1_ratio == 1.0 else "elasticnet"
    ours = SoftmaxRegression(penalty=penalty, C=C, l1_ratio=l1_ratio).fit(sp.csr_matrix(X), y)
    ref = _saga(X, y, C, l1_ratio)
    f_ours = _sk_objective(X, y, ours.coef_, ours.intercept_, C, l1_ratio)
    assert f_ours <= _sk_objective(X, y, ref.coef_, ref.intercept_, C, l1_ratio) * (1 + 1e-12)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    assert np.any(ours.coef_ == 0)
    _check_kkt(ours, X, y, l1_ratio)


def test_parity_with_saga_sample_weights_and_class_weights(rng):
    X, y = _standardised("iris")
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    ours = SoftmaxRegression(penalty="l1", C=0.2, class_weight={0: 2.0, 1: 1.0, 2: 0.5})
    ours.fit(X, y, sample_weight=sw)
    full = sw * np.array([2.0, 1.0, 0.5])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(
            solver="saga",
            C=0.2,
            l1_ratio=1.0,
            class_weight={0: 2.0, 1: 1.0, 2: 0.5},
            tol=1e-10,
            max_iter=20_000,
            random_state=0,
        ).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    _check_kkt(ours, X, y, 1.0, sw=full)


@pytest.mark.parametrize("penalty", ["l1", "elasticnet", "group_l1", "group_elasticnet"])
def test_kkt_on_unscaled_sparse_and_float32_data(penalty, rng):
    """Internal standardisation must not change the minimiser (KKT on the original scale)."""
    n = 120
    X = rng.standard_normal((n, 6)) * np.array([0.01, 1.0, 50.0, 3.0, 1.0, 0.2]) + 3.0
    y = rng.integers(0, 3, n)
    X[:, 2] += 40.0 * y  # informative, large scale
    X[:, 5] -= 0.3 * y  # informative, small scale
    r = 0.6 if "elasticnet" in penalty else 1.0
    group = penalty.startswith("group")
    kw = {"l1_ratio": r} if "elasticnet" in penalty else {}
    for data in (X, sp.csr_matrix(X)):
        model = SoftmaxRegression(penalty=penalty, C=0.05, **kw).fit(data, y)
        assert model.converged_
        _check_kkt(model, X, y, r, group=group)
        assert np.any(model.coef_ == 0) and np.any(model.coef_ != 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # float32 may not reach 1e-8
        m32 = SoftmaxRegression(penalty=penalty, C=0.05, **kw).fit(X.astype(np.float32), y)
    assert m32.coef_.dtype == np.float32
    np.testing.assert_allclose(m32.coef_, model.coef_, atol=1e-3)


def test_group_penalty_selects_whole_features():
    X, y = _standardised("wine")
    model = SoftmaxRegression(penalty="group_l1", C=0.05).fit(X, y)
    zero_cols = np.all(model.coef_ == 0, axis=0)
    assert zero_cols.any() and not zero_cols.all()
    # a feature is in or out for every class at once
    assert np.all(np.all(model.coef_ != 0, axis=0) | zero_cols)
    _check_kkt(model, X, y, 1.0, group=True)


def test_group_penalty_with_two_classes_is_the_lasso():
    X, y = _binary()
    g = SoftmaxRegression(penalty="group_l1", C=0.05).fit(X, y)
    l1 = SoftmaxRegression(penalty="l1", C=0.05).fit(X, y)
    np.testing.assert_allclose(g.coef_, l1.coef_, atol=1e-8)


def test_l1_ratio_on_l2_means_elastic_net_and_zero_means_ridge():
    X, y = _standardised("iris")
    a = SoftmaxRegression(C=0.3, l1_ratio=0.5).fit(X, y)
    b = SoftmaxRegression(penalty="elasticnet", C=0.3, l1_ratio=0.5).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-10)
    ridge = SoftmaxRegression(C=0.3).fit(X, y)
    en0 = SoftmaxRegression(penalty="elasticnet", C=0.3, l1_ratio=0.0).fit(X, y)
    np.testing.assert_allclose(en0.coef_, ridge.coef_, atol=1e-8)
    assert en0.solver_ != "prox-newton" and b.solver_ == "prox-newton"


def test_fista_reaches_the_same_model():
    X, y = _standardised("iris")
    a = SoftmaxRegression(penalty="l1", C=0.2).fit(X, y)
    b = SoftmaxRegression(penalty="l1", C=0.2, solver="fista", max_iter=20_000).fit(X, y)
    assert b.converged_
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-5)
    np.testing.assert_array_equal(a.coef_ == 0, b.coef_ == 0)


def test_warm_start_and_pandas():
    pd = pytest.importorskip("pandas")
    X, y = _standardised("wine")
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    model = SoftmaxRegression(penalty="l1", C=0.1, warm_start=True).fit(df, y)
    first = model.n_iter_[0]
    coef = model.coef_.copy()
    model.fit(df, y)
    assert model.n_iter_[0] < first
    np.testing.assert_allclose(model.coef_, coef, atol=1e-8)
    assert list(model.feature_names_in_) == list(df.columns)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"penalty": "elasticnet", "l1_ratio": 1.5}, "l1_ratio must be in"),
        ({"penalty": "elasticnet", "l1_ratio": -0.1}, "l1_ratio must be in"),
        ({"penalty": "group_elasticnet"}, "needs l1_ratio"),
        ({"penalty": "group_l1", "l1_ratio": 0.3}, "group_elasticnet"),
        ({"penalty": "l1", "solver": "newton-cg"}, "needs a smooth penalty"),
        ({"penalty": "lasso"}, "penalty='lasso'"),
    ],
)
def test_bad_parameters(kwargs, match):
    X, y = _standardised("iris")
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression(**kwargs).fit(X, y)
