"""Statistical inference: parity with statsmodels' MNLogit / Logit / GLM, refusals, diagnostics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import logsumexp
from sklearn.datasets import load_iris

from softmax import SoftmaxRegression
from softmax.estimators import SeparationWarning
from softmax.inference import CollinearityError, InferenceResult, SeparationError

sm = pytest.importorskip("statsmodels.api")

ANES_COLS = ["logpopul", "selfLR", "age", "educ", "income"]


def _mnlogit(y, X, const=True):
    exog = sm.add_constant(np.asarray(X, dtype=float)) if const else np.asarray(X, dtype=float)
    return sm.MNLogit(y, exog).fit(method="newton", disp=0, tol=1e-12, maxiter=100)


def _ours(X, y, **kw):
    return SoftmaxRegression(penalty=None, tol=1e-12, **kw).fit(X, y)


def _assert_matches_mnlogit(res: InferenceResult, ref, *, check_llr=True):
    """Our (n_classes - 1, n_terms) arrays against statsmodels' (n_terms, n_classes - 1)."""
    np.testing.assert_allclose(res.params, ref.params.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.bse, ref.bse.T, rtol=1e-5)
    np.testing.assert_allclose(res.zvalues, ref.tvalues.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.pvalues, ref.pvalues.T, rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(res.conf_int(), ref.conf_int(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.conf_int(0.1), ref.conf_int(0.1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        res.cov_params(), np.asarray(ref.cov_params()), rtol=1e-5, atol=1e-12
    )
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)
    np.testing.assert_allclose(res.aic, ref.aic, rtol=1e-10)
    np.testing.assert_allclose(res.bic, ref.bic, rtol=1e-10)
    assert res.nobs == ref.nobs
    if check_llr:  # statsmodels' llnull is a numerical fit; ours the closed form
        np.testing.assert_allclose(res.llnull, ref.llnull, rtol=1e-8)
        np.testing.assert_allclose(res.prsquared, ref.prsquared, rtol=1e-7)
        np.testing.assert_allclose(res.llr_pvalue, ref.llr_pvalue, rtol=1e-4)
        assert res.df_model == ref.df_model


@pytest.fixture(scope="module")
def anes():
    data = sm.datasets.anes96.load_pandas().data
    return data[ANES_COLS], data["PID"].to_numpy().astype(int)


@pytest.fixture(scope="module")
def anes_fit(anes):
    X, y = anes
    return _ours(X, y), _mnlogit(y, X)


def test_anes96_matches_mnlogit(anes_fit):
    ours, ref = anes_fit
    res = ours.summary()
    _assert_matches_mnlogit(res, ref)
    assert res.term_names == ("const", *ANES_COLS)  # pandas column names
    assert res.reference == 0 and list(res.equations) == [1, 2, 3, 4, 5, 6]


def test_anes96_estimator_shortcuts(anes_fit):
    ours, ref = anes_fit
    np.testing.assert_allclose(ours.bse_, ref.bse.T, rtol=1e-5)
    np.testing.assert_allclose(ours.pvalues_, ref.pvalues.T, rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(ours.conf_int(0.1), ref.conf_int(0.1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.cov_params(), ref.cov_params(), rtol=1e-5, atol=1e-12)
    for ours_name, ref_name in [("llf_", "llf"), ("aic_", "aic"), ("bic_", "bic")]:
        np.testing.assert_allclose(getattr(ours, ours_name), getattr(ref, ref_name), rtol=1e-10)
    np.testing.assert_allclose(ours.prsquared_, ref.prsquared, rtol=1e-7)


@pytest.mark.parametrize("reference", ["setosa", "versicolor", "virginica"])
def test_iris_reference_class_matches_mnlogit_recoded(reference):
    # One feature: with two or more, setosa is linearly separable (no MLE).
    X, y = load_iris(return_X_y=True)
    labels = load_iris().target_names[y]
    X = X[:, [1]]
    res = _ours(X, labels).summary(reference=reference)
    # statsmodels takes the first code as reference: recode so that `reference` is 0.
    order = [reference] + [c for c in ("setosa", "versicolor", "virginica") if c != reference]
    codes = np.array([order.index(c) for c in labels])
    _assert_matches_mnlogit(res, _mnlogit(codes, X))
    assert res.reference == reference and list(res.equations) == order[1:]


def test_fair_five_classes_matches_mnlogit():
    data = sm.datasets.fair.load_pandas().data
    cols = ["age", "yrs_married", "children", "religious", "educ"]
    # The first 1000 of 6366 rows keep the test fast.
    X, y = data[cols].to_numpy()[:1000], data["rate_marriage"].to_numpy().astype(int)[:1000]
    _assert_matches_mnlogit(_ours(X, y).summary(reference=3), _mnlogit(np.where(y == 3, 0, y), X))


def test_without_intercept_matches_mnlogit(anes):
    X, y = anes
    res = _ours(X, y, fit_intercept=False).summary()
    # statsmodels' df_model assumes a constant; ours counts all (K - 1) D slopes.
    _assert_matches_mnlogit(res, _mnlogit(y, X, const=False), check_llr=False)
    assert res.term_names == tuple(ANES_COLS)
    assert res.df_model == 6 * 5


@pytest.fixture(scope="module")
def spector():
    data = sm.datasets.spector.load_pandas().data
    X, y = data[["GPA", "TUCE", "PSI"]], data["GRADE"].to_numpy()
    ref = sm.Logit(y, sm.add_constant(X)).fit(method="newton", disp=0, tol=1e-12)
    return X, y, ref


def _assert_matches_logit(res, ref, sign=1.0):
    np.testing.assert_allclose(res.params[0], sign * ref.params, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(res.bse[0], ref.bse, rtol=1e-5)
    np.testing.assert_allclose(res.zvalues[0], sign * ref.tvalues, rtol=1e-5)
    np.testing.assert_allclose(res.pvalues[0], ref.pvalues, rtol=1e-4)
    ci = np.asarray(ref.conf_int())
    ci = ci if sign > 0 else -ci[:, ::-1]
    np.testing.assert_allclose(res.conf_int()[0], ci, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.cov_params(), ref.cov_params(), rtol=1e-5, atol=1e-12)
    for name in ("llf", "llnull", "aic", "bic", "prsquared"):
        np.testing.assert_allclose(getattr(res, name), getattr(ref, name), rtol=1e-7)
    np.testing.assert_allclose(res.llr_pvalue, ref.llr_pvalue, rtol=1e-4)
    assert res.df_model == ref.df_model


def test_binary_spector_matches_logit(spector):
    X, y, ref = spector
    model = _ours(X, y)
    _assert_matches_logit(model.summary(), ref)
    # The other reference flips the signs of the log-odds, not the standard errors.
    _assert_matches_logit(model.summary(reference=1.0), ref, sign=-1.0)


def test_binary_fair_matches_logit():
    data = sm.datasets.fair.load_pandas().data
    cols = ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]
    X, y = data[cols].to_numpy(), (data["affairs"] > 0).to_numpy().astype(int)
    ref = sm.Logit(y, sm.add_constant(X)).fit(method="newton", disp=0, tol=1e-12)
    _assert_matches_logit(_ours(X, y).summary(), ref)


def test_frequency_weights_equal_replicated_rows(rng):
    X, y = load_iris(return_X_y=True)
    X = X[:, [1]]
    counts = rng.integers(0, 4, size=y.shape[0])
    model = SoftmaxRegression(penalty=None, tol=1e-12).fit(X, y, sample_weight=counts)
    weighted = model.summary()
    Xr, yr = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    _assert_matches_mnlogit(weighted, _mnlogit(yr, Xr))
    assert weighted.nobs == counts.sum()


def test_sparse_input_gives_the_dense_result(anes):
    X, y = anes
    dense = _ours(X.to_numpy(), y).summary()
    sparse = _ours(sp.csr_matrix(X.to_numpy()), y).summary()
    np.testing.assert_allclose(sparse.params, dense.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sparse.cov_params(), dense.cov_params(), rtol=1e-8, atol=1e-14)


# --------------------------------------------------------------------------- #
# presentation
# --------------------------------------------------------------------------- #
def test_table_and_frame(spector):
    X, y, ref = spector
    res = _ours(X, y).summary(alpha=0.1)
    text = str(res)
    assert "Softmax Regression Results" in text and "Pseudo R-squ." in text
    assert "y=1.0 vs 0.0" in text and "[0.05" in text and "0.95]" in text
    for term in ("const", "GPA", "TUCE", "PSI"):
        assert term in text
    assert f"{ref.params['GPA']:.4f}" in text
    html = res._repr_html_()
    assert html.startswith("<div>") and "GPA" in html and "<table>" in html
    frame = res.to_frame()
    assert list(frame.columns) == ["coef", "std err", "z", "P>|z|", "[0.05", "0.95]"]
    assert frame.index.names == ["class", "term"]
    np.testing.assert_allclose(frame["coef"].to_numpy(), ref.params, rtol=1e-6)
    np.testing.assert_allclose(frame["std err"].to_numpy(), ref.bse, rtol=1e-5)
    np.testing.assert_allclose(frame[["[0.05", "0.95]"]], ref.conf_int(0.1), rtol=1e-5)
    assert "InferenceResult" in repr(res)


def test_sklearn_html_repr_survives_unavailable_inference():
    X, y = load_iris(return_X_y=True)
    penalised = SoftmaxRegression().fit(X, y)
    assert "SoftmaxRegression" in penalised._repr_html_()
    assert not hasattr(penalised, "bse_") and not hasattr(penalised, "llf_")


# --------------------------------------------------------------------------- #
# refusals and diagnostics
# --------------------------------------------------------------------------- #
def test_penalty_is_refused_with_the_reason():
    X, y = load_iris(return_X_y=True)
    model = SoftmaxRegression(C=1.0).fit(X, y)
    with pytest.raises(ValueError, match=r"penalised \(penalty='l2', C=1.0\).*not their sampling"):
        model.summary()
    with pytest.raises(AttributeError, match="penalised"):
        _ = model.bse_
    with pytest.raises(ValueError, match="penalised"):
        model.predict_proba_ci(X)


def test_class_weight_is_refused():
    X, y = load_iris(return_X_y=True)
    model = SoftmaxRegression(penalty=None, class_weight="balanced").fit(X[:, [1]], y)
    with pytest.raises(ValueError, match=r"class_weight='balanced'.*pseudo-likelihood"):
        model.summary()


def test_bad_reference_and_alpha(spector):
    X, y, _ = spector
    model = _ours(X, y)
    with pytest.raises(ValueError, match=r"reference=2 is not one of the classes \[0.0, 1.0\]"):
        model.summary(reference=2)
    for alpha in (0.0, 1.0, -0.1, "0.05", True):
        with pytest.raises(ValueError, match="alpha"):
            model.summary(alpha=alpha)
        with pytest.raises(ValueError, match="alpha"):
            model.predict_proba_ci(X, alpha=alpha)


def test_separation_on_iris_names_the_class_and_features():
    X, y = load_iris(return_X_y=True)
    labels = load_iris().target_names[y]
    # An all-zero column (x3) is arbitrary in the LP's solution: it must not be named.
    X = np.column_stack([X[:, :2], np.zeros(len(y))])
    with pytest.warns(SeparationWarning):
        model = SoftmaxRegression(penalty=None).fit(X, labels)
    for reference in (None, "virginica"):
        with pytest.raises(SeparationError, match=r"class 'setosa' is separated .* 'x1' \(-\)"):
            model.summary(reference=reference)
    with pytest.raises(SeparationError) as excinfo:
        model.summary()
    assert "'x3'" not in str(excinfo.value) and "versicolor" not in str(excinfo.value)
    assert not hasattr(model, "bse_")
    assert np.isfinite(model.llf_)  # the likelihood itself is still defined


@pytest.mark.parametrize("lp_always", [2e4, 0.0])
def test_quasi_complete_separation_by_a_dummy_feature(rng, monkeypatch, lp_always):
    # lp_always=0: the LP runs only because the fit looks separated (near-certain rows).
    import softmax.inference as inference

    monkeypatch.setattr(inference, "_LP_ALWAYS", lp_always)
    n = 300
    x = rng.normal(size=n)
    y = rng.integers(0, 3, size=n)
    # Every row with dummy = 1 is class 2; rows with dummy = 0 are of any class.
    dummy = (rng.random(n) < 0.2) & (y == 2)
    X = np.column_stack([x, dummy.astype(float)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SeparationWarning or ConvergenceWarning
        model = SoftmaxRegression(penalty=None).fit(X, y)
    with pytest.raises(SeparationError, match=r"class '2' is separated .* terms 'x2' \(\+\)\."):
        model.summary()


def test_binary_complete_separation(rng):
    x = rng.normal(size=60)
    X = np.column_stack([rng.normal(size=60), x])
    y = np.where(x > 0, "yes", "no")
    with pytest.warns(SeparationWarning):
        model = SoftmaxRegression(penalty=None).fit(X, y)
    with pytest.raises(SeparationError, match=r"class 'yes' is separated .* 'x2' \(\+\)"):
        model.summary()
    with pytest.raises(SeparationError):
        model.predict_proba_ci(X)


def test_no_separation_no_lp_when_large(monkeypatch, spector):
    import softmax.inference as inference

    def fail(*args, **kwargs):
        raise AssertionError("the LP should not run")

    monkeypatch.setattr(inference, "_LP_ALWAYS", 0.0)
    monkeypatch.setattr(inference, "_max_margin", fail)
    X, y, ref = spector
    np.testing.assert_allclose(_ours(X, y).bse_[0], ref.bse, rtol=1e-5)


def test_float32_input_gives_float64_statistics(spector):
    X, y, ref = spector
    res = SoftmaxRegression(penalty=None, tol=1e-6).fit(X.to_numpy(np.float32), y).summary()
    assert res.params.dtype == res.bse.dtype == np.float64
    np.testing.assert_allclose(res.bse[0], ref.bse, rtol=1e-3)


def test_collinear_features_are_named(rng):
    n = 200
    a, c = rng.normal(size=n), rng.normal(size=n)
    X = np.column_stack([a, c, 2.0 * a - c + 1.0])
    y = rng.integers(0, 3, size=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeparationWarning)
        model = SoftmaxRegression(penalty=None).fit(X, y)
    with pytest.raises(CollinearityError, match=r"\['const', 'x1', 'x2', 'x3'\] are linearly"):
        model.summary()


@pytest.mark.parametrize("offset", [1e6, 1e8])
def test_a_feature_far_from_zero_is_not_collinear_with_the_intercept(rng, offset):
    # x1 = 1e6 + N(0, 1): nearly the intercept's column, and the information
    # matrix looked singular (CollinearityError).  The same model on the column
    # centred: the same slopes' covariance; the intercepts' is b = b_c - W @ shift.
    from sklearn.datasets import make_classification

    X, y = make_classification(
        400, 3, n_informative=3, n_redundant=0, n_classes=3, flip_y=0.3, random_state=0
    )
    shift = np.array([offset, 0.0, 0.0])
    centred = SoftmaxRegression(penalty=None).fit(X, y).summary()
    moved = SoftmaxRegression(penalty=None).fit(X + shift, y).summary()
    A = np.kron(
        np.eye(2), np.block([[np.ones((1, 1)), -shift[None, :]], [np.zeros((3, 1)), np.eye(3)]])
    )
    expected = A @ centred.cov_params() @ A.T
    got = moved.cov_params()
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    np.testing.assert_allclose(got / scale, expected / scale, atol=1e-6)
    np.testing.assert_allclose(moved.bse[:, 1:], centred.bse[:, 1:], rtol=1e-6)


def test_all_zero_feature_is_named(rng):
    X = np.column_stack([rng.normal(size=100), np.zeros(100)])
    y = rng.integers(0, 2, size=100)
    with pytest.raises(CollinearityError, match="term 'x2'"):
        _ours(X, y).summary()


def test_too_large_problems_skip_the_information(monkeypatch, spector):
    import softmax.inference as inference

    monkeypatch.setattr(inference, "_MAX_PARAMS", 4)
    X, y, _ = spector
    model = _ours(X, y)
    with pytest.raises(ValueError, match="8 parameters"):
        model.summary()


# --------------------------------------------------------------------------- #
# confidence intervals on predicted probabilities
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_proba_ci_binary_matches_glm_prediction(spector, fit_intercept):
    X, y, _ = spector
    out = _ours(X, y, fit_intercept=fit_intercept).predict_proba_ci(X, alpha=0.1)
    exog = sm.add_constant(X) if fit_intercept else X
    glm = sm.GLM(y, exog, family=sm.families.Binomial()).fit(tol=1e-12)
    frame = glm.get_prediction(exog).summary_frame(alpha=0.1)
    np.testing.assert_allclose(out.proba[:, 1], frame["mean"], rtol=1e-6)
    np.testing.assert_allclose(out.lower[:, 1], frame["mean_ci_lower"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out.upper[:, 1], frame["mean_ci_upper"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(out.lower[:, 0], 1 - frame["mean_ci_upper"], rtol=1e-6, atol=1e-9)


def _eta(beta_flat, Xt, K, p, r):
    """Per-class log-odds log(p_k / (1 - p_k)) from reference-class parameters (independent)."""
    theta = np.insert(beta_flat.reshape(K - 1, p), r, 0.0, axis=0)
    z = Xt @ theta.T
    out = np.empty_like(z)
    for k in range(K):
        out[:, k] = z[:, k] - logsumexp(np.delete(z, k, axis=1), axis=1)
    return out


@pytest.mark.parametrize("reference", [0, 4])
def test_proba_ci_matches_finite_difference_delta_method(anes_fit, anes, reference):
    ours, _ = anes_fit
    X, _ = anes
    Xq = X.iloc[:25]
    out = ours.predict_proba_ci(Xq, alpha=0.05)
    np.testing.assert_allclose(out.proba, ours.predict_proba(Xq), rtol=1e-10, atol=1e-15)
    res = ours.summary(reference=reference)
    K, p = 7, 6
    Xt = np.column_stack([np.ones(len(Xq)), Xq.to_numpy()])
    beta = res.params.ravel()
    h = 1e-6
    J = np.empty((len(Xq), K, beta.size))
    for j in range(beta.size):
        e = np.zeros(beta.size)
        e[j] = h
        J[:, :, j] = (
            _eta(beta + e, Xt, K, p, res.reference_index)
            - _eta(beta - e, Xt, K, p, res.reference_index)
        ) / (2 * h)
    se = np.sqrt(np.einsum("ika,ab,ikb->ik", J, res.cov_params(), J))
    np.testing.assert_allclose(out.se, se, rtol=1e-6)
    eta = _eta(beta, Xt, K, p, res.reference_index)
    np.testing.assert_allclose(
        out.lower, 1 / (1 + np.exp(-(eta - 1.959963984540054 * se))), rtol=1e-6
    )
    assert np.all((0 <= out.lower) & (out.lower <= out.proba) & (out.proba <= out.upper))
    assert np.all(out.upper <= 1)


def test_proba_ci_narrows_with_alpha(anes_fit, anes):
    ours, _ = anes_fit
    Xq = anes[0].iloc[:10]
    wide, narrow = ours.predict_proba_ci(Xq, alpha=0.01), ours.predict_proba_ci(Xq, alpha=0.2)
    assert np.all(wide.lower < narrow.lower) and np.all(narrow.upper < wide.upper)


@pytest.mark.slow
def test_delta_method_matches_parametric_bootstrap():
    """Refit on responses simulated from the fit: the spread of the refitted log-odds and
    coefficients matches the delta-method and Wald standard errors."""
    rng = np.random.default_rng(0)
    n = 600
    X = rng.normal(size=(n, 2))
    logits = np.column_stack([np.zeros(n), 0.5 + X @ [1.0, -0.5], -0.3 + X @ [-0.4, 0.8]])
    P = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    y = (P.cumsum(1) > rng.random((n, 1))).argmax(1)
    model = _ours(X, y)
    Xq = X[:5]
    delta = model.predict_proba_ci(Xq)
    res = model.summary()
    fitted = model.predict_proba(X)
    etas, params = [], []
    for _ in range(300):
        y_star = (fitted.cumsum(1) > rng.random((n, 1))).argmax(1)
        refit = _ours(X, y_star)
        p = refit.predict_proba(Xq)
        etas.append(np.log(p / (1 - p)))
        params.append(refit.summary().params)
    # 300 resamples: a standard deviation is known to about 4% (1 / sqrt(2 * 300)).
    np.testing.assert_allclose(np.std(etas, axis=0), delta.se, rtol=0.2)
    np.testing.assert_allclose(np.std(params, axis=0), res.bse, rtol=0.2)


# --------------------------------------------------------------------------- #
# bootstrap
# --------------------------------------------------------------------------- #
def _simulated(rng, n=400):
    X = rng.normal(size=(n, 2))
    logits = np.column_stack([np.zeros(n), 0.5 + X @ [1.0, -0.5], -0.3 + X @ [-0.4, 0.8]])
    P = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    return X, (P.cumsum(1) > rng.random((n, 1))).argmax(1)


def test_bootstrap_agrees_with_wald_on_a_well_specified_model(rng):
    from softmax.inference import bootstrap

    X, y = _simulated(rng)
    wald = _ours(X, y).summary(reference=1)
    boot = bootstrap(
        SoftmaxRegression(penalty=None), X, y, n_resamples=60, reference=1, random_state=0
    )
    np.testing.assert_allclose(boot.params, wald.params, rtol=1e-5, atol=1e-5)
    assert boot.replicates.shape == (60, 2, 3) and boot.n_not_converged == 0
    np.testing.assert_allclose(boot.bse, wald.bse, rtol=0.3)
    lo, hi = boot.conf_int[..., 0], boot.conf_int[..., 1]
    assert np.all((lo < boot.params) & (boot.params < hi))


def test_bootstrap_of_a_penalised_sklearn_model_is_reproducible(rng):
    from sklearn.linear_model import LogisticRegression

    from softmax.inference import bootstrap

    X, y = _simulated(rng, n=100)
    labels = np.array(["a", "b", "c"])[y]
    runs = [
        bootstrap(
            LogisticRegression(C=0.5), X, labels, n_resamples=5, reference="c", random_state=7
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0].replicates, runs[1].replicates)
    assert runs[0].conf_int.shape == (2, 3, 2)
    with pytest.raises(ValueError, match="n_resamples must be an int >= 2, got n_resamples=1"):
        bootstrap(LogisticRegression(), X, labels, n_resamples=1)
    with pytest.raises(ValueError, match="reference='z' is not one of the classes"):
        bootstrap(LogisticRegression(), X, labels, reference="z")
