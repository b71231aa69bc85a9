"""softmax.special against SciPy, PyTorch and mpmath; edge cases, VJPs, properties, bad input."""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
import scipy.special as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal

import softmax as S

INF, NAN = math.inf, math.nan
PROPERTY = settings(max_examples=100, deadline=None)
TOL = {np.float32: {"rtol": 2e-6, "atol": 1e-7}, np.float64: {"rtol": 1e-13, "atol": 1e-300}}


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def ulp_error(actual, expected) -> float:
    """Largest error in units of the last place of ``expected`` (equal infinities: 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    same = actual == expected
    scale = np.spacing(np.maximum(np.abs(expected), np.finfo(np.float64).smallest_normal))
    with np.errstate(invalid="ignore"):
        err = np.where(same, 0.0, np.abs(actual - expected) / scale)
    return float(np.max(err, initial=0.0))


def mp_reference(x):
    """softmax, log_softmax and logsumexp of a float64 vector, in 50-digit arithmetic.

    ``log(sum)`` is formed as ``log1p((c - 1) + rest)`` in mpmath so that the
    reference itself does not lose the tiny non-maximal terms to the 50 digits.
    """
    with mpmath.workdps(50):
        xs = [mpmath.mpf(float(v)) for v in x]
        m = max(xs)
        count = sum(1 for v in xs if v == m)
        rest = mpmath.fsum(mpmath.exp(v - m) for v in xs if v != m)
        log_s = mpmath.log1p((count - 1) + rest)
        log_p = [(v - m) - log_s for v in xs]
        return (
            np.array([float(mpmath.exp(v)) for v in log_p]),
            np.array([float(v) for v in log_p]),
            float(m + log_s),
            float(m),
        )


def shapes_and_axes():
    cases = []
    for shape in [(7,), (3, 4), (2, 3, 4), (2, 1, 3, 2)]:
        ndim = len(shape)
        axes = [*range(-ndim, ndim), None]
        if ndim >= 2:
            axes += [(0, ndim - 1), (-1, -2)]
        if ndim >= 3:
            axes += [(0, 2), (1, -1, 0)]
        cases += [(shape, a) for a in axes]
    return cases


SHAPES_AXES = shapes_and_axes()


def _ids(case):
    return f"{case[0]}-{case[1]}"


# --------------------------------------------------------------------------- #
# parity with scipy.special
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", SHAPES_AXES, ids=_ids)
def test_softmax_family_matches_scipy(case, dtype, rng):
    shape, axis = case
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    for ours, theirs in [
        (S.softmax, sp.softmax),
        (S.log_softmax, sp.log_softmax),
        (S.logsumexp, sp.logsumexp),
    ]:
        got, want = ours(x, axis=axis), theirs(x, axis=axis)
        assert got.dtype == dtype
        assert got.shape == np.shape(want)
        # SciPy's x - logsumexp(x) cancels near the maximum (we use log1p there):
        # the fair yardstick is the size of the logits.
        tol = TOL[dtype]["rtol"]
        assert_allclose(got, want, rtol=tol, atol=tol * (1 + np.max(np.abs(x))))
    got = S.logsumexp(x, axis=axis, keepdims=True)
    assert_allclose(got, sp.logsumexp(x, axis=axis, keepdims=True), **TOL[dtype])


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [-1, 0, None, (0, 1)])
def test_logsumexp_b_and_return_sign_match_scipy(axis, keepdims, rng):
    x = rng.standard_normal((4, 5)) * 5
    b_pos = rng.uniform(0, 2, (4, 5))
    b_signed = rng.standard_normal((4, 5))
    b_row = rng.uniform(0.5, 1, (5,))  # broadcasts against x
    for b in (b_pos, b_row, 2.0):
        assert_allclose(
            S.logsumexp(x, axis=axis, b=b, keepdims=keepdims),
            sp.logsumexp(x, axis=axis, b=b, keepdims=keepdims),
            rtol=1e-13,
        )
    lse, sign = S.logsumexp(x, axis=axis, b=b_signed, keepdims=keepdims, return_sign=True)
    want_lse, want_sign = sp.logsumexp(
        x, axis=axis, b=b_signed, keepdims=keepdims, return_sign=True
    )
    assert_allclose(lse, want_lse, rtol=1e-12)
    assert_array_equal(sign, want_sign)
    lse, sign = S.logsumexp(x, axis=axis, keepdims=keepdims, return_sign=True)
    assert_allclose(lse, sp.logsumexp(x, axis=axis, keepdims=keepdims), rtol=1e-13)
    assert np.all(sign == 1)


@pytest.mark.parametrize(
    ("x", "b"),
    [
        ([0.0, -40.0], [1.0, 1.0]),  # log(1 + 4e-18): log(s) of the rounded s gave 0
        ([0.0, -40.0], [2.0, 3.0]),
        ([0.0, 0.0, -35.0], [0.5, 0.5, -1.0]),
        ([-700.0, 0.0], [-0.5, 1.0]),  # -4.9e-305
        ([1.0, 1.0 - 1e-9], [1.0, -0.5]),  # the maxima's weight, the rest of the other sign
        ([3.0, 1.0, 2.0], [-1.0, 2.0, 0.25]),  # a negative sum (return_sign)
    ],
)
def test_logsumexp_b_keeps_relative_accuracy(x, b):
    with mpmath.workdps(400):  # 1 - 4.9e-305 needs 305 digits
        terms = [mpmath.mpf(bj) * mpmath.exp(mpmath.mpf(xj)) for xj, bj in zip(x, b, strict=True)]
        total = mpmath.fsum(terms)
        ref, ref_sign = float(mpmath.log(abs(total))), float(mpmath.sign(total))
    lse, sign = S.logsumexp(np.array(x), b=np.array(b), return_sign=True)
    assert sign == ref_sign
    assert_allclose(lse, ref, rtol=4e-16, atol=0)
    if ref_sign < 0:
        assert np.isnan(S.logsumexp(np.array(x), b=np.array(b)))
    else:
        assert_allclose(S.logsumexp(np.array(x), b=np.array(b)), ref, rtol=4e-16, atol=0)


def test_logsumexp_b_broadcasts_x_like_scipy():
    x = np.array([1.0, 2.0])
    b = np.array([[1.0, 1.0], [1.0, 0.0]])
    assert_allclose(S.logsumexp(x, b=b), sp.logsumexp(x, b=b, axis=-1), rtol=1e-14)


def test_logsumexp_b_zero_drops_entries_even_inf_and_nan():
    x = np.array([INF, NAN, 1.0, -INF])
    b = np.array([0.0, 0.0, 1.0, 1.0])
    assert S.logsumexp(x, b=b) == 1.0 == sp.logsumexp(x, b=b)


def test_logsumexp_return_sign_edge_cases():
    lse, sign = S.logsumexp(np.array([-INF, -INF]), return_sign=True)
    assert lse == -INF and sign == 0
    lse, sign = S.logsumexp(np.array([NAN, 1.0]), return_sign=True)
    assert np.isnan(lse) and np.isnan(sign)
    lse, sign = S.logsumexp(np.array([1.0, 1.0]), b=np.array([1.0, -1.0]), return_sign=True)
    assert lse == -INF and sign == 0
    lse, sign = S.logsumexp(np.array([INF, 1.0]), b=np.array([-1.0, 1.0]), return_sign=True)
    assert lse == INF and sign == -1
    # Documented: an empty sum has sign 0 (SciPy 1.17 says -1 there).
    lse, sign = S.logsumexp(np.zeros((0, 3)), axis=0, return_sign=True)
    assert_array_equal(lse, [-INF] * 3)
    assert_array_equal(sign, [0.0] * 3)


SIGMOID_POINTS = np.concatenate(
    [
        np.linspace(-800, 800, 801),
        np.linspace(-40, 40, 1601),
        [-1e300, -1e4, -745.5, -709.8, -37.5, -1e-300, -0.0, 0.0, 5e-324, 1e-20, 36.7, 1e300],
        [-INF, INF, NAN],
    ]
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_log_sigmoid_match_scipy(dtype):
    with np.errstate(over="ignore"):  # +-1e300 is +-inf in float32
        x = SIGMOID_POINTS.astype(dtype)
    for ours, theirs in [(S.sigmoid, sp.expit), (S.log_sigmoid, sp.log_expit)]:
        got = ours(x)
        assert got.dtype == dtype
        want = theirs(x)
        assert_array_equal(np.isnan(got), np.isnan(x))
        # atol: SciPy flushes sigmoid(-709.8) = 5.5e-309 to 0 (exp(709.8) overflows)
        eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).smallest_normal
        assert_allclose(got, want, rtol=4 * eps, atol=tiny)


def test_entropy_and_kl_match_scipy(rng):
    p = sp.softmax(rng.standard_normal((5, 6)) * 3, axis=-1)
    q = sp.softmax(rng.standard_normal((5, 6)) * 3, axis=-1)
    p[0, 2] = 0.0
    q[1, 3] = 0.0
    for axis in (-1, 0, None, (0, 1)):
        assert_allclose(S.entropy(p, axis=axis), sp.entr(p).sum(axis=axis), rtol=1e-13)
        assert_allclose(
            S.kl_divergence(p, q, axis=axis), sp.rel_entr(p, q).sum(axis=axis), rtol=1e-13
        )
    special = np.array([0.0, 1.0, -1.0, 0.0, INF, 1.0, 0.5, NAN, 0.3, 1e-300, 1.0])
    other = np.array([-1.0, -1.0, 1.0, 0.0, 1.0, INF, NAN, 0.2, 1e-320, 1e300, 1e-300])
    for pi, qi in zip(special, other, strict=True):
        assert_allclose(S.kl_divergence(pi, qi), sp.rel_entr(pi, qi), rtol=1e-14)
        assert_allclose(S.entropy(pi), sp.entr(pi), rtol=1e-14)


@pytest.mark.parametrize("gap", [1e-3, 1e-6, 1e-9])
def test_kl_divergence_of_close_distributions_against_mpmath(gap, rng):
    # Each term is first order in p - q and the sum second order: log(p / q) of a
    # rounded ratio lost it (300x off at a gap of 1e-9); rel_entr's log1p does not.
    for _ in range(20):
        q = rng.dirichlet(np.ones(5))
        p = q * (1 + gap * rng.standard_normal(5))
        p /= p.sum()
        with mpmath.workdps(60):
            ref = float(
                mpmath.fsum(
                    mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))
                    for a, b in zip(p, q, strict=True)
                )
            )
        got = S.kl_divergence(p, q)
        assert_allclose(got, sp.rel_entr(p, q).sum(), rtol=1e-12, atol=0)
        # the first-order terms cancel: absolute error ~ eps * gap, relative ~ eps / gap
        assert abs(got - ref) <= 1e-15 * gap + 1e-30, (got, ref)


def test_kl_divergence_broadcasts():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    q = np.array([0.5, 0.5])
    assert_allclose(S.kl_divergence(p, q), sp.rel_entr(p, q).sum(-1), rtol=1e-14)


# --------------------------------------------------------------------------- #
# parity with PyTorch
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", SHAPES_AXES, ids=_ids)
def test_matches_torch(case, dtype, rng):
    shape, axis = case
    x = (rng.standard_normal(shape) * 10).astype(dtype)
    t = torch.from_numpy(x)
    if isinstance(axis, int):
        assert_allclose(S.softmax(x, axis=axis), torch.softmax(t, axis).numpy(), **TOL[dtype])
        tol = TOL[dtype]["rtol"]
        assert_allclose(
            S.log_softmax(x, axis=axis),
            torch.log_softmax(t, axis).numpy(),
            rtol=tol,
            atol=tol * (1 + np.max(np.abs(x))),
        )
    dim = tuple(range(len(shape))) if axis is None else axis
    assert_allclose(S.logsumexp(x, axis=axis), torch.logsumexp(t, dim).numpy(), **TOL[dtype])
    assert_allclose(S.sigmoid(x), torch.sigmoid(t).numpy(), **TOL[dtype])
    assert_allclose(S.log_sigmoid(x), torch.nn.functional.logsigmoid(t).numpy(), **TOL[dtype])


# --------------------------------------------------------------------------- #
# accuracy against mpmath on hostile inputs
# --------------------------------------------------------------------------- #
HOSTILE = [
    [1.0, 1.0 + 1e-15],
    [1.0, 1.0 + 2.2e-16, 1.0 - 1.1e-16],
    [0.0, -1000.0],
    [700.0, -700.0],
    [700.0, 0.0, -700.0, 699.9999999999],
    [1e6, 1e6 + 1e-10, 1e6 - 700.0],
    [-1e5, -1e5 - 1e-9, -1e5 + 3e-11],
    [1e300, 1e300],
    [1e300, -1e300],
    [0.0, -36.0, -37.0, -745.0],
    [1.0 / 3.0, 2.0 / 3.0, 1.0],
    [1e-300, -1e-300, 0.0],
    [709.0, 709.0, 709.0],
]


def hostile_cases():
    rng = np.random.default_rng(20240101)
    cases = [np.array(c) for c in HOSTILE]
    for _ in range(150):
        n = int(rng.integers(1, 7))
        spread = rng.choice([1e-15, 1e-8, 1.0, 30.0, 700.0])
        centre = rng.choice([0.0, 1.0, 1e3, 1e6, -1e5])
        x = centre + spread * rng.uniform(-1, 1, n)
        if rng.random() < 0.2:  # exact near-ties on a grid of ulps
            x = centre + np.spacing(centre if centre else 1.0) * rng.integers(-3, 4, n)
        cases.append(x)
    return cases


def test_float64_within_few_ulp_of_mpmath():
    for x in hostile_cases():
        p, log_p, lse, m = mp_reference(x)
        assert ulp_error(S.softmax(x), p) <= 4, x
        assert ulp_error(S.log_softmax(x), log_p) <= 4, x
        # logsumexp = m + log(s) cancels when it is near 0 (its condition number
        # blows up there): measure the error in ulp of max(|lse|, |max x|).
        scale = np.spacing(max(abs(lse), abs(m), np.finfo(np.float64).smallest_normal))
        assert abs(float(S.logsumexp(x)) - lse) <= 4 * scale, x


def test_exact_tails():
    assert_array_equal(S.log_softmax(np.array([0.0, -1000.0])), [0.0, -1000.0])
    assert S.log_sigmoid(-1000.0) == -1000.0
    assert S.log_sigmoid(-1e300) == -1e300
    assert_allclose(S.log_sigmoid(40.0), -math.exp(-40.0), rtol=1e-15)
    assert S.sigmoid(-800.0) == math.exp(-800.0)
    assert float(S.logsumexp(np.array([1000.0, 1000.0]))) == 1000.0 + math.log(2.0)
    assert_array_equal(S.log_softmax(np.array([0.0, 1e-20])), [-math.log(2)] * 2)
    assert_allclose(S.sigmoid(-709.8), math.exp(-709.8), rtol=1e-12)  # subnormal, not 0


def test_sigmoid_is_two_class_softmax():
    t = np.concatenate([np.linspace(-50, 50, 1001), [-1e300, -1000.0, 1000.0, 1e300, -INF, INF]])
    pairs = np.stack([np.zeros_like(t), t], axis=-1)
    assert ulp_error(S.sigmoid(t), S.softmax(pairs)[:, 1]) <= 2
    assert ulp_error(S.sigmoid(-t), S.softmax(pairs)[:, 0]) <= 2
    assert ulp_error(S.log_sigmoid(t), S.log_softmax(pairs)[:, 1]) <= 2


# --------------------------------------------------------------------------- #
# edge cases, one by one
# --------------------------------------------------------------------------- #
def _no_new_nan(*outs):
    for out in outs:
        assert not np.any(np.isnan(out))


@pytest.mark.parametrize(
    ("big", "dtype"),
    [
        (1e4, np.float64),
        (1e300, np.float64),
        (1.7e308, np.float64),
        (1e4, np.float32),
        (3e38, np.float32),
    ],
)
def test_huge_logits(big, dtype):
    x = np.array([[big, -big], [big, big], [-big, -big], [0.0, big]], dtype=dtype)
    p, lp, lse = S.softmax(x), S.log_softmax(x), S.logsumexp(x)
    assert p.dtype == lp.dtype == lse.dtype == dtype
    _no_new_nan(p, lp, lse, S.entropy(p))
    assert_array_equal(p, np.array([[1, 0], [0.5, 0.5], [0.5, 0.5], [0, 1]], dtype=dtype))
    assert_array_equal(lp[0, 0], 0)
    want = -2 * float(big)  # Python floats overflow to inf silently
    assert lp[0, 1] == (want if abs(want) <= float(np.finfo(dtype).max) else -INF)
    assert_allclose(lp[1], [-math.log(2)] * 2, rtol=1e-6)
    assert_allclose(lse, [big, big + math.log(2), -big + math.log(2), big], rtol=1e-7)
    assert np.all(np.isfinite(lse))


def test_neg_inf_entries():
    x = np.array([-INF, 0.0, math.log(3.0)])
    assert_allclose(S.softmax(x), [0.0, 0.25, 0.75], rtol=1e-15)
    lp = S.log_softmax(x)
    assert lp[0] == -INF
    assert_allclose(lp[1:], np.log([0.25, 0.75]), rtol=1e-15)
    assert_allclose(S.logsumexp(x), math.log(4.0), rtol=1e-15)


def test_all_neg_inf_row_and_fully_masked_row():
    x = np.array([[-INF, -INF, -INF], [1.0, 2.0, 3.0]])
    for kwargs, xx in [
        ({}, x),
        ({"where": np.array([[False] * 3, [True] * 3])}, np.array([[1.0, 2.0, NAN], [1, 2, 3]])),
    ]:
        p = S.softmax(xx, **kwargs)
        assert_array_equal(p[0], [0.0, 0.0, 0.0])
        assert_allclose(p[1], sp.softmax([1.0, 2.0, 3.0]), rtol=1e-15)
        lp = S.log_softmax(xx, **kwargs)
        assert_array_equal(lp[0], [-INF] * 3)
        assert_allclose(lp[1], sp.log_softmax([1.0, 2.0, 3.0]), rtol=1e-15)
        lse = S.logsumexp(xx, **kwargs)
        assert lse[0] == -INF
        assert_allclose(lse[1], sp.logsumexp([1.0, 2.0, 3.0]), rtol=1e-15)
        assert_array_equal(S.entropy(p), [0.0, sp.entr(p[1]).sum()])


def test_pos_inf_entries_share_the_probability():
    x = np.array([[INF, 0.0, INF], [INF, -INF, 5.0], [INF, INF, INF], [-INF, INF, 1e308]])
    assert_array_equal(
        S.softmax(x), [[0.5, 0.0, 0.5], [1.0, 0.0, 0.0], [1 / 3] * 3, [0.0, 1.0, 0.0]]
    )
    lp = S.log_softmax(x)
    assert_allclose(lp[0], [-math.log(2), -INF, -math.log(2)], rtol=1e-15)
    assert_array_equal(lp[1], [0.0, -INF, -INF])
    assert_array_equal(S.logsumexp(x), [INF] * 4)
    # temperature does not change the limit
    assert_array_equal(S.softmax(x, temperature=7.0)[0], [0.5, 0.0, 0.5])


@pytest.mark.parametrize("func", [S.softmax, S.log_softmax, S.logsumexp])
def test_nan_stays_in_its_row(func):
    x = np.array([[1.0, NAN, 3.0], [1.0, 2.0, 3.0], [NAN, INF, -INF]])
    out = func(x)
    assert np.all(np.isnan(out[0])) and np.all(np.isnan(out[2]))
    assert not np.any(np.isnan(out[1]))
    out = func(x.T, axis=0)  # the same along the other axis
    assert not np.any(np.isnan(out[..., 1]))
    assert np.all(np.isnan(out[..., 0]))
    assert not np.any(np.isnan(S.sigmoid(x)[1]))


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
@pytest.mark.parametrize("axis", [-1, 0, None])
def test_empty(shape, axis):
    x = np.zeros(shape)
    for func in (S.softmax, S.log_softmax, S.sigmoid, S.log_sigmoid):
        out = func(x, axis=axis) if func in (S.softmax, S.log_softmax) else func(x)
        assert out.shape == shape and out.dtype == np.float64
    # (scipy.special.logsumexp raises IndexError for axis=None on empty 2-d input)
    want = np.full(np.sum(x, axis=axis).shape, -INF)
    lse = S.logsumexp(x, axis=axis)
    assert lse.shape == want.shape
    assert_array_equal(lse, want)
    want_keep = np.full(np.sum(x, axis=axis, keepdims=True).shape, -INF)
    assert_array_equal(S.logsumexp(x, axis=axis, keepdims=True), want_keep)
    assert S.logsumexp(x, axis=axis, keepdims=True).shape == want_keep.shape
    assert_array_equal(S.entropy(x, axis=axis), np.zeros(want.shape))
    assert_array_equal(S.kl_divergence(x, x, axis=axis), np.zeros(want.shape))


def test_zero_d():
    assert S.softmax(2.5).shape == ()
    assert S.softmax(2.5) == 1.0
    assert S.softmax(np.float32(2.5)).dtype == np.float32
    assert S.log_softmax(2.5) == 0.0
    assert S.logsumexp(2.5) == 2.5
    assert S.logsumexp(2.5, keepdims=True) == 2.5
    assert S.logsumexp(2.5, b=2.0) == 2.5 + math.log(2.0)
    assert S.softmax(-INF) == 0.0 and S.log_softmax(-INF) == -INF and S.logsumexp(-INF) == -INF
    assert S.softmax(INF) == 1.0 and S.logsumexp(INF) == INF
    assert S.softmax(2.5, axis=None) == 1.0
    assert S.sigmoid(0.0) == 0.5 and S.log_sigmoid(0.0) == -math.log(2.0)
    assert S.entropy(0.5) == pytest.approx(0.5 * math.log(2.0))
    assert S.kl_divergence(0.5, 0.25) == pytest.approx(0.5 * math.log(2.0))
    with pytest.raises(ValueError, match="axis"):
        S.softmax(2.5, axis=1)


# --------------------------------------------------------------------------- #
# dtypes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    ("dtype", "out"),
    [
        (np.float16, np.float16),
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.int8, np.float64),
        (np.int64, np.float64),
        (np.uint16, np.float64),
        (np.bool_, np.float64),
    ],
)
def test_dtypes(dtype, out):
    x = np.array([[1, 0, 1], [0, 0, 1]]).astype(dtype)
    for func in (S.softmax, S.log_softmax, S.logsumexp, S.sigmoid, S.log_sigmoid, S.entropy):
        assert func(x).dtype == out, func.__name__
    assert S.kl_divergence(x, x).dtype == out
    assert S.softmax_vjp(x, x).dtype == out
    assert S.log_softmax_vjp(x, x).dtype == out


def test_float16_is_computed_in_float32():
    x16 = np.array([60000.0, 0.0, -60000.0, 65504.0], dtype=np.float16)
    x32 = x16.astype(np.float32)
    for func in (S.softmax, S.log_softmax, S.logsumexp, S.sigmoid, S.log_sigmoid):
        got = func(x16)
        assert got.dtype == np.float16
        with np.errstate(over="ignore"):  # -120000 is -inf in float16
            want = func(x32).astype(np.float16)
        assert_array_equal(got, want)
    # in float16 arithmetic exp(0) + exp(0) ... overflows nothing, but the sum of
    # 70000 ones would; in float32 it is fine:
    many = np.zeros(70000, dtype=np.float16)
    assert_allclose(S.softmax(many).astype(np.float64).sum(), 1.0, rtol=1e-2)
    assert S.logsumexp(many) == np.float16(math.log(70000))


def test_lists_and_scalars_are_numpy_input():
    assert isinstance(S.softmax([1, 2, 3]), np.ndarray)
    assert_allclose(S.softmax([1, 2, 3]), sp.softmax([1.0, 2.0, 3.0]), rtol=1e-15)
    assert isinstance(S.logsumexp([[1.0, 2.0]], axis=-1), np.ndarray)
    assert_allclose(S.softmax([1.0, 2.0], where=[True, False]), [1.0, 0.0])


# --------------------------------------------------------------------------- #
# temperature and where
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("temperature", [1e-3, 0.25, 1.0, 3.0, 1e5])
@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
def test_temperature_divides_the_logits(temperature, axis, rng):
    x = rng.standard_normal((4, 5)) * 3
    assert_allclose(
        S.softmax(x, axis=axis, temperature=temperature),
        sp.softmax(x / temperature, axis=axis),
        rtol=1e-12,
        atol=1e-300,
    )
    # SciPy's x/T - logsumexp(x/T) cancels near the maximum: scale by the logits.
    assert_allclose(
        S.log_softmax(x, axis=axis, temperature=temperature),
        sp.log_softmax(x / temperature, axis=axis),
        rtol=1e-12,
        atol=1e-14 * np.max(np.abs(x / temperature)),
    )


def test_tiny_temperature_does_not_invent_ties():
    # x / T would overflow both logits to +inf and give [0.5, 0.5]
    assert_array_equal(S.softmax([2.0, 3.0], temperature=1e-308), [0.0, 1.0])
    assert_array_equal(S.log_softmax([2.0, 3.0], temperature=1e-300), [-1.0 / 1e-300, 0.0])
    assert_array_equal(S.softmax([2.0, 2.0, 1.0], temperature=1e-300), [0.5, 0.5, 0.0])
    assert_allclose(S.softmax([2.0, 3.0], temperature=1e300), [0.5, 0.5], rtol=1e-15)
    _no_new_nan(S.softmax(np.array([-1.7e308, 1.7e308]), temperature=1e-300))
    _no_new_nan(S.log_softmax(np.array([-1.7e308, 1.7e308, 0.0]), temperature=1e-300))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("rows", [1, 4000])  # the reference / the fused kernels (float32)
def test_temperature_outside_the_dtype_s_range_gives_its_limit(dtype, rows):
    # 1e-50 rounds to 0 in float32 and 1e40 to inf: divided in the dtype, the
    # maxima became 0/0 and the -inf entries inf/inf (NaN).  float64 references:
    x = np.tile(np.array([1.0, 3.0, 3.0, -np.inf]), (rows, 1))
    for t in (1e-50, 1e-40, 1e40):
        ref = S.softmax(x, temperature=t)
        ref_log = S.log_softmax(x, temperature=t)
        got = S.softmax(x.astype(dtype), temperature=t)
        got_log = S.log_softmax(x.astype(dtype), temperature=t)
        assert got.dtype == got_log.dtype == dtype
        with np.errstate(over="ignore"):  # -2e50 is -inf in float32
            ref, ref_log = ref.astype(dtype), ref_log.astype(dtype)
        assert_array_equal(got, ref)
        assert_allclose(got_log, ref_log, rtol=1e-3)
    # the limits themselves: one-hot (ties shared), and uniform over the finite entries
    assert_array_equal(S.softmax(x.astype(dtype), temperature=1e-50)[0], [0, 0.5, 0.5, 0])
    assert_array_equal(S.log_softmax(x.astype(dtype), temperature=1e-50)[0, [0, 3]], [-np.inf] * 2)
    assert_allclose(S.softmax(x.astype(dtype), temperature=1e40)[0], [1 / 3] * 3 + [0], rtol=1e-3)


@pytest.mark.parametrize("axis", [-1, 0])
def test_where_equals_dropping_entries(axis, rng):
    x = rng.standard_normal((6, 6)) * 4
    mask = rng.random((6, 6)) < 0.6
    x[~mask & (rng.random((6, 6)) < 0.3)] = NAN  # masked NaN must not leak
    p = S.softmax(x, axis=axis, where=mask)
    lp = S.log_softmax(x, axis=axis, where=mask, temperature=2.0)
    lse = S.logsumexp(x, axis=axis, where=mask)
    xm = np.moveaxis(x, axis, -1)
    mm = np.moveaxis(mask, axis, -1)
    pm, lpm = np.moveaxis(p, axis, -1), np.moveaxis(lp, axis, -1)
    for i in range(6):
        kept = xm[i][mm[i]]
        assert_array_equal(pm[i][~mm[i]], 0.0)
        assert_array_equal(lpm[i][~mm[i]], -INF)
        if kept.size:
            assert_allclose(pm[i][mm[i]], sp.softmax(kept), rtol=1e-14)
            assert_allclose(lpm[i][mm[i]], sp.log_softmax(kept / 2.0), rtol=1e-14)
            assert_allclose(lse[i], sp.logsumexp(kept), rtol=1e-14)
        else:
            assert lse[i] == -INF


def test_where_broadcasts_and_none_is_all_true(rng):
    x = rng.standard_normal((3, 4))
    row = np.array([True, False, True, True])
    assert_array_equal(S.softmax(x, where=row), S.softmax(x, where=np.broadcast_to(row, x.shape)))
    assert_array_equal(S.softmax(x, where=np.ones_like(x, dtype=bool)), S.softmax(x))
    assert_array_equal(S.logsumexp(x, where=True), S.logsumexp(x))


# --------------------------------------------------------------------------- #
# VJPs
# --------------------------------------------------------------------------- #
def _fd_gradient(f, x, h=1e-4):
    """5-point central differences of the scalar function ``f`` at ``x``."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (-f(x + 2 * e) + 8 * f(x + e) - 8 * f(x - e) + f(x - 2 * e)) / (12 * h)
    return grad


