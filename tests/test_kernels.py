"""The fused numba kernels against the NumPy reference path of ``softmax.special``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

import softmax
from softmax import _kernels

FUNCS = ("softmax", "log_softmax")
# float64: 2 ulp for log_softmax; softmax adds one rounding (e / s) whose
# binade may differ from e's, so a 1-ulp difference in exp can show as 3.
ULPS = {("float64", "log_softmax"): 2, ("float64", "softmax"): 3}


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    if not _kernels.applies(np.zeros((_kernels.MIN_SIZE // 8, 8)), -1):
        pytest.skip("numba kernels unavailable")


def reference(name: str, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    mp = pytest.MonkeyPatch()
    mp.setattr(_kernels, "applies", lambda x, axis: False)
    try:
        return getattr(softmax, name)(x, temperature=temperature)
    finally:
        mp.undo()


def kernel(name: str, x: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    assert _kernels.applies(x, -1)
    return getattr(softmax, name)(x, temperature=temperature)


def ulp_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| in ulps of the larger magnitude (0 where equal, NaN included)."""
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(all="ignore"):
        d = np.abs(a - b) / np.spacing(scale)
    return np.where((a == b) | (np.isnan(a) & np.isnan(b)), 0.0, d)


SHAPES = [(4096, 10), (3000, 3), (2048, 7), (300, 129), (64, 1000), (2, 40_000), (50_000,)]


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_float64_random_matches_reference(rng, name, shape):
    x = rng.standard_normal(shape) * rng.choice([0.1, 3.0, 40.0], size=(*shape[:-1], 1))
    got, want = kernel(name, x), reference(name, x)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert ulp_diff(got, want).max() <= ULPS[("float64", name)]


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_float32_random_at_least_as_accurate(rng, name, shape):
    # NumPy's own float32 exp is up to ~2.5 ulp off on AVX2, so the two paths
    # differ by a few ulp; the kernel must be within 2 ulp of the float64 truth.
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    got, want = kernel(name, x), reference(name, x)
    truth = reference(name, x.astype(np.float64))
    assert got.dtype == np.float32
    assert ulp_diff(got, want).max() <= 8
    err_kernel = ulp_diff(got.astype(np.float64), truth) * 2.0**-29  # in float32 ulps
    err_ref = ulp_diff(want.astype(np.float64), truth) * 2.0**-29
    assert err_kernel.max() <= max(4.0, err_ref.max())


