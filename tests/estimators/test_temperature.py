"""TemperatureScaling: recovery, optimality, parity with scikit-learn, inputs and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from softmax import SeparationWarning, SoftmaxRegression, TemperatureScaling
from softmax.estimators._temperature import _derivatives

# ----------------------------------------------------------------------------- helpers


def objective(T, z, y, w=None):
    """Independent reference: weighted mean cross-entropy of z / T (scipy's logsumexp)."""
    s = z / T
    per = logsumexp(s, axis=1) - s[np.arange(len(y)), y]
    return float(np.average(per, weights=w))


def sample_at_temperature(T, n, k, seed, scale=3.0):
    """Logits z and labels drawn from softmax(z / T): the true temperature is T."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * scale
    s = z / T
    p = np.exp(s - logsumexp(s, axis=1, keepdims=True))
    y = (p.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return z, np.minimum(y, k - 1)


def split_data(n_classes, seed=0):
    X, y = make_classification(
        n_samples=1500,
        n_features=8,
        n_informative=5,
        n_classes=n_classes,
        n_clusters_per_class=1,
        flip_y=0.1,
        random_state=seed,
    )
    return X[:500], y[:500], X[500:], y[500:]


def sklearn_temperature(cal):
    """1 / beta_ of a fitted CalibratedClassifierCV(method="temperature")."""
    return 1.0 / float(cal.calibrated_classifiers_[0].calibrators[0].beta_)


# ----------------------------------------------------------------------------- the optimum


@pytest.mark.parametrize(("T", "k"), [(2.5, 5), (0.5, 3), (1.0, 2)])
def test_recovers_the_generating_temperature(T, k):
    z, y = sample_at_temperature(T, n=20_000, k=k, seed=int(T * 10) + k)
    ts = TemperatureScaling().fit(z, y)
    # the MLE of T has a relative standard error of about 1/sqrt(n * info) < 2% here
    assert ts.temperature_ == pytest.approx(T, rel=0.05)
    assert ts.n_iter_ <= 30


def test_first_order_optimality_and_minimum():
    z, y = sample_at_temperature(1.7, n=3000, k=4, seed=1)
    w = np.random.default_rng(2).uniform(0.2, 3.0, size=len(y))
    ts = TemperatureScaling().fit(z, y, sample_weight=w)
    T = ts.temperature_
    # the derivative in beta = 1/T of the independent objective vanishes (central differences)
    beta, h = 1.0 / T, 1e-5
    slope = (objective(1 / (beta + h), z, y, w) - objective(1 / (beta - h), z, y, w)) / (2 * h)
    assert abs(slope) < 1e-9
    f_star = objective(T, z, y, w)
    assert ts.loss_ == pytest.approx(f_star, rel=1e-13)
    for factor in (1 - 1e-4, 1 + 1e-4, 0.5, 2.0):
        assert objective(T * factor, z, y, w) > f_star
    # and a general-purpose bounded minimiser agrees
    ref = minimize_scalar(
        lambda b: objective(1 / b, z, y, w), bounds=(0.01, 100), options={"xatol": 1e-12}
    )
    assert 1.0 / T == pytest.approx(ref.x, rel=1e-6)


def test_analytic_derivatives_match_finite_differences():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(200, 4)) * 2
    y = rng.integers(0, 4, size=200)
    w = rng.uniform(size=200)
    w /= w.sum()
    for beta in (0.1, 0.8, 3.0):
        f, g, hess = _derivatives(beta, z, y, w)
        assert f == pytest.approx(objective(1 / beta, z, y, w), rel=1e-13)
        eps = 1e-5
        g_fd = (objective(1 / (beta + eps), z, y, w) - objective(1 / (beta - eps), z, y, w)) / (
            2 * eps
        )
        h_fd = (_derivatives(beta + eps, z, y, w)[1] - _derivatives(beta - eps, z, y, w)[1]) / (
            2 * eps
        )
        assert g == pytest.approx(g_fd, rel=1e-6, abs=1e-10)
        assert hess == pytest.approx(h_fd, rel=1e-6)
        assert hess > 0


def test_integer_weights_equal_repetition():
    z, y = sample_at_temperature(2.0, n=400, k=3, seed=4)
    reps = np.arange(400) % 3 + 1
    a = TemperatureScaling().fit(z, y, sample_weight=reps).temperature_
    b = TemperatureScaling().fit(np.repeat(z, reps, axis=0), np.repeat(y, reps)).temperature_
    assert a == pytest.approx(b, rel=1e-12)
    c = TemperatureScaling().fit(z, y).temperature_
    assert abs(a - c) > 1e-6  # the weights do matter


# ----------------------------------------------------------------------------- scikit-learn


# sample weights cannot reach the frozen classifier (it is not refitted): expected
@pytest.mark.filterwarnings("ignore:Since FrozenEstimator does not appear:UserWarning")
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_sklearn_multiclass(weighted):
    Xtr, ytr, Xva, yva = split_data(4)
    clf = LogisticRegression(C=100.0, max_iter=2000).fit(Xtr, ytr)
    w = np.random.default_rng(0).uniform(0.2, 2, size=len(yva)) if weighted else None
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature")
    cal.fit(Xva, yva, sample_weight=w)
    ts = TemperatureScaling(clf).fit(Xva, yva, sample_weight=w)
    # scikit-learn stops Brent's method at |Δ log β| <= 64 eps: agree to ~1e-8
    assert ts.temperature_ == pytest.approx(sklearn_temperature(cal), rel=1e-6)
    np.testing.assert_allclose(ts.predict_proba(Xva), cal.predict_proba(Xva), atol=1e-7)
    np.testing.assert_array_equal(ts.predict(Xva), clf.predict(Xva))
    assert ts.temperature_ != pytest.approx(1.0, abs=1e-3)  # C=100 is over-confident


def test_matches_sklearn_binary_with_its_factor_two():
    Xtr, ytr, Xva, yva = split_data(2, seed=1)
    clf = LogisticRegression(C=100.0).fit(Xtr, ytr)
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature").fit(Xva, yva)
    ts = TemperatureScaling(clf).fit(Xva, yva)
    # scikit-learn builds logits [-t, t] from the binary decision function, this [0, t]:
    # the same probabilities at half its temperature
    assert ts.temperature_ == pytest.approx(sklearn_temperature(cal) / 2, rel=1e-6)
    np.testing.assert_allclose(ts.predict_proba(Xva), cal.predict_proba(Xva), atol=1e-7)
    assert ts.decision_function(Xva).shape == (len(yva),)
    np.testing.assert_allclose(
        ts.decision_function(Xva), clf.decision_function(Xva) / ts.temperature_, rtol=1e-14
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_wraps_softmax_regression(n_classes):
    Xtr, ytr, Xva, yva = split_data(n_classes, seed=2)
    labels = np.array(["ant", "bee", "cat"])[:n_classes]
    clf = SoftmaxRegression(C=1e4).fit(Xtr, labels[ytr])
    ts = TemperatureScaling(clf).fit(Xva, labels[yva])
    np.testing.assert_array_equal(ts.classes_, clf.classes_)
    np.testing.assert_array_equal(ts.predict(Xva), clf.predict(Xva))
    assert ts.score(Xva, labels[yva]) == clf.score(Xva, labels[yva])
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature").fit(Xva, labels[yva])
    np.testing.assert_allclose(ts.predict_proba(Xva), cal.predict_proba(Xva), atol=1e-7)
    # calibrating on the validation set cannot increase its log-loss
    nll_before = -np.mean(clf.predict_log_proba(Xva)[np.arange(len(yva)), yva])
    assert ts.loss_ <= nll_before
    np.testing.assert_allclose(ts.predict_log_proba(Xva), np.log(ts.predict_proba(Xva)), rtol=1e-10)


def test_predict_proba_only_estimator_uses_floored_log_proba():
    Xtr, ytr, Xva, yva = split_data(3, seed=3)
    knn = KNeighborsClassifier(n_neighbors=7).fit(Xtr, ytr)
    ts = TemperatureScaling(knn).fit(Xva, yva)
    z = np.log(np.maximum(knn.predict_proba(Xva), 1e-12))
    ref = TemperatureScaling().fit(z, yva)
    assert ts.temperature_ == pytest.approx(ref.temperature_, rel=1e-14)
    np.testing.assert_allclose(ts.predict_proba(Xva), ref.predict_proba(z), rtol=1e-14)


# ----------------------------------------------------------------------------- inputs


def test_torch_tensor_logits():
    torch = pytest.importorskip("torch")
    z, y = sample_at_temperature(1.5, n=500, k=3, seed=5)
    ref = TemperatureScaling().fit(z, y)
    zt = torch.tensor(z, requires_grad=True)
    ts = TemperatureScaling().fit(zt, torch.tensor(y))
    assert ts.temperature_ == pytest.approx(ref.temperature_, rel=1e-14)
    proba = ts.predict_proba(zt.float())
    assert isinstance(proba, np.ndarray)
    np.testing.assert_allclose(proba, ref.predict_proba(z), atol=1e-6)


def test_binary_1d_logits_are_zero_t():
    z, y = sample_at_temperature(2.0, n=600, k=2, seed=6)
    t = z[:, 1] - z[:, 0]
    a = TemperatureScaling().fit(t, y)
    b = TemperatureScaling().fit(z, y)
    assert a.temperature_ == pytest.approx(b.temperature_, rel=1e-12)
    np.testing.assert_allclose(a.predict_proba(t), b.predict_proba(z), atol=1e-14)
    assert a.decision_function(t).shape == (600,)


def test_classes_default_and_explicit():
    z, y = sample_at_temperature(1.0, n=50, k=4, seed=7)
    y[:4] = [0, 1, 2, 3]
    ts = TemperatureScaling().fit(z, y)
    np.testing.assert_array_equal(ts.classes_, np.arange(4))
    # a class absent from y: integer labels index the columns
    keep = y != 3
    ts = TemperatureScaling().fit(z[keep], y[keep])
    np.testing.assert_array_equal(ts.classes_, np.arange(4))
    names = np.array(["d", "c", "b", "a"])
    ts = TemperatureScaling(classes=names).fit(z, names[y])
    np.testing.assert_array_equal(ts.predict(z), names[np.argmax(z, axis=1)])
    ref = TemperatureScaling().fit(z, y)
    assert ts.temperature_ == pytest.approx(ref.temperature_, rel=1e-14)
    assert ts.n_features_in_ == 4


def test_clone_and_params():
    clf = LogisticRegression()
    ts = TemperatureScaling(clf, temperature_bounds=(1e-2, 1e2), max_iter=50)
    params = ts.get_params(deep=False)
    assert params == {
        "estimator": clf,
        "classes": None,
        "temperature_bounds": (1e-2, 1e2),
        "max_iter": 50,
    }
    assert clone(ts).get_params(deep=False)["max_iter"] == 50


# ----------------------------------------------------------------------------- edge cases


def test_separable_logits_warn_and_clamp_at_the_lower_bound():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0], [-1.0, 0.0, 0.5]])
    y = np.array([0, 1, 2])
    with pytest.warns(SeparationWarning, match="separable"):
        ts = TemperatureScaling(temperature_bounds=(1e-3, 1e3)).fit(z, y)
    assert ts.temperature_ == 1e-3


def test_uninformative_logits_warn_and_clamp_at_the_upper_bound():
    z = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    y = np.array([1, 0, 1])  # every true class ranked last
    with pytest.warns(ConvergenceWarning, match="no better than uniform"):
        ts = TemperatureScaling().fit(z, y)
    assert ts.temperature_ == 1e4


def test_constant_logits_warn_and_keep_temperature_one():
    z = np.tile([[1.5, 1.5, 1.5]], (5, 1))
    with pytest.warns(UserWarning, match="constant"):
        ts = TemperatureScaling().fit(z, [0, 1, 2, 0, 1])
    assert ts.temperature_ == 1.0
    np.testing.assert_allclose(ts.predict_proba(z), 1 / 3)


def test_some_constant_rows_are_fine():
    z, y = sample_at_temperature(1.3, n=300, k=3, seed=8)
    z[:50] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = TemperatureScaling().fit(z, y)
    assert 0.5 < ts.temperature_ < 3


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("z", "y", "match"),
    [
        (np.array([[0.0, np.nan], [1.0, 0.0]]), [0, 1], "finite"),
        (np.array([[0.0, np.inf], [1.0, 0.0]]), [0, 1], "finite"),
        (np.zeros((2, 2, 2)), [0, 1], "shape"),
        (np.zeros((2, 1)), [0, 0], "at least 2 columns"),
        (np.zeros((3, 2)), [0, 1], "must match"),
        (np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]), [0, 1, 5], "distinct labels"),
        (np.array([[0.0, 1.0], [1.0, 0.0]]), [[0, 1], [1, 0]], "1-D"),
        (np.array([[0.0, 1.0], [1.0, 0.0]]), [0.0, np.nan], "NaN"),
        (np.array([["a", "b"], ["c", "d"]]), [0, 1], "real numbers"),
    ],
)
def test_bad_logits_or_labels(z, y, match):
    with pytest.raises(ValueError, match=match):
        TemperatureScaling().fit(z, y)


def test_labels_outside_classes():
    z = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="not among the classes"):
        TemperatureScaling(classes=["a", "b"]).fit(z, ["a", "c"])
    Xtr, ytr, Xva, yva = split_data(3)
    clf = LogisticRegression().fit(Xtr, ytr)
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        TemperatureScaling(clf).fit(Xva, np.where(yva == 2, 7, yva))


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"temperature_bounds": (0.0, 1.0)}, "temperature_bounds"),
        ({"temperature_bounds": (2.0, 1.0)}, "temperature_bounds"),
        ({"temperature_bounds": 5}, "temperature_bounds"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"classes": [0, 1, 2]}, "one label per logit column"),
        ({"classes": [0, 0]}, "unique"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        TemperatureScaling(**params).fit(np.array([[0.0, 1.0], [1.0, 0.0]]), [0, 1])


def test_classes_with_an_estimator_and_logits_of_another_width_are_refused():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 3)), rng.integers(0, 3, 200)
    model = LogisticRegression().fit(X[:100], y[:100])
    # classes belong to logits from elsewhere: with an estimator they were ignored
    # at fit, saved, and the file refused at load.
    with pytest.raises(ValueError, match="classes is only for estimator=None"):
        TemperatureScaling(model, classes=[0, 1, 2]).fit(X[100:], y[100:])
    z = rng.normal(size=(100, 3))
    scaler = TemperatureScaling().fit(z, (z + rng.normal(size=z.shape)).argmax(axis=1))
    for wrong in (np.c_[z, z], z[:, 0]):  # 6 columns; 1-D log-odds of a binary model
        with pytest.raises(ValueError, match="fitted with 3 classes"):
            scaler.decision_function(wrong)


def test_bad_sample_weight():
    z = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match="sample_weight"):
        TemperatureScaling().fit(z, [0, 1], sample_weight=[1.0, -1.0])


def test_unfitted_estimator_and_unfitted_scaler():
    with pytest.raises(NotFittedError):
        TemperatureScaling(LogisticRegression()).fit(np.zeros((2, 3)), [0, 1])
    with pytest.raises(NotFittedError):
        TemperatureScaling().predict_proba(np.zeros((2, 2)))


def test_predict_with_wrong_number_of_columns():
    z, y = sample_at_temperature(1.0, n=100, k=3, seed=9)
    ts = TemperatureScaling().fit(z, y)
    with pytest.raises(ValueError, match="3 classes"):
        ts.predict_proba(z[:, :2])