@pytest.mark.parametrize("axis", [-1, 0])
def test_vjps_against_finite_differences(axis, rng):
    x = rng.standard_normal((3, 4)) * 2
    v = rng.standard_normal((3, 4))
    got = S.softmax_vjp(S.softmax(x, axis=axis), v, axis=axis)
    want = _fd_gradient(lambda z: float(np.sum(v * S.softmax(z, axis=axis))), x)
    assert_allclose(got, want, rtol=1e-8, atol=1e-10)
    got = S.log_softmax_vjp(S.log_softmax(x, axis=axis), v, axis=axis)
    want = _fd_gradient(lambda z: float(np.sum(v * S.log_softmax(z, axis=axis))), x)
    assert_allclose(got, want, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_vjps_against_torch_autograd(dim, rng):
    x = rng.standard_normal((3, 4, 5)) * 3
    v = rng.standard_normal((3, 4, 5))
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(torch.softmax(t, dim), t, torch.from_numpy(v))
    assert_allclose(
        S.softmax_vjp(S.softmax(x, axis=dim), v, axis=dim), g.numpy(), rtol=1e-12, atol=1e-15
    )
    (g,) = torch.autograd.grad(torch.log_softmax(t, dim), t, torch.from_numpy(v))
    assert_allclose(
        S.log_softmax_vjp(S.log_softmax(x, axis=dim), v, axis=dim),
        g.numpy(),
        rtol=1e-12,
        atol=1e-15,
    )


def test_vjps_at_edge_cases():
    p = S.softmax(np.array([[-INF, 0.0, 0.0], [-INF, -INF, -INF]]))
    g = S.softmax_vjp(p, np.ones_like(p) * 3)
    assert_array_equal(g, 0.0)
    lp = S.log_softmax(np.array([0.0, -INF]))
    assert_array_equal(S.log_softmax_vjp(lp, np.array([1.0, 2.0])), [-2.0, 2.0])


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("func", [S.softmax, S.log_softmax])
@pytest.mark.parametrize(
    ("temperature", "error"),
    [
        (0, ValueError),
        (0.0, ValueError),
        (-1, ValueError),
        (NAN, ValueError),
        (INF, ValueError),
        ("1.0", TypeError),
        ("hot", TypeError),
        (None, TypeError),
        (True, TypeError),
        ([1.0], TypeError),
        (1 + 1j, TypeError),
    ],
)
def test_bad_temperature(func, temperature, error):
    with pytest.raises(error, match="temperature"):
        func([1.0, 2.0], temperature=temperature)


def test_good_temperatures():
    for t in (2, 2.0, np.float32(2.0), np.int64(2), np.array(2.0)):
        assert_allclose(S.softmax([1.0, 2.0], temperature=t), sp.softmax([0.5, 1.0]), rtol=1e-15)


@pytest.mark.parametrize("func", [S.softmax, S.log_softmax, S.logsumexp, S.entropy])
def test_bad_axis(func):
    x = np.ones((2, 3))
    for axis in (2, -3, (0, 2)):
        with pytest.raises(ValueError, match="axis"):
            func(x, axis=axis)
    with pytest.raises(ValueError, match="repeated"):
        func(x, axis=(0, -2))
    for axis in (1.0, "a", (0, 1.5)):
        with pytest.raises(TypeError, match="axis"):
            func(x, axis=axis)


@pytest.mark.parametrize("func", [S.softmax, S.log_softmax, S.logsumexp])
def test_bad_where(func):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="where"):
        func(x, where=np.ones((2, 2), dtype=bool))
    with pytest.raises(TypeError, match="where"):
        func(x, where=np.ones((2, 3), dtype=int))


