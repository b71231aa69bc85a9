"""SoftmaxRegression: parity with scikit-learn, properties, the estimator contract, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from softmax import SoftmaxRegression
from softmax.estimators import SeparationWarning
from softmax.special import log_sigmoid, log_softmax

LOADERS = {
    "iris": load_iris,
    "wine": load_wine,
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


def sklearn_objective(X, y, coef, intercept, C, sample_weight=None, classes=None):
    """C * sum_i s_i loss_i + 0.5 ||W||^2, evaluated in float64 (the reference objective)."""
    classes = np.unique(y) if classes is None else classes
    sw = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    z = np.asarray(X @ coef.T.astype(np.float64)) + intercept.astype(np.float64)
    if coef.shape[0] == 1:
        ll = np.where(y == classes[1], log_sigmoid(z[:, 0]), log_sigmoid(-z[:, 0]))
    else:
        ll = log_softmax(z)[np.arange(len(y)), np.searchsorted(classes, y)]
    penalty = 0.5 * float(np.sum(coef.astype(np.float64) ** 2)) if np.isfinite(C) else 0.0
    return -C * float(sw @ ll) + penalty if np.isfinite(C) else -float(sw @ ll)


def _data(name, scale=True):
    X, y = LOADERS[name](return_X_y=True)
    if scale:
        X = StandardScaler().fit_transform(X)
    return X, y


def _assert_parity(ours, ref, X, y, C, sample_weight=None, coef_rtol=1e-5):
    f_ours = sklearn_objective(X, y, ours.coef_, ours.intercept_, C, sample_weight)
    f_ref = sklearn_objective(X, y, ref.coef_, ref.intercept_, C, sample_weight)
    # Never worse than scikit-learn's tightly converged optimum (up to rounding).
    assert f_ours <= f_ref * (1 + 1e-10) + 1e-10
    scale = np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=coef_rtol, atol=coef_rtol * scale)
    np.testing.assert_allclose(
        ours.intercept_, ref.intercept_, rtol=coef_rtol, atol=coef_rtol * max(scale, 1)
    )
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOADERS))
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_parity_with_sklearn(name, fit_intercept):
    X, y = _data(name)
    kw = {"C": 0.5, "fit_intercept": fit_intercept}
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000, **kw).fit(X, y)
    ours = SoftmaxRegression(**kw).fit(X, y)
    _assert_parity(ours, ref, X, y, 0.5)
    assert ours.coef_.shape == ref.coef_.shape and ours.converged_


@pytest.mark.parametrize("name", ["iris", "breast_cancer"])
def test_parity_with_weights(name, rng):
    X, y = _data(name)
    sw = rng.uniform(0.1, 3.0, X.shape[0])
    cw = {c: 1.0 + i for i, c in enumerate(np.unique(y))}
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, class_weight=cw).fit(
        X, y, sample_weight=sw
    )
    ours = SoftmaxRegression(class_weight=cw).fit(X, y, sample_weight=sw)
    full_sw = sw * np.array([cw[c] for c in y])
    _assert_parity(ours, ref, X, y, 1.0, full_sw)


def test_parity_balanced_class_weight():
    X, y = _data("wine")
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, class_weight="balanced")
    ours = SoftmaxRegression(class_weight="balanced").fit(X, y)
    ref.fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5, atol=1e-6)


def test_parity_balanced_class_weight_with_sample_weight():
    # "balanced" counts each class by its summed sample weights (scikit-learn >= 1.8).
    X, y = _data("wine")
    sw = np.where(y == 0, 5.0, 1.0) * np.linspace(0.5, 1.5, y.shape[0])
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, class_weight="balanced")
    ref.fit(X, y, sample_weight=sw)
    ours = SoftmaxRegression(class_weight="balanced").fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)


def test_balanced_class_weight_needs_weight_in_every_class():
    X, y = _data("wine")
    sw = np.where(y == 1, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"class_weight='balanced'.*class 1 all have sample_wei"):
        SoftmaxRegression(class_weight="balanced").fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_parity_sparse(fmt):
    X, y = load_digits(return_X_y=True)
    X = sp.csr_matrix(X / 16.0).asformat(fmt)
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, C=0.1).fit(X.toarray(), y)
    ours = SoftmaxRegression(C=0.1).fit(X, y)
    _assert_parity(ours, ref, X, y, 0.1)


def test_unscaled_data_converges_exactly():
    """Internal standardisation: unscaled features reach the same optimum as scaled ones."""
    X, y = load_wine(return_X_y=True)  # feature scales from 0.1 to 1000
    ours = SoftmaxRegression(C=1.0).fit(X, y)
    assert ours.converged_
    mu, sd = X.mean(0), X.std(0)
    # The same model fitted on scaled data, mapped back, has the same objective.
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    f_ours = sklearn_objective(X, y, ours.coef_, ours.intercept_, 1.0)
    f_ref = sklearn_objective(X, y, ref.coef_, ref.intercept_, 1.0)
    assert f_ours <= f_ref * (1 + 1e-9)
    assert f_ours == pytest.approx(f_ref, rel=1e-7)
    assert mu.shape == sd.shape


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg"])
def test_solvers_reach_the_same_optimum(solver):
    X, y = _data("wine")
    ref = SoftmaxRegression(solver="newton-cg", tol=1e-10).fit(X, y)
    ours = SoftmaxRegression(solver=solver, tol=1e-10).fit(X, y)
    assert ours.solver_ == solver
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-7)


def test_default_tolerance_reaches_1e6_relative_gap():
    X, y = load_digits(return_X_y=True)  # unscaled
    best = SoftmaxRegression(tol=1e-11).fit(X, y)
    default = SoftmaxRegression().fit(X, y)
    f_best = sklearn_objective(X, y, best.coef_, best.intercept_, 1.0)
    f_default = sklearn_objective(X, y, default.coef_, default.intercept_, 1.0)
    assert (f_default - f_best) / f_best < 1e-6


# --------------------------------------------------------------------------- #
# properties
# --------------------------------------------------------------------------- #
def test_sample_weight_two_equals_duplicated_row(rng):
    X, y = _data("iris")
    sw = np.ones(len(y))
    sw[:10] = 2.0
    dup = np.r_[np.arange(len(y)), np.arange(10)]
    a = SoftmaxRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    b = SoftmaxRegression(tol=1e-10).fit(X[dup], y[dup])
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-7, atol=1e-8)


def test_permuting_labels_permutes_coefficients():
    X, y = _data("wine")
    perm = np.array([2, 0, 1])
    a = SoftmaxRegression(tol=1e-10).fit(X, y)
    b = SoftmaxRegression(tol=1e-10).fit(X, perm[y])
    np.testing.assert_allclose(b.coef_[perm], a.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b.intercept_[perm], a.intercept_, rtol=1e-6, atol=1e-8)


def test_float32_is_computed_in_float32_and_close_to_float64():
    X, y = _data("digits")
    f64 = SoftmaxRegression().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # float32 may not reach 1e-8
        f32 = SoftmaxRegression().fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == np.float32 and f32.intercept_.dtype == np.float32
    assert f32.predict_proba(X.astype(np.float32)).dtype == np.float32
    scale = np.abs(f64.coef_).max()
    np.testing.assert_allclose(f32.coef_, f64.coef_, atol=1e-3 * scale)


def _overlapping_classes(n_classes, n_samples=600, n_features=8, seed=0):
    # Labels drawn from a softmax model: never separable, the MLE exists.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    logits = X @ rng.normal(size=(n_features, n_classes))
    u = rng.random((n_samples, 1))
    y = (u > np.cumsum(np.exp(log_softmax(logits)), axis=1)).sum(axis=1)
    return X, y


@pytest.mark.parametrize(
    "name, penalty",
    [("breast_cancer", "l2"), ("wine", "l2"), ("binary", None), ("multiclass", None)],
)
def test_float32_fit_stops_at_float32_precision(name, penalty):
    # float32 logits bound every evaluation's accuracy (~1e-7 relative): the
    # default tol=1e-8 is then unreachable, and the solver must stop as soon as
    # its progress is lost in rounding -- converged, no warning, few iterations
    # -- instead of running to max_iter (as Newton-Cholesky once did).
    if name in ("binary", "multiclass"):
        X, y = _overlapping_classes(2 if name == "binary" else 4)
    else:
        X, y = _data(name)
    clf = SoftmaxRegression(penalty=penalty, solver="newton-cholesky").fit(X.astype(np.float32), y)
    assert clf.converged_ and clf.n_iter_[0] < 50
    ref = SoftmaxRegression(penalty=penalty, solver="newton-cholesky").fit(X, y)
    gap = clf.objective_history_[-1] - ref.objective_history_[-1]
    assert abs(gap) <= 1e-5 * abs(ref.objective_history_[-1])


def test_refit_is_bitwise_identical():
    X, y = _data("wine")
    a = SoftmaxRegression().fit(X, y).coef_
    b = SoftmaxRegression().fit(X, y).coef_
    assert np.array_equal(a, b)


def test_string_labels_and_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _data("iris")
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = SoftmaxRegression().fit(df, names)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]
    assert set(clf.predict(df)) <= set(names)
    assert clf.score(df, names) > 0.9


def test_binary_layout_matches_sklearn():
    X, y = _data("breast_cancer")
    clf = SoftmaxRegression().fit(X, y)
    assert clf.coef_.shape == (1, X.shape[1]) and clf.intercept_.shape == (1,)
    assert clf.decision_function(X).shape == (X.shape[0],)
    positive = (clf.decision_function(X) > 0).astype(int)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[positive])


def test_predict_log_proba_is_finite_where_log_of_proba_underflows():
    X, y = _data("iris")
    clf = SoftmaxRegression(C=1e4).fit(X, y)
    X_far = X[:5] * 200
    with np.errstate(divide="ignore"):
        assert np.isinf(np.log(clf.predict_proba(X_far))).any()
    log_p = clf.predict_log_proba(X_far)
    assert np.isfinite(log_p).all()
    np.testing.assert_allclose(np.exp(log_p), clf.predict_proba(X_far), atol=1e-15)


def test_penalty_none_sum_to_zero_and_C_inf_is_the_same():
    X, y = _data("wine")
    X = X[:, :2]  # alcohol and malic acid: the classes overlap
    a = SoftmaxRegression(penalty=None).fit(X, y)
    b = SoftmaxRegression(C=np.inf).fit(X, y)
    np.testing.assert_allclose(a.coef_.sum(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(a.intercept_.sum(), 0, atol=1e-10)
    np.testing.assert_allclose(a.coef_, b.coef_)
    ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-12).fit(X, y)
    ref_coef = ref.coef_ - ref.coef_.mean(axis=0)
    np.testing.assert_allclose(a.coef_, ref_coef, rtol=1e-5, atol=1e-6)


def test_separation_is_detected_and_coefficients_stay_finite():
    X, y = _data("iris")
    keep = y < 2  # setosa vs versicolor: linearly separable
    with pytest.warns(SeparationWarning, match="separable"):
        clf = SoftmaxRegression(penalty=None).fit(X[keep], y[keep])
    assert np.isfinite(clf.coef_).all()
    assert clf.n_iter_[0] < clf.max_iter


def test_separation_with_more_features_than_rows_is_detected():
    # 15 rows, 30 features: separable whatever the labels.  The solver meets its
    # gradient tolerance at finite coefficients (the true-class probabilities
    # 1 - 1e-8), which the coefficient-size screen missed; the LP test does not.
    rng = np.random.RandomState(42)
    X, y = rng.rand(15, 30), rng.randint(0, 3, size=15)
    with pytest.warns(SeparationWarning, match="separable"):
        SoftmaxRegression(penalty=None).fit(X, y)


@pytest.mark.parametrize("offset", [1e15, 1.7e18])
def test_columns_far_from_zero_are_centred_for_the_fit(rng, offset):
    # A constant column (collinear with the intercept: its coefficient is 0) and a
    # nanosecond timestamp, huge offset and small spread: evaluated as x w and
    # undone by the intercept, the offset had cancelled catastrophically (the fit
    # ended at the zero model).  The reference: the same data centred by hand.
    X, y = _data("wine")
    stamp = rng.uniform(0, 1e6, X.shape[0])
    A = np.column_stack([X, np.full(X.shape[0], offset), offset + stamp])
    ours = SoftmaxRegression().fit(A, y)
    shift = np.r_[np.zeros(X.shape[1]), A[:, -2:].mean(axis=0)]
    centred = A - shift  # (the stamps as A holds them: 1.7e18 rounds them to 256)
    ref = SoftmaxRegression().fit(centred, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    assert np.all(ours.coef_[:, -2] == 0)
    # The intercepts on the original columns, b - W @ shift (the coefficients'
    # tolerance times the offset).
    np.testing.assert_allclose(ours.intercept_, ref.intercept_ - ref.coef_ @ shift, rtol=1e-5)
    np.testing.assert_array_equal(ours.predict(A), ref.predict(centred))
    # A warm start goes through the same change of intercepts: it starts at the optimum.
    warm = SoftmaxRegression(warm_start=True).fit(A, y)
    warm.fit(A, y)
    assert warm.n_iter_[0] <= 1
    np.testing.assert_allclose(warm.coef_, ours.coef_, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_values_whose_squares_overflow_are_refused_by_column(fmt):
    # |x| ~ 1e160: the squares (the Hessian's entries) are inf, and the column was
    # silently left at coefficient 0.
    X, y = _data("wine")
    X = X.copy()
    X[:, 2] *= 1e160
    X = sp.csr_matrix(X) if fmt == "csr" else X
    with pytest.raises(ValueError, match="column 2 holds values too large"):
        SoftmaxRegression().fit(X, y)


def test_not_converged_warns():
    X, y = _data("digits", scale=False)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SoftmaxRegression(max_iter=2).fit(X, y)


def test_warm_start_continues_from_previous_fit():
    X, y = _data("digits")
    clf = SoftmaxRegression(warm_start=True)
    clf.fit(X, y)
    first_iters = clf.n_iter_[0]
    clf.fit(X, y)
    assert clf.n_iter_[0] < first_iters


def test_sklearn_tools_accept_it():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline

    X, y = _data("iris", scale=False)
    pipe = make_pipeline(StandardScaler(), SoftmaxRegression())
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.9
    grid = GridSearchCV(SoftmaxRegression(), {"C": [0.1, 1.0]}, cv=3).fit(X, y)
    assert grid.best_params_["C"] in (0.1, 1.0)
    cal = CalibratedClassifierCV(SoftmaxRegression(), cv=3).fit(X, y)
    np.testing.assert_allclose(cal.predict_proba(X).sum(axis=1), 1.0)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_nan_in_X_names_the_column():
    X, y = _data("iris")
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN in column 2"):
        SoftmaxRegression().fit(X, y)
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match="inf in column 2"):
        SoftmaxRegression().fit(sp.csr_matrix(X), y)


def test_nan_in_X_names_the_pandas_column():
    pd = pytest.importorskip("pandas")
    X, y = _data("iris")
    X[0, 1] = np.nan
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"column 1 \('b'\)"):
        SoftmaxRegression().fit(df, y)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"C": 0}, "C must be > 0"),
        ({"C": -1.0}, "C must be > 0"),
        ({"C": "1"}, "C must be a positive number"),
        ({"solver": "sag"}, "solver='sag'"),
        ({"penalty": "l3"}, "penalty='l3'"),
        ({"penalty": "elasticnet"}, "needs l1_ratio"),
        ({"penalty": "l1", "l1_ratio": 0.5}, "use penalty=.elasticnet."),
        ({"penalty": "l1", "solver": "lbfgs"}, "needs a smooth penalty"),
        ({"l1_ratio": 1.5}, "l1_ratio must be in"),
        ({"tol": -1}, "tol must be"),
        ({"max_iter": 1.5}, "max_iter must be"),
        ({"fit_intercept": "yes"}, "fit_intercept must be True or False, got fit_intercept='yes'"),
        ({"warm_start": None}, "warm_start must be True or False"),
        ({"class_weight": {0: -2.0}}, r"finite weights >= 0, got -2.0 for class 0"),
        ({"class_weight": {1: np.nan}}, r"finite weights >= 0, got nan for class 1"),
        ({"class_weight": {1: np.inf}}, r"finite weights >= 0, got inf for class 1"),
        ({"class_weight": {1: "2"}}, r"finite weights >= 0, got '2' for class 1"),
        ({"class_weight": "uniform"}, r"class_weight must be None, 'balanced' or a dict"),
    ],
)
def test_bad_parameters(kwargs, match):
    X, y = _data("iris")
    with pytest.raises(ValueError, match=match):
        SoftmaxRegression(**kwargs).fit(X, y)


def test_bad_targets_and_weights():
    X, y = _data("iris")
    with pytest.raises(ValueError, match="one class"):
        SoftmaxRegression().fit(X, np.zeros(len(y)))
    yf = y.astype(float)
    yf[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SoftmaxRegression().fit(X, yf)
    with pytest.raises(ValueError, match="MultiLabelLogisticRegression"):
        SoftmaxRegression().fit(X, np.eye(3)[y])
    for bad in (-1.0, np.nan, np.inf):
        sw = np.ones(len(y))
        sw[7] = bad
        with pytest.raises(ValueError, match=r"sample_weight\[7\]"):
            SoftmaxRegression().fit(X, y, sample_weight=sw)
    with pytest.raises(ValueError, match="zero for every sample"):
        SoftmaxRegression().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="sample_weight has shape"):
        SoftmaxRegression().fit(X, y, sample_weight=np.ones(3))


def test_bad_X_shapes_and_kinds():
    X, y = _data("iris")
    with pytest.raises(ValueError, match="2D array"):
        SoftmaxRegression().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="dim 3"):
        SoftmaxRegression().fit(X.reshape(150, 2, 2), y)
    with pytest.raises(ValueError, match=r"[Cc]omplex"):
        SoftmaxRegression().fit(X + 1j, y)
    with pytest.raises(ValueError, match="0 sample"):
        SoftmaxRegression().fit(X[:0], y[:0])
    clf = SoftmaxRegression().fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        clf.predict(X[:, :3])


def test_verbose_prints_one_line_per_iteration(capsys):
    X, y = _data("iris")
    clf = SoftmaxRegression(verbose=1).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "objective" in ln]
    assert len(lines) == clf.n_iter_[0]
    assert len(clf.objective_history_) == clf.n_iter_[0] + 1
    assert clf.objective_history_[-1] <= clf.objective_history_[0]


def test_float32_dense_data_reaches_the_float64_optimum_with_the_fused_pass():
    # The fused pass computes float32 data's logits in float64: the fit's
    # precision is float64's and it ends where the float64 fit of the same values does.
    pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((3000, 8)) * [1, 10, 100, 1, 1, 1, 0.1, 1]).astype(np.float32)
    y = (X[:, 0] + 0.05 * X[:, 1] + rng.standard_normal(3000) > 0).astype(int) + (X[:, 3] > 1)
    m32 = SoftmaxRegression(C=1.0, solver="newton-cholesky").fit(X, y)
    m64 = SoftmaxRegression(C=1.0, solver="newton-cholesky").fit(X.astype(np.float64), y)
    assert m32.coef_.dtype == np.float32
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m32.intercept_, m64.intercept_, rtol=1e-6, atol=1e-6)
