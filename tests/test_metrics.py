"""softmax.metrics against scikit-learn, an independent float64 loop, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

from softmax import metrics
from softmax.metrics import (
    ReliabilityDiagram,
    brier_score,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
)

# ----------------------------------------------------------------------------- helpers


def random_problem(seed: int, n: int = 300, k: int = 4, calibrated: bool = False):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(k, 0.7), size=n)
    if calibrated:  # draw each label from its own predicted distribution
        y = (proba.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
        y = np.minimum(y, k - 1)
    else:
        y = rng.integers(0, k, size=n)
    y[:k] = np.arange(k)  # every class occurs, so the default labels have k entries
    return y, proba


def loop_reliability(y, proba, n_bins, weights=None):
    """Independent reference: a plain Python loop with exact rational bin edges."""
    n = len(y)
    weights = [1.0] * n if weights is None else list(weights)
    tot_w = [0.0] * n_bins
    tot_c = [0.0] * n_bins
    tot_a = [0.0] * n_bins
    cnt = [0] * n_bins
    for i in range(n):
        row = [float(v) for v in proba[i]]
        best = 0
        for k in range(1, len(row)):
            if row[k] > row[best]:
                best = k
        c = row[best]
        # bin b holds (b/n, (b+1)/n], the edges being Python's correctly rounded b / n
        b = 0
        while b < n_bins - 1 and c > (b + 1) / n_bins:
            b += 1
        tot_w[b] += weights[i]
        tot_c[b] += weights[i] * c
        tot_a[b] += weights[i] * (1.0 if best == y[i] else 0.0)
        cnt[b] += 1
    acc = [tot_a[b] / tot_w[b] if tot_w[b] > 0 else math.nan for b in range(n_bins)]
    conf = [tot_c[b] / tot_w[b] if tot_w[b] > 0 else math.nan for b in range(n_bins)]
    W = sum(tot_w)
    gaps = [abs(acc[b] - conf[b]) for b in range(n_bins) if tot_w[b] > 0]
    ece = sum(tot_w[b] / W * abs(acc[b] - conf[b]) for b in range(n_bins) if tot_w[b] > 0)
    return np.array(acc), np.array(conf), np.array(cnt), ece, max(gaps)


# ----------------------------------------------------------------------------- references


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
@pytest.mark.parametrize("weighted", [False, True])
def test_reliability_matches_loop_reference(n_bins, weighted):
    y, proba = random_problem(0)
    w = np.random.default_rng(1).uniform(0, 3, size=len(y)) if weighted else None
    acc, conf, cnt, ece, mce = loop_reliability(y, proba, n_bins, w)
    rd = reliability_diagram(y, proba, n_bins=n_bins, sample_weight=w)
    np.testing.assert_allclose(rd.accuracy, acc, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(rd.mean_confidence, conf, rtol=1e-12, equal_nan=True)
    np.testing.assert_array_equal(rd.counts, cnt)
    np.testing.assert_allclose(rd.bin_edges, np.linspace(0, 1, n_bins + 1), rtol=0, atol=1e-15)
    assert expected_calibration_error(y, proba, n_bins=n_bins, sample_weight=w) == pytest.approx(
        ece, rel=1e-12
    )
    assert maximum_calibration_error(y, proba, n_bins=n_bins, sample_weight=w) == pytest.approx(
        mce, rel=1e-12
    )


def test_confidences_on_bin_edges_go_to_the_lower_bin():
    # confidences exactly b/5: each belongs to the bin it closes, (b-1)/5 < c <= b/5
    proba = np.array([[0.2] * 5, [0.4, 0.3, 0.3, 0, 0], [0.6, 0.4, 0, 0, 0], [0.8, 0.2, 0, 0, 0]])
    proba = np.vstack([proba, [[1.0, 0, 0, 0, 0]]])
    y = np.zeros(5, dtype=int)
    rd = reliability_diagram(y, proba, n_bins=5, labels=np.arange(5))
    np.testing.assert_array_equal(rd.counts, [1, 1, 1, 1, 1])
    np.testing.assert_allclose(rd.mean_confidence, [0.2, 0.4, 0.6, 0.8, 1.0])
    loop = loop_reliability(y, proba, 5)
    np.testing.assert_array_equal(rd.counts, loop[2])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_is_calibration_curve_of_correctness(strategy):
    # The top-label diagram is the binary calibration curve of "prediction is right"
    # against the confidence: scikit-learn's calibration_curve, same bin convention.
    for k in (2, 3):
        y, proba = random_problem(2, n=500, k=k)
        conf = proba.max(axis=1)
        correct = (proba.argmax(axis=1) == y).astype(int)
        prob_true, prob_pred = calibration_curve(correct, conf, n_bins=8, strategy=strategy)
        rd = reliability_diagram(y, proba, n_bins=8, strategy=strategy)
        nonempty = rd.counts > 0
        np.testing.assert_allclose(rd.accuracy[nonempty], prob_true, rtol=1e-12)
        np.testing.assert_allclose(rd.mean_confidence[nonempty], prob_pred, rtol=1e-12)


def test_nll_matches_sklearn_log_loss():
    y, proba = random_problem(3, k=5)
    w = np.random.default_rng(0).uniform(0.1, 2, size=len(y))
    assert negative_log_likelihood(y, proba) == pytest.approx(log_loss(y, proba), rel=1e-14)
    assert negative_log_likelihood(y, proba, sample_weight=w) == pytest.approx(
        log_loss(y, proba, sample_weight=w), rel=1e-14
    )


def test_nll_clips_zero_probability_like_sklearn():
    y = np.array([0, 1, 2])
    proba = np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    value = negative_log_likelihood(y, proba)
    assert np.isfinite(value)
    assert value == pytest.approx(log_loss(y, proba), rel=1e-14)
    assert value == pytest.approx((-np.log(np.finfo(np.float64).eps) + np.log(2)) / 3)
    p32 = proba.astype(np.float32)
    assert negative_log_likelihood(y, p32) == pytest.approx(log_loss(y, p32), rel=1e-6)


def test_nll_binary_1d_and_string_labels_match_sklearn():
    rng = np.random.default_rng(4)
    p1 = rng.uniform(size=50)
    y = np.where(rng.uniform(size=50) < p1, "yes", "no")
    assert negative_log_likelihood(y, p1) == pytest.approx(log_loss(y, p1), rel=1e-14)
    two = np.stack([1 - p1, p1], axis=1)
    assert negative_log_likelihood(y, two) == pytest.approx(log_loss(y, two), rel=1e-14)


def test_brier_matches_sklearn_multiclass_and_binary_convention():
    y, proba = random_problem(5, k=4)
    w = np.random.default_rng(1).uniform(0.1, 2, size=len(y))
    assert brier_score(y, proba) == pytest.approx(brier_score_loss(y, proba), rel=1e-14)
    assert brier_score(y, proba, sample_weight=w) == pytest.approx(
        brier_score_loss(y, proba, sample_weight=w), rel=1e-14
    )
    # binary: scikit-learn scores the positive class only, exactly half of the sum
    y2, p2 = random_problem(6, k=2)
    assert brier_score(y2, p2) == pytest.approx(2 * brier_score_loss(y2, p2[:, 1]), rel=1e-14)
    # and a hand-computed value
    assert brier_score([0, 1], [[1.0, 0.0], [0.75, 0.25]]) == pytest.approx(
        (0 + 0.75**2 + 0.75**2) / 2
    )


def test_labels_give_the_column_order():
    y, proba = random_problem(7, k=3)
    names = np.array(["a", "b", "c"])
    perm = np.array([2, 0, 1])
    ys = names[y]
    for func in (expected_calibration_error, brier_score, negative_log_likelihood):
        ref = func(y, proba)
        assert func(ys, proba) == pytest.approx(ref, rel=1e-14)
        assert func(ys, proba[:, perm], labels=names[perm]) == pytest.approx(ref, rel=1e-14)


def test_labels_for_classes_absent_from_y():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="labels="):
        brier_score(y, proba)
    assert brier_score(y, proba, labels=[0, 1, 2]) == pytest.approx(
        ((0.3**2 + 0.2**2 + 0.1**2) + (0.1**2 + 0.2**2 + 0.1**2)) / 2
    )


# ----------------------------------------------------------------------------- properties


def test_exact_zero_for_a_constructed_calibrated_set():
    # 10 samples at confidence 0.8 with 8 right; 4 at 0.5 with 2 right; 3 at 1.0 all right
    proba = np.array([[0.8, 0.2]] * 10 + [[0.5, 0.5]] * 4 + [[1.0, 0.0]] * 3)
    y = np.array([0] * 8 + [1] * 2 + [0, 0, 1, 1] + [0] * 3)
    assert expected_calibration_error(y, proba) == pytest.approx(0.0, abs=1e-15)
    assert maximum_calibration_error(y, proba) == pytest.approx(0.0, abs=1e-15)
    # and the same set with one wrong answer moved: ECE = |7/10 - 0.8| * 10 / 17
    y[0] = 1
    assert expected_calibration_error(y, proba) == pytest.approx(0.1 * 10 / 17)
    assert maximum_calibration_error(y, proba) == pytest.approx(0.1)


def test_ece_vanishes_for_calibrated_data_in_the_limit():
    eces = [
        expected_calibration_error(*random_problem(8, n=n, k=3, calibrated=True))
        for n in (1_000, 100_000)
    ]
    assert eces[1] < 0.01
    assert eces[1] < eces[0]
    y, proba = random_problem(8, n=100_000, k=3, calibrated=False)
    assert expected_calibration_error(y, proba) > 0.2  # random labels: far from calibrated


@st.composite
def problems(draw):
    n = draw(st.integers(1, 40))
    k = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    raw = rng.exponential(size=(n, k)) ** draw(st.sampled_from([0.5, 1.0, 4.0]))
    proba = raw / raw.sum(axis=1, keepdims=True)
    y = rng.integers(0, k, size=n)
    return y, proba, k


@settings(max_examples=60, deadline=None)
@given(problems(), st.integers(1, 30), st.sampled_from(["uniform", "quantile"]))
def test_ece_properties(problem, n_bins, strategy):
    y, proba, k = problem
    kw = dict(n_bins=n_bins, labels=np.arange(k), strategy=strategy)
    ece = expected_calibration_error(y, proba, **kw)
    mce = maximum_calibration_error(y, proba, **kw)
    assert 0.0 <= ece <= 1.0
    assert ece <= mce + 1e-15 <= 1.0 + 1e-15
    rd = reliability_diagram(y, proba, **kw)
    assert rd.counts.sum() == len(y)
    assert rd.expected_calibration_error == ece
    # permuting the samples changes nothing; integer weights equal repetition
    perm = np.random.default_rng(0).permutation(len(y))
    assert expected_calibration_error(y[perm], proba[perm], **kw) == pytest.approx(ece, abs=1e-14)
    if strategy == "uniform":
        reps = np.arange(len(y)) % 3 + 1
        rep_ece = expected_calibration_error(
            np.repeat(y, reps), np.repeat(proba, reps, axis=0), **kw
        )
        w_ece = expected_calibration_error(y, proba, sample_weight=reps, **kw)
        assert w_ece == pytest.approx(rep_ece, abs=1e-14)
    nll = negative_log_likelihood(y, proba, labels=np.arange(k))
    assert nll == pytest.approx(log_loss(y, proba, labels=np.arange(k)), rel=1e-12)
    assert 0.0 <= brier_score(y, proba, labels=np.arange(k)) <= 2.0


def test_reliability_diagram_fields():
    y, proba = random_problem(9, n=40, k=3)
    rd = reliability_diagram(y, proba, n_bins=15)
    assert isinstance(rd, ReliabilityDiagram)
    assert rd.bin_edges.shape == (16,)
    for field in (rd.mean_confidence, rd.accuracy, rd.counts, rd.weights, rd.gaps):
        assert field.shape == (15,)
    assert rd.counts.dtype == np.int64
    empty = rd.counts == 0
    assert empty[:4].all()  # the top-label confidence of 3 classes is at least 1/3
    assert np.isnan(rd.accuracy[empty]).all() and np.isnan(rd.mean_confidence[empty]).all()
    np.testing.assert_array_equal(rd.weights, rd.counts)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("y", "proba", "kwargs", "match"),
    [
        ([0, 1, 1], [[0.5, 0.5], [0.2, 0.8]], {}, "y_true has 3 samples"),
        ([0, 1], [[0.5, 0.6], [0.2, 0.8]], {}, "sum to 1"),
        ([0, 1], [[1.5, -0.5], [0.2, 0.8]], {}, r"\[0, 1\]"),
        ([0, 1], [[np.nan, 1.0], [0.2, 0.8]], {}, "NaN"),
        ([0, 1], [[[0.5, 0.5]], [[0.2, 0.8]]], {}, "shape"),
        ([0, 1], [[1.0], [1.0]], {}, "at least 2 columns"),
        ([0, 1, 2], [[0.5, 0.5]] * 3, {}, "labels="),
        ([0, 3], [[0.5, 0.5]] * 2, {"labels": [0, 1]}, "do not cover y_true"),
        ([0, 1], [[0.5, 0.5]] * 2, {"labels": [0, 1, 2]}, "one class per column"),
        ([0, 1], [[0.5, 0.5]] * 2, {"labels": [1, 1]}, "unique"),
        ([0, 1], [[0.5, 0.5]] * 2, {"sample_weight": [1.0]}, "sample_weight"),
        ([0, 1], [[0.5, 0.5]] * 2, {"sample_weight": [1.0, -1.0]}, "sample_weight"),
        ([0, 1], [[0.5, 0.5]] * 2, {"sample_weight": [0.0, 0.0]}, "sample_weight"),
        ([], np.zeros((0, 2)), {}, "empty"),
        ([[0, 1]], [[0.5, 0.5]] * 2, {}, "y_true must be 1-D"),
        ([0.0, np.nan], [[0.5, 0.5]] * 2, {}, "NaN"),
        (["a", "b"], [["x", "y"]] * 2, {}, "real numbers"),
        (np.array(["a", None], dtype=object), [[0.5, 0.5]] * 2, {}, "contains None"),
        (np.array(["a", 1, "b"], dtype=object), [[0.5, 0.25, 0.25]] * 3, {}, "cannot be compared"),
    ],
)
def test_bad_input_raises_value_error(y, proba, kwargs, match):
    for func in (
        expected_calibration_error,
        maximum_calibration_error,
        brier_score,
        negative_log_likelihood,
        reliability_diagram,
    ):
        with pytest.raises(ValueError, match=match):
            func(y, proba, **kwargs)


@pytest.mark.parametrize("n_bins", [0, -1, 2.5, True, "10"])
def test_bad_n_bins(n_bins):
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error([0, 1], [[0.5, 0.5]] * 2, n_bins=n_bins)


def test_bad_strategy():
    with pytest.raises(ValueError, match="strategy"):
        reliability_diagram([0, 1], [[0.5, 0.5]] * 2, strategy="kmeans")


def test_float32_rows_within_their_precision_are_accepted():
    proba = np.random.default_rng(0).dirichlet(np.ones(50), size=20).astype(np.float32)
    y = np.arange(20) % 50
    brier_score(y, proba, labels=np.arange(50))  # rows sum to 1 only to ~1e-7


def test_module_is_light_and_public():
    assert set(metrics.__all__) == {
        "ReliabilityDiagram",
        "brier_score",
        "expected_calibration_error",
        "maximum_calibration_error",
        "negative_log_likelihood",
        "reliability_diagram",
    }