@pytest.mark.parametrize(
    "call",
    [
        lambda z: S.softmax(z),
        lambda z: S.log_softmax(z),
        lambda z: S.logsumexp(z),
        lambda z: S.sigmoid(z),
        lambda z: S.log_sigmoid(z),
        lambda z: S.entropy(z),
        lambda z: S.kl_divergence(z, z),
        lambda z: S.softmax_vjp(z, z),
        lambda z: S.log_softmax_vjp(z, z),
        lambda z: S.logsumexp(np.ones(2), b=z),
        lambda z: S.softmax_vjp(np.ones(2), z),
    ],
)
@pytest.mark.parametrize("bad", [np.array([1 + 1j, 2]), np.array(["a", "b"]), [object(), 1]])
def test_complex_and_object_input_is_a_type_error(call, bad):
    with pytest.raises(TypeError):
        call(bad)


def test_bad_b_and_cotangent_shapes():
    with pytest.raises(ValueError, match="b of shape"):
        S.logsumexp(np.ones((2, 3)), b=np.ones(2))
    with pytest.raises(ValueError, match="cotangent"):
        S.softmax_vjp(np.ones((2, 3)) / 3, np.ones(3))
    with pytest.raises(ValueError, match="cotangent"):
        S.log_softmax_vjp(np.zeros(3), np.ones(2))


