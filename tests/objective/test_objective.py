"""Objective: gradients against finite differences, hessp against the slope of the
gradient, dense == sparse, standardisation changes nothing but the coordinates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax.objective import (
    L2,
    Binomial,
    Multinomial,
    NoPenalty,
    Objective,
    Standardization,
    initial_curvature,
)


def _problem(rng, n=60, d=5, k=4, sparse=False, scale=True):
    X = rng.standard_normal((n, d)) * (np.logspace(-2, 2, d) if scale else 1.0) + 3.0
    X[rng.random((n, d)) < 0.3] = 0.0
    labels = rng.integers(0, k, n)
    sw = rng.uniform(0.2, 2.0, n)
    return (sp.csr_matrix(X) if sparse else X), labels, sw


def _objective(rng, kind, sparse=False, intercept=True, standardize=True, penalty="l2", **kw):
    k = 2 if kind == "binomial" else 4
    X, labels, sw = _problem(rng, k=k, sparse=sparse, **kw)
    datafit = Binomial(intercept) if kind == "binomial" else Multinomial(k, intercept)
    pen = L2(alpha=0.3) if penalty == "l2" else NoPenalty()
    scaling = Standardization.from_data(X, datafit.n_rows, intercept) if standardize else None
    return Objective(datafit, pen, X, labels, sw, scaling, block_rows=17)


def _five_point_grad(f, w, h=1e-5):
    g = np.empty_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = h
        g[i] = (-f(w + 2 * e) + 8 * f(w + e) - 8 * f(w - e) + f(w - 2 * e)) / (12 * h)
    return g


CASES = [
    (kind, sparse, intercept, standardize)
    for kind in ("multinomial", "binomial")
    for sparse in (False, True)
    for intercept in (True, False)
    for standardize in (True, False)
]


@pytest.mark.parametrize(("kind", "sparse", "intercept", "standardize"), CASES)
def test_gradient_matches_finite_differences(rng, kind, sparse, intercept, standardize):
    obj = _objective(rng, kind, sparse, intercept, standardize)
    w = rng.standard_normal(obj.n_params) * 0.1
    _, g = obj.value_and_grad(w)
    g_fd = _five_point_grad(lambda v: obj.value_and_grad(v)[0], w)
    np.testing.assert_allclose(g, g_fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("kind", "sparse", "intercept", "standardize"), CASES)
def test_hessp_matches_slope_of_gradient(rng, kind, sparse, intercept, standardize):
    obj = _objective(rng, kind, sparse, intercept, standardize)
    w = rng.standard_normal(obj.n_params) * 0.1
    v = rng.standard_normal(obj.n_params)
    hv = obj.hessp(w, v)
    h = 1e-4
    slope = (
        -obj.value_and_grad(w + 2 * h * v)[1]
        + 8 * obj.value_and_grad(w + h * v)[1]
        - 8 * obj.value_and_grad(w - h * v)[1]
        + obj.value_and_grad(w - 2 * h * v)[1]
    ) / (12 * h)
    np.testing.assert_allclose(hv, slope, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", ["multinomial", "binomial"])
def test_dense_and_sparse_agree(kind):
    dense = _objective(np.random.default_rng(3), kind, sparse=False)
    sparse = _objective(np.random.default_rng(3), kind, sparse=True)
    w = np.random.default_rng(4).standard_normal(dense.n_params)
    v = np.random.default_rng(5).standard_normal(dense.n_params)
    f_d, g_d = dense.value_and_grad(w)
    f_s, g_s = sparse.value_and_grad(w)
    assert f_d == pytest.approx(f_s, rel=1e-13)
    np.testing.assert_allclose(g_d, g_s, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(dense.hessp(w, v), sparse.hessp(w, v), rtol=1e-11, atol=1e-13)


def test_value_matches_cross_entropy_reference(rng):
    """The multinomial objective equals torch's weighted cross-entropy + L2."""
    torch = pytest.importorskip("torch")
    obj = _objective(rng, "multinomial", standardize=False)
    w = rng.standard_normal(obj.n_params)
    n_features = obj.n_features
    W = w[: 4 * n_features].reshape(4, n_features)
    b = w[4 * n_features :]
    logits = torch.from_numpy(obj.X @ W.T + b)
    per_row = torch.nn.functional.cross_entropy(
        logits, torch.from_numpy(obj.labels), reduction="none"
    ).numpy()
    expected = (obj.sample_weight @ per_row) / obj.sample_weight.sum() + 0.15 * np.sum(W**2)
    assert obj.value_and_grad(w)[0] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("l2_strength", [0.0, 0.3])
