"""Model files of the kinds beyond plain SoftmaxRegression: exact round trips and checks."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from _io_helpers import fitted_kinds, fitted_pipeline, rewrite, split
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import softmax
from softmax import (
    ModelFileError,
    MultiLabelLogisticRegression,
    SoftmaxRegression,
    SoftmaxRegressionCV,
    TemperatureScaling,
)
from softmax.io import read_metadata


def round_trip(tmp_path, model):
    softmax.save(model, tmp_path / "m.safetensors", overwrite=True)
    return softmax.load(tmp_path / "m.safetensors")


def same_predictions(a, b, X, methods):
    assert type(a) is type(b)
    for method in methods:
        np.testing.assert_array_equal(getattr(b, method)(X), getattr(a, method)(X), strict=True)


def data(rng, n=90, k=3):
    X = rng.normal(size=(n, 4))
    y = np.arange(n) % k
    X[:, 0] += y
    return X, y


SOFTMAX_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


# --------------------------------------------------------------------------- #
# SoftmaxRegression with the non-smooth penalties
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "params",
    [
        {"penalty": "l1", "C": 0.3},
        {"penalty": "elasticnet", "l1_ratio": 0.4},
        {"penalty": "group_l1", "C": 0.2},
        {"penalty": "group_elasticnet", "l1_ratio": 0.7, "solver": "fista"},
        {"penalty": "l2", "l1_ratio": 0.25},  # scikit-learn >= 1.8: the elastic net
    ],
)
def test_sparse_penalties_round_trip(tmp_path, rng, params):
    X, y = data(rng)
    model = SoftmaxRegression(**params).fit(X, y)
    back = round_trip(tmp_path, model)
    assert back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.coef_, model.coef_, strict=True)
    same_predictions(model, back, X, SOFTMAX_METHODS)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"penalty": "elasticnet", "l1_ratio": None}, "needs l1_ratio"),
        ({"penalty": "l1", "l1_ratio": 0.5}, "pure"),
        ({"penalty": "l1", "solver": "lbfgs"}, "needs a smooth penalty"),
        ({"penalty": "group_lasso"}, "not one of"),
        ({"l1_ratio": 1.5}, r"in \[0, 1\]"),
    ],
)
def test_sparse_penalty_hyperparameters_are_validated(tmp_path, rng, edit, match):
    X, y = data(rng)
    softmax.save(SoftmaxRegression(penalty="l1").fit(X, y), tmp_path / "m")
    blob = rewrite((tmp_path / "m").read_bytes(), lambda h, d: d["hyperparameters"].update(edit))
    (tmp_path / "x").write_bytes(blob)
    for reader in (softmax.load, read_metadata):
        with pytest.raises(ModelFileError, match=match):
            reader(tmp_path / "x")


def test_softmax_regression_files_have_no_fitted_key(tmp_path, rng):
    X, y = data(rng)
    softmax.save(SoftmaxRegression().fit(X, y), tmp_path / "m")
    assert "fitted" not in read_metadata(tmp_path / "m")
    blob = rewrite((tmp_path / "m").read_bytes(), lambda h, d: d.update(fitted={}))
    (tmp_path / "x").write_bytes(blob)
    with pytest.raises(ModelFileError, match="has no 'fitted' key"):
        softmax.load(tmp_path / "x")


def test_an_unknown_kind_is_named_before_its_fields(tmp_path, rng):
    """So that a later kind with new document keys is refused by name."""
    X, y = data(rng)
    softmax.save(SoftmaxRegression().fit(X, y), tmp_path / "m")
    blob = rewrite(
        (tmp_path / "m").read_bytes(), lambda h, d: d.update(kind="FutureModel", novel=1)
    )
    (tmp_path / "x").write_bytes(blob)
    with pytest.raises(ModelFileError, match="unknown model kind 'FutureModel'"):
        read_metadata(tmp_path / "x")


# --------------------------------------------------------------------------- #
# SoftmaxRegressionCV
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "params",
    [
        {"Cs": 3},
        {"Cs": [0.05, 1.0, 20.0], "penalty": "elasticnet", "l1_ratios": [0.3, 1.0]},
        {"Cs": 2, "refit": False, "fit_intercept": False},
        {"Cs": [0.5, 2.0], "cv": 3, "scoring": "neg_log_loss", "class_weight": "balanced"},
    ],
)
def test_cv_round_trip(tmp_path, rng, params):
    X, y = data(rng)
    labels = np.array(["lo", "mid", "hi"])[y]
    model = SoftmaxRegressionCV(**params).fit(X, labels)
    back = round_trip(tmp_path, model)
    same_predictions(model, back, X, SOFTMAX_METHODS)
    assert back.get_params() == model.get_params()
    assert (back.C_, back.l1_ratio_) == (model.C_, model.l1_ratio_)
    for name in ("Cs_", "l1_ratios_", "scores_", "n_iter_", "coef_", "intercept_", "classes_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name), strict=True)
    refitted = params.get("refit", True)
    assert hasattr(back, "solver_") is refitted
    if refitted:
        assert back.objective_history_ == model.objective_history_
        assert (back.converged_, back.solver_) == (model.converged_, model.solver_)
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["kind"] == "SoftmaxRegressionCV"
    assert meta["fitted"] == {"C_": model.C_, "l1_ratio_": model.l1_ratio_}


def test_cv_code_hyperparameters_are_stored_as_null(tmp_path, rng):
    from sklearn.model_selection import KFold

    X, y = data(rng)
    model = SoftmaxRegressionCV(Cs=2, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
    back = round_trip(tmp_path, model)
    assert back.cv is None  # a splitter is code: only a refit needs it
    same_predictions(model, back, X, SOFTMAX_METHODS)


CV_EDITS = [
    (lambda h, d: d["fitted"].update(C_=-1.0), "'C_' must be a number > 0"),
    (lambda h, d: d["fitted"].update(l1_ratio_=2), r"'l1_ratio_' must be in \[0, 1\]"),
    (lambda h, d: d["fitted"].pop("C_"), "exactly the keys"),
    (lambda h, d: d.pop("fitted"), "needs a 'fitted' object"),
    (lambda h, d: d["hyperparameters"].update(Cs=4), "do not match the grid"),
    (lambda h, d: d["hyperparameters"].update(Cs=[1.0, 2.0, 3.0]), "differs from the grid"),
    (lambda h, d: d["hyperparameters"].update(Cs=[1.0, -2.0, 3.0]), "invalid hyperparameters"),
    (lambda h, d: d["hyperparameters"].update(l1_ratios=None), "needs l1_ratios"),
    (lambda h, d: d["hyperparameters"].update(refit="yes"), "true or false"),
    (lambda h, d: d["solver"]["n_iter"].pop(), "'solver' must be"),
    (lambda h, d: h["scores"].update(shape=[3, 1, 6]), "do not match the grid"),
    (lambda h, d: d["fitted"].update(C_=0.5), "must be on the grid"),
]


@pytest.mark.parametrize(("edit", "match"), CV_EDITS)
def test_cv_documents_are_validated(tmp_path, rng, edit, match):
    model, _ = fitted_kinds(rng)["cv"]
    softmax.save(model, tmp_path / "m")
    (tmp_path / "x").write_bytes(rewrite((tmp_path / "m").read_bytes(), edit))
    with pytest.raises(ModelFileError, match=match):
        softmax.load(tmp_path / "x")


def overwrite_tensor(blob: bytes, name: str, values: bytes) -> bytes:
    """``blob`` with the first bytes of tensor ``name`` replaced by ``values``."""
    header, _, data = split(blob)
    start = len(blob) - len(data) + header[name]["data_offsets"][0]
    return blob[:start] + values + blob[start + len(values) :]


def test_cv_tensor_values_are_validated(tmp_path, rng):
    model, _ = fitted_kinds(rng)["cv"]
    softmax.save(model, tmp_path / "m")
    blob = (tmp_path / "m").read_bytes()
    for name, value, match in [
        ("scores", np.nan, "'scores' has NaN"),
        ("l1_ratios", 1.5, r"'l1_ratios' must be in \[0, 1\]"),
        ("Cs", 0.2, "differs from the grid"),
        ("coef", np.inf, "'coef' has non-finite"),
    ]:
        (tmp_path / "x").write_bytes(overwrite_tensor(blob, name, struct.pack("<d", value)))
        with pytest.raises(ModelFileError, match=match):
            softmax.load(tmp_path / "x")


# --------------------------------------------------------------------------- #
# MultiLabelLogisticRegression
# --------------------------------------------------------------------------- #
ML_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def multilabel_data(rng, n=80):
    X = rng.normal(size=(n, 3))
    Y = (X + rng.normal(size=X.shape) > 0.3).astype(int)
    return X, Y


@pytest.mark.parametrize(
    ("params", "dtype"),
    [
        ({}, np.float64),
        ({"threshold": [0.2, 0.5, 0.8], "pos_weight": "balanced"}, np.float64),
        ({"pos_weight": [1.0, 3.0, 0.5], "threshold": 0.35, "fit_intercept": False}, np.float64),
        ({"C": 0.1, "tol": 1e-5}, np.float32),
    ],
)
def test_multilabel_round_trip(tmp_path, rng, params, dtype):
    X, Y = multilabel_data(rng)
    model = MultiLabelLogisticRegression(**params).fit(X.astype(dtype), Y)
    back = round_trip(tmp_path, model)
    assert back.coef_.dtype == dtype
    same_predictions(model, back, X.astype(dtype), ML_METHODS)
    assert back.get_params() == model.get_params()
    for name in ("coef_", "intercept_", "classes_", "pos_weight_", "n_iter_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(model, name), strict=True)
    assert back.objective_history_ == model.objective_history_
    assert read_metadata(tmp_path / "m.safetensors")["kind"] == "MultiLabelLogisticRegression"


def test_multilabel_label_names_keep_their_order_and_dtype(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    X, Y = multilabel_data(rng)
    # Label sets: sorted names, dtype object.
    sets = [{n for n, v in zip(("news", "art", "sport"), row, strict=True) if v} for row in Y]
    model = MultiLabelLogisticRegression().fit(X, sets)
    back = round_trip(tmp_path, model)
    np.testing.assert_array_equal(back.classes_, model.classes_, strict=True)
    assert back.predict_labels(X) == model.predict_labels(X)
    # DataFrame columns: the columns' order, not sorted; feature names kept.
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    model = MultiLabelLogisticRegression().fit(frame, pd.DataFrame(Y, columns=["z", "b", "m"]))
    back = round_trip(tmp_path, model)
    assert back.classes_.tolist() == ["z", "b", "m"]
    assert back.feature_names_in_.tolist() == ["u", "v", "w"]
    same_predictions(model, back, frame, ML_METHODS)


def test_multilabel_with_one_label_and_in_a_pipeline(tmp_path, rng):
    from _io_helpers import mixed_data

    from softmax.io import TabularEncoder

    df, y = mixed_data(rng)
    Y = np.stack([y == "ant", y != "cat"], axis=1).astype(int)
    pipe = Pipeline(
        [("enc", TabularEncoder(impute=True)), ("ml", MultiLabelLogisticRegression())]
    ).fit(df, Y)
    back = round_trip(tmp_path, pipe)
    np.testing.assert_array_equal(back.predict_proba(df), pipe.predict_proba(df), strict=True)
    np.testing.assert_array_equal(back.predict(df), pipe.predict(df), strict=True)
    single = MultiLabelLogisticRegression().fit(pipe[0].transform(df), Y[:, :1])
    back = round_trip(tmp_path, single)
    same_predictions(single, back, pipe[0].transform(df), ML_METHODS)


ML_EDITS = [
    (lambda h, d: d.update(classes=[0, 1, 1]), "'classes' must be unique"),
    (
        lambda h, d: (d.update(classes=[0, 1]), d["hyperparameters"].update(threshold=0.5)),
        "'coef' has shape",
    ),
    (lambda h, d: d.update(classes=[]), "at least 1 labels"),
    (lambda h, d: d["hyperparameters"].update(threshold=[0.5, 0.5]), "one per label"),
    (lambda h, d: d["hyperparameters"].update(threshold=1.5), r"in \[0, 1\]"),
    (lambda h, d: d["hyperparameters"].update(threshold=[[0.5]]), "flat list"),
    (lambda h, d: d["hyperparameters"].update(pos_weight=-1.0), "finite and > 0"),
    (lambda h, d: d["hyperparameters"].update(pos_weight="heavy"), "pos_weight"),
    (lambda h, d: d["hyperparameters"].update(penalty="l1"), "no penalty='l1'"),
    (lambda h, d: d["hyperparameters"].update(l1_ratio=0.5), "unknown hyperparameter"),
    (lambda h, d: h["pos_weight"].update(dtype="F32", shape=[6]), "'pos_weight' must be float64"),
    (lambda h, d: d.update(fitted={}), "has no 'fitted' key"),
]


@pytest.mark.parametrize(("edit", "match"), ML_EDITS)
def test_multilabel_documents_are_validated(tmp_path, rng, edit, match):
    model, _ = fitted_kinds(rng)["multilabel"]
    softmax.save(model, tmp_path / "m")
    (tmp_path / "x").write_bytes(rewrite((tmp_path / "m").read_bytes(), edit))
    with pytest.raises(ModelFileError, match=match):
        softmax.load(tmp_path / "x")


def test_multilabel_pos_weight_values_are_validated(tmp_path, rng):
    model, _ = fitted_kinds(rng)["multilabel"]
    softmax.save(model, tmp_path / "m")
    for value in (0.0, np.nan, -np.inf):
        bad = overwrite_tensor(
            (tmp_path / "m").read_bytes(), "pos_weight", struct.pack("<d", value)
        )
        (tmp_path / "x").write_bytes(bad)
        with pytest.raises(ModelFileError, match="'pos_weight' must be finite and > 0"):
            softmax.load(tmp_path / "x")


# --------------------------------------------------------------------------- #
# TemperatureScaling
# --------------------------------------------------------------------------- #
TS_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")


def test_temperature_on_logits_round_trip(tmp_path, rng):
    model, z = fitted_kinds(rng)["logits"]
    back = round_trip(tmp_path, model)
    same_predictions(model, back, z, TS_METHODS)
    assert back.get_params() == model.get_params()
    assert (back.temperature_, back.n_iter_, back.loss_) == (
        model.temperature_,
        model.n_iter_,
        model.loss_,
    )
    np.testing.assert_array_equal(back.classes_, model.classes_, strict=True)
    assert back.n_features_in_ == 3
    header, doc, _ = split((tmp_path / "m.safetensors").read_bytes())
    assert header == {}  # everything is in the document
    assert doc["fitted"]["temperature_"] == model.temperature_
    # Binary log-odds and integer column classes.
    t = rng.normal(size=200) * 4
    y = (t / 3 + rng.logistic(size=200) > 0).astype(int)
    binary = TemperatureScaling(temperature_bounds=(0.01, 100.0)).fit(t, y)
    back = round_trip(tmp_path, binary)
    same_predictions(binary, back, t, TS_METHODS)
    assert back.temperature_bounds == (0.01, 100.0)


@pytest.mark.parametrize("inner", ["sr", "cv"])
def test_temperature_wrapping_a_model_round_trip(tmp_path, rng, inner):
    X, y = data(rng)
    labels = np.array(["a", "b", "c"])[y]
    if inner == "sr":
        est = SoftmaxRegression(penalty="l1", C=0.5).fit(X, labels)
    else:
        est = SoftmaxRegressionCV(Cs=[0.1, 1.0], cv=3).fit(X, labels)
    model = TemperatureScaling(est).fit(X[::2], labels[::2])
    back = round_trip(tmp_path, model)
    same_predictions(model, back, X, TS_METHODS)
    same_predictions(model.estimator, back.estimator, X, SOFTMAX_METHODS)
    assert back.estimator.get_params() == est.get_params()
    assert back.temperature_ == model.temperature_
    assert back.classes_ is back.estimator.classes_  # as fit sets it
    header, doc, _ = split((tmp_path / "m.safetensors").read_bytes())
    assert all(name.startswith("estimator.") for name in header)
    assert doc["hyperparameters"]["estimator"]["kind"] == type(est).__name__


def test_temperature_wrapper_in_a_pipeline(tmp_path, rng):
    pipe, df, y = fitted_pipeline(rng)
    ts = TemperatureScaling(pipe[-1]).fit(pipe[0].transform(df), y)
    calibrated = Pipeline([("encoder", pipe[0]), ("model", ts)])
    back = round_trip(tmp_path, calibrated)
    np.testing.assert_array_equal(back.predict_proba(df), calibrated.predict_proba(df), strict=True)
    assert read_metadata(tmp_path / "m.safetensors")["feature_names"] == list(
        pipe[0].get_feature_names_out()
    )


def test_temperature_wrapping_other_models_is_refused(tmp_path, rng):
    X, y = data(rng)
    for est in (LogisticRegression().fit(X, y), SoftmaxRegression().fit(X, y)):
        model = TemperatureScaling(est).fit(X, y)
        if isinstance(est, SoftmaxRegression):
            # A wrapper inside a wrapper: the inner one is not a softmax model.
            model = TemperatureScaling(model).fit(X, y)
        with pytest.raises(TypeError, match="TemperatureScaling on logits"):
            softmax.save(model, tmp_path / "m")
    assert not any(tmp_path.iterdir())


def _inner(edit):
    return lambda h, d: edit(h, d["hyperparameters"]["estimator"])


TS_WRAPPER_EDITS = [
    (_inner(lambda h, e: e.update(kind="os.system")), "must be null or the document"),
    (_inner(lambda h, e: e.update(classes=["a", "b", "d"])), "'classes' differs"),
    (_inner(lambda h, e: e.pop("solver")), "must have exactly"),
    (_inner(lambda h, e: e["hyperparameters"].update(C=0)), "invalid hyperparameters"),
    (_inner(lambda h, e: e.update(n_features_in=5)), "'n_features_in' differs"),
    (lambda h, d: h.update(coef=h.pop("estimator.coef")), "holds no tensor 'coef'"),
    (lambda h, d: d["hyperparameters"].update(estimator=[1]), "must be null or the document"),
    (lambda h, d: d["hyperparameters"].update(classes=["a", "b", "c"]), "only for estimator"),
    (lambda h, d: d["fitted"].update(temperature_=0), "'temperature_' must be"),
]


@pytest.mark.parametrize(("edit", "match"), TS_WRAPPER_EDITS)
def test_temperature_wrapper_documents_are_validated(tmp_path, rng, edit, match):
    model, _ = fitted_kinds(rng)["wrapper"]
    softmax.save(model, tmp_path / "m")
    (tmp_path / "x").write_bytes(rewrite((tmp_path / "m").read_bytes(), edit))
    with pytest.raises(ModelFileError, match=match):
        softmax.load(tmp_path / "x")


TS_LOGITS_EDITS = [
    (lambda h, d: d["fitted"].update(temperature_=-1.0), "'temperature_' must be"),
    (lambda h, d: d["fitted"].update(temperature_=float("nan")), "'temperature_' must be"),
    (lambda h, d: d["fitted"].update(temperature_=float("inf")), "'temperature_' must be"),
    (lambda h, d: d["fitted"].update(n_iter_=1.5), "'n_iter_' must be"),
    (lambda h, d: d["fitted"].update(loss_="low"), "'loss_' must be"),
    (lambda h, d: d.update(n_features_in=4, feature_names=None), "n_features_in = n_classes"),
    (lambda h, d: d.update(solver={"n_iter": [1]}), "'solver' of a TemperatureScaling"),
    (lambda h, d: d["hyperparameters"].update(temperature_bounds=[5.0, 1.0]), "0 < low < high"),
    (lambda h, d: d["hyperparameters"].update(classes=["x", "y", "z"]), "'classes' differs"),
    (lambda h, d: d.update(classes=["x", "x", "z"]), "'classes' must be unique"),
    (
        lambda h, d: h.update(w={"dtype": "F64", "shape": [0], "data_offsets": [0, 0]}),
        "tensors",
    ),
]


@pytest.mark.parametrize(("edit", "match"), TS_LOGITS_EDITS)
def test_temperature_on_logits_documents_are_validated(tmp_path, rng, edit, match):
    model, _ = fitted_kinds(rng)["logits"]
    softmax.save(model, tmp_path / "m")
    (tmp_path / "x").write_bytes(rewrite((tmp_path / "m").read_bytes(), edit))
    with pytest.raises(ModelFileError, match=match):
        softmax.load(tmp_path / "x")


def test_read_metadata_of_every_kind_is_json(tmp_path, rng):
    for name, (model, _) in fitted_kinds(rng).items():
        softmax.save(model, tmp_path / name)
        meta = read_metadata(tmp_path / name)
        assert meta["kind"] == type(model).__name__
        json.dumps(meta)