# --------------------------------------------------------------------------- #
# properties (hypothesis)
# --------------------------------------------------------------------------- #
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)
# Logits on a grid of 1/1024 in [-128, 128]: shifts by integers are exact and
# distinct logits differ by at least 1/1024.
GRID = hnp.arrays(np.int64, SHAPES, elements=st.integers(-(2**17), 2**17)).map(lambda a: a / 1024.0)
ANY_FLOATS = hnp.arrays(
    np.float64,
    SHAPES,
    elements=st.floats(allow_nan=False, allow_infinity=True),
)


@st.composite
def grid_and_axis(draw):
    x = draw(GRID)
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    return x, axis


@PROPERTY
@given(grid_and_axis())
def test_property_rows_are_distributions(case):
    x, axis = case
    p = S.softmax(x, axis=axis)
    assert np.all((p >= 0) & (p <= 1))
    n = x.shape[axis]
    assert_allclose(p.sum(axis=axis), 1.0, rtol=0, atol=(n + 1) * 2.3e-16)


@PROPERTY
@given(grid_and_axis(), st.integers(-1000, 1000))
def test_property_shift_invariance(case, c):
    x, axis = case
    assert_allclose(S.softmax(x + c, axis=axis), S.softmax(x, axis=axis), rtol=1e-15, atol=0)
    assert_allclose(
        S.log_softmax(x + c, axis=axis), S.log_softmax(x, axis=axis), rtol=1e-15, atol=1e-300
    )
    assert_allclose(
        S.logsumexp(x + c, axis=axis), S.logsumexp(x, axis=axis) + c, rtol=1e-14, atol=1e-12
    )


