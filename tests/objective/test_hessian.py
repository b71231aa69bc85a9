"""Objective.hessian: the full matrix agrees with hessp, dense == sparse, symmetric."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax.objective import L2, Binomial, Multinomial, NoPenalty, Objective, Standardization
from softmax.objective import _datafit as datafit_module


def _objective(rng, kind, sparse, intercept, standardize, penalty, block_rows=17):
    n, d = 60, 5
    k = 2 if kind == "binomial" else 4
    X = rng.standard_normal((n, d)) * np.logspace(-2, 2, d) + 3.0
    X[rng.random((n, d)) < 0.3] = 0.0
    labels = rng.integers(0, k, n)
    sw = rng.uniform(0.2, 2.0, n)
    datafit = Binomial(intercept) if kind == "binomial" else Multinomial(k, intercept)
    pen = L2(alpha=0.3) if penalty == "l2" else NoPenalty()
    scaling = Standardization.from_data(X, datafit.n_rows, intercept) if standardize else None
    Xin = sp.csr_matrix(X) if sparse else X
    return Objective(datafit, pen, Xin, labels, sw, scaling, block_rows=block_rows)


CASES = [
    (kind, sparse, intercept, standardize, penalty)
    for kind in ("multinomial", "binomial")
    for sparse in (False, True)
    for intercept in (True, False)
    for standardize in (True, False)
    for penalty in ("l2", None)
]


@pytest.mark.parametrize(("kind", "sparse", "intercept", "standardize", "penalty"), CASES)
def test_hessian_times_vector_is_hessp(rng, kind, sparse, intercept, standardize, penalty):
    obj = _objective(rng, kind, sparse, intercept, standardize, penalty)
    w = rng.standard_normal(obj.n_params) * 0.3
    H = obj.hessian(w)
    assert H.shape == (obj.n_params, obj.n_params)
    np.testing.assert_array_equal(H, H.T)
    scale = np.max(np.abs(H))
    for v in rng.standard_normal((3, obj.n_params)):
        np.testing.assert_allclose(H @ v, obj.hessp(w, v), rtol=1e-10, atol=1e-12 * scale)
    # Column by column as well: the whole matrix, not just a few directions.
    cols = np.column_stack([obj.hessp(w, e) for e in np.eye(obj.n_params)])
    np.testing.assert_allclose(H, cols, rtol=1e-10, atol=1e-12 * scale)


@pytest.mark.parametrize("kind", ["multinomial", "binomial"])
def test_dense_and_sparse_hessians_agree(rng, kind):
    seed = int(rng.integers(2**31))
    dense = _objective(np.random.default_rng(seed), kind, False, True, True, "l2")
    sparse = _objective(np.random.default_rng(seed), kind, True, True, True, "l2")
    w = rng.standard_normal(dense.n_params)
    np.testing.assert_allclose(dense.hessian(w), sparse.hessian(w), rtol=1e-11, atol=1e-13)


def test_blocks_do_not_change_the_hessian(rng):
    seed = int(rng.integers(2**31))
    one = _objective(np.random.default_rng(seed), "multinomial", False, True, True, "l2", None)
    many = _objective(np.random.default_rng(seed), "multinomial", False, True, True, "l2", 7)
    w = rng.standard_normal(one.n_params)
    np.testing.assert_allclose(one.hessian(w), many.hessian(w), rtol=1e-12, atol=1e-14)


def test_hessian_matches_slope_of_gradient(rng):
    obj = _objective(rng, "multinomial", False, True, True, "l2")
    w = rng.standard_normal(obj.n_params) * 0.3
    v = rng.standard_normal(obj.n_params)
    h = 1e-5
    slope = (obj.value_and_grad(w + h * v)[1] - obj.value_and_grad(w - h * v)[1]) / (2 * h)
    np.testing.assert_allclose(obj.hessian(w) @ v, slope, rtol=1e-6, atol=1e-8)


def test_multinomial_hessian_is_psd_with_the_shift_null_space(rng):
    obj = _objective(rng, "multinomial", False, True, False, None)
    w = rng.standard_normal(obj.n_params) * 0.3
    H = obj.hessian(w)
    assert np.linalg.eigvalsh(H).min() > -1e-12 * np.abs(H).max()
    # Adding the same vector (coefficients and intercept) to every class changes nothing.
    k, d = 4, 5
    u = rng.standard_normal(d + 1)
    shift = np.concatenate([np.tile(u[:d], k), np.full(k, u[d])])
    np.testing.assert_allclose(H @ shift, 0.0, atol=1e-12 * np.abs(H).max())


def test_float32_data_gives_a_float64_hessian(rng):
    obj64 = _objective(rng, "multinomial", False, True, True, "l2")
    X32 = obj64.X.astype(np.float32)
    obj32 = Objective(
        obj64.datafit,
        obj64.penalty,
        X32,
        obj64.labels,
        obj64.sample_weight,
        Standardization.from_data(X32, 4, True),
    )
    w = rng.standard_normal(obj32.n_params) * 0.1
    H = obj32.hessian(w)
    assert H.dtype == np.float64
    np.testing.assert_allclose(H @ w, obj32.hessp(w, w), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["multinomial", "binomial"])
@pytest.mark.parametrize("penalty", ["l2", None])
def test_standardised_hessian_is_exact_on_badly_scaled_columns(rng, penalty, kind):
    # A column of scale 1e-3 around 5: T.T @ H @ T from the original-scale
    # Hessian lost 8 digits to the centring (2e-8 relative); formed from the
    # standardised rows it is as close as the products' own rounding (~2e-12).
    n = 400
    X = rng.standard_normal((n, 4)) * np.array([1e-3, 1.0, 10.0, 100.0]) + 5.0
    k = 3 if kind == "multinomial" else 2
    labels = rng.integers(0, k, n)
    sw = rng.uniform(0.5, 2.0, n)
    pen = L2(alpha=1e-3) if penalty == "l2" else NoPenalty()
    datafit = Multinomial(k) if kind == "multinomial" else Binomial()
    scaling = Standardization.from_data(X, datafit.n_rows, True)
    obj = Objective(datafit, pen, X, labels, sw, scaling, block_rows=150)
    w = rng.standard_normal(obj.n_params) * 0.3
    H = obj.hessian(w)
    columns = np.column_stack([obj.hessp(w, e) for e in np.eye(obj.n_params)])
    np.testing.assert_allclose(H, columns, rtol=0, atol=2e-11 * np.abs(columns).max())


@pytest.mark.parametrize("intercept", [True, False])
def test_hessian_from_row_products_is_the_gemm_one(rng, intercept, monkeypatch):
    n, d, k = 90, 6, 5
    X = rng.standard_normal((n, d)) * 3.0 + 1.0
    P = rng.dirichlet(np.ones(k), n)
    sw = rng.uniform(0.2, 2.0, n)
    datafit = Multinomial(k, intercept)
    products = datafit.hessian(X, P, sw)  # one chunk of rows
    monkeypatch.setattr(datafit_module, "_PRODUCT_ROWS", 7)
    monkeypatch.setattr(datafit_module, "_PRODUCT_BUFFER", 1)
    chunked = datafit.hessian(X, P, sw)  # 13 chunks, the last one short
    monkeypatch.setattr(datafit_module, "_PRODUCT_COLUMNS", 0)
    gemm = datafit.hessian(X, P, sw)  # the rank-one GEMMs
    np.testing.assert_allclose(products, gemm, rtol=1e-12, atol=1e-12 * np.abs(gemm).max())
    np.testing.assert_allclose(chunked, gemm, rtol=1e-12, atol=1e-12 * np.abs(gemm).max())
    # Both against the definition, row by row.
    Xa = np.hstack([X, np.ones((n, 1))]) if intercept else X
    ref = sum(
        sw[i] * np.kron(np.diag(P[i]) - np.outer(P[i], P[i]), np.outer(Xa[i], Xa[i]))
        for i in range(n)
    )
    # kron gives per-class blocks [W_k, b_k]; the flat layout puts the intercepts last.
    order = np.arange(k * Xa.shape[1]).reshape(k, Xa.shape[1])
    order = np.concatenate([order[:, :d].ravel(), order[:, d:].ravel()])
    np.testing.assert_allclose(gemm, ref[np.ix_(order, order)], atol=1e-11 * np.abs(ref).max())
    np.testing.assert_allclose(products, ref[np.ix_(order, order)], atol=1e-11 * np.abs(ref).max())


def test_objective_hessian_is_the_same_from_row_products_and_from_gemms(rng, monkeypatch):
    obj = _objective(rng, "multinomial", False, True, True, "l2")  # standardised, 4 blocks
    w = rng.standard_normal(obj.n_params) * 0.3
    products = obj.hessian(w)
    monkeypatch.setattr(datafit_module, "_PRODUCT_COLUMNS", 0)
    fresh = Objective(
        obj.datafit, obj.penalty, obj.X, obj.labels, obj.sample_weight, obj.standardization, 17
    )
    np.testing.assert_allclose(fresh.hessian(w), products, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("penalty", ["l2", None])
def test_preconditioner_closes_the_null_space_and_is_the_hessian_across_it(rng, penalty, intercept):
    obj = _objective(rng, "multinomial", False, intercept, True, penalty)
    w = rng.standard_normal(obj.n_params) * 0.3
    H, M = obj.hessian(w), obj.preconditioner(w)
    k, d = 4, 5
    nb = k if intercept else 0
    # The shift directions: the intercepts' always, the coefficients' without a penalty.
    shifts = [np.concatenate([np.zeros(k * d), np.ones(k)])] if intercept else []
    if penalty is None:
        shifts += [np.concatenate([np.tile(np.eye(d)[j], k), np.zeros(nb)]) for j in range(d)]
    if not shifts:  # an L2 penalty and no intercepts: no null space, M is H
        np.testing.assert_array_equal(M, H)
        return
    N = np.linalg.qr(np.column_stack(shifts))[0]
    lam = np.mean(np.abs(np.diag(H)))
    np.testing.assert_allclose(M @ N, lam * N + H @ N, atol=1e-12 * lam)
    v = rng.standard_normal(obj.n_params)
    v -= N @ (N.T @ v)
    np.testing.assert_allclose(M @ v, H @ v, atol=1e-12 * np.abs(H).max())
    assert np.linalg.eigvalsh(M).min() > 1e-8 * lam


@pytest.mark.parametrize(("sparse", "intercept", "standardize", "penalty"), [
    (sparse, intercept, standardize, penalty)
    for sparse in (False, True) for intercept in (True, False)
    for standardize in (True, False) for penalty in ("l2", None)
])  # fmt: skip
def test_hessian_diagonal_is_the_hessians(rng, sparse, intercept, standardize, penalty):
    obj = _objective(rng, "multinomial", sparse, intercept, standardize, penalty)
    w = rng.standard_normal(obj.n_params) * 0.3
    H = obj.hessian(w)
    np.testing.assert_allclose(
        obj.hessian_diagonal(w), np.diag(H), rtol=1e-10, atol=1e-13 * np.abs(H).max()
    )


@pytest.mark.parametrize("sparse", [False, True])
def test_diagonal_preconditioner_averages_the_diagonal_over_the_classes(rng, sparse):
    obj = _objective(rng, "multinomial", sparse, True, True, "l2")
    w = rng.standard_normal(obj.n_params) * 0.3
    exact = obj.hessian_diagonal(w)
    k, d = 4, 5
    want = np.concatenate(
        [np.tile(exact[: k * d].reshape(k, d).mean(axis=0), k), np.full(k, exact[k * d :].mean())]
    )
    np.testing.assert_allclose(obj.diagonal_preconditioner(w), want, rtol=1e-12)


def test_hessian_diagonal_needs_a_multinomial(rng):
    obj = _objective(rng, "binomial", False, True, True, "l2")
    with pytest.raises(TypeError, match="multinomial"):
        obj.hessian_diagonal(np.zeros(obj.n_params))


def test_float32_data_gives_the_float64_diagonal(rng):
    obj64 = _objective(rng, "multinomial", False, True, True, "l2", block_rows=None)
    X32 = obj64.X.astype(np.float32)
    obj32 = Objective(
        obj64.datafit, obj64.penalty, X32, obj64.labels, obj64.sample_weight,
        obj64.standardization,
    )  # fmt: skip
    w = rng.standard_normal(obj64.n_params) * 0.3
    for average in (False, True):
        d64 = obj64.hessian_diagonal(w, average_classes=average)
        d32 = obj32.hessian_diagonal(w, average_classes=average)
        assert d32.dtype == np.float64
        np.testing.assert_allclose(d32, d64, rtol=1e-4)