def test_standardization_is_a_change_of_variables(rng, sparse, l2_strength):
    """Same objective at corresponding points; the map round-trips."""
    plain = _objective(np.random.default_rng(7), "multinomial", sparse, standardize=False)
    scaled = _objective(np.random.default_rng(7), "multinomial", sparse, standardize=True)
    scaled.standardization = Standardization.from_data(plain.X, 4, True, l2_strength)
    wt = rng.standard_normal(scaled.n_params)
    w = scaled.to_original(wt)
    assert scaled.value_and_grad(wt)[0] == pytest.approx(plain.value_and_grad(w)[0], rel=1e-13)
    np.testing.assert_allclose(scaled.from_original(w), wt, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", ["csr", "csc", "duplicates", "float32"])
@pytest.mark.parametrize("intercept", [True, False])
def test_sparse_standardization_equals_the_dense_one(rng, layout, intercept):
    X = sp.random(300, 12, density=0.3, format="csr", random_state=1) * 5.0
    X.data += 2.0
    dense = X.toarray()
    if layout == "csc":
        X = X.tocsc()
    elif layout == "duplicates":  # every value stored as two entries of its row
        half = X.data * rng.uniform(0.2, 0.8, X.data.shape)
        X = sp.csr_matrix(
            (np.column_stack([half, X.data - half]).ravel(), np.repeat(X.indices, 2), 2 * X.indptr),
            shape=X.shape,
        )
        assert not X.has_canonical_format
    elif layout == "float32":
        X = X.astype(np.float32)
        dense = X.toarray().astype(np.float64)
    s = Standardization.from_data(X, 3, intercept, l2_strength=0.1)
    ref = Standardization.from_data(dense, 3, intercept, l2_strength=0.1)
    np.testing.assert_allclose(s.mean, ref.mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s.scale, ref.scale, rtol=1e-10)


def test_scale_equalises_the_penalised_curvature():
    """Rare features are not blown up: scale_j = sqrt(var_j + 4 * l2_strength)."""
    X = np.zeros((1000, 2))
    X[:, 0] = np.random.default_rng(0).standard_normal(1000)
    X[:3, 1] = 1.0  # a rare feature
    s = Standardization.from_data(X, 3, True, l2_strength=0.01)
    var = X.var(axis=0)
    np.testing.assert_allclose(s.scale, np.sqrt(var + 0.04))
    assert s.scale[1] > 0.2  # plain standardisation would give 0.055


def test_scale_balances_the_penalty_against_the_given_curvature():
    X = np.zeros((1000, 2))
    X[:, 0] = np.random.default_rng(0).standard_normal(1000)
    X[:3, 1] = 1.0
    s = Standardization.from_data(X, 3, True, l2_strength=0.01, curvature=0.05)
    np.testing.assert_allclose(s.scale, np.sqrt(X.var(axis=0) + 0.01 / 0.05))


def test_initial_curvature_is_the_mean_hessian_diagonal_at_the_priors(rng):
    """Against the Hessian's diagonal itself: one feature, all ones (variance of the
    intercept column), intercepts at the log-priors, no penalty."""
    for n_classes, weights in [(2, [30.0, 10.0]), (3, [1.0, 1.0, 1.0]), (5, [5, 1, 1, 2, 9])]:
        weights = np.asarray(weights, dtype=np.float64)
        labels = np.repeat(np.arange(n_classes), 3)
        sw = np.repeat(weights, 3) / 3
        datafit = Binomial() if n_classes == 2 else Multinomial(n_classes)
        obj = Objective(datafit, NoPenalty(), np.ones((labels.size, 1)), labels, sw)
        prior = weights / weights.sum()
        b = np.log(prior[1] / prior[0]) if n_classes == 2 else np.log(prior)
        w = np.concatenate([np.zeros(datafit.n_rows), np.atleast_1d(b)])
        diag = np.diag(obj.hessian(w))[: datafit.n_rows]  # the coefficients of the feature
        assert initial_curvature(weights) == pytest.approx(diag.mean(), rel=1e-12)
    assert initial_curvature(np.array([1.0, 1.0])) == 0.25  # the bound, reached
    assert initial_curvature(np.array([1.0, 0.0, 0.0])) == 1e-6  # floored


def test_blocks_do_not_change_the_sums(rng):
    X, labels, sw = _problem(rng, n=101)
    one = Objective(Multinomial(4), L2(0.1), X, labels, sw, block_rows=1000)
    many = Objective(Multinomial(4), L2(0.1), X, labels, sw, block_rows=7)
    assert len(many.blocks) == 15
    w = rng.standard_normal(one.n_params)
    f1, g1 = one.value_and_grad(w)
    f2, g2 = many.value_and_grad(w)
    assert f1 == pytest.approx(f2, rel=1e-14)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-14)


def test_float32_data_keeps_float64_objective(rng):
    X, labels, sw = _problem(rng)
    o64 = Objective(Multinomial(4), L2(0.1), X, labels, sw)
    o32 = Objective(Multinomial(4), L2(0.1), X.astype(np.float32), labels, sw)
    w = rng.standard_normal(o64.n_params) * 0.1
    f64, g64 = o64.value_and_grad(w)
    f32, g32 = o32.value_and_grad(w)
    assert g32.dtype == np.float64
    assert f32 == pytest.approx(f64, rel=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array])