@PROPERTY
@given(grid_and_axis())
def test_property_argmax_preserved(case):
    x, axis = case
    assert_array_equal(np.argmax(S.softmax(x, axis=axis), axis=axis), np.argmax(x, axis=axis))
    assert_array_equal(np.argmax(S.log_softmax(x, axis=axis), axis=axis), np.argmax(x, axis=axis))


@PROPERTY
@given(grid_and_axis())
def test_property_log_softmax_is_x_minus_logsumexp(case):
    x, axis = case
    want = x - S.logsumexp(x, axis=axis, keepdims=True)
    scale = np.abs(x) + np.abs(S.logsumexp(x, axis=axis, keepdims=True))
    assert np.all(np.abs(S.log_softmax(x, axis=axis) - want) <= 4e-16 * scale + 1e-300)
    assert_allclose(
        np.exp(S.log_softmax(x, axis=axis)), S.softmax(x, axis=axis), rtol=1e-12, atol=1e-300
    )


@PROPERTY
@given(grid_and_axis())
def test_property_temperature_limits(case):
    x, axis = case
    # T -> 0: one-hot on the argmax (shared equally among tied maxima)
    is_max = x == np.max(x, axis=axis, keepdims=True)
    one_hot = is_max / is_max.sum(axis=axis, keepdims=True)
    assert_allclose(S.softmax(x, axis=axis, temperature=1e-6), one_hot, rtol=1e-15, atol=0)
    # T -> inf: uniform
    assert_allclose(S.softmax(x, axis=axis, temperature=1e12), 1.0 / x.shape[axis], rtol=1e-9)
    # entropy increases with T
    ts = [1e-3, 0.1, 0.5, 1.0, 2.0, 10.0, 1e3]
    h = [S.entropy(S.softmax(x, axis=axis, temperature=t), axis=axis) for t in ts]
    for lo, hi in itertools.pairwise(h):
        assert np.all(hi >= lo - 1e-12)
    h_inf = S.entropy(S.softmax(x, axis=axis, temperature=1e12), axis=axis)
    assert_allclose(h_inf, np.log(x.shape[axis]), rtol=1e-9)


@PROPERTY
@given(grid_and_axis(), grid_and_axis())
def test_property_kl(case_p, case_q):
    (x, axis), (y, _) = case_p, case_q
    p = S.softmax(x, axis=axis)
    q = S.softmax(np.resize(y, x.shape), axis=axis)
    assert np.all(S.kl_divergence(p, q, axis=axis) >= -1e-14)
    assert_array_equal(S.kl_divergence(p, p, axis=axis), 0.0)


@PROPERTY
@given(ANY_FLOATS)
def test_property_never_a_new_nan(x):
    for axis in range(-x.ndim, 0):
        p = S.softmax(x, axis=axis)
        _no_new_nan(
            p,
            S.log_softmax(x, axis=axis),
            S.logsumexp(x, axis=axis),
            S.entropy(p, axis=axis),
            S.softmax(x, axis=axis, temperature=0.01),
            S.sigmoid(x),
            S.log_sigmoid(x),
        )
        assert np.all((p >= 0) & (p <= 1))
