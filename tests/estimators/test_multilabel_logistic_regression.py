"""MultiLabelLogisticRegression: parity with scikit-learn's OneVsRestClassifier
(LogisticRegression) per label, weights, label sets, thresholds, float32, errors,
and scikit-learn's estimator checks (those that apply to a multi-label-only
classifier)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import log_expit
from sklearn.base import clone
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from softmax import MultiLabelLogisticRegression, SeparationWarning, SoftmaxRegression


def _data(n=200, d=8, n_labels=4, seed=0, sparse=False):
    X, Y = make_multilabel_classification(
        n_samples=n, n_features=d, n_classes=n_labels, random_state=seed
    )
    X = X.astype(np.float64)
    return (sp.csr_matrix(X) if sparse else X), Y


def _ovr(X, Y, sw=None, **params):
    """Coefficients, intercepts and probabilities of one LogisticRegression per label:
    OneVsRestClassifier, or (with sample weights, which it routes only with metadata
    routing on) the same loop written out."""
    lr = LogisticRegression(tol=1e-10, max_iter=10_000, **params)
    if sw is None:
        ovr = OneVsRestClassifier(lr).fit(X, Y)
        estimators, P = ovr.estimators_, ovr.predict_proba(X)
    else:
        estimators = [clone(lr).fit(X, Y[:, j], sample_weight=sw) for j in range(Y.shape[1])]
        P = np.column_stack([e.predict_proba(X)[:, 1] for e in estimators])
    W = np.vstack([e.coef_ for e in estimators])
    b = np.concatenate([e.intercept_ for e in estimators])
    return W, b, P


def _objective(X, Y, W, b, C, sw=None, pw=None):
    """scikit-learn's per-label objective summed over labels, in float64 (SciPy's log_expit)."""
    sw = np.ones(X.shape[0]) if sw is None else sw
    pw = np.ones(Y.shape[1]) if pw is None else pw
    Z = np.asarray(X @ W.T) + b
    loss = -np.sum(sw[:, None] * (pw * Y * log_expit(Z) + (1 - Y) * log_expit(-Z)))
    return C * loss + 0.5 * np.sum(W * W)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("C", [0.1, 3.0])
def test_matches_one_vs_rest_logistic_regression(sparse, weighted, C):
    X, Y = _data(sparse=sparse)
    sw = np.random.default_rng(1).uniform(0.1, 3.0, X.shape[0]) if weighted else None
    # The default LogisticRegression (lbfgs), as the parity claim reads ...
    W_ref, _, P_ref = _ovr(X, Y, sw, C=C)
    # ... and Newton-Cholesky, which solves each label to rounding.
    W_nc, b_nc, P_nc = _ovr(X, Y, sw, C=C, solver="newton-cholesky")
    clf = MultiLabelLogisticRegression(C=C).fit(X, Y, sample_weight=sw)
    assert clf.converged_
    np.testing.assert_allclose(clf.coef_, W_nc, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(clf.intercept_, b_nc, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(clf.predict_proba(X), P_nc, atol=1e-7)
    np.testing.assert_allclose(clf.coef_, W_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(X), P_ref, atol=1e-5)
    # Never worse than scikit-learn's own optimum, and within rounding of it.
    f_ours = _objective(X, Y, clf.coef_, clf.intercept_, C, sw)
    f_ref = _objective(X, Y, W_nc, b_nc, C, sw)
    assert f_ours <= f_ref * (1 + 1e-10)
    np.testing.assert_array_equal(clf.predict(X), (P_nc > 0.5).astype(int))


@pytest.mark.parametrize("solver", ["lbfgs", "newton-cg", "newton-cholesky"])
def test_every_solver_reaches_the_same_optimum(solver):
    X, Y = _data(sparse=solver != "newton-cholesky")
    W, b, _ = _ovr(X, Y, C=1.0, solver="newton-cholesky")
    clf = MultiLabelLogisticRegression(solver=solver).fit(X, Y)
    assert clf.solver_ == solver
    np.testing.assert_allclose(clf.coef_, W, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(clf.intercept_, b, rtol=1e-5, atol=1e-6)


def test_auto_solver_is_newton_cholesky_when_tiny_and_newton_cg_otherwise():
    X, Y = _data(n=100, d=3, n_labels=2)
    assert MultiLabelLogisticRegression().fit(X, Y).solver_ == "newton-cholesky"
    rng = np.random.default_rng(0)
    X = sp.random(100, 600, density=0.02, random_state=0, format="csr")
    Y = (rng.random((100, 40)) < 0.3).astype(int)  # 24 040 parameters
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # two iterations are enough here
        assert MultiLabelLogisticRegression(max_iter=2).fit(X, Y).solver_ == "newton-cg"


def test_unpenalised_matches_one_vs_rest_on_non_separable_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 3))
    logits = X @ rng.standard_normal((3, 3)) * 0.8 + [0.2, -0.5, 0.0]
    Y = (rng.random((400, 3)) < 1 / (1 + np.exp(-logits))).astype(int)
    W, b, P = _ovr(X, Y, C=np.inf, solver="newton-cholesky")
    for params in ({"penalty": None}, {"C": np.inf}):
        clf = MultiLabelLogisticRegression(**params).fit(X, Y)
        np.testing.assert_allclose(clf.coef_, W, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(clf.intercept_, b, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(clf.predict_proba(X), P, atol=1e-9)


def test_pos_weight_matches_class_weight_per_label():
    X, Y = _data()
    pw = np.array([0.5, 2.0, 1.0, 4.0])
    clf = MultiLabelLogisticRegression(C=0.7, pos_weight=pw).fit(X, Y)
    np.testing.assert_array_equal(clf.pos_weight_, pw)
    for label in range(Y.shape[1]):
        ref = LogisticRegression(
            C=0.7, class_weight={0: 1.0, 1: pw[label]}, solver="newton-cholesky", tol=1e-10
        ).fit(X, Y[:, label])
        np.testing.assert_allclose(clf.coef_[label], ref.coef_[0], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(clf.intercept_[label], ref.intercept_[0], rtol=1e-6, atol=1e-7)


def test_balanced_pos_weight_is_negatives_over_positives():
    X, Y = _data()
    sw = np.random.default_rng(3).uniform(0.5, 2.0, X.shape[0])
    clf = MultiLabelLogisticRegression(pos_weight="balanced").fit(X, Y, sample_weight=sw)
    expected = (sw @ (1 - Y)) / (sw @ Y)
    np.testing.assert_allclose(clf.pos_weight_, expected, rtol=1e-14)
    scalar = MultiLabelLogisticRegression(pos_weight=2.0).fit(X, Y)
    np.testing.assert_array_equal(scalar.pos_weight_, np.full(Y.shape[1], 2.0))
    # Raising the weight of positives raises every predicted probability on average.
    plain = MultiLabelLogisticRegression().fit(X, Y)
    assert np.all(scalar.predict_proba(X).mean(0) > plain.predict_proba(X).mean(0))


def test_integer_sample_weights_equal_repeated_rows():
    X, Y = _data(n=60)
    sw = np.random.default_rng(4).integers(0, 3, X.shape[0])
    weighted = MultiLabelLogisticRegression(C=0.5).fit(X, Y, sample_weight=sw)
    rows = np.repeat(np.arange(X.shape[0]), sw)
    repeated = MultiLabelLogisticRegression(C=0.5).fit(X[rows], Y[rows])
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)


def test_label_sets_give_the_same_model_as_the_indicator_matrix():
    X, Y = _data()
    names = np.array(["b", "a", "d", "c"])
    sets = [{names[j] for j in np.flatnonzero(row)} for row in Y]
    from_sets = MultiLabelLogisticRegression().fit(X, sets)
    from_matrix = MultiLabelLogisticRegression().fit(X, Y)
    np.testing.assert_array_equal(from_sets.classes_, ["a", "b", "c", "d"])
    np.testing.assert_array_equal(from_matrix.classes_, np.arange(4))
    order = np.argsort(names)  # MultiLabelBinarizer sorts the names
    np.testing.assert_allclose(from_sets.coef_, from_matrix.coef_[order], rtol=1e-12)
    labels = from_sets.predict_labels(X[:20])
    expected = [tuple(sorted(names[np.flatnonzero(r)])) for r in from_matrix.predict(X[:20])]
    assert labels == expected
    # Ragged lists (not sets) read as label sets too; equal-length ones as matrix rows.
    ragged = [["x"], ["x", "y"], [], ["y"]] * 5
    clf = MultiLabelLogisticRegression().fit(np.arange(20.0)[:, None], ragged)
    np.testing.assert_array_equal(clf.classes_, ["x", "y"])
    assert from_sets.score(X, sets) == from_matrix.score(X, Y)


def test_sparse_indicator_and_dataframe_targets():
    pd = pytest.importorskip("pandas")
    X, Y = _data()
    dense = MultiLabelLogisticRegression().fit(X, Y)
    for y in (sp.csr_matrix(Y), pd.DataFrame(Y), Y.astype(bool), Y.astype(np.float32)):
        clf = MultiLabelLogisticRegression().fit(X, y)
        np.testing.assert_allclose(clf.coef_, dense.coef_, rtol=1e-12)
        np.testing.assert_array_equal(clf.classes_, np.arange(4))
    named = pd.DataFrame(Y, columns=["w", "x", "y", "z"])
    clf = MultiLabelLogisticRegression().fit(X, named)
    np.testing.assert_array_equal(clf.classes_, ["w", "x", "y", "z"])
    assert clf.score(X, named) == dense.score(X, Y)


def test_predict_thresholds():
    X, Y = _data()
    clf = MultiLabelLogisticRegression().fit(X, Y)
    P = clf.predict_proba(X)
    assert P.shape == Y.shape and not np.allclose(P.sum(1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), (P > 0.5).astype(int))
    t = np.array([0.2, 0.5, 0.7, 0.9])
    np.testing.assert_array_equal(clf.predict(X, threshold=t), (P > t).astype(int))
    np.testing.assert_array_equal(clf.predict(X, threshold=0.3), (P > 0.3).astype(int))
    clf.set_params(threshold=t)
    np.testing.assert_array_equal(clf.predict(X), (P > t).astype(int))
    assert clf.predict(X, threshold=0.0).all() and not clf.predict(X, threshold=1.0).any()
    np.testing.assert_allclose(clf.decision_function(X), np.log(P / (1 - P)), rtol=1e-9)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P), rtol=1e-9)


@pytest.mark.parametrize("bad", [1.5, -0.1, np.nan, [0.5, 0.5], "high", [[0.5] * 4]])
def test_bad_threshold_raises_naming_it(bad):
    X, Y = _data()
    clf = MultiLabelLogisticRegression().fit(X, Y)
    with pytest.raises(ValueError, match="threshold"):
        clf.predict(X, threshold=bad)


@pytest.mark.parametrize("bad", [2.0, [0.5, 0.5], "high"])
def test_bad_threshold_parameter_fails_the_fit(bad):
    # Not at the first predict (a saved model with it was refused by load).
    X, Y = _data()
    with pytest.raises(ValueError, match="threshold"):
        MultiLabelLogisticRegression(threshold=bad).fit(X, Y)


@pytest.mark.parametrize("sparse", [False, True])
def test_float32_data_gives_float32_coefficients(sparse):
    X, Y = _data(sparse=sparse)
    # float32 cannot resolve the default tol (1e-8): a tol it can reach keeps the test fast.
    clf64 = MultiLabelLogisticRegression(tol=1e-5).fit(X, Y)
    clf32 = MultiLabelLogisticRegression(tol=1e-5).fit(X.astype(np.float32), Y)
    assert clf32.coef_.dtype == np.float32 and clf32.intercept_.dtype == np.float32
    assert clf32.predict_proba(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(clf32.coef_, clf64.coef_, rtol=1e-3, atol=1e-4)


def test_warm_start_from_the_optimum_takes_no_iterations():
    X, Y = _data()
    clf = MultiLabelLogisticRegression(warm_start=True, solver="newton-cg").fit(X, Y)
    assert clf.n_iter_[0] > 0
    clf.fit(X, Y)
    assert clf.n_iter_[0] <= 1


def test_separable_label_warns_without_penalty():
    X = np.linspace(-2, 2, 40)[:, None]
    Y = np.column_stack([(X[:, 0] > 0), np.tile([0, 1], 20)]).astype(int)
    with pytest.warns(SeparationWarning, match=r"Some labels \(0\) are separable"):
        MultiLabelLogisticRegression(penalty=None).fit(X, Y)


def test_non_convergence_warns():
    X, Y = _data()
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        MultiLabelLogisticRegression(max_iter=1, solver="lbfgs").fit(X, Y)


def test_constant_label_raises_naming_it():
    X, Y = _data()
    Y[:, 2] = 1
    with pytest.raises(ValueError, match=r"label 2 \(column 2 of y\) is present in every"):
        MultiLabelLogisticRegression().fit(X, Y)
    sets = [{"a", "b"} if i % 2 else {"b"} for i in range(X.shape[0])]
    with pytest.raises(ValueError, match=r"label 'b' .* present in every"):
        MultiLabelLogisticRegression().fit(X, sets)
    Y[:, 2] = 0
    Y[0, 2] = 1  # present only in a row of weight 0: constant where it counts
    sw = np.ones(X.shape[0])
    sw[0] = 0.0
    with pytest.raises(ValueError, match=r"label 2 .* absent from every"):
        MultiLabelLogisticRegression().fit(X, Y, sample_weight=sw)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array([0, 1, 2] * 10), "SoftmaxRegression"),
        (np.full((30, 2), 2), r"y\[0, 0\] = .*2"),
        (np.full((30, 2), 0.5), "continuous"),
        (np.zeros((30, 0)), "no labels"),
        (np.ones((29, 2)), "29 rows"),
    ],
)
def test_bad_targets_raise(y, match):
    X = np.random.default_rng(0).standard_normal((30, 3))
    with pytest.raises(ValueError, match=match):
        MultiLabelLogisticRegression().fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"pos_weight": -1.0}, r"pos_weight\[0\]"),
        ({"pos_weight": [1.0, 2.0]}, "pos_weight must be"),
        ({"pos_weight": "auto"}, "pos_weight"),
        ({"C": 0.0}, "C must be > 0"),
        ({"penalty": "l1"}, "has no penalty=.l1."),
        ({"solver": "sag"}, "solver='sag'"),
        ({"tol": -1.0}, "tol"),
    ],
)
def test_bad_parameters_raise(params, match):
    X, Y = _data(n=40)
    with pytest.raises(ValueError, match=match):
        MultiLabelLogisticRegression(**params).fit(X, Y)


def test_softmax_regression_points_multi_label_users_here():
    X, Y = _data(n=40)
    with pytest.raises(ValueError, match="MultiLabelLogisticRegression"):
        SoftmaxRegression().fit(X, Y)


# scikit-learn's checks feed a multi-output estimator the targets of a
# single-output one reshaped to a column: these fit 1-D or non-0/1 targets
# (multiclass labels 0..3, labels {1, 2}) that a multi-label-only classifier
# must reject, or assert a single-output shape.  Every other check runs.
_NOT_APPLICABLE = {
    "check_classifier_data_not_an_array": "fits a column of labels {1, 2}",
    "check_classifiers_classes": "fits 1-D (single-output) targets",
    "check_classifiers_train": "fits 1-D targets, asserts 1-D predictions",
    "check_decision_proba_consistency": "fits 1-D targets",
    "check_classifier_not_supporting_multiclass": (
        "wants 'Only binary classification is supported' for 1-D multiclass targets; we point "
        "to SoftmaxRegression instead"
    ),
    "check_estimators_dtypes": "fits a column of labels 0..2",
    "check_estimator_sparse_array": "asserts 2 probability columns for one label",
    "check_estimator_sparse_matrix": "asserts 2 probability columns for one label",
    "check_fit2d_1feature": "fits a column of labels 0..3",
    "check_sample_weights_pandas_series": "fits a column of labels {1, 2}",
    "check_sample_weights_not_an_array": "fits a column of labels {1, 2}",
    "check_sample_weights_shape": "fits a column of labels {1, 2}",
    "check_sample_weights_not_overwritten": "fits a column of labels {1, 2}",
}


@parametrize_with_checks(
    [MultiLabelLogisticRegression()],
    expected_failed_checks=lambda est: _NOT_APPLICABLE,
    xfail_strict=True,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_a_failed_fit_leaves_no_fitted_attributes():
    from sklearn.exceptions import NotFittedError

    X, Y = _data(n=40)
    Y[:, 0] = 0
    clf = MultiLabelLogisticRegression()
    with pytest.raises(ValueError, match="absent from every"):
        clf.fit(X, Y)
    with pytest.raises(NotFittedError):
        clf.predict(X)


@pytest.mark.parametrize("offset", [1e15, 1.7e18])
def test_columns_far_from_zero_are_centred_for_the_fit(offset):
    # A constant column (its coefficients are 0) and a timestamp-like one: the
    # offsets had cancelled catastrophically (the fit did not converge, 2.6 off).
    rng = np.random.default_rng(0)
    n = 300
    X = rng.normal(size=(n, 2))
    Y = (X @ rng.normal(size=(2, 3)) + rng.normal(size=(n, 3)) > 0).astype(int)
    stamp = rng.uniform(0, 1e6, n)
    A = np.column_stack([X, np.full(n, offset), offset + stamp])
    ours = MultiLabelLogisticRegression().fit(A, Y)
    shift = np.r_[0.0, 0.0, A[:, 2:].mean(axis=0)]
    ref = MultiLabelLogisticRegression().fit(A - shift, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-6, atol=1e-9)
    assert np.all(ours.coef_[:, 2] == 0)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_ - ref.coef_ @ shift, rtol=1e-5)
    np.testing.assert_array_equal(ours.predict(A), ref.predict(A - shift))