def test_csr_row_blocks_are_views_equal_to_slices(rng, container):
    from softmax.objective._objective import _csr_rows

    X = container(sp.random(500, 40, density=0.1, random_state=1, format="csr"))
    for start, stop in [(0, 100), (100, 357), (357, 500), (250, 250)]:
        block = _csr_rows(X, start, stop)
        assert type(block) is type(X) and block.shape == (stop - start, 40)
        np.testing.assert_array_equal(block.toarray(), X[start:stop].toarray())
        if stop > start:
            assert np.shares_memory(block.data, X.data)
    # The objective over blocks equals the one-block objective.
    labels, sw = rng.integers(0, 3, 500), rng.uniform(0.5, 2.0, 500)
    w = rng.standard_normal(3 * 41) * 0.1
    one = Objective(Multinomial(3), L2(0.1), X, labels, sw)
    many = Objective(Multinomial(3), L2(0.1), X, labels, sw, block_rows=123)
    assert len(many.blocks) == 5
    np.testing.assert_allclose(many.value_and_grad(w)[1], one.value_and_grad(w)[1], rtol=1e-12)
    np.testing.assert_allclose(many.hessp(w, w), one.hessp(w, w), rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["multinomial", "binomial"])
def test_columns_is_the_objective_where_the_others_are_zero(rng, kind, sparse):
    """Gradient and Hessian of ``columns(S)`` are the full ones restricted to S's
    parameters (and the intercepts) when every other column's coefficients are 0."""
    obj = _objective(rng, kind, sparse=sparse)
    K, p = obj.datafit.n_rows, obj.n_features
    features = np.array([0, 3])
    idx = np.concatenate([(np.arange(K)[:, None] * p + features).ravel(), K * p + np.arange(K)])
    w = np.zeros(obj.n_params)
    w[idx] = rng.standard_normal(idx.shape[0])
    sub = obj.columns(features)
    f, g = obj.value_and_grad(w)
    f_sub, g_sub = sub.value_and_grad(w[idx])
    assert f_sub == pytest.approx(f, rel=1e-13)
    np.testing.assert_allclose(g_sub, g[idx], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(sub.hessian(w[idx]), obj.hessian(w)[np.ix_(idx, idx)], atol=1e-12)
    np.testing.assert_allclose(obj.probabilities(w), sub.probabilities(w[idx]), atol=1e-14)
    assert obj.probabilities(w).shape == (obj.X.shape[0], K)


@pytest.mark.parametrize("sparse", [False, True])
def test_transpose_product_is_r_transpose_x_over_blocks_and_tiles(rng, monkeypatch, sparse):
    from softmax import _kernels

    monkeypatch.setattr(_kernels, "CSR_TILE_BYTES", 8 * 3 * 4)  # tiles of 4 columns
    monkeypatch.setattr(_kernels, "CSR_MIN_TILES", 2)
    X = rng.standard_normal((3000, 20))
    X[rng.random(X.shape) < 0.5] = 0.0
    Xin = sp.csr_matrix(X) if sparse else X
    labels = rng.integers(0, 3, 3000)
    obj = Objective(Multinomial(3), L2(0.1), Xin, labels, np.ones(3000), block_rows=1024)
    assert len(obj.blocks) == 3
    if sparse and _kernels.csr_tiles(Xin, 3) is not None:
        assert all("tiles" in e for e in obj._block_extras())
    R = rng.standard_normal((3000, 5))  # any width, not only the classes'
    np.testing.assert_allclose(obj.transpose_product(R), R.T @ X, rtol=1e-12, atol=1e-12)


def test_probabilities_kept_only_when_asked(rng):
    obj = _objective(rng, "multinomial")
    w, v = rng.standard_normal(obj.n_params), rng.standard_normal(obj.n_params)
    f0, g0 = obj.value_and_grad(w)
    h0 = obj.hessp(w, v)
    assert obj._cache_key is not None and len(obj._cache_proba) == len(obj.blocks)
    obj.keep_probabilities = False
    f1, g1 = obj.value_and_grad(w)
    assert f1 == f0 and np.array_equal(g1, g0)
    assert obj._cache_key is None and obj._cache_proba == []  # nothing held
    # A product still works: the probabilities are computed again for it.
    assert np.array_equal(obj.hessp(w, v), h0)


def test_lbfgs_fits_keep_no_probabilities(rng, monkeypatch):
    from softmax import SoftmaxRegression

    held = []
    original = Objective.value_and_grad

    def recording(self, w):
        out = original(self, w)
        held.append(len(self._cache_proba))
        return out

    monkeypatch.setattr(Objective, "value_and_grad", recording)
    X, labels, _ = _problem(rng)
    SoftmaxRegression(solver="lbfgs").fit(X, labels)
    assert held and set(held) == {0}
    held.clear()
    SoftmaxRegression(solver="newton-cg").fit(X, labels)
    assert held and 0 not in held