def edge_rows(dtype: type) -> np.ndarray:
    big = 3e38 if dtype is np.float32 else 1e300
    inf, nan = np.inf, np.nan
    rows = [
        [-inf] * 8,
        [0.0, inf, 1.0, inf, -inf, 2.0, 3.0, 4.0],
        [inf] * 8,
        [1.0, nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        [nan, -inf, -inf, -inf, -inf, -inf, -inf, -inf],
        [nan, inf, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [big, -big, 0.0, big, -big, 1.0, -1.0, 0.5],
        [-big, -big, -big, -big, -big, -big, -big, -big],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [-inf, -inf, 5.0, -inf, -inf, -inf, -inf, -inf],
        [0.0, 0.0, 0.0, inf, 0.0, 0.0, 0.0, 0.0],  # one +inf: log-probability +0.0 there
        # underflow thresholds: compared in ulps (exp itself may differ by one)
        [0.0, -1000.0, -800.0, -746.0, -745.0, -710.0, -104.0, -88.0],
    ]
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("name", FUNCS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ncols", [8, 3000])
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_edge_cases_exact(rng, name, dtype, ncols, temperature):
    edges = edge_rows(dtype)
    if ncols > 8:  # long rows: pad with -inf (changes nothing in the reference)
        pad = np.full((edges.shape[0], ncols - 8), -np.inf, dtype)
        edges = np.concatenate([edges, pad], axis=1)
    n_fill = max(1, _kernels.MIN_SIZE // ncols)
    x = np.concatenate([edges, rng.standard_normal((n_fill, ncols)).astype(dtype), edges])
    got, want = kernel(name, x, temperature), reference(name, x, temperature)
    k = edges.shape[0]
    for part in (slice(0, k - 1), slice(-k, -1)):
        np.testing.assert_array_equal(got[part], want[part])
        # the same zeros too (assert_array_equal takes -0.0 for +0.0)
        zeros = want[part] == 0
        np.testing.assert_array_equal(np.signbit(got[part][zeros]), np.signbit(want[part][zeros]))
    assert ulp_diff(got[k - 1 : -k], want[k - 1 : -k]).max() <= 8
    assert ulp_diff(got[-1], want[-1]).max() <= 8


@pytest.mark.parametrize("name", FUNCS)
def test_one_column_and_temperature(rng, name):
    x = rng.standard_normal((_kernels.MIN_SIZE, 1))
    x[:4, 0] = [np.inf, -np.inf, np.nan, 1e300]
    np.testing.assert_array_equal(kernel(name, x), reference(name, x))
    y = rng.standard_normal((64, 300)) * 10
    for t in (0.3, 7.0):
        assert ulp_diff(kernel(name, y, t), reference(name, y, t)).max() <= 3


def test_applies_only_to_what_it_handles():
    n = _kernels.MIN_SIZE
    x = np.zeros((n // 8, 8))
    assert _kernels.applies(x, -1) and _kernels.applies(x, 1)
    assert _kernels.applies(x.astype(np.float32), -1)
    assert _kernels.applies(x, np.int64(1))
    assert not _kernels.applies(x, 0)
    assert not _kernels.applies(x, (1,))
    assert not _kernels.applies(x, None)
    assert not _kernels.applies(x, True)
    assert not _kernels.applies(x[:, ::2], -1)  # not contiguous
    assert not _kernels.applies(np.asfortranarray(np.zeros((n, 8))), -1)
    assert not _kernels.applies(x.astype(np.float16), -1)
    assert not _kernels.applies(x.astype(">f8"), -1)
    assert not _kernels.applies(np.zeros(8), -1)  # too small
    assert not _kernels.applies(np.zeros((n, 0)), -1)
    with pytest.warns(PendingDeprecationWarning):
        m = np.asmatrix(x)
    assert not _kernels.applies(m, -1)
    assert not _kernels.applies(x.tolist(), -1)


def test_nd_input_and_where_falls_back(rng):
    x = rng.standard_normal((8, 64, 33))
    assert ulp_diff(kernel("softmax", x), reference("softmax", x)).max() <= 3
    mask = x > 0
    np.testing.assert_array_equal(
        softmax.softmax(x, where=mask), reference("softmax", np.where(mask, x, -np.inf))
    )


# --------------------------------------------------------------------------- #
# the kernel's pieces and paths
# --------------------------------------------------------------------------- #
def _impl():
    from softmax._kernels import _numba

    return _numba


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_pieces_match_numpy_bitwise(rng, dtype):
    impl = _impl()
    for n in [*range(1, 140), 255, 256, 1000, 4097, 30_001]:
        a = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4, n)).astype(dtype)
        assert dtype(impl._pairwise_sum(a)).tobytes() == np.sum(a).tobytes(), n
        assert impl._row_max(a) == np.max(a), n
        # With a NaN the result is NaN or some finite shift (the NaN then
        # spreads through the row's arithmetic), never an infinity.
        a[rng.integers(0, n)] = np.nan
        m = impl._row_max(a)
        assert np.isnan(m) or np.isfinite(m), n
        a[0] = np.nan
        assert np.isnan(impl._row_max(a)), n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tile_transpose(rng, dtype):
    from numba import njit

    tr8 = _impl()._tr8

    @njit
    def run(src, s0, ss, dst, d0, ds):
        tr8(src, s0, ss, dst, d0, ds)

    src = rng.standard_normal((9, 11)).astype(dtype)
    dst = np.zeros((10, 13), dtype)
    run(src.reshape(-1), 11 + 2, 11, dst.reshape(-1), 13 + 3, 13)
    np.testing.assert_array_equal(dst[1:9, 3:11], src[1:9, 2:10].T)
    assert not dst[0].any() and not dst[9].any() and not dst[:, :3].any() and not dst[:, 11:].any()


def test_count_and_negative_zero_helpers():
    from numba import njit

    impl = _impl()

    @njit
    def count(c, like):
        return impl._count(c, like)

    @njit
    def neg_zeros(a):
        return impl._neg_zeros(a)

    # float32 counts by adding ones stop at 2**24: the kernel reproduces that
    assert count(2**24 + 3, np.float32(0)) == np.float32(2**24)
    assert count(12345, np.float32(0)) == np.float32(12345)
    assert count(2**40 + 1, 0.0) == 2.0**40 + 1
    for dtype in (np.float32, np.float64):
        a = np.array([-0.0, 0.0, -0.0, 1.0, -1.0, np.nan, -np.inf, -0.0], dtype)
        assert neg_zeros(a) == 3


# rows of every length around the path switch (transposed blocks up to
# 32 / 16 elements, one row at a time above), with row counts that leave
# partial 8 x 8 tiles and partial blocks, and special rows anywhere.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FUNCS)
def test_every_short_row_length(rng, dtype, name):
    impl = _impl()
    inf, nan = np.inf, np.nan
    for n in [*range(1, 42), 64, 127, 128, 129]:
        per_block = max(8, (impl._BLOCK // n) // 8 * 8)
        nrows = max(per_block + 13, _kernels.MIN_SIZE // n + 5)
        x = (rng.standard_normal((nrows, n)) * rng.choice([0.1, 3.0, 40.0], (nrows, 1))).astype(
            dtype
        )
        special = rng.choice(nrows, 6, replace=False)
        x[special[0]] = -inf
        x[special[1], rng.integers(0, n)] = inf
        x[special[2], rng.integers(0, n)] = nan
        x[special[3], 0] = nan
        x[special[4]] = np.round(x[special[4]])  # ties at the max
        x[special[5], :] = 0.0
        got, want = kernel(name, x), reference(name, x)
        exact = np.isin(np.arange(nrows), special[:4])
        np.testing.assert_array_equal(got[exact], want[exact])
        # float64 softmax: each path is within 3 ulp of the truth, so they may
        # differ by 4 on a few rows (the one-row-at-a-time path does the same).
        tol = 8 if dtype is np.float32 else {"softmax": 4, "log_softmax": 2}[name]
        assert ulp_diff(got[~exact], want[~exact]).max() <= tol, n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_transposed_and_row_paths_agree_bitwise(rng, dtype, temperature):
    # The transposed blocks do each row's arithmetic in the row path's order:
    # forcing every row through the row path (cols=0) changes no bit.
    impl = _impl()
    f = dtype
    t = None if temperature == 1 else f(temperature)
    for n in [1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32]:
        x = (rng.standard_normal((1000, n)) * rng.choice([0.1, 3.0, 40.0], (1000, 1))).astype(f)
        x[rng.integers(0, 1000, 30), rng.integers(0, n, 30)] = rng.choice(
            [np.inf, -np.inf, np.nan], 30
        )
        x[rng.integers(0, 1000, 30)] = np.round(x[rng.integers(0, 1000, 30)])
        x = x.reshape(-1)
        for log in (False, True):
            a, b = np.empty_like(x), np.empty_like(x)
            impl._rows(x, a, n, log, f(0.0), f(1.0), t, 32)
            impl._rows(x, b, n, log, f(0.0), f(1.0), t, 0)
            both_nan = np.isnan(a) & np.isnan(b)
            np.testing.assert_array_equal(a[~both_nan].view(np.uint8), b[~both_nan].view(np.uint8))
            assert np.array_equal(np.isnan(a), np.isnan(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [10, 200])
def test_temperature_one_compiles_away_the_division_only(rng, dtype, n):
    # T == 1 runs a specialisation without the division by T: same bits as
    # dividing by 1.
    impl = _impl()
    x = (rng.standard_normal(64 * n) * 5).astype(dtype)
    f = dtype
    cols = impl._COLS32 if dtype is np.float32 else impl._COLS64
    for log in (False, True):
        a, b = np.empty_like(x), np.empty_like(x)
        impl._rows(x, a, n, log, f(0.0), f(1.0), None, cols)
        impl._rows(x, b, n, log, f(0.0), f(1.0), f(1.0), cols)
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ncols", [10, 1000])
def test_log_softmax_of_lone_maxima_is_positive_zero(dtype, ncols):
    # Everything but the maxima underflows: the rest of the sum is zero, and
    # the maxima's log-probability is log1p(count - 1) exactly, +0.0 for one.
    nrows = _kernels.MIN_SIZE // ncols + 1
    x = np.full((nrows, ncols), -1e4, dtype)
    x[::2, 3] = 0.0
    x[1::2, 2:4] = 7.0
    got, want = kernel("log_softmax", x), reference("log_softmax", x)
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[::2, 3]).any()
    np.testing.assert_array_equal(got[1::2, 2], np.full(nrows // 2, -np.log(dtype(2)), dtype))


# --------------------------------------------------------------------------- #
# log_softmax at the labels only (cross_entropy's fused path)
# --------------------------------------------------------------------------- #
def _gathered(x: np.ndarray, y: np.ndarray, cols: int) -> np.ndarray:
    """The row kernel's full log_softmax output, gathered at the labels."""
    impl, f = _impl(), x.dtype.type
    out = np.empty_like(x)
    impl._rows(x.reshape(-1), out.reshape(-1), x.shape[1], True, f(0.0), f(1.0), None, cols)
    return np.take_along_axis(out, y[:, None], axis=1)[:, 0]


def _picked(x: np.ndarray, y: np.ndarray, cols: int) -> np.ndarray:
    impl, f = _impl(), x.dtype.type
    got = np.empty(x.shape[0], x.dtype)
    impl._picked_rows(x.reshape(-1), y, got, x.shape[1], f(0.0), f(1.0), None, cols)
    return got


def _hostile(rng: np.random.Generator, nrows: int, n: int, dtype: type) -> np.ndarray:
    """Random rows of mixed scales with infinities, NaNs, ties, all -inf rows, huge spreads."""
    big = np.finfo(dtype).max / 4
    x = rng.standard_normal((nrows, n)) * rng.choice([1e-3, 1.0, 40.0, 1e4], (nrows, 1))
    k = max(1, nrows // 10)
    rows, cols = rng.integers(0, nrows, k), rng.integers(0, n, k)
    x[rows, cols] = rng.choice([np.inf, -np.inf, np.nan, big, -big, 0.0], k)
    x[rng.integers(0, nrows, max(1, nrows // 50))] = -np.inf
    tie = rng.integers(0, nrows, max(1, nrows // 20))
    x[tie] = np.round(x[tie])
    return x.astype(dtype)


@settings(max_examples=60, deadline=None)
@given(
    n=st.one_of(st.integers(1, 40), st.sampled_from([64, 127, 129, 1000, 3001])),
    nrows=st.integers(1, 700),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
)
def test_picked_is_gathered_log_softmax_bitwise(n, nrows, dtype, seed):
    # Both row paths (transposed blocks: the module's cols; one row at a time:
    # cols=0) give log_softmax at the label with exactly the bits of the full
    # kernel output there, NaN payloads and the signs of zeros included.
    rng = np.random.default_rng(seed)
    impl = _impl()
    nrows = min(nrows, max(1, 40_000 // n))
    x = _hostile(rng, nrows, n, dtype)
    y = rng.integers(0, n, nrows)
    cols = impl._COLS32 if dtype is np.float32 else impl._COLS64
    for c in (cols, 0):
        want = _gathered(x, y, c)
        np.testing.assert_array_equal(_picked(x, y, c).view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_picked_special_rows(dtype):
    # Non-finite maxima, one row each, against the reference's values.
    inf, nan = np.inf, np.nan
    x = np.array(
        [
            [inf, 0.0, inf, 1.0],  # +inf twice: log(1/2) at an inf, -inf elsewhere
            [inf, 0.0, inf, 1.0],
            [-inf, -inf, -inf, -inf],
            [1.0, nan, 2.0, 3.0],
            [0.0, 0.0, 0.0, 0.0],
        ],
        dtype,
    )
    y = np.array([2, 3, 1, 0, 3])
    want = np.array([-np.log(2.0), -inf, -inf, nan, -np.log(4.0)], dtype)
    for c in (32, 0):
        got = _picked(x, y, c)
        np.testing.assert_allclose(got, want, rtol=2e-7, equal_nan=True)
        np.testing.assert_array_equal(got, _gathered(x, y, c))


def test_picked_public_helper(rng):
    n = _kernels.MIN_SIZE
    x = rng.standard_normal((n // 8, 8))
    y = rng.integers(0, 8, n // 8)
    got = _kernels.log_softmax_picked(x, -1, y)
    np.testing.assert_array_equal(
        got, np.take_along_axis(kernel("log_softmax", x), y[:, None], 1)[:, 0]
    )
    x3 = x.reshape(4, -1, 8)
    got3 = _kernels.log_softmax_picked(x3, 2, y.reshape(4, -1).astype(np.int32))
    np.testing.assert_array_equal(got3, got.reshape(4, -1))
    # not handled: the caller's general path runs
    assert _kernels.log_softmax_picked(x, 0, y) is None
    assert _kernels.log_softmax_picked(x[:, ::2], -1, y) is None
    assert _kernels.log_softmax_picked(x.astype(np.float16), -1, y) is None
    assert _kernels.log_softmax_picked(np.zeros((4, 8)), -1, np.zeros(4, int)) is None  # small
    assert _kernels.log_softmax_picked(x, -1, y.tolist()) is None
    assert _kernels.log_softmax_picked(x, -1, y.astype(float)) is None
    assert _kernels.log_softmax_picked(x, -1, y[:-1]) is None


# --------------------------------------------------------------------------- #
# The multithreaded CSR product (``_numba_sparse``), against SciPy's
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("data_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dense_dtype", [np.float64, np.float32])
def test_csr_matmat_matches_scipy(rng, data_dtype, dense_dtype):
    import scipy.sparse as sp

    X = sp.random(3000, 400, density=0.02, format="csr", random_state=rng, dtype=data_dtype)
    B = rng.standard_normal((400, 7)).astype(dense_dtype)
    B[rng.uniform(size=400) < 0.7] = 0.0  # zero rows are skipped, not mistaken
    out = _kernels.csr_matmat(X, B)
    assert out is not None and out.dtype == dense_dtype and out.shape == (3000, 7)
    rtol = 1e-5 if np.float32 in (data_dtype, dense_dtype) else 1e-13
    np.testing.assert_allclose(out, X @ B, rtol=rtol, atol=rtol)


def test_csr_matmat_with_duplicates_unsorted_int64_indices_and_empty_rows(rng):
    import scipy.sparse as sp

    rows = rng.integers(0, 500, 20_000)
    rows[rows == 7] = 8  # row 7 stays empty
    cols = rng.integers(0, 60, 20_000)
    vals = rng.standard_normal(20_000)
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(500, 60))
    # CSR straight from the triplets, duplicates kept and columns unsorted.
    order = np.argsort(rows, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=500))]).astype(np.int64)
    X = sp.csr_matrix((vals[order], cols[order].astype(np.int64), indptr), shape=(500, 60))
    assert not X.has_canonical_format
    B = rng.standard_normal((60, 4))
    out = _kernels.csr_matmat(X, B)
    np.testing.assert_allclose(out, coo.toarray() @ B, rtol=1e-12, atol=1e-12)
    assert np.all(out[7] == 0.0)


def test_csr_matmat_declines_what_it_does_not_handle(rng):
    import scipy.sparse as sp

    X = sp.random(3000, 400, density=0.02, format="csr", random_state=rng)
    B = rng.standard_normal((400, 7))
    assert _kernels.csr_matmat(X.tocsc(), B) is None
    assert _kernels.csr_matmat(X[:10], B) is None  # too small to pay for the threads
    assert _kernels.csr_matmat(X.astype(np.int64), B) is None


def _blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def test_blas_for_kernels_limits_and_blas_unlimited_restores():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):
        with _kernels.blas_for_kernels(False):
            assert _blas_threads() == 2
        with _kernels.blas_unlimited():  # outside blas_for_kernels: no change
            assert _blas_threads() == 2
        with _kernels.blas_for_kernels(True):
            assert _blas_threads() == 1
            with _kernels.blas_unlimited():
                assert _blas_threads() == 2
            assert _blas_threads() == 1
        assert _blas_threads() == 2


def test_kernels_for_blas_runs_the_kernels_on_one_thread_and_restores():
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    with _kernels.kernels_for_blas(False):
        assert numba.get_num_threads() == before
    with _kernels.kernels_for_blas(True):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_set_kernel_threads_is_per_thread_and_bounded():
    numba = pytest.importorskip("numba")
    import threading

    seen = {}

    def worker():
        _kernels.set_kernel_threads(1)
        seen["inside"] = numba.get_num_threads()
        _kernels.set_kernel_threads(10**6)  # bounded by numba's pool
        seen["bounded"] = numba.get_num_threads()

    before = numba.get_num_threads()
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["inside"] == 1
    assert seen["bounded"] == numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == before  # the calling thread is untouched
