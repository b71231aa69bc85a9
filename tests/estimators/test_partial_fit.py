"""SoftmaxRegression.partial_fit: multinomial mini-batch AdaGrad towards fit's optimum."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import SoftmaxRegression
from softmax.objective import L2, Multinomial, Objective


def _data(rng, n=2000, d=5):
    X = rng.normal(size=(n, d)) * np.geomspace(0.3, 3, d) + 1.0
    W = rng.normal(size=(3, d))
    y = np.argmax(X @ W.T + rng.gumbel(size=(n, 3)) * 2, axis=1)
    return X, y


def _objective(X, y, C=1.0):
    n = X.shape[0]
    obj = Objective(Multinomial(3), L2(1.0 / (C * n)), X, y, np.ones(n))
    return lambda m: obj.value_and_grad(np.concatenate([m.coef_.ravel(), m.intercept_]))[0]


def test_epochs_converge_towards_the_batch_optimum(rng):
    X, y = _data(rng)
    n = X.shape[0]
    f = _objective(X, y)
    f_opt = f(SoftmaxRegression().fit(X, y))
    clf = SoftmaxRegression()
    gaps = []
    for _ in range(5):
        for b in np.array_split(rng.permutation(n), 20):
            clf.partial_fit(X[b], y[b], classes=[0, 1, 2], total_weight=n)
        gaps.append((f(clf) - f_opt) / f_opt)
    # Documented: within 0.5% of the optimal objective after 5 epochs of 20 batches.
    assert 0 <= gaps[-1] < 5e-3, gaps
    assert gaps[-1] < gaps[0] / 2
    assert clf.n_iter_[0] == 100
    assert np.mean(clf.predict(X) == SoftmaxRegression().fit(X, y).predict(X)) > 0.97


def test_one_batch_equal_to_the_data_is_one_sign_step(rng):
    """With AdaGrad, the first step is -eta * sign(g) per coordinate (|g| / sqrt(g**2))."""
    X, y = _data(rng, n=300)
    clf = SoftmaxRegression().partial_fit(X, y, classes=np.unique(y))
    # The gradient of the mean cross-entropy at zero, by hand: (P - Y)^T [X, 1] / n, P = 1/3.
    R = np.full((300, 3), 1 / 3) - np.eye(3)[y]
    g = R.T @ np.hstack([X, np.ones((300, 1))]) / 300
    np.testing.assert_allclose(clf.coef_, -0.5 * np.sign(g[:, :-1]))
    np.testing.assert_allclose(clf.intercept_, -0.5 * np.sign(g[:, -1]))


def test_binary_sparse_and_continuing_from_fit(rng):
    X, y = _data(rng, n=600)
    yb = np.where(y == 1, "b", "a")
    Xs = sp.csr_matrix(X)
    clf = SoftmaxRegression()
    for _ in range(5):
        for b in np.array_split(np.arange(600), 6):
            clf.partial_fit(Xs[b], yb[b], classes=["a", "b"], total_weight=600)
    ref = SoftmaxRegression().fit(X, yb)
    assert clf.coef_.shape == (1, 5)
    assert np.mean(clf.predict(X) == ref.predict(X)) > 0.95
    # From a fitted model, steps at the optimum barely move it.
    fitted = SoftmaxRegression().fit(X, y)
    coef = fitted.coef_.copy()
    fitted.partial_fit(X, y, total_weight=600)
    assert np.max(np.abs(fitted.coef_ - coef)) < 0.6  # one sign step of 0.5 at most


def test_partial_fit_errors(rng):
    X, y = _data(rng, n=100)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        SoftmaxRegression().partial_fit(X, y)
    with pytest.raises(ValueError, match="label 2, which is not in classes"):
        SoftmaxRegression().partial_fit(X, y, classes=[0, 1])
    clf = SoftmaxRegression().partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], y)
    with pytest.raises(ValueError, match="fewer than 2 classes"):
        SoftmaxRegression().partial_fit(X, y, classes=[0])
    with pytest.raises(ValueError, match="balanced"):
        SoftmaxRegression(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="total_weight"):
        SoftmaxRegression().partial_fit(X, y, classes=[0, 1, 2], total_weight=0)


def test_online_steps_leave_no_stale_fit_record(tmp_path):
    import softmax

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X @ rng.normal(size=(3, 3)) + rng.gumbel(size=(300, 3))).argmax(1)
    # A model fitted by partial_fit alone saves and loads (it had no converged_).
    online = SoftmaxRegression().partial_fit(X, y, classes=[0, 1, 2])
    softmax.save(online, tmp_path / "online.st")
    back = softmax.load(tmp_path / "online.st")
    np.testing.assert_array_equal(back.predict_proba(X), online.predict_proba(X))
    assert online.solver_ == "partial_fit" and online.objective_history_ == []
    # After a fit, an online step makes the fit's inference stale: refused, not reported.
    model = SoftmaxRegression(penalty=None).fit(X, y)
    model.summary()
    model.partial_fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="no inference for these coefficients"):
        model.summary()
