"""The fused multinomial row passes (``softmax._kernels._numba_linear`` for dense
data, ``softmax._kernels._numba_sparse`` for CSR data) against the NumPy/SciPy
reference of :class:`~softmax.objective.Multinomial`, against finite
differences, and for independence from the thread count."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from softmax import _kernels
from softmax.objective import _datafit
from softmax.objective._datafit import Multinomial

numba = pytest.importorskip("numba")

N = 3 * _kernels.FUSED_BLOCK_ROWS * 5 + 17  # several blocks, a ragged last one


@pytest.fixture(scope="module", autouse=True)
def _available() -> None:
    if _kernels.fused_multinomial(np.zeros((_kernels.MIN_SIZE, 2)), 3) is None:
        pytest.skip("fused kernels unavailable")


def _problem(rng, k, d=9, dtype=np.float64, n=N):
    X = (rng.standard_normal((n, d)) * np.logspace(-1, 1, d) + 0.5).astype(dtype)
    labels = rng.integers(0, k, n)
    sw = rng.uniform(0.0, 2.0, n)
    return X, labels, sw


def _reference(monkeypatch, fn, *args):
    """Call ``fn`` with the fused path switched off."""
    with monkeypatch.context() as m:
        m.setattr(_datafit, "fused_multinomial", lambda X, k: None)
        m.setattr(_datafit, "fused_multinomial_csr", lambda X: None)
        return fn(*args)


def _assert_equal_reference(monkeypatch, rng, fit, X, labels, sw, **extra):
    """Value, gradient, probabilities and a Hessian-vector product of the kernels
    (``extra``: their inputs, e.g. tiles) against the NumPy/SciPy reference at a
    random point; returns ``(w, grad)``."""
    n_params = fit.n_classes * X.shape[1] + (fit.n_classes if fit.fit_intercept else 0)
    w, v = rng.standard_normal(n_params), rng.standard_normal(n_params)
    value, grad, P = fit.value_and_grad(w, X, labels, sw, **extra)
    ref_value, ref_grad, ref_P = _reference(monkeypatch, fit.value_and_grad, w, X, labels, sw)
    # float32 data: the reference computes the logits in float32, the fused
    # passes in float64, so they agree to float32 rounding only.
    rtol = 1e-12 if X.dtype == np.float64 else 2e-5
    np.testing.assert_allclose(value, ref_value, rtol=rtol)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * np.abs(ref_grad).max())
    np.testing.assert_allclose(P, ref_P, rtol=rtol, atol=rtol)
    assert P.dtype == np.float64
    hv = fit.hessp(v, X, P, sw, **extra)
    ref_hv = _reference(monkeypatch, fit.hessp, v, X, P.astype(X.dtype), sw)
    np.testing.assert_allclose(hv, ref_hv, rtol=rtol, atol=rtol * np.abs(ref_hv).max())
    return w, grad


@pytest.mark.parametrize("k", [2, 3, 7, 16])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_value_grad_hessp_equal_reference(rng, monkeypatch, k, intercept, dtype):
    X, labels, sw = _problem(rng, k, dtype=dtype)
    assert _kernels.fused_multinomial(X, k) is not None
    _assert_equal_reference(monkeypatch, rng, Multinomial(k, intercept), X, labels, sw)


@pytest.mark.parametrize("sparse", [False, True])
def test_gradient_and_hessp_against_finite_differences(rng, sparse):
    k = 4
    if sparse:
        X, labels, sw = _csr_problem(rng, k, d=3, density=0.9)
        assert _kernels.fused_multinomial_csr(X) is not None
    else:
        X, labels, sw = _problem(rng, k, d=3)
        assert _kernels.fused_multinomial(X, k) is not None
    fit = Multinomial(k)
    w = rng.standard_normal(k * 4) * 0.3
    _, grad, P = fit.value_and_grad(w, X, labels, sw)
    h = 1e-6
    fd = np.array(
        [
            (
                fit.value_and_grad(w + h * e, X, labels, sw)[0]
                - fit.value_and_grad(w - h * e, X, labels, sw)[0]
            )
            / (2 * h)
            for e in np.eye(w.size)
        ]
    )
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6 * np.abs(grad).max())
    v = rng.standard_normal(w.size)
    slope = (
        fit.value_and_grad(w + h * v, X, labels, sw)[1]
        - fit.value_and_grad(w - h * v, X, labels, sw)[1]
    ) / (2 * h)
    hv = fit.hessp(v, X, P, sw)
    np.testing.assert_allclose(hv, slope, rtol=1e-5, atol=1e-5 * np.abs(slope).max())


def _assert_thread_count_free(fit, X, labels, sw, w, **extra):
    """Value, gradient and Hessian-vector product bit for bit the same on one
    thread as on all of them."""
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fit.value_and_grad(w, X, labels, sw, **extra)
        hv_one = fit.hessp(w, X, one[2], sw, **extra)
        numba.set_num_threads(before)
        many = fit.value_and_grad(w, X, labels, sw, **extra)
        hv_many = fit.hessp(w, X, many[2], sw, **extra)
    finally:
        numba.set_num_threads(before)
    assert one[0] == many[0]
    np.testing.assert_array_equal(one[1], many[1])
    np.testing.assert_array_equal(hv_one, hv_many)


def test_result_does_not_depend_on_the_thread_count(rng):
    k = 5
    X, labels, sw = _problem(rng, k)
    w = rng.standard_normal(k * (X.shape[1] + 1))
    _assert_thread_count_free(Multinomial(k), X, labels, sw, w)


def test_huge_logits_stay_finite(rng, monkeypatch):
    k = 3
    X, labels, sw = _problem(rng, k)
    fit = Multinomial(k)
    w = np.zeros(k * (X.shape[1] + 1))
    w[-k:] = [1e300, -1e300, 0.0]  # intercepts: class 0 certain
    value, grad, P = fit.value_and_grad(w, X, labels, sw)
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(P, np.tile([1.0, 0.0, 0.0], (X.shape[0], 1)))
    # The loss of a row not labelled 0 is 1e300 or 2e300: the sum is huge, not inf/NaN.
    ref_value, ref_grad, _ = _reference(monkeypatch, fit.value_and_grad, w, X, labels, sw)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12)


def test_dispatch_takes_only_what_the_kernel_handles(rng):
    X = np.ones((_kernels.MIN_SIZE, 4))
    assert _kernels.fused_multinomial(X, 3) is not None
    assert _kernels.fused_multinomial(np.asfortranarray(X), 3) is None
    assert _kernels.fused_multinomial(sp.csr_matrix(X), 3) is None
    assert _kernels.fused_multinomial(X.astype(np.float16), 3) is None
    assert _kernels.fused_multinomial(X, _kernels.MAX_FUSED_CLASSES + 1) is None
    assert _kernels.fused_multinomial(X[:10], 3) is None  # too small to pay for threads


# --------------------------------------------------------------------------- #
# CSR data (``_numba_sparse``)
# --------------------------------------------------------------------------- #
def _csr_problem(rng, k, n=N, d=40, dtype=np.float64, density=0.15):
    """Sparse rows of varied length (some empty), duplicate entries, unsorted indices."""
    X = sp.random(n, d, density=density, format="csr", random_state=rng, dtype=np.float64)
    X.data = (X.data * 3.0 - 1.0).astype(dtype)
    X.indices = X.indices.copy()
    for i in range(0, n, 7):  # reverse some rows' indices: unsorted
        lo, hi = X.indptr[i], X.indptr[i + 1]
        X.indices[lo:hi] = X.indices[lo:hi][::-1].copy()
        X.data[lo:hi] = X.data[lo:hi][::-1].copy()
    X.has_sorted_indices = False
    # Duplicate entries in some rows (SciPy's products add them up; so must the kernel).
    for i in range(1, n, 11):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        if hi - lo >= 2:
            X.indices[lo + 1] = X.indices[lo]
    X.has_canonical_format = False
    labels = rng.integers(0, k, n)
    sw = rng.uniform(0.0, 2.0, n)
    return X, labels, sw


@pytest.mark.parametrize("k", [2, 3, 20])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_value_grad_hessp_equal_reference(rng, monkeypatch, k, intercept, dtype):
    X, labels, sw = _csr_problem(rng, k, dtype=dtype)
    assert _kernels.fused_multinomial_csr(X) is not None
    assert np.diff(X.indptr).min() == 0  # empty rows are part of the test
    fit = Multinomial(k, intercept)
    w, grad = _assert_equal_reference(monkeypatch, rng, fit, X, labels, sw)
    # The dense fused pass on the same data agrees too.
    dense = fit.value_and_grad(w, X.toarray(), labels, sw)
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(dense[1], grad, rtol=rtol, atol=rtol * np.abs(grad).max())


def test_csr_result_does_not_depend_on_the_thread_count(rng):
    k = 5
    X, labels, sw = _csr_problem(rng, k)
    w = rng.standard_normal(k * (X.shape[1] + 1))
    _assert_thread_count_free(Multinomial(k), X, labels, sw, w)


def test_csr_dispatch_and_parts():
    X = sp.random(_kernels.MIN_SIZE, 50, density=0.5, format="csr", random_state=0)
    assert _kernels.fused_multinomial_csr(X) is not None
    assert _kernels.fused_multinomial_csr(X.tocsc()) is None
    assert _kernels.fused_multinomial_csr(X[:10]) is None  # too small to pay for threads
    assert _kernels.fused_multinomial_csr(X.astype(np.int64)) is None
    # The number of partial sums depends on the shape only, within its bounds.
    assert _kernels.csr_parts(50, 3) == _kernels.CSR_MAX_PARTS
    assert _kernels.csr_parts(50_000, 20) == _kernels.CSR_PARTIAL_ELEMENTS // 1_000_000
    assert _kernels.csr_parts(10**7, 100) == _kernels.CSR_MIN_PARTS


# --------------------------------------------------------------------------- #
# CSR data in column tiles (``_numba_csr_tiles``)
# --------------------------------------------------------------------------- #
def _tiles(monkeypatch, X, k, width=5):
    """``X`` in tiles at most ``width`` columns wide (the default would be one tile)."""
    monkeypatch.setattr(_kernels, "CSR_TILE_BYTES", 8 * k * width)
    monkeypatch.setattr(_kernels, "CSR_MIN_TILES", 4)
    tiles = _kernels.csr_tiles(X, k)
    assert tiles is not None
    return tiles


@pytest.mark.parametrize("k", [2, 3, 20])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tiled_value_grad_hessp_equal_reference(rng, monkeypatch, k, intercept, dtype):
    X, labels, sw = _csr_problem(rng, k, dtype=dtype, density=0.5)
    tiles = _tiles(monkeypatch, X, k)
    starts = tiles[1][3]
    assert len(starts) - 1 >= X.shape[1] // 5  # several tiles, some narrower than 5
    fit = Multinomial(k, intercept)
    _assert_equal_reference(monkeypatch, rng, fit, X, labels, sw, tiles=tiles)


def test_tiled_result_does_not_depend_on_the_thread_count(rng, monkeypatch):
    k = 5
    X, labels, sw = _csr_problem(rng, k, density=0.5)
    tiles = _tiles(monkeypatch, X, k)
    w = rng.standard_normal(k * (X.shape[1] + 1))
    _assert_thread_count_free(Multinomial(k), X, labels, sw, w, tiles=tiles)


def test_tile_bounds_respect_width_and_share_of_values(rng):
    X, _, _ = _csr_problem(rng, 3, d=200)
    X = X[:, np.argsort(-np.bincount(X.indices, minlength=200))]  # frequent columns first
    X = sp.csr_matrix(X)
    impl = _kernels._tiles.get()
    starts = impl.tile_bounds(X.indices, X.shape[1], 16, X.nnz // 32)
    widths = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == X.shape[1] and widths.min() >= 1
    assert widths.max() <= 16
    counts = np.bincount(X.indices, minlength=X.shape[1])
    per_tile = np.add.reduceat(counts, starts[:-1])
    # A tile holds at most its share of the values unless it is a single column.
    assert np.all((per_tile <= X.nnz // 32) | (widths == 1))
    # The tiled copy lists every stored value once, row by row within a tile.
    ptr, col, val = impl.build_tiles(X.indptr, X.indices, X.data, starts)
    assert ptr[0, 0] == 0 and ptr[-1, -1] == X.nnz
    rebuilt = sp.csr_matrix(X.shape)
    for t in range(len(starts) - 1):
        tile = sp.csr_matrix((val[ptr[t, 0] : ptr[t, -1]], col[ptr[t, 0] : ptr[t, -1]] + starts[t],
                              ptr[t] - ptr[t, 0]), shape=X.shape)  # fmt: skip
        rebuilt = rebuilt + tile
    np.testing.assert_array_equal(rebuilt.toarray(), X.toarray())


def test_objective_builds_tiles_once_for_csr_multinomial(rng, monkeypatch):
    from softmax.objective import Binomial, Objective
    from softmax.objective._penalties import L2

    X, labels, sw = _csr_problem(rng, 3, density=0.5)
    monkeypatch.setattr(_kernels, "CSR_MIN_TILES", 4)
    objective = Objective(Multinomial(3), L2(1.0), X, labels, sw)
    extras = objective._block_extras()
    assert all("tiles" in e for e in extras)
    assert objective._block_extras() is extras
    binomial = Objective(Binomial(), L2(1.0), X, labels % 2, sw)
    assert binomial._block_extras() == [{}]
    # Tiles whose row pointers outweigh X itself are declined (the passes then run untiled).
    monkeypatch.setattr(_kernels, "CSR_MIN_TILES", 64)
    assert _kernels.csr_tiles(X, 3) is None


def _sparse_coefficients(rng, k, d, intercept, live):
    """A flat coefficient vector whose features outside ``live`` are all zero."""
    W = np.zeros((k, d))
    W[:, live] = rng.standard_normal((k, len(live)))
    b = rng.standard_normal(k) if intercept else np.zeros(0)
    return np.concatenate([W.ravel(), b])


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("canonical", [True, False])
def test_live_column_logits_equal_the_tiled_pass(rng, monkeypatch, intercept, canonical):
    k = 4
    X, labels, sw = _csr_problem(rng, k, d=40, density=0.3)
    if canonical:
        X = X.copy()
        X.sum_duplicates()  # sorted: the tiled pass adds each row in column order too
    tiles = _tiles(monkeypatch, X, k)
    impl = tiles[0]
    Xc = sp.csc_matrix(X)
    columns = (Xc.indptr.astype(np.int64), Xc.indices.astype(np.int64), Xc.data)
    fit = Multinomial(k, intercept)
    original, calls = impl.column_logits, []

    def counting(*args):
        calls.append(len(args[3]))  # the live columns
        original(*args)

    monkeypatch.setattr(impl, "column_logits", counting)
    for live in ([3, 17], [], list(range(40))):
        w = _sparse_coefficients(rng, k, X.shape[1], intercept, live)
        v = _sparse_coefficients(rng, k, X.shape[1], intercept, live)
        value, grad, P = fit.value_and_grad(w, X, labels, sw, tiles=tiles)
        value_c, grad_c, P_c = fit.value_and_grad(w, X, labels, sw, tiles=tiles, columns=columns)
        hv_c = fit.hessp(v, X, P, sw, tiles=tiles, columns=columns)
        hv = fit.hessp(v, X, P, sw, tiles=tiles)
        if canonical:  # the same sums in the same (ascending column) order: the same bits
            assert value_c == value
            for a, b in [(grad_c, grad), (P_c, P), (hv_c, hv)]:
                np.testing.assert_array_equal(a, b)
        else:  # the rows' values added in another order
            np.testing.assert_allclose(value_c, value, rtol=1e-14)
            for a, b in [(grad_c, grad), (P_c, P), (hv_c, hv)]:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max())
    # Taken where the live columns hold few of the stored values (value and
    # Hessian product each), not where they hold them all.
    assert calls == [2, 2, 0, 0]


@pytest.mark.parametrize("kind", ["dense", "csr", "tiles"])
def test_probabilities_written_into_out_when_it_fits(rng, monkeypatch, kind):
    k = 4
    if kind == "dense":
        X, labels, sw = _problem(rng, k)
        extra = {}
    else:
        X, labels, sw = _csr_problem(rng, k, density=0.5)
        extra = {"tiles": _tiles(monkeypatch, X, k)} if kind == "tiles" else {}
    fit = Multinomial(k)
    w = rng.standard_normal(k * (X.shape[1] + 1))
    value, grad, P = fit.value_and_grad(w, X, labels, sw, **extra)
    out = np.full((X.shape[0], k), np.nan)
    value2, grad2, P2 = fit.value_and_grad(w, X, labels, sw, out=out, **extra)
    assert P2 is out
    assert value2 == value and np.array_equal(grad2, grad) and np.array_equal(P2, P)
    # A buffer of the wrong shape, dtype or layout is not used.
    for bad in (out[:-1], out.astype(np.float32), np.asfortranarray(out)):
        _, _, P3 = fit.value_and_grad(w, X, labels, sw, out=bad, **extra)
        assert P3 is not bad and np.array_equal(P3, P)


@pytest.mark.parametrize("k", [3, 20])
def test_tiled_hessian_moments_equal_scipy(rng, monkeypatch, k):
    X, _, sw = _csr_problem(rng, k, density=0.5)
    tiles = _tiles(monkeypatch, X, k)
    P = rng.dirichlet(np.ones(k), X.shape[0])
    tiled = Multinomial(k).hessian_moments(X, P, sw, tiles)
    reference = Multinomial(k).hessian_moments(X, P, sw)  # SciPy's products
    for got, want in zip(tiled, reference, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    C = sw[:, None] * P * (1 - P)
    np.testing.assert_allclose(reference[0], (X.multiply(X).T @ C).T, rtol=1e-12)
    # The tiles sum duplicate entries (the data has some): squares of the sums.
    assert _kernels._tiles.get().has_duplicates(X.indptr, X.indices, X.shape[1])
    Xc = X.copy()
    Xc.sum_duplicates()
    assert not _kernels._tiles.get().has_duplicates(Xc.indptr, Xc.indices, Xc.shape[1])
