"""The multi-label data fit: value against the BCE loss and an mpmath-free float64
reference, gradient against finite differences, hessp against the slope of the
gradient, the full Hessian against hessp, dense == sparse, float32."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, log_expit

from softmax.losses import binary_cross_entropy_with_logits
from softmax.objective import L2, MultiLabel, NoPenalty, Objective, Standardization


def _problem(rng, n=50, d=4, n_labels=3, sparse=False):
    X = rng.standard_normal((n, d)) * np.logspace(-1, 1, d) + 2.0
    X[rng.random((n, d)) < 0.3] = 0.0
    Y = (rng.random((n, n_labels)) < 0.4).astype(np.float64)
    sw = rng.uniform(0.2, 2.0, n)
    return (sp.csr_matrix(X) if sparse else X), Y, sw


def _objective(rng, sparse=False, intercept=True, standardize=True, penalty="l2", pos_weight=True):
    X, Y, sw = _problem(rng, sparse=sparse)
    pw = rng.uniform(0.5, 3.0, Y.shape[1]) if pos_weight else None
    datafit = MultiLabel(Y.shape[1], intercept, pw)
    pen = L2(alpha=0.2) if penalty == "l2" else NoPenalty()
    scaling = Standardization.from_data(X, datafit.n_rows, intercept) if standardize else None
    return Objective(datafit, pen, X, Y, sw, scaling, block_rows=13)


def _five_point(f, w, direction, h):
    return (
        -f(w + 2 * h * direction)
        + 8 * f(w + h * direction)
        - 8 * f(w - h * direction)
        + f(w - 2 * h * direction)
    ) / (12 * h)


CASES = [
    (sparse, intercept, standardize, pos_weight)
    for sparse in (False, True)
    for intercept in (True, False)
    for standardize in (True, False)
    for pos_weight in (True, False)
]


@pytest.mark.parametrize(("sparse", "intercept", "standardize", "pos_weight"), CASES)
def test_gradient_matches_finite_differences(rng, sparse, intercept, standardize, pos_weight):
    obj = _objective(rng, sparse, intercept, standardize, pos_weight=pos_weight)
    w = rng.standard_normal(obj.n_params) * 0.2
    _, g = obj.value_and_grad(w)
    eye = np.eye(obj.n_params)
    g_fd = np.array([_five_point(lambda v: obj.value_and_grad(v)[0], w, e, 1e-5) for e in eye])
    np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("sparse", "intercept", "standardize", "pos_weight"), CASES)
def test_hessp_matches_slope_of_gradient(rng, sparse, intercept, standardize, pos_weight):
    obj = _objective(rng, sparse, intercept, standardize, pos_weight=pos_weight)
    w = rng.standard_normal(obj.n_params) * 0.2
    v = rng.standard_normal(obj.n_params)
    slope = _five_point(lambda p: obj.value_and_grad(p)[1], w, v, 1e-4)
    np.testing.assert_allclose(obj.hessp(w, v), slope, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("sparse", "intercept", "penalty"),
    [(False, True, "l2"), (True, True, None), (False, False, None), (True, False, "l2")],
)
def test_hessian_is_hessp_column_by_column(rng, sparse, intercept, penalty):
    obj = _objective(rng, sparse, intercept, standardize=True, penalty=penalty)
    w = rng.standard_normal(obj.n_params) * 0.3
    H = obj.hessian(w)
    cols = np.column_stack([obj.hessp(w, e) for e in np.eye(obj.n_params)])
    np.testing.assert_allclose(H, cols, rtol=1e-10, atol=1e-12 * np.max(np.abs(H)))
    # Positive definite: each label's block is a weighted Gram matrix of full rank.
    assert np.linalg.eigvalsh(H).min() > 0


def test_value_matches_binary_cross_entropy_with_logits_and_scipy(rng):
    X, Y, sw = _problem(rng)
    pw = np.array([0.5, 2.0, 3.0])
    datafit = MultiLabel(3, True, pw)
    w = rng.standard_normal(datafit.n_rows * (X.shape[1] + 1))
    value, grad, D = datafit.value_and_grad(w, X, Y, sw)
    Z = X @ w[:12].reshape(3, 4).T + w[12:]
    ours_loss = binary_cross_entropy_with_logits(
        Z, Y, pos_weight=pw, sample_weight=sw, reduction="sum"
    )
    # SciPy's log_expit: an independent implementation of log sigmoid.
    ref = -np.sum(sw[:, None] * (pw * Y * log_expit(Z) + (1 - Y) * log_expit(-Z)))
    np.testing.assert_allclose(value, ref, rtol=1e-13)
    np.testing.assert_allclose(value, ours_loss, rtol=1e-13)
    R = sw[:, None] * ((1 - Y) * expit(Z) - pw * Y * expit(-Z))
    np.testing.assert_allclose(grad, np.concatenate([(R.T @ X).ravel(), R.sum(0)]), rtol=1e-12)
    np.testing.assert_allclose(D, (1 + (pw - 1) * Y) * expit(Z) * expit(-Z), rtol=1e-12)


def test_extreme_logits_stay_finite():
    X = np.array([[1.0], [-1.0]])
    Y = np.array([[1.0], [1.0]])
    datafit = MultiLabel(1, False)
    value, grad, D = datafit.value_and_grad(np.array([800.0]), X, Y, np.ones(2))
    # Row 2 has logit -800 for a positive label: loss 800, dL/dz = -1, dL/dw = -1 * x = 1.
    np.testing.assert_allclose(value, 800.0, rtol=1e-15)
    np.testing.assert_allclose(grad, [1.0], rtol=1e-15)
    assert np.all(np.isfinite(D)) and np.all(D >= 0)


def test_dense_and_sparse_agree():
    dense = _objective(np.random.default_rng(7), sparse=False)
    sparse = _objective(np.random.default_rng(7), sparse=True)
    w = np.random.default_rng(8).standard_normal(dense.n_params)
    v = np.random.default_rng(9).standard_normal(dense.n_params)
    f_d, g_d = dense.value_and_grad(w)
    f_s, g_s = sparse.value_and_grad(w)
    np.testing.assert_allclose(f_d, f_s, rtol=1e-13)
    np.testing.assert_allclose(g_d, g_s, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(dense.hessp(w, v), sparse.hessp(w, v), rtol=1e-11, atol=1e-14)


def test_labels_are_independent_problems(rng):
    """The joint loss is the sum of one binomial loss per label."""
    from softmax.objective import Binomial

    X, Y, sw = _problem(rng)
    joint = MultiLabel(3, True)
    w = rng.standard_normal(15)
    W, b = w[:12].reshape(3, 4), w[12:]
    value, grad, _ = joint.value_and_grad(w, X, Y, sw)
    total, grads_W, grads_b = 0.0, [], []
    for label in range(3):
        v, g, _ = Binomial(True).value_and_grad(
            np.append(W[label], b[label]), X, Y[:, label].astype(np.intp), sw
        )
        total += v
        grads_W.append(g[:4])
        grads_b.append(g[4])
    np.testing.assert_allclose(value, total, rtol=1e-13)
    np.testing.assert_allclose(grad, np.concatenate([*grads_W, grads_b]), rtol=1e-12)


def test_float32_data_keeps_float64_sums(rng):
    X, Y, sw = _problem(rng)
    datafit = MultiLabel(3, True)
    w = rng.standard_normal(15) * 0.3
    v64, g64, _ = datafit.value_and_grad(w, X, Y, sw)
    v32, g32, D32 = datafit.value_and_grad(w, X.astype(np.float32), Y, sw)
    assert D32.dtype == np.float32 and g32.dtype == np.float64
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-5)
