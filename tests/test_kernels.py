"""The fused numba kernels against the NumPy reference path of ``softmax.special``."""

from __future__ import annotations

import numpy as np
import pytest

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
